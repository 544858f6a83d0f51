"""The README is an index: short, with the pinned versions that the toolchain really builds."""

from __future__ import annotations

import re
from pathlib import Path

from tools.toolchain import versions

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_readme_is_at_most_200_lines():
    assert len(README.read_text().splitlines()) <= 200


def test_the_readme_links_a_page_for_every_docs_subject():
    text = README.read_text()
    docs = README.parent / "docs"
    for page in sorted(docs.glob("*.md")):
        assert f"(docs/{page.name})" in text, f"README.md does not link docs/{page.name}"


def test_the_pinned_versions_table_shows_the_versions_the_toolchain_builds():
    text = README.read_text()
    table = versions()
    rows = {
        "Pulumi CLI": [table["PULUMI_VERSION"]],
        "kubernetes provider": [table["PULUMI_KUBERNETES_VERSION"]],
        "docker-build provider": [table["PULUMI_DOCKER_BUILD_VERSION"]],
        "Kubernetes": [table["KUBERNETES_VERSION"]],
        "etcd": [table["ETCD_VERSION"]],
        "kwok": [table["KWOK_VERSION"]],
        "BuildKit / buildx": [table["BUILDKIT_VERSION"], table["BUILDX_VERSION"]],
    }
    for piece, wanted in rows.items():
        row = re.search(rf"^\| {re.escape(piece)} \| ([^|]+) \|", text, re.MULTILINE)
        assert row, f"README.md's pinned versions table has no row for {piece}"
        for version in wanted:
            assert version in row.group(1), f"{piece}: README.md shows {row.group(1).strip()}, versions.env {version}"
