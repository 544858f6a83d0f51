"""The toolchain's one table of versions agrees with what the program asks for.

tests/docs checks the README's table.
"""

from __future__ import annotations

import re

from tools.cluster.layout import ROOT
from tools.toolchain import VERSIONS_FILE as VERSIONS
from tools.toolchain import versions


def pinned(requirement: str) -> str:
    match = re.search(rf"^{re.escape(requirement)}==(\S+)$", (ROOT / "requirements.txt").read_text(), re.MULTILINE)
    assert match, f"requirements.txt must pin {requirement} exactly: its plugin is built at one version"
    return match.group(1)


def test_the_provider_sdks_are_pinned_to_the_plugins_the_toolchain_builds():
    table = versions()
    assert pinned("pulumi-kubernetes") == table["PULUMI_KUBERNETES_VERSION"]
    assert pinned("pulumi-docker-build") == table["PULUMI_DOCKER_BUILD_VERSION"]


def test_every_version_is_a_plain_name_value_line_that_make_and_bash_read_alike():
    for line in VERSIONS.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            assert re.fullmatch(r"[A-Z][A-Z0-9_]*=[A-Za-z0-9.+-]+", line), line
