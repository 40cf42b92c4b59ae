"""Which ruff binary produces the findings: the version the checkout pins, installed on demand.

A newer ruff formats some diffusers files differently than the pinned one, so findings from the wrong
version can be spurious. We use the pinned version, installed with pip into a per-user cache the first time
it is needed; when that is impossible we fall back to another ruff and say which one and why.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import IntegratorError


logger = logging.getLogger(__name__)

# What diffusers' setup.py pins (release 0.42.x and main, 2026-11); used when a tree pins nothing itself.
DIFFUSERS_RUFF_PIN = "0.9.10"
ENV_RUFF = "DIFFUSERS_INTEGRATOR_RUFF"
ENV_CACHE = "DIFFUSERS_INTEGRATOR_CACHE"
_VERSIONS: dict[tuple[str, float], str | None] = {}


@dataclass(frozen=True)
class RuffBinary:
    path: str
    version: str | None
    pinned: str
    note: str

    @property
    def matches_pin(self) -> bool:
        return self.version == self.pinned


def cache_dir() -> Path:
    """Where pinned tools are installed: `$DIFFUSERS_INTEGRATOR_CACHE`, else the XDG cache."""
    if os.environ.get(ENV_CACHE):
        return Path(os.environ[ENV_CACHE]).expanduser()
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "diffusers-integrator"


def ruff_version(path: str) -> str | None:
    """`ruff --version` of a binary (memoised per path and modification time)."""
    try:
        key = (path, os.stat(path).st_mtime)
    except OSError:
        return None
    if key not in _VERSIONS:
        try:
            out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30, check=False)
            _VERSIONS[key] = out.stdout.split()[-1] if out.returncode == 0 and out.stdout.strip() else None
        except (OSError, subprocess.TimeoutExpired):
            _VERSIONS[key] = None
    return _VERSIONS[key]


def _candidates() -> list[str]:
    """Other ruff binaries on this machine: next to our interpreter, then on PATH."""
    found: list[str] = []
    for path in (Path(sys.executable).parent / "ruff", shutil.which("ruff")):
        if path and Path(path).is_file() and str(path) not in found:
            found.append(str(path))
    return found


def _cached_binary(version: str) -> Path:
    return cache_dir() / f"ruff-{version}" / "bin" / ("ruff.exe" if os.name == "nt" else "ruff")


def install_ruff(version: str, timeout_s: float = 300) -> Path:
    """Installs `ruff==version` into the cache with pip (atomically: a half install is never used)."""
    target = _cached_binary(version).parent.parent
    if _cached_binary(version).is_file():
        return _cached_binary(version)
    cache_dir().mkdir(parents=True, exist_ok=True)
    with _install_lock(cache_dir() / f".ruff-{version}.lock"):
        if _cached_binary(version).is_file():  # another process finished it while we waited
            return _cached_binary(version)
        staging = Path(tempfile.mkdtemp(prefix=f".ruff-{version}-", dir=cache_dir()))
        command = [
            sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps",
            "--no-input", "--target", str(staging), f"ruff=={version}",
        ]  # fmt: skip
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, check=False)
        except subprocess.TimeoutExpired:
            shutil.rmtree(staging, ignore_errors=True)
            raise IntegratorError(f"pip install ruff=={version} took over {timeout_s:.0f} s.", _INSTALL_FIX) from None
        binary = staging / "bin" / _cached_binary(version).name
        if done.returncode != 0 or not binary.is_file():
            shutil.rmtree(staging, ignore_errors=True)
            reason = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise IntegratorError(f"pip install ruff=={version} failed: {reason}", _INSTALL_FIX)
        shutil.rmtree(target, ignore_errors=True)
        os.replace(staging, target)
        logger.info("installed ruff %s into %s", version, target)
        return _cached_binary(version)


_INSTALL_FIX = "Install it yourself (`pip install ruff==VERSION`) and set DIFFUSERS_INTEGRATOR_RUFF to its path."


def find_ruff(pinned: str | None, *, install: bool = True) -> RuffBinary | None:
    """The ruff to use for a tree pinning `pinned` (None: the tree pins nothing, so diffusers' pin)."""
    version = pinned or DIFFUSERS_RUFF_PIN
    why_version = (
        f"ruff {version} as the checkout's setup.py pins"
        if pinned
        else f"ruff {version}, diffusers' pin (the checkout has no setup.py pin)"
    )
    forced = os.environ.get(ENV_RUFF)
    if forced:
        found = ruff_version(forced)
        if found is None:
            raise IntegratorError(
                f"${ENV_RUFF}={forced} is not a working ruff.", f"Unset it or point it at ruff {version}."
            )
        suffix = "" if found == version else f"; it is not the pinned {version}, so format findings may differ"
        return RuffBinary(forced, found, version, f"ruff {found} from ${ENV_RUFF}{suffix}")
    cached = _cached_binary(version)
    if cached.is_file() and ruff_version(str(cached)) == version:
        return RuffBinary(str(cached), version, version, f"{why_version} (cached)")
    others = _candidates()
    for path in others:
        if ruff_version(path) == version:
            return RuffBinary(path, version, version, f"{why_version} (found at {path})")
    failure = "installing it is disabled"
    if install:
        started = time.monotonic()
        try:
            binary = install_ruff(version)
            return RuffBinary(
                str(binary),
                version,
                version,
                f"{why_version} (installed into the cache in {time.monotonic() - started:.1f} s)",
            )
        except IntegratorError as error:
            failure = error.problem
    for path in others:
        found = ruff_version(path)
        if found:
            return RuffBinary(
                path,
                found,
                version,
                f"FALLBACK: wanted {why_version}, but {failure}; using ruff {found} at {path}: format findings "
                "may differ from upstream CI's",
            )
    return None


@contextlib.contextmanager
def _install_lock(path: Path, timeout_s: float = 600):
    """One installer per version across processes (two servers may start their first run together)."""
    with open(path, "a+") as handle:
        if os.name == "nt":  # pip into a fresh staging folder is safe enough without a lock there
            yield
            return
        import fcntl

        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise IntegratorError(
                        f"Timed out waiting for {path}.", "Remove the lock file and retry."
                    ) from None
                time.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
