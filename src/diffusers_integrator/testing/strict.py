"""The strict comparison of strip and restore: a restored file is upstream's text, or it differs only where
upstream contradicts itself, and then the outcome names the evidence.

Rules, tried in order on each file that is not byte-identical:

* `contradiction`: the registrations differ (name, half, guard or key) only for names on which upstream's own
  files disagree: a `check_registration` finding of a kind that means two of upstream's texts contradict each
  other (the two halves of an init, an init and the module it points at, a guard and what it imports, a dummy
  file and the generator, a list and its own sort order). The evidence is the finding.
* `position`: the same statements, byte for byte, with one of ours at another place in a block upstream keeps
  in no order; the evidence is the first pair of that block out of order in upstream's text.
* `form`: a package init re-created with the same registrations in another form that upstream also writes
  (`registry/forms.py`); the evidence names the upstream inits of our form and of the original's.
* `header`: a re-created package init identical but for the licence comment upstream's original opens with,
  which most sibling inits do not have.

Anything else is a failure, and so is a difference in a file that is neither an init nor a dummy file.
"""

from __future__ import annotations

import posixpath
import re
from collections import Counter
from dataclasses import dataclass, field

from ..registry.check import Finding
from ..registry.dummies import names_in_dummy_file
from ..registry.edit import render_entry
from ..registry.forms import DUMMY, form_of
from ..registry.model import Block, Entry, ParsedInit
from ..registry.sorting import first_unsorted, init_isort_key, ruff_member_key, ruff_module_key
from ..registry.tree import MemoryTree, parse_cached


# Finding codes that mean upstream's own texts disagree with each other about a name.
CONTRADICTIONS = frozenset(
    {
        "typing-missing",  # the structure half registers it, the TYPE_CHECKING half does not
        "structure-missing",  # the reverse
        "backend-mismatch",  # the halves guard it differently
        "key-mismatch",  # the halves import it from different modules
        "duplicate",  # registered twice in one half
        "wrong-backend-block",  # the top level guards it unlike the package that loads it
        "guard-misses-backend",  # the guard does not check a backend the module imports
        "guard-malformed",  # the guard does not raise when one of its backends is missing
        "subpackage-missing",  # an init points at a package that does not provide it
        "module-missing",  # an init points at a module that does not exist
        "name-not-defined",  # an init points at a module that does not define it
        "dummy-missing",  # the dummy file disagrees with upstream's own generator
        "dummy-extra",
        "dummy-stale",
        "unsorted-list",  # a list out of the order upstream keeps it in
        "partial-export",  # exported from a package on the way down but not from `diffusers` (neither form)
        "dummy-unmanaged",  # a dummy file upstream's own generator cannot write
    }
)


@dataclass
class FileOutcome:
    rel: str
    status: str  # identical / upstream-varies / failure
    rule: str = ""  # contradiction / position / form / header, or what failed
    evidence: str = ""


@dataclass
class Evidence:
    """What the pristine tree says: findings per name, and the form of every package init."""

    base: MemoryTree
    findings: dict[str, list[Finding]] = field(default_factory=dict)
    _forms: dict[str, list[str]] | None = None
    _layouts: dict[str, list[str]] | None = None

    @classmethod
    def of(cls, base: MemoryTree, findings: list[Finding]) -> Evidence:
        by_name: dict[str, list[Finding]] = {}
        for finding in findings:
            if finding.name and finding.code in CONTRADICTIONS:
                by_name.setdefault(finding.name, []).append(finding)
        return cls(base, by_name)

    def contradiction(self, name: str) -> str | None:
        found = self.findings.get(name)
        if not found:
            return None
        first = found[0]
        return f"{name}: {first.code} at {first.path}:{first.line} ({first.message})"

    def key_style(self, name: str) -> str | None:
        """Evidence that the top level imports names of one plain package back in both ways: some by the
        package (`from .quantizers import`), some by the module (`from .quantizers.quantization_config import`),
        though it registers both kinds by the module's dotted key."""
        top = parse_cached("__init__.py", self.base.files.get("__init__.py", ""))
        structure = {n: e.key for _, e in top.entries("structure") for n in e.names}
        typing = {n: e.key for _, e in top.entries("typing") for n in e.names}
        key, back = structure.get(name), typing.get(name)
        if key is None or back is None or "." not in key or key.startswith("utils."):
            return None
        package = key.split(".")[0]
        for other, other_key in structure.items():
            other_back = typing.get(other)
            if other == name or other_back is None or "." not in other_key or other_key.split(".")[0] != package:
                continue
            if (back == package) != (other_back == package):
                return (
                    f"{name}: __init__.py registers `{key}` and `{other_key}` alike by module, but imports "
                    f"{name} back from `.{back}` and {other} from `.{other_back}`"
                )
        return None

    @property
    def layouts(self) -> dict[str, list[str]]:
        """Layout (form with guards collapsed) → the package inits written in it."""
        if self._layouts is None:
            layouts: dict[str, list[str]] = {}
            for paths in self.forms.values():
                for rel in paths:
                    layouts.setdefault(form_of(parse_cached(rel, self.base.files[rel]), guards=False), []).append(rel)
            self._layouts = layouts
        return self._layouts

    @property
    def forms(self) -> dict[str, list[str]]:
        """Form → the package inits (under pipelines/, modular_pipelines/, models/, …) written in it."""
        if self._forms is None:
            forms: dict[str, list[str]] = {}
            for rel in self.base.files:
                if rel.endswith("/__init__.py") and rel.count("/") >= 2:
                    parsed = parse_cached(rel, self.base.files[rel])
                    forms.setdefault(form_of(parsed), []).append(rel)
            self._forms = forms
        return self._forms


# ------------------------------------------------------------------------------------------ signatures


def signature(rel: str, text: str | None) -> Counter:
    """What a file registers: (half, guard, key, name) per entry of an init, names of a dummy file."""
    if text is None:
        return Counter()
    if rel.startswith("utils/dummy_"):
        return Counter(("dummy", name) for name in names_in_dummy_file(text))
    parsed = parse_cached(rel, text)
    halves = ("structure", "typing") if parsed.kind == "lazy" else ("plain",)
    found: Counter = Counter()
    for half in halves:
        for block, entry in parsed.entries(half):
            for name in entry.names:
                found[(half, tuple(sorted(block.placement_backends)), entry.key, name)] += 1
    return found


def _differing_names(old: Counter, new: Counter) -> set[str]:
    return {key[-1] for key in (old - new) + (new - old)}


# ------------------------------------------------------------------------------------------ the rules


def classify(
    rel: str, old: str | None, new: str | None, *, created: bool, case_names: set[str], evidence: Evidence
) -> FileOutcome:
    """How the restored text `new` of `rel` compares with upstream's `old`."""
    if old == new:
        return FileOutcome(rel, "identical")
    is_dummy = rel.startswith("utils/dummy_")
    if not (is_dummy or rel.endswith("__init__.py")):
        return FileOutcome(rel, "failure", "text", "a file that is neither an init nor a dummy file changed")
    old_sig, new_sig = signature(rel, old), signature(rel, new)
    differing = _differing_names(old_sig, new_sig)
    if is_dummy:
        if not differing:
            return FileOutcome(rel, "failure", "dummy-text", _first_difference(old or "", new or ""))
        return _contradiction(rel, differing, evidence)
    if created and old is not None and new is not None:
        return _created(rel, old, new, differing, evidence)
    if not differing:
        placed = _position(rel, old or "", new or "", case_names, evidence)
        if placed.status != "failure":
            return placed
        # Names upstream registers self-contradictorily may come back laid out otherwise.
        contradicted = {name for name in case_names if evidence.contradiction(name) or evidence.key_style(name)}
        if not contradicted:
            return placed
        differing = contradicted
    contradiction = _contradiction(rel, differing, evidence)
    if contradiction.status == "failure":
        return contradiction
    # Everything else in the file must still be upstream's, or differ where upstream varies.
    contradicted = {name for name in case_names if evidence.contradiction(name) or evidence.key_style(name)}
    placed = _position(rel, old or "", new or "", case_names, evidence, ignore=differing | contradicted)
    if placed.status == "failure":
        return placed
    evidence_text = "; ".join(text for text in (contradiction.evidence, placed.evidence) if text)
    return FileOutcome(rel, "upstream-varies", "contradiction", evidence_text)


def _contradiction(rel: str, names: set[str], evidence: Evidence) -> FileOutcome:
    explained = {name: evidence.contradiction(name) or evidence.key_style(name) for name in sorted(names)}
    missing = [name for name, text in explained.items() if text is None]
    if missing:
        return FileOutcome(rel, "failure", "registrations", "registrations differ for " + ", ".join(missing[:6]))
    return FileOutcome(rel, "upstream-varies", "contradiction", "; ".join(text for text in explained.values() if text))


def _created(rel: str, old: str, new: str, differing: set[str], evidence: Evidence) -> FileOutcome:
    old_parsed, new_parsed = parse_cached(rel, old), parse_cached(rel, new)
    old_form, new_form = form_of(old_parsed), form_of(new_parsed)
    if differing:
        # Names upstream itself registers inconsistently change the guards of the init; its form is then not
        # comparable and the contradiction is the whole evidence. Otherwise only the form may differ.
        contradiction = _contradiction(rel, differing, evidence)
        if contradiction.status != "failure" or not _same_but_for_initializer(old_parsed, new_parsed):
            return contradiction
    if old_form == new_form:
        body = old.split("\n")[_header_lines(old) :]
        if "\n".join(body) == new:
            siblings = [path for paths in evidence.forms.values() for path in paths if _siblings(path, rel)]
            bare = [path for path in siblings if not evidence.base.files[path].startswith("#")]
            return FileOutcome(
                rel,
                "upstream-varies",
                "header",
                f"upstream's init opens with a licence comment; {len(bare)} of its {len(siblings)} sibling inits "
                f"have none (e.g. {', '.join(bare[:2])})",
            )
        names = {name for key in signature(rel, old) for name in [key[-1]]}
        _, old_statements = _without_case_statements(old_parsed, names, blocks=False)
        _, new_statements = _without_case_statements(new_parsed, names, blocks=False)
        siblings = [
            parse_cached(path, evidence.base.files[path])
            for paths in evidence.forms.values()
            for path in paths
            if _siblings(path, rel)
        ]
        return _statements(rel, [old_parsed, *siblings], old_statements, new_statements, "form", evidence)
    ours = [path for path in evidence.forms.get(new_form, []) if path != rel]
    if not ours:
        # Guarded by backends no sibling shares: the layout, guards aside, must be one upstream writes.
        layout = form_of(new_parsed, guards=False)
        alike = [path for path in evidence.layouts.get(layout, []) if path != rel]
        if not alike:
            return FileOutcome(rel, "failure", "form", "no upstream init is written in our form")
        return FileOutcome(
            rel,
            "upstream-varies",
            "form",
            f"guarded by backends no sibling shares; laid out as {len(alike)} upstream inits (e.g. "
            f"{', '.join(alike[:3])}), guards aside; upstream's original is laid out as "
            f"{len([path for path in evidence.layouts.get(form_of(old_parsed, guards=False), []) if path != rel])} "
            "other inits",
        )
    theirs = [path for path in evidence.forms.get(old_form, []) if path != rel]
    theirs_text = f"{len(theirs)} other inits, e.g. {', '.join(theirs[:2])}" if theirs else "no other init"
    return FileOutcome(
        rel,
        "upstream-varies",
        "form",
        f"ours is the form of {len(ours)} upstream inits (e.g. {', '.join(ours[:3])}); upstream's original is the "
        f"form of {theirs_text}",
    )


def _same_but_for_initializer(old: ParsedInit, new: ParsedInit) -> bool:
    """The same (key, name) pairs, one side keeping some in the unguarded initializer (the other form)."""

    def pairs(parsed: ParsedInit) -> Counter:
        found: Counter = Counter()
        for _, entry in parsed.entries("structure" if parsed.kind == "lazy" else "plain"):
            for name in entry.names:
                found[(entry.key, name)] += 1
        return found

    return pairs(old) == pairs(new)


def _header_lines(text: str) -> int:
    lines = text.split("\n")
    index = 0
    while index < len(lines) and (lines[index].startswith("#") or not lines[index].strip()):
        index += 1
    return index


def _siblings(path: str, rel: str) -> bool:
    return path != rel and posixpath.dirname(posixpath.dirname(path)) == posixpath.dirname(posixpath.dirname(rel))


def _position(
    rel: str,
    old: str,
    new: str,
    case_names: set[str],
    evidence: Evidence,
    ignore: frozenset[str] | set[str] = frozenset(),
) -> FileOutcome:
    """The same statements, ours elsewhere or laid out otherwise: allowed only where upstream's own file does
    both (a block kept in no order, a list kept in no order, lists exploded although they fit on a line).
    `ignore`: names already explained by a contradiction, whose presence may differ."""
    old_parsed, new_parsed = parse_cached(rel, old), parse_cached(rel, new)
    old_rest, old_moved = _without_case_statements(old_parsed, case_names)
    new_rest, new_moved = _without_case_statements(new_parsed, case_names)
    keys = {item.key for item in [*old_moved, *new_moved] if item.entry is not None}
    old_rest, old_moved = _without_case_statements(old_parsed, case_names, keys=keys)
    new_rest, new_moved = _without_case_statements(new_parsed, case_names, keys=keys)
    # Blank lines are not registrations: a statement moved away may leave one behind on either side.
    old_rest, new_rest = _no_blank_lines(old_rest), _no_blank_lines(new_rest)
    if old_rest != new_rest:
        return FileOutcome(rel, "failure", "placement", _first_difference(old_rest, new_rest))
    if ignore:
        old_moved = [item for item in old_moved if not _only(item, ignore)]
        new_moved = [item for item in new_moved if not _only(item, ignore)]
        if not old_moved and not new_moved:
            return FileOutcome(rel, "upstream-varies", "position", "")
    return _statements(rel, [old_parsed], old_moved, new_moved, "position", evidence, ignore)


def _no_blank_lines(text: str) -> str:
    return "\n".join(line for line in text.split("\n") if line.strip())


def _only(item: _Statement, names: frozenset[str] | set[str]) -> bool:
    """A statement (or guard block) that registers nothing but `names`."""
    if item.entry is not None:
        return set(item.entry.names) <= names
    return item.block is not None and all(set(entry.names) <= names for entry in item.block.entries)


@dataclass
class _Statement:
    text: str
    block: Block | None
    entry: Entry | None  # None for a whole guard block
    half: str
    anchor: tuple[str, str]  # the kept lines around it: where it sits
    key: tuple = ()  # what pairs it with upstream's: (half, guard, key, occurrence) or ("block", …)
    mixed: bool = False  # a list that also holds other names: only the case names' places differ


def _statements(
    rel: str,
    upstream: list[ParsedInit],
    old_moved: list[_Statement],
    new_moved: list[_Statement],
    rule: str,
    evidence: Evidence,
    ignore: frozenset[str] | set[str] = frozenset(),
) -> FileOutcome:
    """Pairs our statements with upstream's and asks upstream's files (`upstream[0]` the original) for evidence
    of every way they differ."""
    parsed = upstream[0]
    pending = {item.key: item for item in old_moved}
    if len(pending) != len(old_moved) or {item.key for item in new_moved} != set(pending):
        return FileOutcome(rel, "failure", "placement", "the statements differ from upstream's")
    reasons: list[str] = []
    for ours in new_moved:
        theirs = pending[ours.key]
        if ours.entry is None or theirs.entry is None:  # a whole guard block
            if _block_skeleton(ours) != _block_skeleton(theirs):
                found = _block_layout(parsed, ours, theirs)
                if found is None:
                    return FileOutcome(
                        rel, "failure", "block", _first_difference(_block_skeleton(theirs), _block_skeleton(ours))
                    )
                reasons.append(found)
            if ours.anchor != theirs.anchor:
                found = _block_order(parsed, theirs)
                if found is None:
                    return FileOutcome(rel, "failure", "placement", f"guard block `{ours.key[1]}` placed otherwise")
                reasons.append(found)
            continue
        ours_names = [name for name in ours.entry.names if name not in ignore]
        theirs_names = [name for name in theirs.entry.names if name not in ignore]
        if Counter(ours_names) != Counter(theirs_names):
            return FileOutcome(rel, "failure", "placement", f"`{ours.entry.key}` lists other names than upstream")
        if ours_names != theirs_names:
            found = _unordered_list(parsed, theirs)
            if found is None:
                return FileOutcome(rel, "failure", "list-order", f"`{ours.entry.key}` names in another order")
            reasons.append(found)
        if ours.entry.exploded != theirs.entry.exploded and not ours.mixed:
            found = _layouts(upstream) or _layouts(_all_inits(evidence))
            if found is None:
                return FileOutcome(rel, "failure", "layout", f"`{ours.entry.key}` laid out otherwise")
            reasons.append(found)
        if ours.anchor != theirs.anchor and not ours.mixed:
            if theirs.block is None:
                return FileOutcome(rel, "failure", "placement", f"`{theirs.text.strip()[:60]}` outside any block")
            found = _disorder(parsed, theirs.block, theirs.half)
            if found is None:
                return FileOutcome(
                    rel, "failure", "placement", f"`{ours.text.strip()[:60]}` out of the order upstream keeps"
                )
            reasons.append(found)
    if not reasons and not ignore:
        return FileOutcome(rel, "failure", "text", "differs outside the registration statements")
    return FileOutcome(rel, "upstream-varies", rule, "; ".join(dict.fromkeys(reasons)))


def _block_skeleton(item: _Statement) -> str:
    """A guard block's text with its registration statements collapsed."""
    block = item.block
    if block is None or block.node is None:
        return item.text
    first = item.text.split("\n")
    base = block.node.lineno - (len(first) - (block.node.end_lineno - block.node.lineno + 1))
    marks = {number for entry in block.entries for number in range(entry.start, entry.end + 1)}
    out: list[str] = []
    for offset, line in enumerate(first):
        if base + offset in marks:
            if not out or out[-1] != "ENTRY":
                out.append("ENTRY")
        else:
            out.append(line)
    return "\n".join(out)


def _all_inits(evidence: Evidence) -> list[ParsedInit]:
    return [parse_cached(path, evidence.base.files[path]) for paths in evidence.forms.values() for path in paths]


def _without_case_statements(
    parsed: ParsedInit, names: set[str], blocks: bool = True, keys: set[tuple] = frozenset()
) -> tuple[str, list[_Statement]]:
    """The text without what registers only case names (statements, whole guard blocks), a list that mixes
    case names with others reduced to its other names; and each of those, to compare with upstream's.

    `keys` (half, guard, key, occurrence) adds statements without case names that the other side's text has with
    some (upstream forgot a name in a list we complete)."""
    replace: dict[int, str | None] = {}  # line → None (dropped) or the marker standing for a mixed list
    found: list[tuple[Block | None, Entry | None, str, int, int, tuple, bool]] = []
    halves = ("structure", "typing") if parsed.kind == "lazy" else ("plain",)
    seen: Counter = Counter()
    for half in halves:
        blocks_done: set[int] = set()
        for block, entry in parsed.entries(half):
            slot = (half, block.placement_backends, entry.key)
            key = (*slot, seen[slot])
            seen[slot] += 1
            if not (set(entry.names) & names or key in keys):
                continue
            if entry.kind == "dict" or not entry.names or not set(entry.names) <= names:
                rest = [name for name in entry.names if name not in names]
                replace.update(dict.fromkeys(range(entry.start + 1, entry.end + 1)))
                replace[entry.start] = f"{entry.indent}MIXED {entry.key}: {' '.join(sorted(rest))}"
                found.append((block, entry, half, entry.start, entry.end, key, True))
                continue
            node = block.node
            whole = (
                blocks
                and node is not None
                and block.guard is not None
                and all(set(other.names) <= names for other in block.entries)
                and not block.children
            )
            if whole and id(block) not in blocks_done:
                blocks_done.add(id(block))
                start = node.lineno - 1 if not parsed.lines[node.lineno - 2].strip() else node.lineno
                block_key = ("block", half, block.backend_set, seen[("block", half, block.backend_set)])
                seen[("block", half, block.backend_set)] += 1
                found.append((block, None, half, start, node.end_lineno, block_key, False))
                replace.update(dict.fromkeys(range(start, node.end_lineno + 1)))
            elif not whole:
                found.append((block, entry, half, entry.start, entry.end, key, False))
                replace.update(dict.fromkeys(range(entry.start, entry.end + 1)))
    kept = []
    for number, line in enumerate(parsed.lines, start=1):
        if number not in replace:
            kept.append(line)
        elif replace[number] is not None:
            kept.append(replace[number])
    statements = []
    for block, entry, half, first, last, key, mixed in found:
        lines = parsed.lines
        before = next((lines[n - 1] for n in range(first - 1, 0, -1) if n not in replace and lines[n - 1].strip()), "")
        after = next(
            (lines[n - 1] for n in range(last + 1, len(lines) + 1) if n not in replace and lines[n - 1].strip()), ""
        )
        text = "\n".join(parsed.lines[first - 1 : last])
        statements.append(_Statement(text, block, entry, half, (before, after), key, mixed))
    return "\n".join(kept), statements


_CONDITION = re.compile(r"if not .*:$")


def _layout_of(text: str) -> str:
    """A guard block's layout: its text with the dummy module, the condition and blank lines at its ends
    normalised away."""
    lines = [_CONDITION.sub("if not COND:", DUMMY.sub("DUMMY", line)) for line in text.split("\n")]
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    return "\n".join(lines)


def _block_layout(parsed: ParsedInit, ours: _Statement, theirs: _Statement) -> str | None:
    """Evidence that upstream's file lays out another guard block of the same half exactly as ours."""
    wanted = _layout_of(_block_skeleton(ours))
    for block in parsed.blocks(theirs.half):
        if block.guard is None or block.node is None or block is theirs.block:
            continue
        text = "\n".join(parsed.lines[block.node.lineno - 1 : block.node.end_lineno])
        item = _Statement(text, block, None, theirs.half, ("", ""))
        if _layout_of(_block_skeleton(item)) == wanted:
            return (
                f"{parsed.rel} lays out its guard blocks in several ways; ours as its "
                f"`{'+'.join(block.guard.backends)}` block (line {block.node.lineno})"
            )
    return None


def _block_order(parsed: ParsedInit, theirs: _Statement) -> str | None:
    """Evidence that upstream places guard blocks by no rule: a block not right after the block of the largest
    subset of its backends (where a new block goes), or the two halves ordering their blocks differently."""
    orders = {}
    for half in ("structure", "typing"):
        orders[half] = [block for block in parsed.blocks(half) if block.guard is not None and block.parent is None]
        for index, block in enumerate(orders[half]):
            subsets = [other for other in orders[half] if other.backend_set and other.backend_set < block.backend_set]
            if not subsets or block is theirs.block:
                continue
            size = max(len(other.backend_set) for other in subsets)
            if index == 0 or orders[half][index - 1].backend_set not in {
                other.backend_set for other in subsets if len(other.backend_set) == size
            }:
                return (
                    f"{parsed.rel} places guard blocks by no rule: `{'+'.join(block.guard.backends)}` (line "
                    f"{block.node.lineno}) does not follow the block of its largest subset of backends"
                )
    structure = [block.backend_set for block in orders["structure"]]
    typing = [block.backend_set for block in orders["typing"]]
    if [item for item in structure if item in typing] != [item for item in typing if item in structure]:
        return f"{parsed.rel} orders its guard blocks differently in its two halves"
    return None


def _disorder(parsed: ParsedInit, block: Block, half: str) -> str | None:
    """The first pair of statements of `block` out of upstream's key order in its own text, as evidence."""
    key = (lambda text: text) if half == "structure" else ruff_module_key
    entries = [entry for entry in block.entries if entry.kind != "dict"]
    for previous, current in zip(entries, entries[1:], strict=False):
        if key(current.key) < key(previous.key):
            return (
                f"{parsed.rel} keeps that block in no order: `{previous.key}` (line {previous.start}) before "
                f"`{current.key}` (line {current.start})"
            )
    return None


def _unordered_list(parsed: ParsedInit, theirs: _Statement) -> str | None:
    """Evidence that upstream's own list follows no order (neither of the two upstream keeps elsewhere)."""
    names = theirs.entry.names
    if any(first_unsorted(names, key) is None for key in (init_isort_key, ruff_member_key)):
        return None
    sorted_lists = sum(
        1
        for _, entry in parsed.entries("structure")
        if len(entry.names) > 1 and first_unsorted(entry.names, init_isort_key) is None
    )
    return (
        f"{parsed.rel} keeps the `{theirs.entry.key}` list (line {theirs.entry.start}) in no order, while "
        f"{sorted_lists} of its lists are sorted"
    )


def _layouts(upstream: list[ParsedInit]) -> str | None:
    """Evidence that upstream explodes some lists that would fit on one line and keeps others flat."""
    exploded_fitting = None
    flat = None
    for parsed in upstream:
        for _, entry in [*parsed.entries("structure"), *parsed.entries("typing")]:
            if entry.kind == "dict" or len(entry.items) < 2:
                continue
            one_line = render_entry(entry.kind, entry.indent, entry.key, entry.names, False)
            if entry.exploded and len(one_line) == 1 and exploded_fitting is None:
                exploded_fitting = (parsed.rel, entry)
            elif not entry.exploded and entry.end == entry.start and flat is None:
                flat = (parsed.rel, entry)
    if exploded_fitting is None or flat is None:
        return None
    return (
        f"upstream writes lists that fit on a line both ways: one per line ({exploded_fitting[0]}, "
        f"`{exploded_fitting[1].key}`, line {exploded_fitting[1].start}) and flat ({flat[0]}, `{flat[1].key}`, "
        f"line {flat[1].start})"
    )


def _first_difference(old: str, new: str) -> str:
    for number, (left, right) in enumerate(zip(old.split("\n"), new.split("\n"), strict=False), start=1):
        if left != right:
            return f"line {number}: upstream `{left.strip()[:60]}` vs ours `{right.strip()[:60]}`"
    return "trailing lines differ"
