"""Find the first module where the candidate leaves the reference.

The reference runs first with hooks on its leaf modules; their inputs and outputs are written, as they are
produced, to an unnamed temporary file (a tensor that is both one module's output and the next one's input is
written once), so they never accumulate in memory: peak memory stays that of a bare forward pass. The reference
is then freed, the candidate built and run with hooks on every module: aligned leaves read their reference
values back one at a time and compare their input and output on the fly (nothing of the candidate is stored),
and every module records which tensors it produced.

The first row over tolerance tells where:
* output diverges while the input matched -> the module itself (its weights or its own forward);
* input diverges while the previous aligned output matched -> the code that produced the input: the module
  that returned that tensor (an AdaLayerNorm, a RoPE, an activation), else the parent whose forward computed it
  (attention processor, a block's modulation, the model's own preprocessing).
"""

from __future__ import annotations

import itertools
import os
import tempfile
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any

import torch

from .align import Alignment, ModelIndex
from .compare import dtype_name, flatten_outputs, tensor_stats
from .results import AlignedModule, ModuleDiff, Segment, TensorDiff


# --- module tolerance -------------------------------------------------------------------------------------------


@dataclass
class ModuleTolerance:
    """Per-module check, relative to the activation's scale: intermediate activations span orders of magnitude.

    `max_rel` bounds max|diff| / max|reference|; `floor` is an absolute diff below which anything passes;
    `onset` is the relative diff from which an earlier, still-passing module counts as where the error starts.
    """

    max_rel: float = 1e-4
    min_cosine: float | None = None
    floor: float = 1e-7
    onset: float = 1e-5

    @classmethod
    def for_dtype(cls, dtype: torch.dtype) -> ModuleTolerance:
        if dtype in (torch.bfloat16, torch.float16):
            return cls(max_rel=1e-1, min_cosine=0.999, floor=1e-3, onset=2e-2)
        return cls()

    def check_stats(self, stats: dict[str, float]) -> tuple[bool, str | None]:
        if stats.get("nonfinite"):
            return False, "NaN/Inf where the reference has none (or the other way round)"
        if stats["max_abs"] <= self.floor:
            return True, None
        reasons = []
        if stats["max_rel"] > self.max_rel:
            reasons.append(f"max rel {stats['max_rel']:.3g} > {self.max_rel:g}")
        if self.min_cosine is not None and stats["cosine"] < self.min_cosine:
            reasons.append(f"cosine {stats['cosine']:.6f} < {self.min_cosine:g}")
        return not reasons, "; ".join(reasons) or None


# --- reference capture ----------------------------------------------------------------------------------------


class ActivationSpill:
    """Tensors written to an unnamed temporary file as they come, read back one at a time.

    The file has no name (`O_TMPFILE` where the OS has it) and goes away when closed or when the process ends;
    what is written sits in the OS page cache, not in this process's memory. `directory` should be on a real
    disk (the run's report folder): on a tmpfs the pages would still be RAM, only not this process's.
    """

    def __init__(self, directory: str | os.PathLike[str] | None = None):
        self._file = tempfile.TemporaryFile(dir=directory)
        self._fd = self._file.fileno()
        self._slots: list[tuple[int, int, tuple[int, ...], torch.dtype]] = []  # (offset, nbytes, shape, dtype)
        self._size = 0
        self._recent: OrderedDict[int, torch.Tensor] = OrderedDict()
        self.nbytes = 0

    def put(self, tensor: torch.Tensor) -> int:
        """Writes the value `tensor` has now; returns its slot."""
        value = tensor.detach()
        if value.device.type != "cpu":
            value = value.to("cpu")
        value = value.contiguous()
        raw = value.reshape(-1).view(torch.uint8).numpy() if value.numel() else None
        nbytes = value.numel() * value.element_size()
        offset = self._size
        if raw is not None:
            view = memoryview(raw).cast("B")
            written = 0
            while written < nbytes:
                written += os.pwrite(self._fd, view[written:], offset + written)
        self._slots.append((offset, nbytes, tuple(value.shape), value.dtype))
        self._size += nbytes
        self.nbytes += nbytes
        return len(self._slots) - 1

    def get(self, slot: int) -> torch.Tensor:
        """A fresh tensor with what slot `slot` holds (the last few are kept: a module's output is often read
        again as the next one's input)."""
        found = self._recent.get(slot)
        if found is not None:
            self._recent.move_to_end(slot)
            return found
        offset, nbytes, shape, dtype = self._slots[slot]
        raw = torch.empty(nbytes, dtype=torch.uint8)
        if nbytes:
            view = memoryview(raw.numpy()).cast("B")
            done = 0
            while done < nbytes:
                got = os.preadv(self._fd, [view[done:]], offset + done)
                if got <= 0:
                    raise OSError(f"activation spill file ended early (slot {slot})")
                done += got
        tensor = raw.view(dtype).reshape(shape)
        self._recent[slot] = tensor
        if len(self._recent) > _RECENT_SLOTS:
            self._recent.popitem(last=False)
        return tensor

    def close(self) -> None:
        self._recent.clear()
        self._file.close()


_RECENT_SLOTS = 4


@dataclass
class _Entry:
    ref: weakref.ref
    version: int
    slot: int


@dataclass
class ReferenceActivations:
    """Inputs and outputs of the reference's leaf modules, per call, as slots of the spill file.

    `output()`/`input()` read values back on demand; `*_slots()` give the slot numbers (a stable identity for
    a recorded value: one tensor object seen twice unmodified has one slot).
    """

    outputs: dict[str, list[list[int | None]]] = field(default_factory=dict)
    inputs: dict[str, list[int | None]] = field(default_factory=dict)
    order: list[tuple[str, int]] = field(default_factory=list)
    classes: dict[str, str] = field(default_factory=dict)
    nbytes: int = 0
    errors: list[str] = field(default_factory=list)
    spill: ActivationSpill | None = None

    def output_slots(self, module: str, call: int) -> list[int | None] | None:
        calls = self.outputs.get(module)
        return calls[call] if calls is not None and call < len(calls) else None

    def input_slot(self, module: str, call: int) -> int | None:
        calls = self.inputs.get(module)
        return calls[call] if calls is not None and call < len(calls) else None

    def load(self, slot: int | None) -> torch.Tensor | None:
        return None if slot is None or self.spill is None else self.spill.get(slot)

    def output(self, module: str, call: int) -> list[torch.Tensor | None] | None:
        slots = self.output_slots(module, call)
        return None if slots is None else [self.load(slot) for slot in slots]

    def input(self, module: str, call: int) -> torch.Tensor | None:
        return self.load(self.input_slot(module, call))

    def close(self) -> None:
        """Drops the spill file (reading afterwards gives nothing)."""
        if self.spill is not None:
            self.spill.close()
            self.spill = None


def _safe(hook: Callable, errors: list[str]) -> Callable:
    """Instrumentation must never break the run it observes: a failing hook is recorded and skipped."""

    def wrapped(*args: Any) -> Any:
        try:
            return hook(*args)
        except Exception as exc:  # noqa: BLE001 - any hook failure becomes a note in the report
            if len(errors) < 20:
                errors.append(f"{type(exc).__name__}: {exc}")
            return None

    return wrapped


def _first_tensor(args: tuple, kwargs: dict) -> torch.Tensor | None:
    for value in list(args) + list(kwargs.values()):
        if isinstance(value, torch.Tensor):
            return value
    return None


def _leaves(model: torch.nn.Module) -> Iterable[tuple[str, torch.nn.Module]]:
    for name, module in model.named_modules():
        if not any(True for _ in module.children()):
            yield name, module


class _Recorder:
    def __init__(self, store: ReferenceActivations, spill: ActivationSpill):
        self.store = store
        self.spill = spill
        self.seen: dict[int, _Entry] = {}

    def keep(self, tensor: torch.Tensor) -> int | None:
        """The slot holding the value of `tensor` now; one write per tensor object while it is unmodified.

        The value is written at once, so a tensor the model later changes in place is recorded as it was when
        the module ran (what the candidate's hook sees at the same point), and the forward pass frees it when
        it is done with it, as without hooks.
        """
        if tensor.is_sparse or tensor.is_quantized:
            return None
        entry = self.seen.get(id(tensor))
        if entry is not None and entry.ref() is tensor and entry.version == tensor._version:
            return entry.slot
        slot = self.spill.put(tensor)
        self.store.nbytes = self.spill.nbytes
        try:
            self.seen[id(tensor)] = _Entry(weakref.ref(tensor), tensor._version, slot)
        except TypeError:
            pass
        return slot

    def hooks(self, name: str):
        store = self.store

        def pre(module, args, kwargs):
            first = _first_tensor(args, kwargs)
            store.inputs.setdefault(name, []).append(self.keep(first) if first is not None else None)

        def post(module, args, kwargs, output):
            flat = [t for t in flatten_outputs(output).values() if isinstance(t, torch.Tensor)]
            calls = store.outputs.setdefault(name, [])
            store.order.append((name, len(calls)))
            calls.append([self.keep(t) for t in flat])

        return pre, post


def record_reference(
    model: torch.nn.Module, run: Callable[[], Any], spill_dir: str | os.PathLike[str] | None = None
) -> tuple[Any, ReferenceActivations]:
    """Run `run()` with every leaf module of `model` recorded; returns its output and the activations.

    The activations go to a temporary file in `spill_dir` (default: the system's temporary folder); call
    `close()` on the result when done with it (or let it be collected).
    """
    store = ReferenceActivations(spill=ActivationSpill(spill_dir))
    recorder = _Recorder(store, store.spill)
    handles = []
    for name, module in _leaves(model):
        store.classes[name] = type(module).__name__
        pre, post = recorder.hooks(name)
        handles.append(module.register_forward_pre_hook(_safe(pre, store.errors), with_kwargs=True))
        handles.append(module.register_forward_hook(_safe(post, store.errors), with_kwargs=True))
    try:
        output = run()
    finally:
        for h in handles:
            h.remove()
    recorder.seen.clear()
    return output, store


# --- candidate comparison -------------------------------------------------------------------------------------


@dataclass
class Row:
    diff: ModuleDiff
    producer: str | None = None
    producer_class: str | None = None
    parent: str = ""
    parent_class: str = ""
    output_passed: bool | None = None
    input_passed: bool | None = None
    output_rel: float = 0.0
    input_rel: float = 0.0


@dataclass
class LocalizationRun:
    rows: list[Row]
    alignment: Alignment
    classes: dict[str, str]
    first: int | None = None
    first_where: str | None = None
    errors: list[str] = field(default_factory=list)


class _Watcher:
    def __init__(
        self,
        model: torch.nn.Module,
        alignment: Alignment,
        reference: ReferenceActivations,
        ref_index: ModelIndex,
        tolerance: ModuleTolerance | None,
    ):
        self.alignment = alignment
        self.reference = reference
        self.ref_index = ref_index
        self.tolerance = tolerance
        self.stack: list[str] = []
        self.stack_inputs: list[set[int]] = []  # ids of the tensors each running module received
        self.seen: dict[tuple[int, int, int], tuple[weakref.ref, tuple]] = {}
        self.producers: dict[int, tuple[weakref.ref, str]] = {}
        self.calls: dict[str, int] = {}
        # per module: (input diff, input ok, input rel, producer of the input, parent) until its output arrives
        self.pending: dict[str, list[tuple]] = {}
        self.rows: list[Row] = []
        self.classes = {name: type(m).__name__ for name, m in model.named_modules()}
        self.leaf_without_params = {
            name
            for name, m in model.named_modules()
            if not any(True for _ in m.children()) and not any(True for _ in m.parameters(recurse=False))
        }
        self.containers = _container_map(alignment, ref_index)
        self.ref_slots = _reference_slots(reference, ref_index, alignment, set(self.containers.values()))
        self.slot_counters: dict[tuple[str, str], int] = {}
        self.errors: list[str] = []

    def _structural(self, name: str) -> tuple[AlignedModule, int] | None:
        """A parameter-free leaf (a norm without affine, an activation) paired with the reference leaf of the same
        class at the same position among its siblings, inside containers the weights already aligned."""
        cls = self.classes.get(name, "")
        if cls in _TRANSPARENT or name not in self.leaf_without_params:
            return None
        container = name
        while "." in container:
            container = container.rpartition(".")[0]
            ref_prefix = self.containers.get(container)
            if ref_prefix is None:
                continue
            key = (container, cls)
            k = self.slot_counters.get(key, 0)
            self.slot_counters[key] = k + 1
            slots = self.ref_slots.get((ref_prefix, cls), [])
            if k >= len(slots):
                return None
            ref_name, ref_call = slots[k]
            return AlignedModule(candidate=name, sources=[Segment(reference=ref_name)], method="structure"), ref_call
        return None

    def _computed_in(self, tensor: torch.Tensor | None) -> str:
        """The innermost running module whose own forward made `tensor`: enclosing modules that merely received
        it as an argument pass it through ("" when even the model received it: a model input)."""
        enclosing = range(len(self.stack) - 2, -1, -1)  # skip the module being entered
        if tensor is None:
            return self.stack[-2] if len(self.stack) > 1 else ""
        for i in enclosing:
            if id(tensor) not in self.stack_inputs[i]:
                return self.stack[i]
        return ""

    # producers --------------------------------------------------------------------------------------------
    def _producer(self, tensor: torch.Tensor) -> str | None:
        found = self.producers.get(id(tensor))
        if found is not None and found[0]() is tensor:
            return found[1]
        return None

    def _register(self, name: str, output: Any, inputs: list[torch.Tensor]) -> None:
        passthrough = {id(t) for t in inputs}
        for tensor in flatten_outputs(output).values():
            if not isinstance(tensor, torch.Tensor) or id(tensor) in passthrough:
                continue
            if self._producer(tensor) is not None:
                continue  # an inner module already made this object; the container only returns it
            try:
                self.producers[id(tensor)] = (weakref.ref(tensor), name)
            except TypeError:
                pass

    # comparisons ------------------------------------------------------------------------------------------
    def _tol(self, tensor: torch.Tensor) -> ModuleTolerance:
        return self.tolerance or ModuleTolerance.for_dtype(tensor.dtype)

    def _check(self, name: str, reference: torch.Tensor | None, candidate: torch.Tensor, ref_key: Hashable):
        """Compares a candidate tensor with a reference value; `ref_key` names the value (its spill slots)."""
        if reference is None:
            return None, None, 0.0
        expected = reference
        if not (expected.is_floating_point() and candidate.is_floating_point()):
            return None, None, 0.0
        # q, k and v read one tensor; a module reads what the previous one wrote: compare each pair once.
        key = (id(candidate), candidate._version, ref_key)
        cached = self.seen.get(key)
        if cached is not None and cached[0]() is candidate:
            diff, ok, rel = cached[1]
            return diff.model_copy(update={"name": name}), ok, rel
        ref_v, cand_v = _comparable(expected, candidate)
        if ref_v is None:
            return None, None, 0.0
        stats = tensor_stats(ref_v, cand_v)
        ok, reason = self._tol(candidate).check_stats(stats)
        diff = TensorDiff(
            name=name,
            shape_reference=list(expected.shape),
            shape_candidate=list(candidate.shape),
            dtype_reference=dtype_name(expected.dtype),
            dtype_candidate=dtype_name(candidate.dtype),
            max_abs=stats["max_abs"],
            mean_abs=stats["mean_abs"],
            max_rel=stats["max_rel"],
            cosine=stats["cosine"],
            reference_scale=stats["scale"],
            passed=ok,
            reason=reason,
        )
        result = (diff, ok, float(stats["max_rel"]))
        try:
            self.seen[key] = (weakref.ref(candidate), result)
        except TypeError:
            pass
        return result

    def _expected_output(
        self, aligned: AlignedModule, call: int
    ) -> tuple[list[torch.Tensor | None], list[Hashable]] | None:
        """The reference values the candidate module's outputs should equal, with a key naming each."""
        pieces: list[tuple[list[torch.Tensor | None], list[Hashable]]] = []
        for seg in aligned.sources:
            slots = self.reference.output_slots(seg.reference, call)
            if not slots:
                return None
            outs = [self.reference.load(slot) for slot in slots]
            if seg.start is None:
                pieces.append((outs, [("slot", slot) for slot in slots]))
                continue
            if len(outs) != 1 or outs[0] is None:
                return None
            rows = self._ref_rows(seg.reference)
            dim = _feature_dim(outs[0], rows)
            if dim is None:
                return None
            part = outs[0].narrow(dim, seg.start, seg.stop - seg.start)
            pieces.append(([part], [("part", slots[0], dim, seg.start, seg.stop)]))
        if len(pieces) == 1:
            return pieces[0]
        if any(len(p[0]) != 1 or p[0][0] is None for p in pieces):
            return None
        dims = {_feature_dim(p[0][0], None, prefer_last=True) for p in pieces}
        try:
            dim = -1 if -1 in dims or len(dims) != 1 else dims.pop()
            joined = torch.cat([p[0][0] for p in pieces], dim=dim)
        except RuntimeError:
            return None
        return [joined], [("cat", dim, tuple(p[1][0] for p in pieces))]

    def _ref_rows(self, module: str) -> int | None:
        sig = self.ref_index.modules.get(module)
        if sig is None or not sig.params:
            return None
        first = sig.params.get("weight") or next(iter(sig.params.values()))
        return first.rows

    def hooks(self, name: str):
        static = self.alignment.modules.get(name)

        def pre(module, args, kwargs):
            call = self.calls.get(name, 0)
            self.stack.append(name)
            self.stack_inputs.append(
                {id(a) for a in list(args) + list(kwargs.values()) if isinstance(a, torch.Tensor)}
            )
            aligned, ref_call = static, call
            if aligned is None:
                found = self._structural(name)
                if found is None:
                    self.pending.setdefault(name, []).append(None)
                    return
                aligned, ref_call = found
            first = _first_tensor(args, kwargs)
            diff = ok = producer = None
            rel = 0.0
            parent = self._computed_in(first)
            if first is not None:
                slot = self.reference.input_slot(aligned.sources[0].reference, ref_call)
                diff, ok, rel = self._check(f"{name} (input)", self.reference.load(slot), first, ("slot", slot))
                producer = self._producer(first)
            self.pending.setdefault(name, []).append((aligned, ref_call, diff, ok, rel, producer, parent))

        def post(module, args, kwargs, output):
            call = self.calls.get(name, 0)
            self.calls[name] = call + 1
            if self.stack and self.stack[-1] == name:
                self.stack.pop()
                self.stack_inputs.pop()
            inputs = [a for a in list(args) + list(kwargs.values()) if isinstance(a, torch.Tensor)]
            self._register(name, output, inputs)
            pending = self.pending[name].pop()
            if pending is None:
                return
            aligned, ref_call, in_diff, in_ok, in_rel, producer, parent = pending
            if aligned.method == "structure":
                # A positional pairing can be off when the two models order their norms differently: such a
                # row may show where an error starts (its output) but never accuses its producer (its input).
                in_ok, in_rel = (None if in_ok is False else in_ok), 0.0
            out_diff, out_ok, out_rel = None, None, 0.0
            found = self._expected_output(aligned, ref_call)
            expected, keys = found if found is not None else (None, [])
            flat = [t for t in flatten_outputs(output).values() if isinstance(t, torch.Tensor)]
            if expected is not None and len(expected) == len(flat) and flat:
                worst = None
                for i, (e, c, key) in enumerate(zip(expected, flat, keys)):
                    label = name if len(flat) == 1 else f"{name}[{i}]"
                    d, ok, rel = self._check(label, e, c, key)
                    if d is not None and (worst is None or rel > worst[2] or (ok is False and worst[1])):
                        worst = (d, ok, rel)
                if worst is not None:
                    out_diff, out_ok, out_rel = worst
            passed = out_ok is not False and in_ok is not False
            self.rows.append(
                Row(
                    diff=ModuleDiff(
                        index=len(self.rows),
                        module=name,
                        call=call,
                        module_class=type(module).__name__,
                        reference=aligned.describe_reference(),
                        output=out_diff,
                        input=in_diff,
                        passed=passed,
                    ),
                    producer=producer,
                    producer_class=self.classes.get(producer) if producer is not None else None,
                    parent=parent,
                    parent_class=self.classes.get(parent, ""),
                    output_passed=out_ok,
                    input_passed=in_ok,
                    output_rel=out_rel,
                    input_rel=in_rel,
                )
            )

        return pre, post


_TRANSPARENT = ("Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout", "Identity")


def _container_map(alignment: Alignment, ref_index: ModelIndex) -> dict[str, str]:
    """Candidate container -> reference container, from where the weights of its leaves were found."""
    refs_under: dict[str, set[str]] = {}
    for cand, aligned in alignment.modules.items():
        parts = cand.split(".")
        for i in range(1, len(parts)):
            prefix = ".".join(parts[:i])
            refs_under.setdefault(prefix, set()).update(s.reference for s in aligned.sources)
    out: dict[str, str] = {}
    for container, refs in refs_under.items():
        if len(refs) < 2:
            continue
        common = _common_prefix(refs)
        sig = ref_index.modules.get(common)
        if common and sig is not None and not sig.is_leaf:
            out[container] = common
    return out


def _common_prefix(names: Iterable[str]) -> str:
    split = [n.split(".") for n in names]
    prefix: list[str] = []
    for parts in zip(*split):
        if len(set(parts)) != 1:
            break
        prefix.append(parts[0])
    return ".".join(prefix)


def _reference_slots(
    reference: ReferenceActivations, ref_index: ModelIndex, alignment: Alignment, prefixes: set[str]
) -> dict[tuple[str, str], list[tuple[str, int]]]:
    """Per (reference container, class): its parameter-free leaves' calls in execution order."""
    taken = {s.reference for a in alignment.modules.values() for s in a.sources}
    slots: dict[tuple[str, str], list[tuple[str, int]]] = {}
    for name, call in reference.order:
        sig = ref_index.modules.get(name)
        if sig is None or sig.params or name in taken:
            continue
        cls = reference.classes.get(name, sig.cls)
        parts = name.split(".")
        for i in range(1, len(parts)):
            prefix = ".".join(parts[:i])
            if prefix in prefixes:
                slots.setdefault((prefix, cls), []).append((name, call))
    return slots


def _comparable(reference: torch.Tensor, candidate: torch.Tensor):
    """The two tensors in one layout: as is, or both channels-last and flattened (Conv vs Linear layouts)."""
    if tuple(reference.shape) == tuple(candidate.shape):
        return reference, candidate
    if reference.numel() != candidate.numel():
        return None, None
    r, c = _tokens_last(reference), _tokens_last(candidate)
    if r.shape == c.shape:
        return r, c
    # Same sizes in another dim order, e.g. (B, heads, N, head_dim) vs (B, N, heads, head_dim).
    if sorted(reference.shape) == sorted(candidate.shape) and reference.ndim <= 5:
        perms = [
            p
            for p in itertools.permutations(range(candidate.ndim))
            if tuple(candidate.shape[i] for i in p) == tuple(reference.shape)
        ][:6]
        if perms:
            ref_dev = reference.to(candidate.device)
            best = min(
                perms, key=lambda p: float((candidate.detach().permute(p).float() - ref_dev.float()).abs().max())
            )
            return reference, candidate.permute(best)
    return None, None


def _tokens_last(t: torch.Tensor) -> torch.Tensor:
    """(B, C, *spatial) -> (B, prod(spatial), C); 3-D (B, N, C) stays."""
    if t.ndim >= 4:
        return t.flatten(2).transpose(1, 2)
    return t


def _feature_dim(t: torch.Tensor, rows: int | None, prefer_last: bool = True) -> int | None:
    if rows is None:
        return -1
    if t.shape[-1] == rows:
        return -1
    if t.ndim > 1 and t.shape[1] == rows:
        return 1
    for d in range(t.ndim):
        if t.shape[d] == rows:
            return d
    return None


def compare_candidate(
    model: torch.nn.Module,
    run: Callable[[], Any],
    alignment: Alignment,
    reference: ReferenceActivations,
    ref_index: ModelIndex,
    tolerance: ModuleTolerance | None = None,
) -> tuple[Any, LocalizationRun]:
    """Run the candidate with hooks on every module; aligned leaves are compared as they run."""
    watcher = _Watcher(model, alignment, reference, ref_index, tolerance)
    handles = []
    for name, module in model.named_modules():
        pre, post = watcher.hooks(name)
        handles.append(module.register_forward_pre_hook(_safe(pre, watcher.errors), with_kwargs=True))
        handles.append(module.register_forward_hook(_safe(post, watcher.errors), with_kwargs=True))
    try:
        output = run()
    finally:
        for h in handles:
            h.remove()
    result = LocalizationRun(
        rows=watcher.rows, alignment=alignment, classes=watcher.classes, errors=reference.errors + watcher.errors
    )
    try:
        _find_first(result, tolerance)
    except Exception as exc:  # noqa: BLE001 - the comparison table is still worth reporting
        result.errors.append(f"finding the first divergence failed: {type(exc).__name__}: {exc}")
    return output, result


def _find_first(result: LocalizationRun, tolerance: ModuleTolerance | None) -> None:
    """The first row over tolerance, moved back to where its error started if that is earlier.

    An error can start below the bound and cross it later: grown by the layers after it, or uncovered when a
    large offset is subtracted (relative to a large activation it looked small). The start is the earliest row
    above the onset floor that carries a sizeable share (>= 10%) of the first failure's error, relatively or in
    absolute terms.
    """
    rows = result.rows
    first = next((i for i, r in enumerate(rows) if r.input_passed is False or r.output_passed is False), None)
    if first is None:
        return
    row = rows[first]
    where = "input" if row.input_passed is False else "output"
    failing = row.diff.input if where == "input" else row.diff.output
    level = row.input_rel if where == "input" else row.output_rel
    level_abs = failing.max_abs if failing is not None and failing.max_abs is not None else 0.0
    tol = tolerance or ModuleTolerance.for_dtype(_dtype_of_row(row))

    def carries(rel: float, diff: TensorDiff | None) -> bool:
        if diff is None or rel < tol.onset:
            return False
        return rel >= 0.1 * level or (diff.max_abs or 0.0) >= 0.1 * level_abs

    for i in range(first):
        r = rows[i]
        if carries(r.input_rel, r.diff.input) and rows[i].diff.input is not None and r.input_passed is not None:
            first, where = i, "input"
            break
        if carries(r.output_rel, r.diff.output):
            first, where = i, "output"
            break
    result.first, result.first_where = first, where


def _dtype_of_row(row: Row) -> torch.dtype:
    diff = row.diff.output or row.diff.input
    name = diff.dtype_candidate if diff is not None else "float32"
    return getattr(torch, name, torch.float32)


def localize_models(
    reference_factory: Callable[[], torch.nn.Module],
    candidate_factory: Callable[[], torch.nn.Module],
    call: Callable[[torch.nn.Module], Any],
    weight_map: dict[str, str | list[str]] | None = None,
    tolerance: ModuleTolerance | None = None,
    call_candidate: Callable[[torch.nn.Module], Any] | None = None,
    spill_dir: str | os.PathLike[str] | None = None,
) -> tuple[Any, Any, LocalizationRun]:
    """Reference first (recorded, then freed), candidate second (compared): one model resident at a time.

    `call(model)` runs a model on the spec's inputs (`call_candidate` when the candidate takes other argument
    names); the reference's activations wait in a temporary file in `spill_dir`. Returns (reference output on
    CPU, candidate output, the run).
    """
    import gc

    from .align import align_modules

    with torch.no_grad():
        model = reference_factory()
        ref_index = ModelIndex.from_model(model)
        ref_out, store = record_reference(model, lambda: call(model), spill_dir)
        try:
            ref_out = _to_cpu(ref_out)
            del model
            gc.collect()
            _empty_cache()
            model = candidate_factory()
            alignment = align_modules(ref_index, ModelIndex.from_model(model, resident=True), weight_map)
            run_candidate = call_candidate or call
            cand_out, run = compare_candidate(
                model, lambda: run_candidate(model), alignment, store, ref_index, tolerance
            )
        finally:
            store.close()
    return ref_out, cand_out, run


def _to_cpu(obj: Any) -> Any:
    if isinstance(obj, torch.Tensor):
        return obj.detach().to("cpu")
    if isinstance(obj, dict):
        return (
            type(obj)({k: _to_cpu(v) for k, v in obj.items()})
            if not hasattr(obj, "__dataclass_fields__")
            else _dc(obj)
        )
    if isinstance(obj, (list, tuple)) and not hasattr(obj, "_fields"):
        return type(obj)(_to_cpu(v) for v in obj)
    return obj


def _dc(obj: Any) -> Any:
    for key in list(obj.keys()):
        obj[key] = _to_cpu(obj[key])
    return obj


def _empty_cache() -> None:
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def describe_dtype(t: torch.Tensor) -> str:
    return dtype_name(t.dtype)
