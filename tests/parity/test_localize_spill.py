"""The reference's activations live in a spill file, not in memory: bit-exact round trips, one write per value,
and localisation tables identical to those computed from activations held in memory."""

from __future__ import annotations

import os
from functools import partial

import pytest
import torch

from diffusers_integrator.parity import localize
from diffusers_integrator.parity.align import ModelIndex, align_modules
from diffusers_integrator.parity.localize import ActivationSpill, compare_candidate, record_reference
from diffusers_integrator.testing.mutations import all_cases


def _values() -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    base = torch.randn(4, 6, generator=gen)
    return [
        base,
        base.to(torch.bfloat16),
        base.to(torch.float16),
        base.t(),  # not contiguous
        base[:, 1:4],  # a view with an offset
        torch.randn(1, 6, generator=gen).expand(3, 6),  # stride 0
        torch.arange(7, dtype=torch.int64),
        base > 0,
        torch.complex(base, -base),
        torch.empty(0, 3),
        torch.tensor(2.5),
    ]


def test_spill_round_trips_every_dtype_and_layout_bit_for_bit(tmp_path):
    spill = ActivationSpill(tmp_path)
    values = _values()
    slots = [spill.put(value) for value in values]
    assert os.listdir(tmp_path) == []  # the file has no name: nothing to clean up, nothing left behind
    assert spill.nbytes == sum(v.numel() * v.element_size() for v in values)
    for slot, value in reversed(list(zip(slots, values, strict=True))):
        back = spill.get(slot)
        assert back.dtype == value.dtype and back.shape == value.shape and torch.equal(back, value)
    spill.close()


class _Chain(torch.nn.Module):
    """A leaf's output is the next leaf's input (one slot for both); a value modified in place is re-recorded."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(1)
        self.a = torch.nn.Linear(8, 8)
        self.b = torch.nn.Linear(8, 8)
        self.c = torch.nn.Linear(8, 8)

    def forward(self, x):
        h = self.a(x)
        y = self.b(h)
        h.mul_(2.0)
        return self.c(h) + y


def test_every_leaf_value_is_recorded_as_it_was_when_the_module_ran(tmp_path):
    model, x = _Chain(), torch.randn(3, 8, generator=torch.Generator().manual_seed(2))
    seen: dict[str, list[torch.Tensor]] = {}
    for name, module in model.named_children():
        module.register_forward_hook(
            lambda m, args, out, name=name: seen.setdefault(name, []).extend([args[0].clone(), out.clone()])
        )
    with torch.no_grad():
        _, store = record_reference(model, lambda: model(x), tmp_path)
    for name, (given, returned) in seen.items():
        assert torch.equal(store.input(name, 0), given) and torch.equal(store.output(name, 0)[0], returned)
    assert store.output_slots("a", 0)[0] == store.input_slot("b", 0)  # written once
    assert store.input_slot("c", 0) != store.output_slots("a", 0)[0]  # changed in place in between: written again
    assert store.nbytes == store.spill.nbytes
    store.close()
    assert store.output("a", 0) == [None]


class _MemorySpill(ActivationSpill):
    """What localisation did before the spill: every value held in memory."""

    def __init__(self, directory=None):
        self.kept: list[torch.Tensor] = []
        self.nbytes = 0

    def put(self, tensor):
        self.kept.append(tensor.detach().to("cpu", copy=True))
        self.nbytes += tensor.numel() * tensor.element_size()
        return len(self.kept) - 1

    def get(self, slot):
        return self.kept[slot]

    def close(self):
        self.kept.clear()


def _table(case):
    inputs = case.inputs()
    with torch.no_grad():
        ref = case.reference()
        index = ModelIndex.from_model(ref)
        _, store = record_reference(ref, partial(case.call_reference, ref, inputs))
        del ref
        cand = case.candidate()
        alignment = align_modules(index, ModelIndex.from_model(cand, resident=True))
        _, run = compare_candidate(cand, lambda: case.call_candidate(cand, inputs), alignment, store, index)
    store.close()
    return [row.diff.model_dump() for row in run.rows], run.first, run.first_where, run.errors


CASES = {case.name: case for case in all_cases()}


@pytest.mark.parametrize(
    "name", ["research/clean", "research/qkv_split_order", "flux/shift_scale_swap", "wan/norm_eps"]
)
def test_localisation_from_the_spill_equals_localisation_from_memory(name, monkeypatch):
    case = CASES[name]
    spilled = _table(case)
    monkeypatch.setattr(localize, "ActivationSpill", _MemorySpill)
    in_memory = _table(case)
    assert spilled == in_memory
    assert spilled[0]  # a real table: every aligned module compared
