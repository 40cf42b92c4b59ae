"""What a checkpoint holds, in a form an agent can write a key map from.

A 2B-parameter DiT has thousands of keys; listing them all wastes a context window. Numbered blocks repeat
the same keys, so keys are folded into patterns (`blocks.*.attn.qkv.weight`, with the index range and the
count) that keep every distinct name and shape. Safetensors headers are parsed directly: no torch import,
no tensor read, milliseconds for any size.
"""

from __future__ import annotations

import json
import re
import struct
from collections import Counter, defaultdict
from pathlib import Path

from pydantic import BaseModel, Field

from ..checkout import Checkout
from ..errors import IntegratorError


_INDEX = re.compile(r"(?<=\.)\d+(?=\.|$)")
_DTYPE_BYTES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1}


class TensorInfo(BaseModel):
    key: str
    shape: list[int]
    dtype: str


class KeyPattern(BaseModel):
    """Keys that differ only by their block indices."""

    pattern: str = Field(description="The key with every block index replaced by `*`.")
    shape: list[int]
    dtype: str
    count: int
    indices: str = Field(default="", description="The index values seen, e.g. `0-27`.")


class InspectCheckpointResult(BaseModel):
    """The answer of `inspect_checkpoint`."""

    files: list[str]
    tensors: int
    parameters: int
    size_bytes: int
    dtypes: dict[str, int]
    metadata: dict[str, str] = Field(default_factory=dict)
    patterns: list[KeyPattern] = Field(description="Keys folded over block indices, in checkpoint order.")
    truncated: int = Field(default=0, description="Patterns left out to keep the result small.")


def read_safetensors_header(path: Path) -> tuple[dict[str, TensorInfo], dict[str, str]]:
    """Tensor names, shapes and dtypes, and the `__metadata__`, from the header alone."""
    with open(path, "rb") as handle:
        raw = handle.read(8)
        if len(raw) != 8:
            raise IntegratorError(f"{path} is too short to be a safetensors file.", "Check the file.")
        (length,) = struct.unpack("<Q", raw)
        if length > 100_000_000:
            raise IntegratorError(f"{path} has an implausible safetensors header.", "Is it really safetensors?")
        header = json.loads(handle.read(length))
    metadata = header.pop("__metadata__", {}) or {}
    tensors = {key: TensorInfo(key=key, shape=value["shape"], dtype=value["dtype"]) for key, value in header.items()}
    return tensors, metadata


def _torch_tensors(path: Path) -> dict[str, TensorInfo]:
    import torch

    state = torch.load(path, map_location="meta", weights_only=True, mmap=True)
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise IntegratorError(f"{path} does not hold a state dict.", "Pass a state-dict checkpoint.")
    return {
        key: TensorInfo(key=key, shape=list(value.shape), dtype=str(value.dtype).removeprefix("torch."))
        for key, value in state.items()
        if hasattr(value, "shape")
    }


def checkpoint_files(path: Path) -> list[Path]:
    """The weight files behind a path: a file, a sharded index, or a folder of shards."""
    if not path.exists():
        raise IntegratorError(f"{path} does not exist.", "Give the path of a .safetensors/.bin file or a folder.")
    if path.is_dir():
        files = sorted(path.glob("*.safetensors")) or sorted(path.glob("*.bin")) + sorted(path.glob("*.pt*"))
        if not files:
            raise IntegratorError(f"{path} holds no .safetensors, .bin or .pt files.", "Point at the weights folder.")
        return files
    if path.name.endswith(".index.json"):
        shards = sorted(set(json.loads(path.read_text())["weight_map"].values()))
        return [path.parent / shard for shard in shards]
    return [path]


class InspectCheckpointRequest(BaseModel):
    """Which weights to summarise."""

    path: str = Field(
        description="A .safetensors / .bin / .pt file, a sharded `*.index.json`, or a folder of weights. Relative "
        "paths are taken from the checkout root; absolute paths may point anywhere (the file is only read)."
    )
    max_patterns: int = Field(default=150, ge=1, le=2000, description="Cap on folded key patterns returned.")


def inspect_checkpoint(checkout: Checkout, request: InspectCheckpointRequest) -> InspectCheckpointResult:
    """Summarises a checkpoint; a relative path is the checkout's, an absolute one may be anywhere (read only)."""
    path = Path(request.path).expanduser()
    if not path.is_absolute():
        path = checkout.root / path
    return summarize_checkpoint(path, max_patterns=request.max_patterns)


def summarize_checkpoint(path: str | Path, *, max_patterns: int = 150) -> InspectCheckpointResult:
    """Reads every file behind `path` and folds its keys into patterns."""
    files = checkpoint_files(Path(path).expanduser())
    tensors: dict[str, TensorInfo] = {}
    metadata: dict[str, str] = {}
    for file in files:
        if file.suffix == ".safetensors":
            found, meta = read_safetensors_header(file)
            metadata.update(meta)
        else:
            found = _torch_tensors(file)
        tensors.update(found)
    patterns = fold_keys(list(tensors.values()))
    parameters = sum(_numel(info.shape) for info in tensors.values())
    size = sum(_numel(info.shape) * _DTYPE_BYTES.get(info.dtype.upper(), 4) for info in tensors.values())
    return InspectCheckpointResult(
        files=[str(file) for file in files],
        tensors=len(tensors),
        parameters=parameters,
        size_bytes=size,
        dtypes=dict(Counter(info.dtype for info in tensors.values())),
        metadata=metadata,
        patterns=patterns[:max_patterns],
        truncated=max(0, len(patterns) - max_patterns),
    )


def fold_keys(tensors: list[TensorInfo]) -> list[KeyPattern]:
    """Groups keys that differ only by numeric indices (and agree on shape and dtype)."""
    groups: dict[tuple[str, tuple[int, ...], str], list[list[int]]] = defaultdict(list)
    for info in tensors:
        indices = [int(match) for match in _INDEX.findall(info.key)]
        groups[(_INDEX.sub("*", info.key), tuple(info.shape), info.dtype)].append(indices)
    patterns = []
    for (pattern, shape, dtype), seen in groups.items():
        first_index = sorted({indices[0] for indices in seen if indices})
        patterns.append(
            KeyPattern(pattern=pattern, shape=list(shape), dtype=dtype, count=len(seen), indices=_ranges(first_index))
        )
    return patterns


def _ranges(values: list[int]) -> str:
    if not values:
        return ""
    parts, start, previous = [], values[0], values[0]
    for value in values[1:] + [None]:
        if value is not None and value == previous + 1:
            previous = value
            continue
        parts.append(f"{start}" if start == previous else f"{start}-{previous}")
        if value is not None:
            start = previous = value
    return ",".join(parts)


def _numel(shape: list[int]) -> int:
    total = 1
    for dim in shape:
        total *= dim
    return total
