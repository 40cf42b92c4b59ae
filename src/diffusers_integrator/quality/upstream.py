"""The checkout's own `utils/check_*.py` scripts, run as upstream CI runs them, read as findings.

Each script fails in its own way (an exception with a known message, or `path:line: message` lines); we parse
those into findings. Anything else that ends in a traceback means the script itself is broken (several
upstream scripts crash at HEAD): that is reported as "upstream check broken: ...", never as a finding against
the change.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from ..checkout import Checkout
from .models import Finding


_COPY_LINE = re.compile(r"^- (\S+): copy does not match (\S+) at line (\d+)", re.M)
_DUMMY = re.compile(r"not present in diffusers\.utils\.(dummy_\w+_objects)\.py")
_SUPPORT_LINE = re.compile(r"^- ([^:\n]+): (.+)$", re.M)
_LOCATED = re.compile(r"^([\w./-]+\.py):(\d+): (.+)$", re.M)
_EXCEPTION = re.compile(r"^(\w+(?:\.\w+)*(?:Error|Exception)): ?(.*)$", re.M)
# Where check_support_list documents each category (the script's own table, as of diffusers 0.42).
_SUPPORT_DOCS = {
    "Attention Processors": "docs/source/en/api/attnprocessor.md",
    "Image Processors": "docs/source/en/api/image_processor.md",
    "Activations": "docs/source/en/api/activations.md",
    "Normalizations": "docs/source/en/api/normalization.md",
    "LoRA Mixins": "docs/source/en/api/loaders/lora.md",
}


@dataclass
class ScriptRun:
    name: str
    command: str
    returncode: int
    output: str
    findings: list[Finding] = field(default_factory=list)
    broken: str | None = None  # why the script itself failed
    duration_s: float = 0.0


def run_script(
    checkout: Checkout, name: str, path: str, ruff_dir: str | None, args: list[str] | None = None
) -> ScriptRun:
    """Runs `python utils/<name>.py` from the root like the Makefile (PYTHONPATH=src, the pinned ruff first)."""
    import time

    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in ("src", env.get("PYTHONPATH", "")) if p)
    if ruff_dir:
        env["PATH"] = os.pathsep.join([ruff_dir, env.get("PATH", "")])
    command = [sys.executable, path, *(args or [])]
    started = time.monotonic()
    try:
        done = subprocess.run(
            command, cwd=checkout.root, env=env, capture_output=True, text=True, timeout=600, check=False
        )
        returncode, output = done.returncode, (done.stdout + done.stderr)
    except subprocess.TimeoutExpired:
        returncode, output = -1, "timed out after 600 s"
    run = ScriptRun(name, " ".join(["python", path, *(args or [])]), returncode, output)
    run.duration_s = time.monotonic() - started
    if returncode == 0:
        return run
    parser = _PARSERS.get(name)
    findings = parser(checkout, output) if parser else []
    if findings:
        run.findings = findings
    else:
        run.broken = _why_broken(output, returncode)
    return run


def _why_broken(output: str, returncode: int) -> str:
    exceptions = _EXCEPTION.findall(output)
    if exceptions:
        kind, message = exceptions[-1]
        return f"{kind}: {message}"[:300]
    lines = [line for line in output.strip().splitlines() if line.strip()]
    return (lines[-1] if lines else f"exit status {returncode}")[:300]


def _copies(checkout: Checkout, output: str) -> list[Finding]:
    return [
        Finding(
            check="upstream",
            path=_rel(checkout, path),
            line=int(line),  # the 0-based index of the copy's first body line, so the 1-based header line
            col=None,
            code="check_copies",
            message=f"copy does not match diffusers.{source} (utils/check_copies.py); fix=true syncs it",
            fixable=True,
        )
        for path, source, line in _COPY_LINE.findall(output)
    ]


def _dummies(checkout: Checkout, output: str) -> list[Finding]:
    return [
        Finding(
            check="upstream",
            path=f"{checkout.package_rel}/utils/{module}.py",
            line=None,
            col=None,
            code="check_dummies",
            message="the dummy objects differ from the top-level init's TYPE_CHECKING names (utils/check_dummies.py)",
            fixable=True,
        )
        for module in dict.fromkeys(_DUMMY.findall(output))
    ]


def _support(checkout: Checkout, output: str) -> list[Finding]:
    if "not documented" not in output:
        return []
    return [
        Finding(
            check="upstream",
            path=_SUPPORT_DOCS.get(category.strip(), "utils/check_support_list.py"),
            line=None,
            col=None,
            code="check_support_list",
            message=f"{category.strip()} not documented with [[autodoc]]: {names.strip()}"[:300],
            fixable=False,
        )
        for category, names in _SUPPORT_LINE.findall(output)
    ]


def _located(code: str):
    def parse(checkout: Checkout, output: str) -> list[Finding]:
        return [
            Finding(
                check="upstream",
                path=_rel(checkout, path),
                line=int(line),
                col=None,
                code=code,
                message=message.strip()[:300],
                fixable=False,
            )
            for path, line, message in _LOCATED.findall(output)
        ]

    return parse


def _doc_toc(checkout: Checkout, output: str) -> list[Finding]:
    match = re.search(r"ValueError: (.*(?:not properly sorted|several times).*)$", output, re.M)
    if not match:
        return []
    return [
        Finding(
            check="upstream",
            path="docs/source/en/_toctree.yml",
            line=None,
            col=None,
            code="check_doc_toc",
            message=match.group(1).strip()[:300],
            fixable=False,
        )
    ]


_PARSERS = {
    "check_copies": _copies,
    "check_dummies": _dummies,
    "check_support_list": _support,
    "check_forward_call_docstrings": _located("check_forward_call_docstrings"),
    "check_doc_toc": _doc_toc,
}


def _rel(checkout: Checkout, path: str) -> str:
    candidate = Path(path)
    if candidate.is_absolute():
        try:
            return checkout.rel(candidate)
        except ValueError:
            return path
    return Path(os.path.normpath(path)).as_posix()
