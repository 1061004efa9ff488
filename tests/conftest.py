"""What every suite shares: the figures its tests measured, printed at the end of the run."""

from __future__ import annotations

import pytest

from tests.integration import report

# A real browser (Debian's chromium through Playwright): `browser`, `page`, `page_events`.
pytest_plugins = ["tests.browser"]


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    figures = report.lines()
    if figures:
        terminalreporter.section("figures")
        for line in figures:
            terminalreporter.write_line(line)
