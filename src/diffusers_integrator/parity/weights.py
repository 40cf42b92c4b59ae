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
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel, Field

from ..checkout import Checkout
from ..errors import CheckoutError, IntegratorError


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


WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt")


def _shown(path: str | Path, limit: int = 200) -> str:
    """A path as an error echoes it: cut, so a huge one never comes back whole."""
    text = str(path)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"


def read_safetensors_header(path: Path) -> tuple[dict[str, TensorInfo], dict[str, str]]:
    """Tensor names, shapes and dtypes, and the `__metadata__`, from the header alone."""
    not_safetensors = IntegratorError(
        f"{_shown(path)} is not a safetensors file (its header does not parse).",
        "Check the file: a truncated download, or another format under a .safetensors name.",
    )
    try:
        with open(path, "rb") as handle:
            raw = handle.read(8)
            if len(raw) != 8:
                raise IntegratorError(f"{_shown(path)} is too short to be a safetensors file.", "Check the file.")
            (length,) = struct.unpack("<Q", raw)
            if length > 100_000_000:
                raise not_safetensors
            header = json.loads(handle.read(length))
    except FileNotFoundError:
        raise IntegratorError(
            f"{_shown(path)} does not exist (a shard the checkpoint lists is missing).",
            "Download every shard the index names into the same folder, then retry.",
        ) from None
    except OSError as error:
        raise IntegratorError(f"{_shown(path)} cannot be read ({error.strerror}).", "Check the path.") from None
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise not_safetensors from None
    if not isinstance(header, dict):
        raise not_safetensors
    metadata = header.pop("__metadata__", {}) or {}
    try:
        tensors = {
            key: TensorInfo(key=key, shape=value["shape"], dtype=value["dtype"]) for key, value in header.items()
        }
    except (KeyError, TypeError, ValueError):
        raise not_safetensors from None
    return tensors, {str(key): str(value) for key, value in metadata.items()} if isinstance(metadata, dict) else {}


def _torch_tensors(path: Path) -> dict[str, TensorInfo]:
    import torch

    try:
        state = torch.load(path, map_location="meta", weights_only=True, mmap=True)
    except FileNotFoundError:
        raise IntegratorError(f"{_shown(path)} does not exist.", "Check the path (and every shard).") from None
    except Exception as error:  # not a torch file, a pickle with classes, a truncated file
        raise IntegratorError(
            f"{_shown(path)} cannot be read as a weights-only torch state dict ({type(error).__name__}).",
            "Pass a .safetensors file, or a plain state dict saved with `torch.save(model.state_dict(), ...)`.",
        ) from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise IntegratorError(f"{path} does not hold a state dict.", "Pass a state-dict checkpoint.")
    return {
        key: TensorInfo(key=key, shape=list(value.shape), dtype=str(value.dtype).removeprefix("torch."))
        for key, value in state.items()
        if hasattr(value, "shape")
    }


def checkpoint_files(path: Path, field: str = "path", confine: Callable[[Path], Path] | None = None) -> list[Path]:
    """The weight files behind a path: a file, a sharded index, or a folder of shards.

    `confine` (the checkout's, for a path the caller gave relative to it) checks every file read, shards named
    by an index included, so a symlink or a `../` in an index cannot lead out of the tree.
    """
    check = confine or (lambda file: file)
    try:
        path = check(path)
        if not path.exists():
            raise IntegratorError(
                f"`{field}`: {_shown(path)} does not exist.", "Give the path of a .safetensors/.bin file or a folder."
            )
        if path.is_dir():
            files = sorted(path.glob("*.safetensors")) or sorted(path.glob("*.bin")) + sorted(path.glob("*.pt*"))
            if not files:
                raise IntegratorError(
                    f"`{field}`: {_shown(path)} holds no .safetensors, .bin or .pt files.",
                    "Point at the weights folder.",
                )
            return [check(file) for file in files]
        if path.name.endswith(".index.json"):
            try:
                shards = sorted(set(json.loads(path.read_text(encoding="utf-8"))["weight_map"].values()))
            except (ValueError, KeyError, TypeError, AttributeError):
                raise IntegratorError(
                    f"`{field}`: {_shown(path)} is not a sharded-checkpoint index (no `weight_map` of key -> file).",
                    "Point at the index that came with the shards, or at the folder of shards.",
                ) from None
            files = [check(path.parent / str(shard)) for shard in shards]
            missing = [file.name for file in files if not file.is_file()]
            if missing:
                raise IntegratorError(
                    f"`{field}`: {_shown(path.name)} names shard(s) that are not there: {_shown(', '.join(missing))}.",
                    "Download every shard the index names into the same folder, then retry.",
                )
            return files
        if not path.name.endswith(WEIGHT_SUFFIXES):
            raise IntegratorError(
                f"`{field}`: {_shown(path.name)} is not a weights file.",
                "Pass a .safetensors, .bin, .pt, .pth or .ckpt file, a sharded `*.index.json`, or a folder of weights.",
            )
        return [path]
    except OSError as error:  # a name longer than the file system allows, a permission, a loop of links
        raise IntegratorError(
            f"`{field}`: {_shown(path)} cannot be used ({error.strerror or type(error).__name__}).",
            "Give the path of a readable weights file or folder.",
        ) from None


class InspectCheckpointRequest(BaseModel):
    """Which weights to summarise."""

    path: str = Field(
        min_length=1,
        max_length=4096,
        description="A .safetensors / .bin / .pt file, a sharded `*.index.json`, or a folder of weights. Relative "
        "paths are taken from the checkout root and stay inside it (a symlink out of the tree is refused); absolute "
        "paths may point anywhere, by design: the file is only read.",
    )
    max_patterns: int = Field(default=150, ge=1, le=2000, description="Cap on folded key patterns returned.")


def inspect_checkpoint(checkout: Checkout, request: InspectCheckpointRequest) -> InspectCheckpointResult:
    """Summarises a checkpoint; a relative path is the checkout's, an absolute one may be anywhere (read only)."""
    path, confine = input_path(checkout, request.path)
    return summarize_checkpoint(path, max_patterns=request.max_patterns, confine=confine)


def input_path(checkout: Checkout, text: str, field: str = "path") -> tuple[Path, Callable[[Path], Path] | None]:
    """A weights path a caller gave (argument `field`), and the check for every file read behind it.

    Relative: the checkout's, confined to the tree (symlinks that leave it are refused, for every shard too).
    Absolute: anywhere, by design (the user's downloads folder); only ever read.
    """
    path = Path(text).expanduser()
    if path.is_absolute():
        return path, None

    def confine(target: str | Path) -> Path:
        try:
            return checkout.resolve(target)
        except CheckoutError as error:  # say which argument led there
            raise CheckoutError(f"`{field}`: {error.problem}", error.fix) from None

    return confine(text), confine


def summarize_checkpoint(
    path: str | Path, *, max_patterns: int = 150, confine: Callable[[Path], Path] | None = None
) -> InspectCheckpointResult:
    """Reads every file behind `path` and folds its keys into patterns."""
    files = checkpoint_files(Path(path).expanduser(), confine=confine)
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
