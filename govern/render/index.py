"""The index pages: one row per version, written once per sort order so it sorts without script."""

from __future__ import annotations

import dataclasses
from typing import Any

from govern.model.results import AuditRun, VersionResult
from govern.render.disparities import key_disparity
from govern.render.names import INDEX_NAME, RESULTS_NAME, SUMMARY_NAME, report_href

_VERDICT_ORDER = {"error": 0, "fail": 1, "pass": 2}


def _version_sort_key(version: str) -> tuple[int, int, str]:
    text = str(version)
    if text.isascii() and text.isdigit():
        return (0, int(text), text)
    return (1, 0, text)


def _name_key(result: VersionResult) -> tuple[Any, ...]:
    return (result.model.casefold(), result.model, _version_sort_key(result.version))


def _index_key(result: VersionResult) -> tuple[Any, ...]:
    return (_VERDICT_ORDER.get(result.verdict, -1), *_name_key(result))


@dataclasses.dataclass(frozen=True)
class IndexSort:
    """One pre-sorted copy of the index: the page a column header links to."""

    key: str
    filename: str
    column: str
    description: str


INDEX_SORTS = (
    IndexSort("verdict", INDEX_NAME, "Verdict", "errors, then failures, then passes"),
    IndexSort("model", "index-by-model.html", "Model", "model name A–Z, then version"),
    IndexSort("aliases", "index-by-aliases.html", "Aliases", "versions with an alias first"),
    IndexSort("failed", "index-by-failed.html", "Failed checks", "most failed checks first"),
    IndexSort(
        "disparity",
        "index-by-disparity.html",
        "Key disparity",
        "furthest outside its threshold first",
    ),
    IndexSort("audited", "index-by-audited.html", "Audited at (UTC)", "newest audit first"),
)
"""The index is sortable without script: one static page per order, linked from the column
headers. Separate pages rather than CSS tricks over hidden copies, so that each page stays one
table of plain rows however many versions there are."""


def _sorted_rows(rows: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    by_name = sorted(rows, key=lambda r: _name_key(r["result"]))
    if key == "verdict":
        return sorted(rows, key=lambda r: _index_key(r["result"]))
    if key == "model":
        return by_name
    if key == "aliases":
        return sorted(
            by_name,
            key=lambda r: (
                not r["result"].aliases,
                sorted(a.casefold() for a in r["result"].aliases),
            ),
        )
    if key == "failed":
        return sorted(
            by_name,
            key=lambda r: (-r["failing"], _VERDICT_ORDER.get(r["result"].verdict, -1)),
        )
    if key == "disparity":
        return sorted(
            by_name,
            key=lambda r: (
                r["disparity"] is None,
                r["disparity"]["rank"] if r["disparity"] else (),
            ),
        )
    if key == "audited":
        return sorted(by_name, key=lambda r: str(r["result"].finished_at), reverse=True)
    raise ValueError(f"unknown index order {key!r}")


def _signature(result: VersionResult) -> dict[str, Any]:
    """Whether the version's results carry a signed attestation (checked by govern verify,
    not here: the index only says what the results claim)."""
    attestation = result.attestation or {}
    keyids = list(attestation.get("keyids") or ())
    if not attestation.get("envelope"):
        return {"signed": "none", "keyid": None}
    if attestation.get("signed") and keyids:
        return {"signed": "signed", "keyid": str(keyids[0])}
    return {"signed": "unsigned", "keyid": None}


def index_rows(run: AuditRun) -> list[dict[str, Any]]:
    rows = []
    for result in run.versions:
        failing = result.failing_checks()
        first = next((c for c in failing if c.status == result.verdict), None)
        if first is not None:
            headline: str | None = first.summary
        elif not result.checks:
            headline = "No checks ran"
        else:
            headline = None
        rows.append(
            {
                "result": result,
                "href": report_href(result),
                "failing": len(failing),
                "headline": headline,
                "disparity": key_disparity(result),
                **_signature(result),
            }
        )
    return rows


def index_context(
    run: AuditRun, sort: str = "verdict", rows: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    base = rows if rows is not None else index_rows(run)
    current = next(s for s in INDEX_SORTS if s.key == sort)
    return {
        "run": run,
        "verdict": run.verdict,
        "counts": run.counts(),
        "rows": _sorted_rows(base, sort),
        "results_href": RESULTS_NAME,
        "summary_href": SUMMARY_NAME,
        "sorts": {s.key: s for s in INDEX_SORTS},
        "sort": current,
        "running_head": {
            "left": f"govern audit run · {len(run.versions)} versions",
            "right": f"finished {run.finished_at} UTC",
            "footer": f"run verdict {run.verdict.upper()} · sorted by {current.description}",
        },
    }
