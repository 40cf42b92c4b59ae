"""register_names / unregister_names on a real checkout: the files a new model and pipeline touch."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from diffusers_integrator.errors import IntegratorError
from diffusers_integrator.registry import SymbolSpec, check_registration, register_names, unregister_names
from diffusers_integrator.testing.trees import run_git

from .helpers import write_foo


FOO_SPECS = [
    SymbolSpec(name="FooTransformer2DModel", module="diffusers.models.transformers.transformer_foo"),
    SymbolSpec(name="FooPipeline", module="src/diffusers/pipelines/foo/pipeline_foo.py"),
    SymbolSpec(name="FooPipelineOutput", module="diffusers.pipelines.foo.pipeline_output", export=False),
]


@pytest.fixture
def foo_checkout(checkout):
    write_foo(checkout.package_dir)
    return checkout


def _lines(checkout, rel):
    return (checkout.package_dir / rel).read_text().split("\n")


def test_registers_a_new_model_and_pipeline_everywhere_upstream_would(foo_checkout):
    result = register_names(foo_checkout, FOO_SPECS)

    assert result.added == ["FooTransformer2DModel", "FooPipeline", "FooPipelineOutput"]
    paths = {change.path: change.action for change in result.changes}
    assert paths == {
        "src/diffusers/__init__.py": "modified",
        "src/diffusers/models/__init__.py": "modified",
        "src/diffusers/models/transformers/__init__.py": "modified",
        "src/diffusers/pipelines/__init__.py": "modified",
        "src/diffusers/pipelines/foo/__init__.py": "created",
        "src/diffusers/utils/dummy_pt_objects.py": "modified",
        "src/diffusers/utils/dummy_torch_and_transformers_objects.py": "modified",
    }
    by_name = {status.name: status for status in result.names}
    assert by_name["FooTransformer2DModel"].backends == ["torch"]
    assert by_name["FooPipeline"].backends == ["torch", "transformers"]
    assert "imports transformers" in by_name["FooPipeline"].backends_reason
    # The output dataclass only imports torch, but shares its package's guard.
    assert by_name["FooPipelineOutput"].backends == ["torch", "transformers"]

    top = _lines(foo_checkout, "__init__.py")
    # Sorted into both halves of the top level, in the right guard blocks.
    index = top.index('            "FooTransformer2DModel",')
    assert top[index - 1 : index + 2] == [
        '            "FluxTransformer2DModel",',
        '            "FooTransformer2DModel",',
        '            "GlmImageTransformer2DModel",',
    ]
    assert "            FooTransformer2DModel," in top
    pipelines_at = top.index('            "FooPipeline",')
    assert top[pipelines_at - 1] == '            "FluxPriorReduxPipeline",'
    assert max(i for i, line in enumerate(top[:pipelines_at]) if "is_transformers_available()" in line) > max(
        i for i, line in enumerate(top[:pipelines_at]) if line.startswith("    if not is_torch_available()")
    )
    models = _lines(foo_checkout, "models/__init__.py")
    assert '    _import_structure["transformers.transformer_foo"] = ["FooTransformer2DModel"]' in models
    family = _lines(foo_checkout, "models/transformers/__init__.py")
    assert "    from .transformer_foo import FooTransformer2DModel" in family
    pipelines = _lines(foo_checkout, "pipelines/__init__.py")
    assert '    _import_structure["foo"] = ["FooPipeline"]' in pipelines
    assert "        from .foo import FooPipeline" in pipelines
    # Not exported: only in its own package init.
    assert not any("FooPipelineOutput" in line for line in top + pipelines)
    package = (foo_checkout.package_dir / "pipelines/foo/__init__.py").read_text()
    assert '_import_structure["pipeline_output"] = ["FooPipelineOutput"]' in package
    assert "sys.modules[__name__] = _LazyModule(" in package
    dummies = (foo_checkout.package_dir / "utils/dummy_pt_objects.py").read_text()
    assert "class FooTransformer2DModel(metaclass=DummyObject):" in dummies

    # Consistent afterwards, and a second call is a no-op.
    assert check_registration(foo_checkout, ["FooTransformer2DModel", "FooPipeline", "FooPipelineOutput"]).total == 0
    again = register_names(foo_checkout, FOO_SPECS)
    assert again.changes == [] and again.already_present == [spec.name for spec in FOO_SPECS]


def test_dry_run_returns_the_diffs_and_writes_nothing(foo_checkout):
    before = (foo_checkout.package_dir / "__init__.py").read_text()
    result = register_names(foo_checkout, FOO_SPECS, dry_run=True)
    assert result.dry_run and "Would register" in result.summary
    top_diff = next(change.diff for change in result.changes if change.path == "src/diffusers/__init__.py")
    assert '+            "FooTransformer2DModel",' in top_diff and "+            FooPipeline," in top_diff
    assert (foo_checkout.package_dir / "__init__.py").read_text() == before
    assert not (foo_checkout.package_dir / "pipelines/foo/__init__.py").exists()


def test_registered_names_import_in_a_fresh_interpreter_with_and_without_torch(foo_checkout):
    register_names(foo_checkout, FOO_SPECS)
    env = {**os.environ, "PYTHONPATH": str(foo_checkout.root / "src")}
    probe = (
        "import diffusers, sys\n"
        "assert diffusers.__file__.startswith(sys.argv[1]), diffusers.__file__\n"
        "from diffusers.utils import is_torch_available\n"
        "from diffusers import FooPipeline, FooTransformer2DModel\n"
        "print(is_torch_available(), FooTransformer2DModel.__module__, FooPipeline.__module__)\n"
        "if is_torch_available():\n"
        "    from diffusers.pipelines.foo import FooPipelineOutput  # not exported: no dummy, as upstream\n"
        "if not is_torch_available():\n"
        "    try:\n"
        "        FooTransformer2DModel()\n"
        "    except ImportError as error:\n"
        "        print('ImportError', 'PyTorch' in str(error))\n"
    )
    with_torch = subprocess.run(
        [sys.executable, "-c", probe, str(foo_checkout.root)], env=env, capture_output=True, text=True, timeout=120
    )
    assert with_torch.returncode == 0, with_torch.stderr
    assert with_torch.stdout.split() == [
        "True",
        "diffusers.models.transformers.transformer_foo",
        "diffusers.pipelines.foo.pipeline_foo",
    ]
    # diffusers 0.42.1 honours USE_TORCH=0: is_torch_available() is False, so the names are the dummies.
    without = subprocess.run(
        [sys.executable, "-c", probe, str(foo_checkout.root)],
        env={**env, "USE_TORCH": "0"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert without.returncode == 0, without.stderr
    assert without.stdout.split() == [
        "False",
        "diffusers.utils.dummy_pt_objects",
        "diffusers.utils.dummy_torch_and_transformers_objects",
        "ImportError",
        "True",
    ]


def test_unregister_is_the_inverse(foo_checkout):
    register_names(foo_checkout, FOO_SPECS)
    result = unregister_names(foo_checkout, ["FooTransformer2DModel", "FooPipeline", "FooPipelineOutput", "Nope"])
    assert result.removed == ["FooTransformer2DModel", "FooPipeline", "FooPipelineOutput"]
    assert result.not_registered == ["Nope"]
    # Every file upstream ships is back byte for byte; only the files we wrote (and the package init) remain.
    assert run_git(foo_checkout.root, "diff", "--stat").strip() == ""
    untracked = run_git(foo_checkout.root, "status", "--porcelain", "--untracked-files=all").split("\n")
    assert sorted(line[3:] for line in untracked if line) == [
        "src/diffusers/models/transformers/transformer_foo.py",
        "src/diffusers/pipelines/foo/__init__.py",
        "src/diffusers/pipelines/foo/pipeline_foo.py",
        "src/diffusers/pipelines/foo/pipeline_output.py",
    ]


def test_backends_can_be_overridden_and_a_misplaced_name_is_moved(foo_checkout):
    # Registered by mistake in the torch-only block ...
    register_names(foo_checkout, [FOO_SPECS[1]], backends=["torch"])
    top = (foo_checkout.package_dir / "__init__.py").read_text()
    dummy_pt = (foo_checkout.package_dir / "utils/dummy_pt_objects.py").read_text()
    assert "class FooPipeline(metaclass=DummyObject)" in dummy_pt
    # A torch-only package takes upstream's usual form for one: no guard of its own (`pipelines/ddim`).
    package = (foo_checkout.package_dir / "pipelines/foo/__init__.py").read_text()
    assert '_import_structure = {"pipeline_foo": ["FooPipeline"]}' in package and "try:" not in package
    # ... and registering it again with the inferred backends moves it, dummies included.
    result = register_names(foo_checkout, [FOO_SPECS[1]])
    assert result.added == ["FooPipeline"]
    moved = (foo_checkout.package_dir / "__init__.py").read_text()
    assert moved != top and moved.count("FooPipeline") == 2
    assert "FooPipeline" not in (foo_checkout.package_dir / "utils/dummy_pt_objects.py").read_text()
    assert (
        "class FooPipeline("
        in (foo_checkout.package_dir / "utils/dummy_torch_and_transformers_objects.py").read_text()
    )
    assert check_registration(foo_checkout, ["FooPipeline"]).total == 0


def test_refuses_what_it_cannot_register_and_says_why(foo_checkout):
    with pytest.raises(IntegratorError, match="does not exist") as missing:
        register_names(
            foo_checkout, [SymbolSpec(name="BarModel", module="diffusers.models.transformers.transformer_bar")]
        )
    assert "Write the module first" in str(missing.value)
    with pytest.raises(IntegratorError, match="is not defined in"):
        register_names(
            foo_checkout, [SymbolSpec(name="BarModel", module="diffusers.models.transformers.transformer_foo")]
        )
    with pytest.raises(IntegratorError, match="is a package"):
        register_names(foo_checkout, [SymbolSpec(name="FooPipeline", module="diffusers.pipelines.foo")])
    with pytest.raises(IntegratorError, match="not inside diffusers"):
        register_names(foo_checkout, [SymbolSpec(name="FooPipeline", module="transformers.models.foo")])
    # Nothing was written by the refused calls.
    assert run_git(foo_checkout.root, "diff", "--stat").strip() == ""
