"""New docs pages: reported at the toctree line where their entry belongs, and inserted there by fix=true."""

from __future__ import annotations

from pathlib import Path

from diffusers_integrator.checkout import Checkout
from diffusers_integrator.quality import QualityRequest, run_quality

from .plant import TOCTREE, TOCTREE_PATH, add_docs, line_of


TOC = ["toctree"]
DOCS = "docs/source/en"


def _page(root: Path, local: str, heading: str) -> str:
    path = f"{DOCS}/{local}.md"
    (root / path).write_text(f"<!--Copyright 2026 The HuggingFace Team.-->\n\n# {heading}\n\nText.\n")
    return path


def test_new_pages_go_to_their_sections_in_title_order(workspace: Path) -> None:
    add_docs(workspace)
    _page(workspace, "api/models/autoencoder_kl_tiny", "AutoencoderKLTiny")
    _page(workspace, "api/pipelines/tiny", "Tiny: a pipeline")
    _page(workspace, "api/models/sd3_transformer2d", "SD3Transformer2DModel (edited)")  # listed already

    result = run_quality(Checkout.find(workspace), QualityRequest(checks=TOC))

    assert [(f.path, f.line, f.code, f.fixable) for f in result.findings] == [
        (
            TOCTREE_PATH,
            line_of(workspace, TOCTREE_PATH, "local: api/models/autoencoder_kl_wan"),
            "toctree-missing",
            True,
        ),
        (TOCTREE_PATH, line_of(workspace, TOCTREE_PATH, "local: api/pipelines/wan"), "toctree-missing", True),
    ]
    assert "section 'VAEs'" in result.findings[0].message

    fixed = run_quality(Checkout.find(workspace), QualityRequest(checks=TOC, fix=True))

    assert fixed.ok and [item.path for item in fixed.fixed] == [TOCTREE_PATH]
    text = (workspace / TOCTREE_PATH).read_text()
    assert (
        text.replace("      - local: api/models/autoencoder_kl_tiny\n        title: AutoencoderKLTiny\n", "").replace(
            '    - local: api/pipelines/tiny\n      title: "Tiny: a pipeline"\n', ""
        )
        == TOCTREE
    )
    import yaml

    assert yaml.safe_load(text)  # still valid YAML, the colon in the title quoted


def test_a_page_no_section_can_hold_is_reported_but_not_placed(workspace: Path) -> None:
    add_docs(workspace)
    (workspace / DOCS / "research").mkdir()
    page = _page(workspace, "research/notes", "Notes")

    result = run_quality(Checkout.find(workspace), QualityRequest(checks=TOC, fix=True))

    assert [(f.code, f.fixable) for f in result.findings] == [("toctree-missing", False)]
    assert page in result.findings[0].message
    assert result.fixed == []


def test_a_broken_toctree_is_a_finding_and_no_docs_means_skipped(workspace: Path) -> None:
    checkout = Checkout.find(workspace)
    skipped = run_quality(checkout, QualityRequest(checks=TOC))
    assert skipped.summary[0].status == "skipped" and "_toctree.yml" in skipped.summary[0].detail

    add_docs(workspace)
    (workspace / TOCTREE_PATH).write_text(TOCTREE + "- local: [unclosed\n")
    _page(workspace, "api/models/tiny", "Tiny")
    result = run_quality(checkout, QualityRequest(checks=TOC))
    assert [(f.code, f.path) for f in result.findings] == [("toctree-invalid", TOCTREE_PATH)]


def test_the_fast_yaml_parser_reads_every_upstream_toctree_alike(diffusers_clone: Path) -> None:
    from diffusers_integrator.quality.toctree import _sections, compose

    toctrees = sorted((diffusers_clone / "docs" / "source").glob("*/_toctree.yml"))
    assert toctrees
    for toctree in toctrees:
        text = toctree.read_text()
        lines = text.splitlines()
        assert _sections(compose(text), lines) == _sections(compose(text, fast=False), lines), toctree
