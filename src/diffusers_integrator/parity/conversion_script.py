"""The shipped conversion script as the one key map: load it, convert a state dict with it, build a model from it.

A scaffolded integration ships `scripts/convert_<model>_to_diffusers.py`, whose `convert_<component>_state_dict`
functions hold the key map (renames, fused-QKV split, modulation order). Parity has to go through that same
function, or it proves a key map nobody ships: a spec's `candidate()` builds the diffusers model with
`model_from_script`, and `convert_with_script` turns a reference checkpoint into a `from_pretrained` folder the
way the script's own `main` does.

    from diffusers_integrator.parity.conversion_script import model_from_script

    def candidate():
        return model_from_script("scripts/convert_foo_to_diffusers.py", FooTransformer2DModel, reference_state_dict())
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from ..errors import IntegratorError


def load_conversion_script(path: str | Path) -> ModuleType:
    """Imports the script by its path (not as `__main__`: its conversion runs only when called)."""
    script = Path(path).resolve()
    if not script.is_file():
        raise IntegratorError(
            f"No conversion script at {script}.", "Scaffold the integration, or give the script's path."
        )
    name = "_conversion_" + hashlib.sha1(str(script).encode()).hexdigest()[:12]
    spec = importlib.util.spec_from_file_location(name, script)
    if spec is None or spec.loader is None:
        raise IntegratorError(f"{script} cannot be imported as a module.", "Give the path of a `.py` file.")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _converter(script: ModuleType, component: str):
    function = getattr(script, f"convert_{component}_state_dict", None)
    if function is None:
        defined = sorted(name for name in vars(script) if name.startswith("convert_") and name.endswith("_state_dict"))
        raise IntegratorError(
            f"{script.__file__} defines no `convert_{component}_state_dict` (it has {', '.join(defined) or 'none'}).",
            "Keep the key map in a `convert_<component>_state_dict(original) -> dict` function of the script.",
        )
    return function


def convert_with_script(script_path: str | Path, state_dict: dict[str, Any], component: str = "transformer") -> dict:
    """The diffusers state dict the script makes of an original one."""
    return _converter(load_conversion_script(script_path), component)(dict(state_dict))


def model_from_script(
    script_path: str | Path,
    model_class: type,
    state_dict: dict[str, Any],
    component: str = "transformer",
    config: dict | None = None,
):
    """The diffusers model built from an original state dict through the script (strict: every key mapped)."""
    script = load_conversion_script(script_path)
    converted = _converter(script, component)(dict(state_dict))
    if config is None:
        config = getattr(script, f"{component.upper()}_CONFIG", None)
    if config is None:
        raise IntegratorError(
            f"No config for {component}: the script has no `{component.upper()}_CONFIG`.", "Pass `config=`."
        )
    model = model_class(**config)
    missing, unexpected = model.load_state_dict(converted, strict=False)
    if missing or unexpected:
        raise IntegratorError(
            f"The script's key map leaves {len(missing)} key(s) of {model_class.__name__} unset "
            f"({', '.join(missing[:5])}) and {len(unexpected)} original key(s) unmapped ({', '.join(unexpected[:5])}).",
            "Complete the key map in the script (renames, fused QKV split), then run the check again.",
        )
    return model.eval()
