"""Cassettes as data: secrets and machine paths kept out, tool outputs left out of matching, diffs that read."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import httpx2
import pytest

from diffusers_integrator.agents.cassette import (
    Cassette,
    CassetteHeader,
    CassetteWriter,
    Exchange,
    Recorder,
    Redactor,
    match_key,
    render_diff,
)
from diffusers_integrator.errors import IntegratorError

from .helpers import PLANTED_KEY


def _exchange(messages: list, tools: list | None = None) -> Exchange:
    body = {"model": "m", "messages": messages, "tools": tools or [{"name": "a", "description": "x"}]}
    return Exchange(seq=1, method="POST", path="/v1/messages", request=body, status=200)


def test_paths_become_placeholders_and_come_back(tmp_path: Path) -> None:
    checkout = tmp_path / "home" / "diffusers"
    redactor = Redactor({"<checkout>": checkout, "<home>": tmp_path / "home"})
    hidden = redactor.hide({"path": f"{checkout}/src/x.py", "other": f"{tmp_path}/home/.cache", "n": 3})
    assert hidden == {"path": "<checkout>/src/x.py", "other": "<home>/.cache", "n": 3}
    assert redactor.show(hidden)["path"] == f"{checkout}/src/x.py"


def test_secrets_never_reach_a_cassette(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", PLANTED_KEY)
    writer = CassetteWriter(tmp_path / "c.jsonl", CassetteHeader(scripted=True, model="m"))
    request = httpx2.Request(
        "POST",
        "https://api.anthropic.com/v1/messages",
        headers={"x-api-key": PLANTED_KEY, "authorization": f"Bearer {PLANTED_KEY}", "anthropic-version": "1"},
        json={"messages": [{"role": "user", "content": f"my key is {PLANTED_KEY}"}], "api_key": "plain-secret"},
    )
    response = httpx2.Response(200, json={"content": [], "echo": PLANTED_KEY}, request=request)
    anyio.run(Recorder(writer, Redactor({})), response)
    writer.close()
    text = (tmp_path / "c.jsonl").read_text()
    assert PLANTED_KEY not in text and "plain-secret" not in text
    exchange = Cassette.load(tmp_path / "c.jsonl").exchanges[0]
    assert exchange.request_headers == {"anthropic-version": "1", "content-type": "application/json"}


def test_tool_outputs_do_not_count_but_a_failed_tool_does() -> None:
    def result(text: str, error: bool = False) -> list:
        return [
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": "t1", "content": text, "is_error": error}],
            }
        ]

    assert match_key(_exchange(result("/tmp/a took 3s"))) == match_key(_exchange(result("/tmp/b took 9s")))
    assert match_key(_exchange(result("ok"))) != match_key(_exchange(result("ok", error=True)))


def test_a_diff_names_what_differs_and_keys_tools_by_name() -> None:
    tools = [{"name": "a", "description": "x"}, {"name": "b", "description": "line one\nline two"}]
    changed = [{"name": "b", "description": "line one\nline 2"}]
    diff = render_diff(match_key(_exchange([], tools)), match_key(_exchange([], changed)))
    lines = diff.splitlines()
    assert lines[0] == "differs in: body.tools (a, b)"
    assert '-body.tools[a].name: "a"' in lines and "-    line two" in lines and "+    line 2" in lines


def test_a_file_that_is_no_cassette_says_so(tmp_path: Path) -> None:
    (tmp_path / "x.jsonl").write_text(json.dumps({"something": 1}) + "\n")
    with pytest.raises(IntegratorError, match="is not a cassette"):
        Cassette.load(tmp_path / "x.jsonl")
