"""Secrets never reach a file or a response the product writes: one scrubber for traces, job records and reports.

Values of environment variables whose names look secret, strings shaped like API keys or tokens, and values
under secret-looking keys are replaced before anything is written.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from typing import Any


# Environment variable names whose values are secrets (matched anywhere in the name, case-insensitively).
_SECRET_ENV_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|PASSWD|PASSPHRASE|CREDENTIAL|AUTH|COOKIE|PRIVATE", re.I)
# Shorter values are too likely to be ordinary words or numbers that also appear in real data.
_MIN_SECRET_LEN = 8
# Strings shaped like well-known credentials, wherever they appear.
_SECRET_PATTERNS = [
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.S),
    re.compile(r"\bsk-[A-Za-z0-9_\-]{16,}"),  # OpenAI / Anthropic (sk-ant-...)
    re.compile(r"\bhf_[A-Za-z0-9]{16,}"),  # Hugging Face
    re.compile(r"\bgh[pousr]_[A-Za-z0-9]{20,}"),  # GitHub
    re.compile(r"\bgithub_pat_[A-Za-z0-9_]{20,}"),
    re.compile(r"\bglpat-[A-Za-z0-9_\-]{20,}"),  # GitLab
    re.compile(r"\bxox[abprs]-[A-Za-z0-9\-]{10,}"),  # Slack
    re.compile(r"\bAKIA[0-9A-Z]{16}\b"),  # AWS access key id
    re.compile(r"\bAIza[0-9A-Za-z_\-]{35}\b"),  # Google API key
    re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/\-]{16,}=*"),
    re.compile(r"(?<=://)[^/\s:@]+:[^/\s@]+(?=@)"),  # user:password@ in URLs
]
# Keys whose values are secrets whatever they look like (`api_key`, `hf_token`, `password`, ...).
_SECRET_KEY = re.compile(
    r"(?i)^(?:.*[_\-])?(?:api[_\-]?key|token|secret|password|passwd|passphrase|credentials?|access[_\-]?key|"
    r"private[_\-]?key|client[_\-]?secret)$"
)
REDACTED = "[redacted]"


class Scrubber:
    """Replaces secrets in JSON-like data. Built from the environment at the time of use."""

    def __init__(self, environ: Mapping[str, str] | None = None):
        environ = os.environ if environ is None else environ
        pairs = [
            (value, name)
            for name, value in environ.items()
            if _SECRET_ENV_NAME.search(name) and len(value.strip()) >= _MIN_SECRET_LEN
        ]
        # Longest first, so a secret that contains another is replaced whole.
        self._env_secrets = sorted(pairs, key=lambda pair: -len(pair[0]))

    def text(self, value: str) -> str:
        for secret, name in self._env_secrets:
            if secret in value:
                value = value.replace(secret, f"[redacted:${name}]")
        for pattern in _SECRET_PATTERNS:
            value = pattern.sub(REDACTED, value)
        return value

    def data(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            cleaned = {}
            for key, item in value.items():
                key = self.text(str(key))
                secret_valued = _SECRET_KEY.match(key) and isinstance(item, str) and item
                cleaned[key] = REDACTED if secret_valued else self.data(item)
            return cleaned
        if isinstance(value, list | tuple):
            return [self.data(item) for item in value]
        return value


def scrub_text(value: str) -> str:
    """`Scrubber().text`, for a one-off string (the scrubber reads the environment each time)."""
    return Scrubber().text(value)


def safe_file_name(name: str, fallback: str) -> str:
    """`name` for a file the product writes, or `fallback` when the name itself would carry a secret."""
    return name if Scrubber().text(name) == name else fallback


class ScrubbingFilter(logging.Filter):
    """A logging filter for handlers: the message, its arguments and any traceback leave scrubbed.

    A traceback is formatted here, scrubbed and appended to the message (and `exc_info` dropped), so handlers
    that render tracebacks themselves (rich) cannot print an unscrubbed one.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        scrub = Scrubber()
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: leave it to the handler's own error path
            return True
        if record.exc_info:
            message += "\n" + logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
            record.exc_text = None
        record.msg, record.args = scrub.text(message), None
        return True


def scrub_log_handlers(logger: logging.Logger | None = None) -> None:
    """Adds a `ScrubbingFilter` to every handler of `logger` (default: the root logger) that lacks one."""
    for handler in (logger or logging.getLogger()).handlers:
        if not any(isinstance(existing, ScrubbingFilter) for existing in handler.filters):
            handler.addFilter(ScrubbingFilter())
