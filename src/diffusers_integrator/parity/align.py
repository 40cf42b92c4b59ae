"""Align candidate modules with reference modules that may be named and laid out differently.

Only one model is resident at a time, so the reference is summarised while it is loaded: every parameter
becomes a few short signature vectors (kept on CPU, a few floats per row). The candidate's parameters are then
matched against them:

* row signature `W.reshape(rows, -1) @ r` with a fixed random probe `r` per width: a fused `qkv` weight's
  signature is the concatenation of its parts', so `to_q` is found as rows `0:64` of `qkv`, a `[shift, scale]`
  swap as two reordered row ranges, interleaved heads as many short ranges;
* column signature `r @ W`: the same weight stored transposed (a `x @ W` reference);
* per-row sum and sum of squares: rows whose columns are permuted (a patch embedding as Linear vs Conv2d).

Identical names and a spec's `weight_map` are tried first; value matching fills the rest and explains the
mismatches it finds (a name-aligned weight that equals another reference weight, a transposed square weight,
a bias that was dropped).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import torch

from .results import AlignedModule, AlignmentSummary, Segment


_PROBES: dict[int, torch.Tensor] = {}
_MAX_CANDIDATE_STARTS = 64


def _probe(n: int) -> torch.Tensor:
    """A fixed random vector per width, identical for both models (seeded by the width)."""
    if n not in _PROBES:
        gen = torch.Generator().manual_seed(1000003 + n)
        _PROBES[n] = torch.randn(n, generator=gen, dtype=torch.float64).float()
    return _PROBES[n]


class ParamSig:
    """A parameter in O(rows + cols) floats: row signature, and (eagerly for a model that will be freed, lazily
    for the resident candidate) the column signature and per-row sum and sum of squares."""

    def __init__(self, name: str, tensor: torch.Tensor, eager: bool = True):
        self.name = name
        self.module, _, self.leaf = name.rpartition(".")
        t = tensor.detach()
        self.shape = tuple(t.shape)
        self.dtype = str(t.dtype).removeprefix("torch.")
        self._tensor: torch.Tensor | None = t
        # float32 matvecs (no float64 copy of the weights): ~1e-7 relative error, far inside the match tolerance.
        w = self._matrix()
        self.matrix_shape = tuple(w.shape)
        self.row = (w @ _probe(w.shape[1]).to(w.device)).double().cpu().numpy()
        self._col: np.ndarray | None = None
        self._rowsum: np.ndarray | None = None
        self._rowsq: np.ndarray | None = None
        spread = float(np.ptp(self.row)) if self.row.size > 1 else abs(float(self.row[0]))
        self.zero = not bool(np.any(self.row)) and not bool(torch.count_nonzero(w))
        # Near-identical rows (ones-initialised norm weights, zero biases) cannot be located by value.
        self.degenerate = self.zero or (self.row.size > 1 and spread <= 1e-6 * max(1.0, float(np.abs(self.row).max())))
        if eager:
            _ = self.col, self.rowsum, self.rowsq
            self._tensor = None

    def _matrix(self) -> torch.Tensor:
        """Rows along the first dimension that is not 1: a (1, 6, dim) modulation table has its 6 chunks as rows."""
        if self._tensor is None:
            raise RuntimeError(f"the weights of {self.name} are gone; index the model while it is resident")
        dims = list(self.shape)
        while len(dims) > 1 and dims[0] == 1:
            dims.pop(0)
        return self._tensor.reshape(dims[0] if dims else 1, -1).float()

    @property
    def col(self) -> np.ndarray | None:
        if self._col is None and len(self.shape) == 2:
            w = self._matrix()
            self._col = (_probe(w.shape[0]).to(w.device) @ w).double().cpu().numpy()
        return self._col

    @property
    def rowsum(self) -> np.ndarray:
        if self._rowsum is None:
            self._rowsum = self._matrix().sum(dim=1).double().cpu().numpy()
        return self._rowsum

    @property
    def rowsq(self) -> np.ndarray:
        if self._rowsq is None:
            self._rowsq = torch.linalg.vector_norm(self._matrix(), dim=1).double().pow(2).cpu().numpy()
        return self._rowsq

    @property
    def rows(self) -> int:
        return self.matrix_shape[0]

    @property
    def cols(self) -> int:
        return self.matrix_shape[1]


def param_signature(name: str, tensor: torch.Tensor, eager: bool = True) -> ParamSig:
    return ParamSig(name, tensor, eager)


@dataclass
class ModuleSig:
    name: str
    cls: str
    is_leaf: bool
    params: dict[str, ParamSig] = field(default_factory=dict)
    order: int = 0


@dataclass
class ModelIndex:
    """What alignment needs to know about a model once it is gone: classes, order and parameter signatures."""

    modules: dict[str, ModuleSig]

    @classmethod
    def from_model(cls, model: torch.nn.Module, resident: bool = False) -> ModelIndex:
        """`resident=True` for a model that stays loaded while aligning (the candidate): the extra signatures
        are then computed only for the parameters that need them."""
        modules: dict[str, ModuleSig] = {}
        for order, (name, mod) in enumerate(model.named_modules()):
            sig = ModuleSig(name, type(mod).__name__, not any(True for _ in mod.children()), order=order)
            for leaf, p in mod.named_parameters(recurse=False):
                sig.params[leaf] = param_signature(f"{name}.{leaf}" if name else leaf, p, eager=not resident)
            modules[name] = sig
        return cls(modules)

    def param_modules(self) -> list[ModuleSig]:
        return [m for m in self.modules.values() if m.params]


# --- value search ---------------------------------------------------------------------------------------------


@dataclass
class _Space:
    """Concatenated signature vectors of many parameters, sorted for range lookups."""

    values: np.ndarray
    owners: list[ParamSig]
    starts: np.ndarray
    order: np.ndarray
    sorted_values: np.ndarray

    @classmethod
    def build(cls, sigs: list[ParamSig], kind: str) -> _Space | None:
        vectors = [getattr(s, kind) for s in sigs]
        keep = [(s, v) for s, v in zip(sigs, vectors) if v is not None and v.size]
        if not keep:
            return None
        values = np.concatenate([v for _, v in keep])
        starts = np.cumsum([0] + [v.size for _, v in keep])
        order = np.argsort(values, kind="stable")
        return cls(values, [s for s, _ in keep], starts, order, values[order])

    def owner_of(self, flat: int) -> tuple[int, int, int]:
        i = int(np.searchsorted(self.starts, flat, side="right")) - 1
        return i, int(self.starts[i]), int(self.starts[i + 1])


def _tolerance(vec: np.ndarray, rtol: float) -> np.ndarray:
    scale = float(np.sqrt(np.mean(vec * vec))) if vec.size else 0.0
    return rtol * np.maximum(np.abs(vec), scale) + 1e-12


def _find_segments(
    target: np.ndarray, space: _Space, rtol: float, prefer: ParamSig | None = None
) -> list[tuple[ParamSig, int, int]] | None:
    """Cover `target` with the longest runs found in `space`; None when some element matches nowhere."""
    tol = _tolerance(target, rtol)
    pos, n = 0, target.size
    segments: list[tuple[ParamSig, int, int]] = []
    while pos < n:
        v, t = target[pos], tol[pos]
        lo = int(np.searchsorted(space.sorted_values, v - t, side="left"))
        hi = int(np.searchsorted(space.sorted_values, v + t, side="right"))
        if lo >= hi:
            return None
        best_key: tuple[int, bool, bool] | None = None
        best = (0, 0, 0)  # (run, flat start, owner)
        starts = space.order[lo:hi]
        if starts.size > _MAX_CANDIDATE_STARTS:
            # Many values within tolerance (low precision, repeated values): try the closest ones first.
            closeness = np.abs(space.sorted_values[lo:hi] - v)
            starts = starts[np.argsort(closeness, kind="stable")[:_MAX_CANDIDATE_STARTS]]
        last = segments[-1] if segments else None
        for flat in starts:
            flat = int(flat)
            owner, begin, end = space.owner_of(flat)
            length = min(n - pos, end - flat)
            ok = np.abs(space.values[flat : flat + length] - target[pos : pos + length]) <= tol[pos : pos + length]
            run = length if ok.all() else int(np.argmin(ok))
            sig = space.owners[owner]
            # Among equally long runs, continue the previous segment, then prefer the expected parameter.
            continues = last is not None and last[0] is sig and last[2] == flat - begin
            key = (run, continues, prefer is not None and sig is prefer)
            if best_key is None or key > best_key:
                best_key, best = key, (run, flat, owner)
        run, flat, owner = best
        if run <= 0:
            return None
        _, begin, _ = space.owner_of(flat)
        sig = space.owners[owner]
        if segments and segments[-1][0] is sig and segments[-1][2] == flat - begin:
            segments[-1] = (sig, segments[-1][1], flat - begin + run)
        else:
            segments.append((sig, flat - begin, flat - begin + run))
        pos += run
    return segments


class _Matcher:
    """Value lookups of candidate parameters in the reference index, by width."""

    def __init__(self, reference: ModelIndex):
        self.ref = reference
        by_cols: dict[int, list[ParamSig]] = {}
        by_rows2d: dict[int, list[ParamSig]] = {}
        for mod in reference.param_modules():
            for sig in mod.params.values():
                if sig.degenerate:
                    continue
                by_cols.setdefault(sig.cols, []).append(sig)
                if sig.col is not None:
                    by_rows2d.setdefault(sig.rows, []).append(sig)
        self._groups = {"row": by_cols, "col": by_rows2d, "rowsum": by_cols}
        self._spaces: dict[tuple[str, int], _Space | None] = {}

    def _space(self, kind: str, width: int) -> _Space | None:
        """Sorted lookup spaces are built on first use: most widths never need the transposed or sum spaces."""
        key = (kind, width)
        if key not in self._spaces:
            sigs = self._groups[kind].get(width)
            self._spaces[key] = _Space.build(sigs, kind) if sigs else None
        return self._spaces[key]

    def locate(self, sig: ParamSig, rtol: float, prefer: ParamSig | None = None):
        """(segments, transposed, permuted_columns) or None."""
        if sig.degenerate:
            return None
        space = self._space("row", sig.cols)
        if space is not None:
            found = _find_segments(sig.row, space, rtol, prefer)
            if found:
                return found, False, False
        if len(sig.shape) == 2:
            space = self._space("col", sig.cols)
            if space is not None:
                found = _find_segments(sig.row, space, rtol, prefer)
                if found:
                    return found, True, False
        space = self._space("rowsum", sig.cols)
        if space is not None and sig.rows > 1:
            found = _find_segments(sig.rowsum, space, rtol, prefer)
            if found and _rowsq_agrees(sig, found, rtol):
                return found, False, True
        return None


def _rowsq_agrees(sig: ParamSig, segments: list[tuple[ParamSig, int, int]], rtol: float) -> bool:
    parts = np.concatenate([ref.rowsq[a:b] for ref, a, b in segments])
    return parts.size == sig.rowsq.size and bool(np.all(np.abs(parts - sig.rowsq) <= _tolerance(sig.rowsq, rtol)))


def _rtol(*dtypes: str) -> float:
    # A row signature sums many rounded weights, so its relative error is far below the dtype's epsilon.
    return 1e-2 if any(d in ("bfloat16", "float16") for d in dtypes) else 1e-4


# --- alignment ------------------------------------------------------------------------------------------------


@dataclass
class Alignment:
    modules: dict[str, AlignedModule]
    summary: AlignmentSummary
    # candidate modules whose weights look mis-converted, with the sentence that says why
    suspects: dict[str, str] = field(default_factory=dict)


def _primary(mod: ModuleSig) -> ParamSig | None:
    sigs = sorted(mod.params.values(), key=lambda s: (s.leaf != "weight", -int(np.prod(s.shape) if s.shape else 1)))
    usable = [s for s in sigs if not s.degenerate]
    return usable[0] if usable else (sigs[0] if sigs else None)


_DIGITS = re.compile(r"\d+")
_TOKENS = re.compile(r"[a-z]+|\d+")


def _closeness(cand: str, ref: str, cand_pos: float, ref_pos: float) -> float:
    """Tie-break between equally good value matches: same block numbers, shared name tokens, same place."""
    score = 0.0
    if _DIGITS.findall(cand) == _DIGITS.findall(ref):
        score += 100.0
    a, b = set(_TOKENS.findall(cand.lower())), set(_TOKENS.findall(ref.lower()))
    if a or b:
        score += 10.0 * len(a & b) / len(a | b)
    return score - abs(cand_pos - ref_pos)


def _parse_weight_map(weight_map: Mapping[str, str | list[str]] | None) -> dict[str, list[str]]:
    """Candidate module -> reference modules (in the order they are concatenated)."""
    inverse: dict[str, list[str]] = {}
    for ref, cands in (weight_map or {}).items():
        for cand in [cands] if isinstance(cands, str) else list(cands):
            inverse.setdefault(_module_of(cand), []).append(_module_of(ref))
    return inverse


def _module_of(name: str) -> str:
    base = name.split("[", 1)[0]
    for leaf in (".weight", ".bias"):
        if base.endswith(leaf):
            return base[: -len(leaf)]
    return base


def align_modules(
    reference: ModelIndex,
    candidate: ModelIndex,
    weight_map: Mapping[str, str | list[str]] | None = None,
    by_values: bool = True,
) -> Alignment:
    """Map every candidate module that has parameters (or a same-named parameter-free leaf) to the reference."""
    matcher = _Matcher(reference) if by_values else None
    explicit = _parse_weight_map(weight_map)
    ref_total = max(1, len(reference.modules))
    cand_total = max(1, len(candidate.modules))
    aligned: dict[str, AlignedModule] = {}
    suspects: dict[str, str] = {}
    anomalies: list[str] = []
    unaligned: list[str] = []

    for mod in candidate.modules.values():
        ref_same = reference.modules.get(mod.name)
        if not mod.params:
            # Parameter-free leaves (activations, RoPE, timestep projections) align only by identical name.
            if mod.is_leaf and ref_same is not None and not ref_same.params and ref_same.is_leaf:
                aligned[mod.name] = AlignedModule(
                    candidate=mod.name, sources=[Segment(reference=mod.name)], method="name"
                )
            continue
        primary = _primary(mod)
        result = None
        if ref_same is not None and _same_shapes(mod, ref_same):
            result = AlignedModule(candidate=mod.name, sources=[Segment(reference=mod.name)], method="name")
            problem = _explain_named(mod, ref_same, matcher)
            if problem:
                suspects[mod.name] = problem
                anomalies.append(f"{mod.name}: {problem}")
        elif not mod.is_leaf:
            # A container's output means something different in each model unless the names say it is the same.
            continue
        elif mod.name in explicit:
            result = _align_explicit(mod, explicit[mod.name], reference, matcher, anomalies)
        elif matcher is not None and primary is not None:
            result = _align_by_values(mod, primary, matcher, reference, ref_total, cand_total)
        if result is None:
            unaligned.append(mod.name)
            continue
        aligned[mod.name] = result
        if result.method != "name":
            problem = _check_companions(mod, result, reference)
            if problem:
                suspects[mod.name] = problem
                anomalies.append(f"{mod.name}: {problem}")

    anomalies.extend(_order_anomalies(aligned))
    by_method: dict[str, int] = {}
    for name, a in aligned.items():
        if candidate.modules[name].params:
            by_method[a.method] = by_method.get(a.method, 0) + 1
    summary = AlignmentSummary(
        candidate_modules=len(candidate.param_modules()),
        aligned=sum(1 for a in aligned if candidate.modules[a].params),
        parameter_free=sum(1 for a in aligned if not candidate.modules[a].params),
        by_method=by_method,
        unaligned_with_parameters=unaligned[:50],
        anomalies=anomalies[:50],
    )
    return Alignment(aligned, summary, suspects)


def _same_shapes(a: ModuleSig, b: ModuleSig) -> bool:
    return set(a.params) == set(b.params) and all(a.params[k].shape == b.params[k].shape for k in a.params)


def _rows_equal(a: np.ndarray, b: np.ndarray, rtol: float) -> bool:
    return a.shape == b.shape and bool(np.all(np.abs(a - b) <= _tolerance(b, rtol)))


def _explain_named(mod: ModuleSig, ref: ModuleSig, matcher: _Matcher | None) -> str | None:
    """Same name, same shapes: do the values agree? If not, say where the candidate's values come from."""
    for leaf, sig in mod.params.items():
        other = ref.params[leaf]
        rtol = _rtol(sig.dtype, other.dtype)
        if _rows_equal(sig.row, other.row, rtol):
            continue
        if other.zero is False and sig.zero:
            return f"`{leaf}` is all zeros but the reference's is not: a weight or bias that was never converted"
        if sig.col is not None and other.col is not None and _rows_equal(sig.row, other.col, rtol):
            return f"`{leaf}` equals the reference's `{other.name}` transposed: a transposed weight"
        if matcher is not None:
            found = matcher.locate(sig, rtol, prefer=other)
            if found:
                segments, transposed, _ = found
                return _describe_origin(leaf, segments, transposed, other)
        return f"`{leaf}` differs from the reference's `{other.name}` (not found anywhere in the reference)"
    return None


def _describe_origin(
    leaf: str, segments: list[tuple[ParamSig, int, int]], transposed: bool, expected: ParamSig
) -> str:
    refs = {s.name for s, _, _ in segments}
    where = ", ".join(f"{s.name}[{a}:{b}]" for s, a, b in segments[:6]) + (" ..." if len(segments) > 6 else "")
    if refs == {expected.name} and not transposed:
        if len(segments) > 2 and all(b - a == segments[0][2] - segments[0][1] for _, a, b in segments):
            return f"`{leaf}` rows are the reference's rows permuted in blocks of {segments[0][2] - segments[0][1]}: interleaved heads or a permuted split"
        return f"`{leaf}` holds the reference's rows in another order ({where}): a chunk order (shift/scale) or split order"
    suffix = " transposed" if transposed else ""
    return f"`{leaf}` equals reference {where}{suffix} instead of `{expected.name}`: a swapped or mis-split weight"


def _segments(found: list[tuple[ParamSig, int, int]]) -> list[Segment]:
    out = []
    for sig, a, b in found:
        full = a == 0 and b == sig.rows
        out.append(Segment(reference=sig.module, start=None if full else a, stop=None if full else b))
    return out


def _align_by_values(
    mod: ModuleSig, primary: ParamSig, matcher: _Matcher, reference: ModelIndex, ref_total: int, cand_total: int
) -> AlignedModule | None:
    rtol = _rtol(primary.dtype)
    found = matcher.locate(primary, rtol)
    if not found:
        return None
    segments, transposed, permuted = found
    # Equal values in several reference modules (tied or identically initialised weights): prefer the closest name.
    owners = {s.module for s, _, _ in segments}
    if len(owners) == 1:
        best = _break_tie(mod, primary, next(iter(owners)), matcher, reference, ref_total, cand_total, rtol)
        if best is not None:
            segments = [(best, a, b) for _, a, b in segments]
    return AlignedModule(
        candidate=mod.name,
        sources=_segments(segments),
        method="values",
        transposed=transposed,
        permuted_columns=permuted,
    )


def _break_tie(mod, primary, owner, matcher, reference, ref_total, cand_total, rtol) -> ParamSig | None:
    twins = [
        m.params[primary.leaf]
        for m in reference.param_modules()
        if primary.leaf in m.params
        and m.params[primary.leaf].shape == primary.shape
        and _rows_equal(primary.row, m.params[primary.leaf].row, rtol)
    ]
    if len(twins) < 2:
        return None
    cand_pos = mod.order / cand_total
    return max(
        twins, key=lambda s: _closeness(mod.name, s.module, cand_pos, reference.modules[s.module].order / ref_total)
    )


def _align_explicit(
    mod: ModuleSig, refs: list[str], reference: ModelIndex, matcher: _Matcher | None, anomalies: list[str]
) -> AlignedModule | None:
    missing = [r for r in refs if r not in reference.modules]
    if missing:
        anomalies.append(f"weight_map names reference modules that do not exist: {', '.join(missing)}")
        return None
    primary = _primary(mod)
    if primary is not None and matcher is not None:
        space_sigs = [reference.modules[r].params.get(primary.leaf) for r in refs]
        space_sigs = [s for s in space_sigs if s is not None and not s.degenerate]
        if space_sigs:
            space = _Space.build(space_sigs, "row")
            found = _find_segments(primary.row, space, _rtol(primary.dtype)) if space else None
            if found:
                return AlignedModule(candidate=mod.name, sources=_segments(found), method="weight_map")
    anomalies.append(f"{mod.name}: weights do not match the mapped {' + '.join(refs)}")
    return AlignedModule(candidate=mod.name, sources=[Segment(reference=r) for r in refs], method="weight_map")


def _check_companions(mod: ModuleSig, aligned: AlignedModule, reference: ModelIndex) -> str | None:
    """Every parameter of a value-aligned module (bias, norm weight) must equal one of the reference module's,
    taken over the same rows; a reference parameter left without a counterpart was dropped."""
    pool: dict[str, np.ndarray] = {}
    sources = [reference.modules.get(seg.reference) for seg in aligned.sources]
    if any(s is None for s in sources):
        return None
    for leaf in {k for s in sources for k in s.params}:  # type: ignore[union-attr]
        pieces = []
        for seg, src in zip(aligned.sources, sources):
            sig = src.params.get(leaf)  # type: ignore[union-attr]
            if sig is None:
                break
            a = 0 if seg.start is None else seg.start
            b = sig.row.size if seg.stop is None else seg.stop
            if b > sig.row.size:
                break
            pieces.append(sig.row[a:b])
        else:
            pool[leaf] = np.concatenate(pieces)
    unmatched_ref = dict(pool)
    problems = []
    for leaf, sig in mod.params.items():
        hit = next(
            (
                k
                for k, v in unmatched_ref.items()
                if v.shape == sig.row.shape and _rows_equal(sig.row, v, _rtol(sig.dtype))
            ),
            None,
        )
        if hit is not None:
            del unmatched_ref[hit]
        elif leaf != "weight" and not (aligned.transposed or aligned.permuted_columns):
            same_size = [k for k, v in unmatched_ref.items() if v.shape == sig.row.shape]
            if sig.zero and same_size:
                problems.append(f"`{leaf}` is all zeros but the reference's `{same_size[0]}` is not: a dropped {leaf}")
                del unmatched_ref[same_size[0]]
            elif same_size:
                problems.append(f"`{leaf}` does not match {aligned.describe_reference()}'s `{same_size[0]}`")
                del unmatched_ref[same_size[0]]
            elif not sig.zero:
                problems.append(f"`{leaf}` has no counterpart in {aligned.describe_reference()}")
    # The reference's primary weight was matched already (possibly transposed or column-permuted).
    ref_primaries = {p.leaf for p in (_primary(s) for s in sources) if p is not None}  # type: ignore[arg-type]
    leftovers = [k for k, v in unmatched_ref.items() if bool(np.any(v)) and k not in ref_primaries]
    if leftovers:
        problems.append(
            f"the reference's `{'`, `'.join(sorted(leftovers))}` has no counterpart in the candidate module: "
            f"a dropped {sorted(leftovers)[0]}"
        )
    return "; ".join(problems) or None


_QKV = re.compile(r"(?:^|[._])(?:to_)?([qkv])(?:_proj)?$")


def _order_anomalies(aligned: Mapping[str, AlignedModule]) -> list[str]:
    """Sibling q/k/v projections taken from one fused reference weight must come out in q, k, v row order."""
    groups: dict[tuple[str, str], dict[str, int]] = {}
    for name, a in aligned.items():
        m = _QKV.search(name.rpartition(".")[2] if "." in name else name)
        if not m or len(a.sources) != 1 or a.sources[0].start is None:
            continue
        parent = name.rpartition(".")[0]
        groups.setdefault((parent, a.sources[0].reference), {})[m.group(1)] = a.sources[0].start
    out = []
    for (parent, ref), starts in groups.items():
        letters = [c for c in "qkv" if c in starts]
        if len(letters) >= 2 and [starts[c] for c in letters] != sorted(starts[c] for c in letters):
            order = ", ".join(f"{c}@{starts[c]}" for c in letters)
            where = parent or "(top level)"
            out.append(f"{where}: q/k/v split from {ref} in row order {order}: fused-QKV split order looks swapped")
    return out
