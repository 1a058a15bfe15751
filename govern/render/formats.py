"""Every format govern prints on stdout, behind one interface.

Each ``OutputFormat`` maps to one function from results to text (as pip-audit's ``_format``
package maps its formats to formatters); a test checks that every member has one and that the
CLI offers exactly these, so a new format cannot be half added. Files and folders (HTML reports,
JUnit, PDF) are written by ``govern.render.outputs``.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from govern.model.results import AuditRun
from govern.model.scan import ScanRow
from govern.render.table import render_table


class OutputFormat(enum.Enum):
    """What ``--format`` can ask for on stdout."""

    TABLE = "table"
    JSON = "json"
    MARKDOWN = "markdown"


class ScanFormat(enum.Enum):
    """What ``govern scan --format`` can ask for."""

    TABLE = "table"
    JSON = "json"


def _run_table(run: AuditRun) -> str:
    rows = []
    for v in run.versions:
        bad = v.failing_checks()
        waived = ", ".join(f"{w.id} (expires {w.expires})" for w in v.waivers)
        rows.append(
            [
                v.model,
                v.version,
                v.verdict_label,
                v.engine_label or "-",
                f"{len(v.passed_checks())}/{len(v.checks)}",
                bad[0].summary if bad else "",
                waived,
            ]
        )
    headers = ["MODEL", "VERSION", "VERDICT", "ENGINE", "PASSED", "FIRST PROBLEM", "WAIVED"]
    if not any(row[-1] for row in rows):
        headers, rows = headers[:-1], [row[:-1] for row in rows]
    if all(row[3] == "-" for row in rows):  # results from before engines were recorded
        headers = headers[:3] + headers[4:]
        rows = [row[:3] + row[4:] for row in rows]
    return render_table(headers, rows)


def _run_json(run: AuditRun) -> str:
    return json.dumps(run.to_dict(), indent=2, ensure_ascii=False, allow_nan=False)


def _run_markdown(run: AuditRun) -> str:
    from govern.render.markdown import render_summary

    return render_summary(run)


RUN_FORMATTERS: dict[OutputFormat, Callable[[AuditRun], str]] = {
    OutputFormat.TABLE: _run_table,
    OutputFormat.JSON: _run_json,
    OutputFormat.MARKDOWN: _run_markdown,
}


def _scan_table(rows: Sequence[ScanRow]) -> str:
    return render_table(
        ["MODEL", "VERSION", "ALIASES", "RUN", "TRAINING DATA", "DIGEST", "STATUS", "PROOF"],
        [
            [
                r.model,
                r.version,
                ",".join(r.aliases) or "-",
                (r.run_id or "-")[:12],
                r.dataset_label,
                r.dataset_digest or "-",
                r.status_label,
                r.proof_label,
            ]
            for r in rows
        ],
    )


def _scan_json(rows: Sequence[ScanRow]) -> str:
    return json.dumps([r.to_dict() for r in rows], indent=2, ensure_ascii=False)


SCAN_FORMATTERS: dict[ScanFormat, Callable[[Sequence[ScanRow]], str]] = {
    ScanFormat.TABLE: _scan_table,
    ScanFormat.JSON: _scan_json,
}


def render_waivers(path: str, rows: Sequence[Mapping[str, Any]], fmt: str) -> str:
    """``govern waivers list``: each waiver with its status, soonest expiry first."""
    ordered = sorted(rows, key=lambda r: (r["expires"], r["id"]))
    if fmt == "json":
        return json.dumps({"file": path, "waivers": ordered}, indent=2, ensure_ascii=False)
    return render_table(
        ["ID", "MODEL", "VERSIONS", "CHECK", "APPROVED BY", "EXPIRES", "STATUS"],
        [
            [
                r["id"],
                r["model"],
                ",".join(r["versions"]) if r["versions"] else "all",
                r["check"],
                r["approved_by"],
                r["expires"],
                r["status"],
            ]
            for r in ordered
        ],
    )


def render_webhooks(rows: Sequence[Mapping[str, Any]], fmt: str) -> str:
    """``govern webhook list``: govern's webhooks on the server (never their secrets)."""
    if fmt == "json":
        return json.dumps({"webhooks": list(rows)}, indent=2, ensure_ascii=False)
    return render_table(
        ["NAME", "ID", "URL", "EVENTS", "STATUS"],
        [[r["name"], r["id"], r["url"], ",".join(r["events"]), r["status"]] for r in rows],
        limit=200,
    )


def render_run(run: AuditRun, fmt: OutputFormat | str) -> str:
    """The run in the chosen stdout format."""
    return RUN_FORMATTERS[OutputFormat(fmt)](run)


def render_scan(rows: Sequence[ScanRow], fmt: ScanFormat | str) -> str:
    """Scan rows in the chosen stdout format."""
    return SCAN_FORMATTERS[ScanFormat(fmt)](rows)
