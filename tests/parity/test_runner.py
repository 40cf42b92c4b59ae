"""`run_spec` in a child process: progress, and a structured error for a crashing, hanging or memory-hungry spec.

The SSH test runs when DI_PARITY_SSH_HOST names a host (`user@host:port`) reachable with key auth
(DI_PARITY_SSH_KEY) whose DI_PARITY_SSH_PYTHON has torch and diffusers; CI runs it against a loopback sshd
(.ci/sshd-loopback.sh). Without a host it skips with that fix, and fails under CI=true.
"""

import os
from pathlib import Path

from diffusers_integrator.parity import ParityReport, run_spec

from ..conftest import needs
from .specs import research_component


def _spec(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "spec.py"
    path.write_text(body)
    return path


def test_passing_spec_reports_progress_and_files(tmp_path):
    seen: list[tuple[int, int, str]] = []
    report = run_spec(
        _spec(tmp_path, research_component(depth=1)),
        tmp_path / "out",
        device="auto",
        timeout_s=300,
        progress=lambda done, total, message: seen.append((done, total, message)),
    )
    assert isinstance(report, ParityReport)
    assert report.status == "passed", report.summary
    assert report.device == "cpu"
    assert seen[0][0] == 0 and seen[-1][0] == seen[-1][1]
    assert Path(report.files["json"]).is_file() and Path(report.files["plot_modules"]).is_file()
    assert ParityReport.model_validate_json(Path(report.files["json"]).read_text()).status == "passed"


def test_crash_is_a_structured_error(tmp_path):
    spec = _spec(
        tmp_path,
        "import os\ndef reference():\n    os.abort()\ndef candidate():\n    pass\ndef inputs():\n    return {}\n",
    )
    report = run_spec(spec, tmp_path / "out", timeout_s=120)
    assert report.status == "error" and report.error.kind == "crash"
    assert "exit status" in report.error.message
    assert (tmp_path / "out" / "summary.txt").is_file()


def test_hang_is_stopped_by_the_timeout(tmp_path):
    spec = _spec(
        tmp_path,
        "import time\ndef reference():\n    time.sleep(600)\ndef candidate():\n    pass\ndef inputs():\n    return {}\n",
    )
    report = run_spec(spec, tmp_path / "out", timeout_s=8)
    assert report.error.kind == "timeout"
    assert "8 s" in report.error.message


def test_memory_hog_is_stopped(tmp_path):
    spec = _spec(
        tmp_path,
        "import time, torch\n"
        "def reference():\n"
        "    hoard = []\n"
        "    for _ in range(40):\n"  # at most 4 GB even if no guard fired
        "        hoard.append(torch.ones(25_000_000))\n"
        "        time.sleep(0.05)\n"
        "    time.sleep(600)\n"
        "def candidate():\n    pass\ndef inputs():\n    return {}\n",
    )
    report = run_spec(spec, tmp_path / "out", timeout_s=120, memory_limit_mb=1500)
    assert report.error.kind == "memory", report.error
    assert "1500 MB" in report.error.message


def test_import_error_in_spec_is_a_spec_error(tmp_path):
    report = run_spec(_spec(tmp_path, "import not_a_module_anywhere\n"), tmp_path / "out", timeout_s=120)
    assert report.error.kind == "spec"
    assert "not_a_module_anywhere" in report.error.message


def test_remote_host_over_ssh(tmp_path):
    if not os.environ.get("DI_PARITY_SSH_HOST"):
        needs(
            "an SSH host for the remote parity path (DI_PARITY_SSH_HOST)",
            "set DI_PARITY_SSH_HOST=user@host:port (key auth: DI_PARITY_SSH_KEY; DI_PARITY_SSH_PYTHON with torch and "
            "diffusers), or run `. .ci/sshd-loopback.sh` as root for a loopback sshd on 127.0.0.1:2222",
        )
    key = os.environ.get("DI_PARITY_SSH_KEY")
    known_hosts = os.environ.get("DI_PARITY_SSH_KNOWN_HOSTS", str(tmp_path / "known_hosts"))
    options = ["-o", "StrictHostKeyChecking=accept-new", "-o", f"UserKnownHostsFile={known_hosts}"]
    options += ["-i", key] if key else []
    (tmp_path / "helpers.py").write_text("DEPTH = 1\n")
    body = research_component(depth=1).replace(
        "CONFIG = ResearchDiTConfig(depth=1)", "from helpers import DEPTH\nCONFIG = ResearchDiTConfig(depth=DEPTH)"
    )
    spec = _spec(tmp_path, body + '\nremote_files = ["helpers.py"]\n')
    report = run_spec(
        spec,
        tmp_path / "out",
        device="cpu",
        timeout_s=300,
        host=os.environ["DI_PARITY_SSH_HOST"],
        ssh_options=options,
        remote_python=os.environ.get("DI_PARITY_SSH_PYTHON", "python3"),
    )
    assert report.status == "passed", report.summary
    assert report.host == os.environ["DI_PARITY_SSH_HOST"]
    assert Path(report.files["json"]).parent == tmp_path / "out"
    assert Path(report.files["plot_modules"]).is_file()


def test_unreachable_host_is_a_remote_error(tmp_path):
    report = run_spec(
        _spec(tmp_path, research_component(depth=1)),
        tmp_path / "out",
        host="nobody@127.0.0.1:1",
        timeout_s=30,
    )
    assert report.status == "error" and report.error.kind == "remote"
    assert "ssh" in report.error.fix
