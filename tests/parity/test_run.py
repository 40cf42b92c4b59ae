"""`parity/run.py`: the product's rules for a checkout's specs hold alike for the core, the CLI and the MCP tool."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from diffusers_integrator.checkout import Checkout
from diffusers_integrator.errors import IntegratorError
from diffusers_integrator.parity.run import RunParityRequest, run_parity

from .specs import _write_spec, research_component


def _shipped_spec(workspace: Path) -> Path:
    spec = workspace / "src" / "parity_spec.py"
    spec.write_text(research_component())
    return spec


def test_a_spec_inside_src_is_refused_with_where_to_put_it(workspace: Path) -> None:
    _shipped_spec(workspace)
    with pytest.raises(IntegratorError) as refused:
        run_parity(Checkout.find(workspace), RunParityRequest(spec="src/parity_spec.py"))
    assert "inside `src/`" in str(refused.value)
    assert ".diffusers-integrator/specs/parity_spec.py" in str(refused.value)
    assert not (workspace / ".diffusers-integrator" / "reports").exists()


def test_the_cli_refuses_it_exactly_as_the_tool_does(workspace: Path, tmp_path: Path) -> None:
    spec = _shipped_spec(workspace)
    with pytest.raises(IntegratorError) as refused:
        run_parity(Checkout.find(workspace), RunParityRequest(spec="src/parity_spec.py"))
    # From another folder, naming the checkout: the same refusal, word for word, and exit status 2.
    run = subprocess.run(
        [sys.executable, "-m", "diffusers_integrator.cli", "parity", str(spec), "--checkout", str(workspace)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 2, run.stdout + run.stderr
    assert run.stderr.strip() == f"error: {refused.value}"


def test_a_spec_outside_the_checkout_is_refused(workspace: Path, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere.py"
    outside.write_text(research_component())
    run = subprocess.run(
        [sys.executable, "-m", "diffusers_integrator.cli", "parity", str(outside), "--checkout", str(workspace)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 2
    assert "outside the checkout" in run.stderr


def test_the_report_goes_under_the_checkouts_state_folder(workspace: Path) -> None:
    rel = _write_spec(workspace, "clean.py", research_component())
    report = run_parity(Checkout.find(workspace), RunParityRequest(spec=rel, device="cpu", localize=False))
    assert report.status == "passed", report.summary
    reports = workspace / ".diffusers-integrator" / "reports"
    assert Path(report.files["json"]).parent.parent == reports
    assert Path(report.files["json"]).parent.name.startswith("clean-")


def test_a_spec_at_the_tree_root_is_refused_and_never_runs(workspace: Path) -> None:
    """Issue 15 #3: a spec at the tree root ran (and wrote outside the tree). Specs run only from specs/."""
    marker = workspace.parent / "ran-outside.txt"
    (workspace / "parity_spec.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    for rel in ("parity_spec.py", ".diffusers-integrator/parity_spec.py"):
        if rel.startswith(".diffusers-integrator/"):
            (workspace / rel).parent.mkdir(exist_ok=True)
            (workspace / rel).write_text((workspace / "parity_spec.py").read_text())
        with pytest.raises(IntegratorError) as refused:
            run_parity(Checkout.find(workspace), RunParityRequest(spec=rel))
        assert "not under `.diffusers-integrator/specs/`" in str(refused.value)
        assert "running a spec executes it" in str(refused.value)
    assert not marker.exists()


def test_a_symlink_in_specs_that_leads_elsewhere_in_the_tree_is_refused(workspace: Path) -> None:
    (workspace / "parity_spec.py").write_text(research_component())
    link = workspace / ".diffusers-integrator" / "specs" / "linked.py"
    link.parent.mkdir(parents=True)
    link.symlink_to(workspace / "parity_spec.py")
    with pytest.raises(IntegratorError, match="leads out of"):
        run_parity(Checkout.find(workspace), RunParityRequest(spec=".diffusers-integrator/specs/linked.py"))


@pytest.mark.parametrize("host", ["-V", "-Qcipher", "-oProxyCommand=x", "gpu-box", "me@", "me@host:port", "a b@c"])
def test_host_must_be_user_at_host_and_port(host: str) -> None:
    """Issue 15 #2: `host="-V"` ran `ssh -V`. The field takes only user@host[:port], and says so."""
    from pydantic import ValidationError

    with pytest.raises(ValidationError) as refused:
        RunParityRequest(spec=".diffusers-integrator/specs/a.py", host=host)
    assert refused.value.errors()[0]["loc"] == ("host",)


def test_good_hosts_pass() -> None:
    for host in ("me@gpu-box", "me@gpu-box.lab.example.com:2222", "ci_user@10.0.0.7:22"):
        assert RunParityRequest(spec=".diffusers-integrator/specs/a.py", host=host).host == host


def test_a_5000_character_spec_name_is_refused_naming_the_field(workspace: Path) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError) as refused:
        RunParityRequest(spec="y" * 5000)
    assert refused.value.errors()[0]["loc"] == ("spec",)
    with pytest.raises(IntegratorError, match="`spec`") as too_long:
        run_parity(Checkout.find(workspace), RunParityRequest(spec=".diffusers-integrator/specs/" + "y" * 300 + ".py"))
    assert len(str(too_long.value)) < 1000
