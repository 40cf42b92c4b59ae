"""`run_spec`: run a parity spec in a child process — here or on a GPU host over SSH — and return its report.

The caller (the MCP server's background job, the CLI) never dies with the spec: a crash, a hang (timeout) or
running out of memory comes back as a `ParityReport` with `status="error"` and an `error` that says what to do.
Progress arrives as JSON lines on the child's stdout and is handed to `progress(done, total, message)` in the
calling thread.

A spec is code: the child gets only the environment it needs (no API keys or tokens), and every text file it
leaves in the report folder (its log included) is scrubbed of secrets before anyone reads it. The remote path
takes `host` only as `user@host[:port]` and ends ssh's options with `--`, so a host can never be an option.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import queue
import re
import shlex
import signal
import subprocess
import sys
import tarfile
import threading
import time
import zlib
from collections.abc import Sequence
from pathlib import Path

from ..progress import ProgressFn
from ..redact import Scrubber
from ..syntax import parse
from .child import _rss_mb
from .results import ParityError, ParityReport


_PACKAGE_ROOT = Path(__file__).resolve().parents[1]  # .../diffusers_integrator
# `user@host` or `user@host:port`: a user and a host name that cannot be read as an ssh option.
HOST_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,63}@[A-Za-z0-9][A-Za-z0-9.-]{0,252}(:[0-9]{1,5})?$"
# What the spec's process inherits: what Python, torch, CUDA and the Hub cache need, never a secret.
_CHILD_ENV_NAMES = {
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "SHELL",
    "LANG",
    "LANGUAGE",
    "TZ",
    "TERM",
    "TMPDIR",
    "TEMP",
    "TMP",
    "SYSTEMROOT",
    "COMSPEC",
    "PATHEXT",
    "WINDIR",
    "VIRTUAL_ENV",
    "CONDA_PREFIX",
    "CONDA_DEFAULT_ENV",
    "LD_LIBRARY_PATH",
    "DYLD_LIBRARY_PATH",
    "PYTHONPATH",
    "PYTHONHASHSEED",
    "PYTHONUTF8",
    "PYTHONIOENCODING",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "CUBLAS_WORKSPACE_CONFIG",
    "XDG_CACHE_HOME",
    "HF_HOME",
    "HF_HUB_CACHE",
    "HF_HUB_OFFLINE",
    "HF_DATASETS_OFFLINE",
    "TRANSFORMERS_OFFLINE",
    "TRANSFORMERS_CACHE",
    "DIFFUSERS_CACHE",
    "TORCH_HOME",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "REQUESTS_CA_BUNDLE",
}
_CHILD_ENV_PREFIXES = ("LC_", "CUDA_", "NVIDIA_", "PYTORCH_", "TORCH_", "CUDNN_", "NCCL_", "HIP_", "ROCM_", "MPS_")
_SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|PASSWD|PASSPHRASE|CREDENTIAL|AUTH|COOKIE|PRIVATE", re.I)
# Files of the report folder that hold text (scrubbed after the child ends); plots are images.
_TEXT_SUFFIXES = (".json", ".txt", ".log", ".csv", ".md", ".jsonl")


def child_environment(environ: dict[str, str] | None = None) -> dict[str, str]:
    """The minimal environment for a spec's process: an allow-list of names, none that looks secret."""
    environ = dict(os.environ if environ is None else environ)
    return {
        name: value
        for name, value in environ.items()
        if (name in _CHILD_ENV_NAMES or name.startswith(_CHILD_ENV_PREFIXES)) and not _SECRET_NAME.search(name)
    }


def scrub_outputs(out_dir: Path) -> None:
    """Scrubs every text file in a report folder in place (a spec may print or raise anything)."""
    scrub = Scrubber()
    for path in out_dir.rglob("*"):
        if not path.is_file() or path.is_symlink() or path.suffix not in _TEXT_SUFFIXES:
            continue
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        cleaned = scrub.text(text)
        if cleaned != text:
            path.write_text(cleaned, encoding="utf-8")


def default_memory_limit_mb() -> float:
    """80% of this machine's memory: a runaway spec is stopped before the kernel starts killing things."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) / 1024.0 * 0.8
    except OSError:
        pass
    return 16_000.0


def run_spec(
    spec_path: Path,
    out_dir: Path,
    device: str = "auto",
    timeout_s: float = 600.0,
    memory_limit_mb: float | None = None,
    localize: bool = True,
    progress: ProgressFn | None = None,
    dtype: str | None = None,
    host: str | None = None,
    ssh_options: Sequence[str] = (),
    remote_python: str = "python3",
) -> ParityReport:
    """Run `spec_path` in a child process and return its report; the report files land in `out_dir`.

    Args:
        device: "auto" (CUDA when visible, else CPU), "cpu" or "cuda".
        timeout_s: wall-clock limit for the whole run; past it the child is killed (`error.kind == "timeout"`).
        memory_limit_mb: host RSS limit for the child (default 80% of RAM) (`error.kind == "memory"`).
        localize: record and compare module activations to find the first divergent module.
        host: run on `user@host[:port]` over SSH instead: the spec, the files it lists in `remote_files` and
            this package are copied to a temporary directory there, the report is copied back.
        ssh_options: extra ssh arguments (`["-i", key, "-o", "StrictHostKeyChecking=accept-new"]`).
        remote_python: the interpreter on the host (it needs torch and diffusers).
    """
    spec_path = Path(spec_path).resolve()
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in ("report.json", "summary.txt"):
        (out_dir / stale).unlink(missing_ok=True)
    limit = memory_limit_mb if memory_limit_mb is not None else default_memory_limit_mb()
    child_args = ["--device", device, "--memory-limit-mb", f"{limit:.0f}"]
    if dtype:
        child_args += ["--dtype", dtype]
    if not localize:
        child_args.append("--no-localize")
    if host:
        return _run_remote(spec_path, out_dir, host, ssh_options, remote_python, child_args, timeout_s, progress)
    env = child_environment()
    env["PYTHONPATH"] = os.pathsep.join([str(_PACKAGE_ROOT.parent), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    cmd = [
        sys.executable,
        "-m",
        "diffusers_integrator.parity.child",
        "--spec",
        str(spec_path),
        "--out",
        str(out_dir),
        *child_args,
    ]
    with (out_dir / "child.log").open("w") as log:
        proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=log,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env=env,
            cwd=str(spec_path.parent),
        )
        ended = _supervise(proc, timeout_s, limit, progress, watch_rss=True)
    scrub_outputs(out_dir)
    return _collect(spec_path, out_dir, proc.returncode, ended, timeout_s, limit)


def _supervise(
    proc: subprocess.Popen, timeout_s: float, limit_mb: float, progress: ProgressFn | None, watch_rss: bool
) -> str | None:
    """Wait for the child, relaying progress; returns "timeout"/"memory" when it had to be killed."""
    events: queue.Queue[dict] = queue.Queue()

    over_memory = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            try:
                event = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError):
                continue
            if isinstance(event, dict):
                if event.get("event") == "done" and event.get("error") == "memory":
                    over_memory.set()  # the child's own watchdog stopped it (the only sign of that on a remote host)
                events.put(event)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    deadline = time.monotonic() + timeout_s
    killed: str | None = None
    while proc.poll() is None:
        _relay(events, progress)
        if time.monotonic() > deadline:
            killed = "timeout"
        elif watch_rss and _tree_rss_mb(proc.pid) > limit_mb:
            killed = "memory"
        if killed:
            _kill(proc)
            break
        time.sleep(0.1)
    proc.wait()
    reader.join(timeout=2.0)
    _relay(events, progress)
    return killed or ("memory" if over_memory.is_set() else None)


def _relay(events: queue.Queue, progress: ProgressFn | None) -> None:
    while True:
        try:
            event = events.get_nowait()
        except queue.Empty:
            return
        if progress is not None and event.get("event") == "progress":
            try:
                progress(int(event["done"]), int(event["total"]), str(event.get("message", "")))
            except Exception:  # noqa: BLE001 - a failing progress sink must not stop supervision
                pass


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()


def _tree_rss_mb(pid: int) -> float:
    total, todo, seen = 0.0, [pid], set()
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        total += _rss_mb(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as fh:
                    todo.extend(int(c) for c in fh.read().split())
        except OSError:
            continue
    return total


def _log_tail(out_dir: Path, lines: int = 30) -> str:
    try:
        text = (out_dir / "child.log").read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def _collect(
    spec_path: Path,
    out_dir: Path,
    returncode: int | None,
    killed: str | None,
    timeout_s: float,
    limit_mb: float,
    host: str | None = None,
) -> ParityReport:
    report_path = out_dir / "report.json"
    if killed in (None, "memory") and report_path.is_file():  # the child's watchdog writes a memory report
        try:
            return ParityReport.model_validate_json(report_path.read_text())
        except ValueError:
            pass
    tail = _log_tail(out_dir)
    if killed == "timeout":
        error = ParityError(
            kind="timeout",
            message=f"the spec did not finish within {timeout_s:.0f} s and was stopped.",
            fix="Use smaller inputs, fewer layers or steps, a GPU (device='cuda' or a GPU host), or a longer timeout.",
            log_tail=tail,
        )
    elif killed == "memory":  # never inferred from an exit status: a spec may call os._exit(3) itself
        error = ParityError(
            kind="memory",
            message=f"the spec went over the {limit_mb:.0f} MB host-memory limit and was stopped.",
            fix="Use smaller inputs or fewer layers, build each model inside reference()/candidate() (one resident "
            "at a time), or raise memory_limit_mb.",
            log_tail=tail,
        )
    elif returncode is not None and returncode in (-signal.SIGKILL, 128 + signal.SIGKILL):
        error = ParityError(
            kind="memory",
            message="the spec's process was killed (SIGKILL), most likely by the system's out-of-memory killer.",
            fix="Use smaller inputs or fewer layers, or run on a machine with more memory.",
            log_tail=tail,
        )
    else:
        error = ParityError(
            kind="crash",
            message=f"the spec's process ended with exit status {returncode} before writing a report.",
            fix="Read the log tail: a segfault or abort in a native library, or os._exit/sys.exit in the spec.",
            log_tail=tail,
        )
    report = ParityReport(status="error", spec=str(spec_path), error=error, host=host)
    from .report import write_report

    return write_report(report, out_dir)


# --- remote over SSH ------------------------------------------------------------------------------------------


def _ssh_base(host: str, ssh_options: Sequence[str]) -> list[str]:
    """`ssh <options> [-p port] -- user@host`: the host is checked, and `--` ends the options whatever it is."""
    if not re.fullmatch(HOST_PATTERN, host):
        raise ValueError(f"host {host[:100]!r} is not `user@host` or `user@host:port`")
    target, port = host, None
    if ":" in host.rsplit("@", 1)[-1]:
        target, _, port = host.rpartition(":")
    cmd = ["ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=15", *ssh_options]
    if port:
        cmd += ["-p", port]
    return [*cmd, "--", target]


def _pack(spec_path: Path, remote_files: Sequence[str]) -> bytes:
    """spec/<spec and its listed files> + pkg/diffusers_integrator (this package's source)."""
    buf = io.BytesIO()

    def skip(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
        return None if "__pycache__" in info.name or info.name.endswith(".pyc") else info

    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        tar.add(spec_path, arcname=f"spec/{spec_path.name}")
        for rel in remote_files:
            src = (spec_path.parent / rel).resolve()
            tar.add(src, arcname=f"spec/{rel}", filter=skip)
        tar.add(_PACKAGE_ROOT, arcname="pkg/diffusers_integrator", filter=skip)
    return buf.getvalue()


def _remote_files(spec_path: Path) -> list[str]:
    """`remote_files` read without importing the spec (importing it here could pull in heavy code)."""
    import ast

    try:
        tree = parse(spec_path.read_text())
    except (OSError, SyntaxError):
        return []
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "remote_files" for t in node.targets):
            try:
                return [str(x) for x in ast.literal_eval(node.value)]
            except ValueError:
                return []
    return []


def _run_remote(
    spec_path: Path,
    out_dir: Path,
    host: str,
    ssh_options: Sequence[str],
    remote_python: str,
    child_args: list[str],
    timeout_s: float,
    progress: ProgressFn | None,
) -> ParityReport:
    log_path = out_dir / "child.log"

    def remote_error(message: str, detail: str = "") -> ParityReport:
        report = ParityReport(
            status="error",
            spec=str(spec_path),
            host=host,
            error=ParityError(
                kind="remote",
                message=message,
                fix="Check that `ssh HOST true` works without a password (key auth), that the host has "
                f"`{remote_python}` with torch and diffusers, and that /tmp is writable there.",
                log_tail=Scrubber().text(detail[-4000:]) or None,
            ),
        )
        from .report import write_report

        return write_report(report, out_dir)

    try:
        ssh = _ssh_base(host, ssh_options)
    except ValueError as exc:
        return remote_error(f"{exc}: refused before running ssh.")
    try:
        made = subprocess.run([*ssh, "mktemp -d /tmp/di-parity.XXXXXX"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return remote_error(f"cannot reach {host} over ssh: {exc}")
    if made.returncode != 0:
        return remote_error(f"cannot reach {host} over ssh (exit {made.returncode}).", made.stderr)
    rdir = made.stdout.strip()
    if not re.fullmatch(r"/tmp/di-parity\.[A-Za-z0-9]+", rdir):
        return remote_error(f"{host} did not make a temporary directory (`mktemp -d` printed something else).", rdir)
    try:
        payload = _pack(spec_path, _remote_files(spec_path))
        sent = subprocess.run(
            [*ssh, f"tar xzf - -C {shlex.quote(rdir)}"], input=payload, capture_output=True, timeout=300
        )
        if sent.returncode != 0:
            return remote_error("copying the spec to the host failed.", sent.stderr.decode(errors="replace"))
        q = shlex.quote
        remote_cmd = (
            f"cd {q(rdir)}/spec && PYTHONPATH={q(rdir)}/pkg timeout -s KILL {int(timeout_s) + 5} "
            f"{q(remote_python)} -m diffusers_integrator.parity.child --spec {q(rdir)}/spec/{q(spec_path.name)} "
            f"--out {q(rdir)}/out " + " ".join(q(a) for a in child_args)
        )
        with log_path.open("w") as log:
            proc = subprocess.Popen(
                [*ssh, remote_cmd],
                stdout=subprocess.PIPE,
                stderr=log,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
            killed = _supervise(proc, timeout_s + 30, float("inf"), progress, watch_rss=False)
        if proc.returncode == 137 and killed is None:
            killed = "timeout"
        fetched = subprocess.run([*ssh, f"tar czf - -C {q(rdir)}/out ."], capture_output=True, timeout=300)
        if fetched.returncode == 0 and fetched.stdout:
            try:
                with tarfile.open(fileobj=io.BytesIO(fetched.stdout), mode="r:gz") as tar:
                    tar.extractall(out_dir, filter="data")
            except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
                return remote_error(
                    f"the report {host} sent back is not a readable archive ({type(exc).__name__}).",
                    fetched.stdout[:2000].decode(errors="replace"),
                )
        scrub_outputs(out_dir)
        report = _collect(spec_path, out_dir, proc.returncode, killed, timeout_s, float("inf"), host=host)
        # Paths inside the report name the host's temporary directory: point them at the local copies.
        remote_out = f"{rdir}/out"
        report.host = host
        report.spec = str(spec_path)
        report.files = {
            k: str(out_dir / Path(v).relative_to(remote_out)) if v.startswith(remote_out) else v
            for k, v in report.files.items()
        }
        if report.localization is not None and report.localization.table_path:
            report.localization.table_path = str(out_dir / Path(report.localization.table_path).name)
        from .report import render_text

        report.summary = render_text(report)
        (out_dir / "summary.txt").write_text(report.summary + "\n")
        (out_dir / "report.json").write_text(report.model_dump_json(indent=2))
        return report
    except (OSError, subprocess.TimeoutExpired) as exc:
        return remote_error(f"the run on {host} failed: {type(exc).__name__}: {exc}")
    finally:
        with contextlib.suppress(OSError, subprocess.TimeoutExpired):
            subprocess.run([*ssh, f"rm -rf {shlex.quote(rdir)}"], capture_output=True, timeout=60)
