"""Shows what the end-to-end image test measured (image size, start-to-ready time) at the end of pytest's output."""

from __future__ import annotations

import pytest

E2E_REPORT = pytest.StashKey[dict[str, str]]()


def pytest_configure(config: pytest.Config) -> None:
    config.stash[E2E_REPORT] = {}


@pytest.fixture(scope="session")
def e2e_report(pytestconfig: pytest.Config) -> dict[str, str]:
    """A dict the tests fill with `measure: value`; printed in the terminal summary."""
    return pytestconfig.stash[E2E_REPORT]


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    report = config.stash.get(E2E_REPORT, {})
    if report:
        terminalreporter.section("model server image (end-to-end)")
        for measure, value in report.items():
            terminalreporter.write_line(f"{measure}: {value}")
