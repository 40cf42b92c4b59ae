"""Registering from several threads (servers) at once loses no name, and checking names says which it cannot find."""

from __future__ import annotations

import threading

from diffusers_integrator.checkout import Checkout
from diffusers_integrator.registry import SymbolSpec, check_registration, register_names, unregister_names


MODEL = """import torch

from ...configuration_utils import ConfigMixin, register_to_config
from ..modeling_utils import ModelMixin


class {name}(ModelMixin, ConfigMixin):
    @register_to_config
    def __init__(self, dim: int = 8):
        super().__init__()
        self.proj = torch.nn.Linear(dim, dim)
"""


def _write_models(checkout: Checkout, count: int) -> list[SymbolSpec]:
    specs = []
    for index in range(count):
        name = f"Race{index}Transformer2DModel"
        module = f"transformer_race{index}"
        (checkout.package_dir / "models" / "transformers" / f"{module}.py").write_text(MODEL.format(name=name))
        specs.append(SymbolSpec(name=name, module=f"diffusers.models.transformers.{module}"))
    return specs


def _at_once(work, arguments) -> list[BaseException]:
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(arguments))

    def run(argument) -> None:
        barrier.wait()
        try:
            work(argument)
        except BaseException as error:  # noqa: BLE001 - reported by the test
            errors.append(error)

    threads = [threading.Thread(target=run, args=(argument,)) for argument in arguments]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def test_concurrent_registrations_lose_no_name(checkout: Checkout) -> None:
    specs = _write_models(checkout, 8)
    # Each caller finds its own Checkout, as two servers on one tree do.
    errors = _at_once(lambda spec: register_names(Checkout.find(checkout.root), [spec]), specs)
    assert not errors, errors
    names = [spec.name for spec in specs]
    top = (checkout.package_dir / "__init__.py").read_text()
    assert [name for name in names if name not in top] == []
    report = check_registration(checkout, names)
    assert report.ok and report.names_checked == len(names), report.summary

    errors = _at_once(lambda name: unregister_names(Checkout.find(checkout.root), [name]), names)
    assert not errors, errors
    top = (checkout.package_dir / "__init__.py").read_text()
    assert [name for name in names if name in top] == []


def test_check_registration_names_the_names_it_cannot_find(checkout: Checkout) -> None:
    report = check_registration(checkout, ["AutoencoderKL", "NoSuchPipeline", "NoSuchModel"])
    assert not report.ok
    assert report.names_checked == 3
    missing = [finding for finding in report.findings if finding.code == "not-registered"]
    assert sorted(finding.name for finding in missing) == ["NoSuchModel", "NoSuchPipeline"]
    assert all("register_lazy_import" in finding.fix for finding in missing)
    assert "NoSuchPipeline" in report.summary and "Consistent" not in report.summary
