"""The `convert_weights` tool: a reference checkpoint, JSON rules and a target in; diffusers-layout weights out.

Two passes. The first runs the rules over meta tensors built from the headers (no tensor is read, so the coverage
of a 30 GB checkpoint takes milliseconds, and a rule that cannot apply fails before any I/O). The second, only
when the coverage allows it, streams: each source tensor is read (safetensors `safe_open`, torch `mmap`),
converted and buffered until its output shard is full, so memory holds about one shard rather than the model.

Output goes only to `.diffusers-integrator/weights/<name>/` (converted weights never ship upstream), as diffusers
names it (`diffusion_pytorch_model.safetensors`, or shards + index), with the target's `config.json` so
`from_pretrained` loads the folder, and `conversion.json` recording the rules and the full coverage.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from pydantic import TypeAdapter, ValidationError

from .. import __version__
from ..checkout import STATE_DIR_NAME, Checkout, atomic_write
from ..errors import IntegratorError
from ..progress import ProgressFn
from ..redact import Scrubber
from .convert import Conversion, KeyMap
from .convert_weights_schema import (
    ConversionCoverage,
    ConversionRule,
    ConvertWeightsRequest,
    ConvertWeightsResult,
    DropRule,
    KeyGroups,
    ReorderRule,
    ReshapeRule,
    RuleRef,
    SplitRule,
    SwapRule,
    TransposeRule,
)
from .weights import TensorInfo, checkpoint_files, fold_keys, input_path, read_safetensors_header


WEIGHTS_DIR = "weights"
WEIGHTS_NAME = "diffusion_pytorch_model"  # what diffusers' from_pretrained looks for
REPORT_NAME = "conversion.json"
MAX_SHARD_BYTES = 5_000_000_000  # diffusers' "5GB"
MAX_PATTERNS = 30
MAX_MISMATCHES = 20
MAX_WEIGHT_MAP = 100


_SAFETENSORS_DTYPES = {
    "F64": torch.float64,
    "F32": torch.float32,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "I64": torch.int64,
    "I32": torch.int32,
    "I16": torch.int16,
    "I8": torch.int8,
    "U8": torch.uint8,
    "BOOL": torch.bool,
    "F8_E4M3": torch.float8_e4m3fn,
    "F8_E5M2": torch.float8_e5m2,
}
_CASTS = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


# --- rules ------------------------------------------------------------------------------------------------------


def key_map_from_rules(rules: Sequence[ConversionRule]) -> KeyMap:
    """The `KeyMap` the rules describe, one `KeyMap` rule per JSON rule (so indices agree)."""
    km = KeyMap()
    for rule in rules:
        if isinstance(rule, DropRule):
            km.drop(rule.source)
        elif isinstance(rule, TransposeRule):
            km.transpose(rule.source, rule.target)
        elif isinstance(rule, SplitRule):
            km.split(rule.source, rule.targets, dim=rule.dim, sizes=rule.sizes)
        elif isinstance(rule, SwapRule):
            km.swap(rule.source, rule.target, dim=rule.dim)
        elif isinstance(rule, ReorderRule):
            km.reorder(rule.source, rule.target, rule.order, dim=rule.dim)
        elif isinstance(rule, ReshapeRule):
            km.custom(rule.source, rule.target, _reshaper(rule.shape, rule.permute))
        else:
            km.rename(rule.source, rule.target)
    return km


def _reshaper(shape: list[int] | None, permute: list[int] | None) -> Callable[[torch.Tensor], torch.Tensor]:
    def reshape(tensor: torch.Tensor) -> torch.Tensor:
        if shape is not None:
            tensor = tensor.reshape(shape)
        if permute is not None:
            tensor = tensor.permute(permute)
        return tensor.contiguous()

    return reshape


def load_rules(path: str | Path) -> list[ConversionRule]:
    """Rules from a JSON file: a list, or an object with `rules` (a previous `conversion.json` works)."""
    path = Path(path).expanduser()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise IntegratorError(f"{path} does not exist.", "Give the path of a JSON file of rules.") from None
    except json.JSONDecodeError as error:
        raise IntegratorError(f"{path} is not valid JSON ({error}).", "Fix the file.") from None
    if isinstance(data, dict) and "rules" in data:
        data = data["rules"]
    try:
        return TypeAdapter(list[ConversionRule]).validate_python(data)
    except ValidationError as error:
        raise IntegratorError(
            f"Invalid rules in {path} (`N` in a location is the rule's index): {error}",
            "Fix the named rules: each needs `op` (rename, transpose, split, swap, reorder, reshape, drop), `source` "
            "and `target` (or `targets` for split; nothing for drop).",
        ) from None


# --- reading checkpoints ------------------------------------------------------------------------------------------


class _Checkpoint:
    """Every tensor behind a checkpoint path, as meta tensors (from headers) or read one at a time."""

    def __init__(self, path: Path, field: str = "source", confine: Callable[[Path], Path] | None = None):
        self.files = checkpoint_files(path, field, confine)
        self.meta: dict[str, torch.Tensor] = {}
        self.file_of: dict[str, Path] = {}
        for file in self.files:
            if file.suffix == ".safetensors":
                infos, _ = read_safetensors_header(file)
                found = {key: _meta_tensor(info, file) for key, info in infos.items()}
            else:
                found = _torch_state(file, map_location="meta")
            self.meta.update(found)
            self.file_of.update(dict.fromkeys(found, file))

    def tensors(self) -> Iterator[tuple[str, torch.Tensor]]:
        """(key, tensor) in the order of `meta`; safetensors read lazily, torch files memory-mapped."""
        from safetensors import safe_open

        with contextlib.ExitStack() as stack:
            opened: dict[Path, Any] = {}
            for key in self.meta:
                file = self.file_of[key]
                if file not in opened:
                    if file.suffix == ".safetensors":
                        opened[file] = stack.enter_context(safe_open(str(file), framework="pt", device="cpu"))
                    else:
                        opened[file] = _torch_state(file, map_location="cpu")
                handle = opened[file]
                yield key, handle.get_tensor(key) if file.suffix == ".safetensors" else handle[key]


def _meta_tensor(info: TensorInfo, file: Path) -> torch.Tensor:
    dtype = _SAFETENSORS_DTYPES.get(info.dtype.upper())
    if dtype is None:
        raise IntegratorError(
            f"{file}: {info.key} has dtype {info.dtype}, which this tool cannot convert.",
            "Save a copy of the checkpoint with that tensor cast to a float or integer dtype.",
        )
    return torch.empty(info.shape, dtype=dtype, device="meta")


def _torch_state(file: Path, map_location: str) -> dict[str, torch.Tensor]:
    try:
        state = torch.load(file, map_location=map_location, weights_only=True, mmap=True)
    except Exception as error:  # pickles with classes, legacy zip-less files, truncated files
        raise IntegratorError(
            f"{file} cannot be loaded as a weights-only torch state dict ({type(error).__name__}: {error}).",
            "Save a plain state dict (`torch.save(model.state_dict(), ...)`) or a safetensors copy first.",
        ) from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise IntegratorError(f"{file} does not hold a state dict.", "Pass a state-dict checkpoint.")
    return {key: value for key, value in state.items() if isinstance(value, torch.Tensor)}


def _read_target(path: Path, confine: Callable[[Path], Path] | None) -> tuple[dict[str, TensorInfo], Path | None]:
    """The keys, shapes and dtypes the diffusers model expects, and the config.json beside them (if any)."""
    if path.suffix == ".json" and not path.name.endswith(".index.json"):
        try:
            shapes = json.loads((confine(path) if confine else path).read_text(encoding="utf-8"))
            infos = {key: TensorInfo(key=key, shape=list(shape), dtype="?") for key, shape in shapes.items()}
        except FileNotFoundError:
            raise IntegratorError(
                f"`target`: {str(path)[:200]} does not exist.", "Give the target's folder or a JSON of shapes."
            ) from None
        except OSError as error:
            raise IntegratorError(
                f"`target`: {str(path)[:200]} cannot be read ({error.strerror}).", "Check the path."
            ) from None
        except (json.JSONDecodeError, AttributeError, TypeError, ValueError):
            raise IntegratorError(
                f"{path} is not a JSON object of key -> shape.",
                "Write it with `json.dump({k: list(v.shape) for k, v in model.state_dict().items()}, f)`.",
            ) from None
        return infos, None
    folder = path if path.is_dir() else path.parent
    config = folder / "config.json"
    infos = {}
    for key, tensor in _Checkpoint(path, "target", confine).meta.items():
        infos[key] = TensorInfo(key=key, shape=list(tensor.shape), dtype=_dtype_name(tensor.dtype))
    return infos, config if config.is_file() else None


def _class_name(config: Path | None) -> str | None:
    """The model class `save_pretrained` recorded in config.json, to name in the next step."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        return json.loads(config.read_text(encoding="utf-8")).get("_class_name") if config else None
    return None


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


# --- the tool ---------------------------------------------------------------------------------------------------


def convert_weights(
    checkout: Checkout,
    request: ConvertWeightsRequest,
    progress: ProgressFn | None = None,
    *,
    max_shard_bytes: int = MAX_SHARD_BYTES,
) -> ConvertWeightsResult:
    """Checks the rules' coverage over `request.source` against `request.target`, then (unless `dry_run`, or the
    coverage is incomplete and not allowed) writes the converted weights under `.diffusers-integrator/weights/`."""
    report = progress or (lambda done, total=None, message=None: None)
    source_path, confine_source = input_path(checkout, request.source, "source")
    source = _Checkpoint(source_path, "source", confine_source)
    target_path, confine_target = input_path(checkout, request.target, "target") if request.target else (None, None)
    target, config = _read_target(target_path, confine_target) if target_path is not None else ({}, None)
    km = key_map_from_rules(request.rules)
    cast = _CASTS.get(request.dtype)

    planned = _apply_checked(
        km,
        [rule.op for rule in request.rules],
        source.meta,
        {k: v.shape for k, v in target.items()} if request.target else None,
    )
    coverage = _coverage(request, km, source, planned, target)
    complete = planned.coverage.complete
    name = request.name or _default_name(source_path)
    out_dir = _output_dir(checkout, name)
    weight_map = {ref: parts[0] if len(parts) == 1 else parts for ref, parts in planned.module_map().items()}
    result = ConvertWeightsResult(
        complete=complete,
        written=False,
        coverage=coverage,
        weight_map=dict(list(weight_map.items())[:MAX_WEIGHT_MAP]),
        weight_map_total=len(weight_map),
        next_step="",
    )
    if request.dry_run or not (complete or request.allow_incomplete):
        result.next_step = _next_step(result, request, out_dir_rel=None)
        return result
    if not planned.state_dict:
        raise IntegratorError("The rules convert no tensor (every source key is dropped or unused).", "Fix the rules.")

    report(0, len(source.meta), "converting")
    shards = _plan_shards(planned.state_dict, cast, max_shard_bytes)
    temps: dict[str, Path] = {}
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        _write_shards(km, source, shards, cast, out_dir, temps, report)
        with checkout.writer_lock():
            files = _publish(out_dir, temps, shards, config)
            record = {
                "tool": "convert_weights",
                "version": __version__,
                "source": str(source_path),
                "target": str(target_path) if target_path is not None else None,
                "dtype": request.dtype,
                "rules": [rule.model_dump(exclude_none=True) for rule in request.rules],
                "complete": complete,
                "files": files,
                "coverage": planned.coverage.model_dump(mode="json"),
                "unmatched_rules": [rule.model_dump() for rule in coverage.unmatched_rules],
                "weight_map": weight_map,
            }
            # Scrubbed like every file the product writes: a path or a rule may carry a secret.
            atomic_write(out_dir / REPORT_NAME, json.dumps(Scrubber().data(record), indent=2) + "\n")
    finally:
        for temp in temps.values():
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()
    rel = checkout.rel(out_dir)
    result.written = True
    result.output_dir = rel
    result.files = files
    result.loadable = config is not None
    result.report = f"{rel}/{REPORT_NAME}"
    result.next_step = _next_step(result, request, out_dir_rel=rel, class_name=_class_name(config))
    report(len(source.meta), len(source.meta), f"wrote {len(files)} file(s) to {rel}")
    return result


def _default_name(source: Path) -> str:
    stem = source.name if source.is_dir() else source.name.split(".")[0]
    return re.sub(r"[^A-Za-z0-9_.-]", "-", stem).lstrip(".-_") or "converted"


def _output_dir(checkout: Checkout, name: str) -> Path:
    """`.diffusers-integrator/weights/<name>`, refused if a symlink or `..` would lead anywhere else."""
    if any(part in ("", ".", "..") for part in name.split("/")):
        raise IntegratorError(f"Output name {name!r} has an empty, `.` or `..` segment.", "Use a plain name: `foo`.")
    out_dir = checkout.resolve(f"{STATE_DIR_NAME}/{WEIGHTS_DIR}/{name}")
    state_dir = checkout.state_dir  # created (with its .gitignore) on first use
    weights_root = checkout.root.resolve() / state_dir.name / WEIGHTS_DIR
    if weights_root not in out_dir.resolve().parents:  # a symlinked weights/ or <name> leads elsewhere
        raise IntegratorError(
            f"{checkout.rel(out_dir)} leads outside {STATE_DIR_NAME}/{WEIGHTS_DIR}/ (a symlink?).",
            "Converted weights go only under .diffusers-integrator/weights/: remove the symlink or pick another name.",
        )
    return out_dir


def _apply_checked(
    km: KeyMap, ops: list[str], meta: Mapping[str, torch.Tensor], target: Mapping[str, Any] | None
) -> Conversion:
    """`km.apply` on meta tensors; a rule that cannot apply becomes an error naming the rule and the key."""
    tracked = _Tracked(meta)
    try:
        return km.apply(tracked, target=target)
    except (ValueError, RuntimeError, IndexError) as error:
        key = tracked.last
        index = next((i for i, rule in enumerate(km.rules) if key is not None and rule.pattern.match(key)), None)
        kind = ops[index] if index is not None else None
        shape = list(meta[key].shape) if key is not None else "?"
        fix = _FIXES.get("duplicate" if "two source keys" in str(error) else kind, "Fix that rule.")
        raise IntegratorError(
            f"Rule {index} ({kind}) cannot convert {key!r} of shape {shape}: {error}.",
            f"{fix} Then call convert_weights again.",
        ) from None


_FIXES = {
    "split": "Split `sizes` must add up to the size of `dim` (without sizes, the parts must divide it evenly).",
    "reorder": "The number of chunks must divide `dim` evenly, and `dim` must exist.",
    "swap": "The two halves must split `dim` evenly, and `dim` must exist.",
    "transpose": "transpose takes 2-D weights; use reshape with `permute` for more dims.",
    "reshape": "A reshape must keep the element count, and `permute` must list every dim once.",
    "duplicate": "Two source keys convert to the same name: make the earlier rule's pattern narrower or fix a target.",
}


class _Tracked(Mapping[str, torch.Tensor]):
    """A mapping that remembers the last key read, to say which key a failing rule was converting."""

    def __init__(self, data: Mapping[str, torch.Tensor]):
        self.data = data
        self.last: str | None = None

    def __getitem__(self, key: str) -> torch.Tensor:
        self.last = key
        return self.data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)


def _coverage(
    request: ConvertWeightsRequest,
    km: KeyMap,
    source: _Checkpoint,
    planned: Conversion,
    target: dict[str, TensorInfo],
) -> ConversionCoverage:
    matched = [0] * len(km.rules)
    for key in source.meta:
        index = next((i for i, rule in enumerate(km.rules) if rule.pattern.match(key)), None)
        if index is not None:
            matched[index] += 1
    dropped = sum(count for count, rule in zip(matched, request.rules) if isinstance(rule, DropRule))
    cov = planned.coverage

    def infos(keys: list[str], tensors: Mapping[str, torch.Tensor]) -> list[TensorInfo]:
        return [TensorInfo(key=k, shape=list(tensors[k].shape), dtype=_dtype_name(tensors[k].dtype)) for k in keys]

    return ConversionCoverage(
        source_keys=len(source.meta),
        converted=cov.converted,
        dropped=dropped,
        target_checked=request.target is not None,
        target_keys=len(target) if request.target else None,
        unused_source_keys=_groups(infos(cov.unused_source_keys, source.meta)),
        missing_target_keys=_groups([target[k] for k in cov.missing_target_keys]),
        unexpected_target_keys=_groups(infos(cov.unexpected_target_keys, planned.state_dict)),
        shape_mismatches=cov.shape_mismatches[:MAX_MISMATCHES],
        shape_mismatch_count=len(cov.shape_mismatches),
        unmatched_rules=[
            RuleRef(index=i, op=rule.op, source=rule.source)
            for i, (rule, count) in enumerate(zip(request.rules, matched))
            if count == 0
        ],
    )


def _groups(infos: list[TensorInfo]) -> KeyGroups:
    patterns = fold_keys(infos)
    return KeyGroups(
        count=len(infos), patterns=patterns[:MAX_PATTERNS], truncated=max(0, len(patterns) - MAX_PATTERNS)
    )


# --- writing ----------------------------------------------------------------------------------------------------


def _plan_shards(planned: Mapping[str, torch.Tensor], cast: torch.dtype | None, max_bytes: int) -> list[list[str]]:
    """Output keys grouped into shards of at most `max_bytes` (a bigger tensor gets a shard of its own)."""
    shards: list[list[str]] = [[]]
    size = 0
    for key, tensor in planned.items():
        dtype = cast if cast is not None and tensor.is_floating_point() else tensor.dtype
        nbytes = tensor.numel() * torch.empty((), dtype=dtype).element_size()
        if shards[-1] and size + nbytes > max_bytes:
            shards.append([])
            size = 0
        shards[-1].append(key)
        size += nbytes
    return shards


def _shard_name(index: int, count: int) -> str:
    if count == 1:
        return f"{WEIGHTS_NAME}.safetensors"
    return f"{WEIGHTS_NAME}-{index + 1:05d}-of-{count:05d}.safetensors"


def _write_shards(
    km: KeyMap,
    source: _Checkpoint,
    shards: list[list[str]],
    cast: torch.dtype | None,
    out_dir: Path,
    temps: dict[str, Path],
    report: ProgressFn,
) -> None:
    """Streams the source through the rules; each shard goes to a temp file beside its final name once full."""
    from safetensors.torch import save_file

    buffer: dict[str, torch.Tensor] = {}
    next_shard = 0
    total = len(source.meta)
    for done, (key, tensor) in enumerate(source.tensors(), start=1):
        for name, value in km.apply({key: tensor}).state_dict.items():
            buffer[name] = _owned(value.to(cast) if cast is not None and value.is_floating_point() else value)
        while next_shard < len(shards) and shards[next_shard][-1] in buffer:
            final = _shard_name(next_shard, len(shards))
            handle, temp = tempfile.mkstemp(prefix=f".{final}.", suffix=".tmp", dir=out_dir)
            os.close(handle)
            temps[final] = Path(temp)
            save_file({k: buffer.pop(k) for k in shards[next_shard]}, temp, metadata={"format": "pt"})
            _fsync(Path(temp))
            next_shard += 1
            report(done, total, f"wrote shard {next_shard}/{len(shards)}")
        if done % 100 == 0:
            report(done, total, f"converted {done}/{total} tensors")
    if next_shard != len(shards):  # the streamed pass must produce what the meta pass planned
        raise RuntimeError(f"wrote {next_shard} of {len(shards)} planned shards")


def _owned(tensor: torch.Tensor) -> torch.Tensor:
    """A tensor that owns its whole storage: safetensors refuses views that share one (q, k, v of a split)."""
    tensor = tensor.contiguous()
    if tensor.untyped_storage().nbytes() != tensor.nbytes:
        tensor = tensor.clone()
    return tensor


def _fsync(path: Path) -> None:
    with open(path, "rb+") as handle:
        os.fsync(handle.fileno())


def _publish(out_dir: Path, temps: dict[str, Path], shards: list[list[str]], config: Path | None) -> list[str]:
    """Moves the shards into place, writes the index and config, removes shards of an earlier conversion; returns
    the weight files (shards and index)."""
    for final, temp in temps.items():
        os.replace(temp, out_dir / final)
    index_name = f"{WEIGHTS_NAME}.safetensors.index.json"
    keep = set(temps)
    if len(shards) > 1:
        weight_map = {key: _shard_name(i, len(shards)) for i, keys in enumerate(shards) for key in keys}
        total_size = sum((out_dir / name).stat().st_size for name in temps)
        index = {"metadata": {"total_size": total_size}, "weight_map": weight_map}
        atomic_write(out_dir / index_name, json.dumps(index, indent=2) + "\n")
        keep.add(index_name)
    for stale in [*out_dir.glob(f"{WEIGHTS_NAME}*.safetensors"), out_dir / index_name]:
        if stale.name not in keep:
            with contextlib.suppress(FileNotFoundError):
                stale.unlink()
    if config is not None:
        atomic_write(out_dir / "config.json", config.read_text(encoding="utf-8"))
    return sorted(keep)


# --- next step ----------------------------------------------------------------------------------------------------


def _first(groups: KeyGroups) -> str:
    shown = ", ".join(f"`{p.pattern}`" + (f" ×{p.count}" if p.count > 1 else "") for p in groups.patterns[:3])
    return shown + (", ..." if len(groups.patterns) > 3 or groups.truncated else "")


def _next_step(
    result: ConvertWeightsResult,
    request: ConvertWeightsRequest,
    out_dir_rel: str | None,
    class_name: str | None = None,
) -> str:
    cov = result.coverage
    problems = []
    if cov.unused_source_keys.count:
        problems.append(
            f"{cov.unused_source_keys.count} source keys unused ({_first(cov.unused_source_keys)}): add rules for "
            "them, or `drop` rules if they are not this model's weights (EMA copies, optimizer state)"
        )
    if cov.missing_target_keys.count:
        problems.append(
            f"{cov.missing_target_keys.count} target keys missing ({_first(cov.missing_target_keys)}): a rule's "
            "target is misspelt, or a source tensor still needs a rule (a split part, a renamed norm)"
        )
    if cov.unexpected_target_keys.count:
        problems.append(
            f"{cov.unexpected_target_keys.count} produced keys the target lacks "
            f"({_first(cov.unexpected_target_keys)}): fix those rules' targets"
        )
    if cov.shape_mismatch_count:
        first = cov.shape_mismatches[0]
        problems.append(
            f"{cov.shape_mismatch_count} shape mismatches (`{first.key}`: target {first.expected}, converted "
            f"{first.actual}): a split with wrong sizes, a missing transpose or reshape, or a config that differs "
            "from the checkpoint's"
        )
    hint = ""
    if cov.unmatched_rules:
        dead = ", ".join(f"{r.index} (`{r.source}`)" for r in cov.unmatched_rules[:3])
        hint = f" Rules matching no source key: {dead}; a typo in a pattern shows up here."
    no_target = (
        " No target was given, so missing keys and shapes were not checked: pass `target` (the folder "
        "`save_pretrained` wrote for a freshly built model, or a JSON of key -> shape)."
        if not cov.target_checked
        else ""
    )
    if problems:
        text = "Coverage incomplete: " + "; ".join(problems) + "."
        if result.written:
            return text + f" Written anyway (allow_incomplete) to {out_dir_rel}: parity will fail on what is missing."
        if request.dry_run:
            return text + hint + no_target
        return text + " Nothing was written (allow_incomplete=true writes anyway)." + hint + no_target
    if request.dry_run:
        return "Coverage complete: call again without dry_run to write the weights." + hint + no_target
    load = (
        f'`{class_name or "FooModel"}.from_pretrained("{out_dir_rel}")` loads them (the target\'s config.json was '
        "copied)"
        if result.loadable
        else f"load them with `model.load_state_dict(safetensors.torch.load_file(...), strict=True)` from {out_dir_rel}"
    )
    return (
        f"Coverage complete; weights written: {load}. Next: the parity spec (parity-testing skill) with "
        f"`candidate()` loading these weights; paste `weight_map` into it if localisation needs it (the full map is "
        f"in {result.report}). Keep the same rules in scripts/convert_<model>_to_diffusers.py." + hint + no_target
    )


def render(result: ConvertWeightsResult) -> str:
    """The result as a few lines for a terminal (the CLI's output without --json)."""
    cov = result.coverage
    lines = [
        f"coverage {'complete' if result.complete else 'incomplete'}: {cov.source_keys} source keys -> "
        f"{cov.converted} tensors ({cov.dropped} dropped)"
        + (f", target has {cov.target_keys}" if cov.target_checked else ", no target checked"),
    ]
    for label, groups in (
        ("unused source keys", cov.unused_source_keys),
        ("missing target keys", cov.missing_target_keys),
        ("unexpected target keys", cov.unexpected_target_keys),
    ):
        if groups.count:
            lines.append(f"{label} ({groups.count}):")
            lines += [f"  {p.pattern} {p.shape} x{p.count}" for p in groups.patterns]
    for mismatch in cov.shape_mismatches:
        lines.append(f"shape mismatch: {mismatch.key} target {mismatch.expected}, converted {mismatch.actual}")
    for rule in cov.unmatched_rules:
        lines.append(f"rule {rule.index} ({rule.op} {rule.source}) matched no source key")
    if result.written:
        lines.append(f"wrote {result.output_dir}: {', '.join(result.files)}")
    lines.append(f"next: {result.next_step}")
    return "\n".join(lines)
