"""Plain-text tables for the terminal and CI logs (no colour codes, no width guessing)."""

from __future__ import annotations

from collections.abc import Sequence


def _cell(value: object, limit: int) -> str:
    text = " ".join(str(value).split())  # no newlines or tabs from hostile names
    return text if len(text) <= limit else text[: limit - 1] + "…"


def render_table(headers: Sequence[str], rows: Sequence[Sequence[object]], limit: int = 80) -> str:
    cells = [[_cell(v, limit) for v in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        for i, value in enumerate(row):
            widths[i] = max(widths[i], len(value))
    lines = ["  ".join(h.ljust(widths[i]) for i, h in enumerate(headers)).rstrip()]
    lines.extend("  ".join(v.ljust(widths[i]) for i, v in enumerate(row)).rstrip() for row in cells)
    return "\n".join(lines)
