"""Figures the integration tests measure, printed at the end of the run (docs quote them)."""

from __future__ import annotations

_lines: list[str] = []


def record(line: str) -> None:
    _lines.append(line)


def lines() -> list[str]:
    return list(_lines)
