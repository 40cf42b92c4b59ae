"""The scrubber: secret-shaped strings, secret-named keys and secret environment values never reach a trace."""

from __future__ import annotations

from diffusers_integrator.redact import Scrubber


def test_scrubber_patterns_keys_and_environment() -> None:
    scrub = Scrubber(
        {"MY_SERVICE_TOKEN": "opaque-value-1234", "TOKENIZERS_PARALLELISM": "false", "HOME": "/home/someone-long"}
    )
    text = (
        "keys: sk-proj-ABCDEFGHIJKLMNOPqrstuv hf_abcdefghijklmnopqrstu ghp_abcdefghijklmnopqrstuvwx1234 "
        "AKIAABCDEFGHIJKLMNOP Authorization: Bearer abcdefghijklmnop.qrstuvwx "
        "https://alice:s3cretpass@example.com/repo.git opaque-value-1234 "
        "-----BEGIN RSA PRIVATE KEY-----\nMIIEabc\n-----END RSA PRIVATE KEY-----"
    )
    cleaned = scrub.text(text)
    for secret in (
        "sk-proj-ABCDEFGHIJKLMNOPqrstuv",
        "hf_abcdefghijklmnopqrstu",
        "ghp_abcdefghijklmnopqrstuvwx1234",
        "AKIAABCDEFGHIJKLMNOP",
        "abcdefghijklmnop.qrstuvwx",
        "s3cretpass",
        "opaque-value-1234",
        "MIIEabc",
    ):
        assert secret not in cleaned, secret
    assert "[redacted:$MY_SERVICE_TOKEN]" in cleaned and "https://[redacted]@example.com/repo.git" in cleaned
    data = {
        "api_key": "short",
        "hf_token": "anything",
        "max_tokens": 128,
        "tokenizer": "t5-base",
        "nested": [{"password": "x1"}, "home is /home/someone-long", "parallel: false"],
    }
    assert scrub.data(data) == {
        "api_key": "[redacted]",
        "hf_token": "[redacted]",
        "max_tokens": 128,
        "tokenizer": "t5-base",
        "nested": [{"password": "[redacted]"}, "home is /home/someone-long", "parallel: false"],
    }
