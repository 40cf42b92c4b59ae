"""The sort keys and the dummy generator reproduce what upstream has on disk, for the whole release."""

from __future__ import annotations

from diffusers_integrator.registry.dummies import generate_dummy_files, names_in_dummy_file, render_dummy_file
from diffusers_integrator.registry.graph import TOP_INIT
from diffusers_integrator.registry.sorting import first_unsorted, init_isort_key, ruff_member_key, ruff_module_key


def test_every_import_list_of_the_release_is_in_ruff_order(pristine_graph):
    checked = 0
    for parsed in pristine_graph.inits.values():
        for _, entry in parsed.entries("typing" if parsed.kind == "lazy" else "plain"):
            assert first_unsorted(entry.names, ruff_member_key) is None, (parsed.rel, entry.start)
            checked += 1
    assert checked > 300


def test_every_top_level_structure_list_is_in_custom_init_isort_order(pristine_graph):
    top = pristine_graph.inits[TOP_INIT]
    lists = [entry for _, entry in top.entries("structure") if entry.kind != "dict" and len(entry.names) > 1]
    assert len(lists) >= 10
    for entry in lists:
        assert first_unsorted(entry.names, init_isort_key) is None, entry.start


def test_the_two_orders_differ_where_upstream_differs():
    # Natural order of digit runs and underscores kept: ruff's isort.
    assert sorted(["LTX25Model", "LTX2Model", "LTX2AutoBlocks"], key=ruff_member_key) == [
        "LTX2AutoBlocks",
        "LTX2Model",
        "LTX25Model",
    ]
    assert sorted(["Flux10Model", "Flux2Model"], key=ruff_member_key) == ["Flux2Model", "Flux10Model"]
    # Constants, then classes, then functions, case-insensitively: both.
    names = ["attention_backend", "AUX", "ComponentSpec", "ComponentsManager"]
    assert sorted(names, key=ruff_member_key) == ["AUX", "ComponentsManager", "ComponentSpec", "attention_backend"]
    assert sorted(names, key=init_isort_key) == ["AUX", "ComponentsManager", "ComponentSpec", "attention_backend"]
    # custom_init_isort drops underscores; ruff keeps them (`_` sorts after digits and before letters).
    assert init_isort_key("Cosmos2_5_X") < init_isort_key("Cosmos2TextX")
    assert ruff_module_key("a9") < ruff_module_key("a10") < ruff_module_key("a_c") < ruff_module_key("ab")


def test_dummy_generator_writes_every_generated_file_of_the_release_byte_for_byte(pristine):
    generated = generate_dummy_files(pristine.read(TOP_INIT))
    on_disk = {rel for rel in pristine.files if rel.startswith("utils/dummy_")}
    assert len(generated) == 18
    for rel, text in generated.items():
        assert pristine.read(rel) == text, rel
    # The two files upstream's generator cannot write: their blocks share the `torch` key with the main block.
    assert on_disk - set(generated) == {"utils/dummy_bfl_objects.py", "utils/dummy_nunchaku_lite_objects.py"}


def test_dummy_kinds_follow_the_name_case():
    text = render_dummy_file("torch_and_transformers", ["FooPipeline", "foo_helper", "FOO_TABLE"])
    assert 'class FooPipeline(metaclass=DummyObject):\n    _backends = ["torch", "transformers"]' in text
    assert 'def foo_helper(*args, **kwargs):\n    requires_backends(foo_helper, ["torch", "transformers"])' in text
    assert "\nFOO_TABLE = None\n" in text
    assert names_in_dummy_file(text) == ["FooPipeline", "foo_helper", "FOO_TABLE"]
