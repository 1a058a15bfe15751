"""Waivers meet results: a failed check an unexpired waiver matches becomes ``waived``.

Applied after every check ran and before the verdict is recorded, so the record, the report and
the gate see the same statuses. Only ``fail`` is ever waived: an error means "could not check",
and no waiver can stand in for a check that did not run. A waived check is never a pass.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from govern.config.waivers import UNWAIVABLE, UNWAIVABLE_KINDS, Waiver, WaiverSet
from govern.model.results import CheckResult, VersionResult


def _waivable(check: CheckResult) -> bool:
    return (
        check.status == "fail"
        and check.kind not in UNWAIVABLE_KINDS
        and not check.id.startswith(UNWAIVABLE)
    )


def _matching(waivers: WaiverSet, model: str, version: str, check_id: str) -> list[Waiver]:
    return [w for w in waivers.waivers if w.check == check_id and w.covers(model, version)]


def apply_waivers(
    result: VersionResult, waivers: WaiverSet | None, today: dt.date
) -> VersionResult:
    """The result with every failed check an unexpired waiver matches marked ``waived``.

    A check only expired waivers match stays ``fail``, and its summary says which waiver expired
    when, so nobody mistakes a lapsed exception for a new failure. When several unexpired
    waivers match, the one that lasts longest is shown (then the first in the file).
    """
    if waivers is None or not waivers.waivers:
        return result
    checks: list[CheckResult] = []
    changed = False
    for check in result.checks:
        if not _waivable(check):
            checks.append(check)
            continue
        matching = _matching(waivers, result.model, result.version, check.id)
        active = [w for w in matching if not w.expired(today)]
        if active:
            chosen = max(active, key=lambda w: w.expires)
            checks.append(replace(check, status="waived", waiver=chosen.ref()))
            changed = True
        elif matching:
            lapsed = max(matching, key=lambda w: w.expires)
            details = dict(check.details) if isinstance(check.details, Mapping) else {}
            details["expired_waivers"] = [w.ref().to_dict() for w in matching]
            checks.append(
                replace(
                    check,
                    summary=f"{check.summary} (waiver {lapsed.id} expired on "
                    f"{lapsed.expires.isoformat()})",
                    details=details,
                )
            )
            changed = True
        else:
            checks.append(check)
    return replace(result, checks=tuple(checks)) if changed else result


def unused_waivers(waivers: WaiverSet | None, versions: Iterable[VersionResult]) -> tuple[str, ...]:
    """Ids of waivers that match no check of these versions: stale, mistyped or meant for
    versions this run did not audit. A warning, never a failure."""
    if waivers is None:
        return ()
    seen = [(v.model, v.version, c.id) for v in versions for c in v.checks]
    return tuple(
        w.id
        for w in waivers.waivers
        if not any(w.check == cid and w.covers(model, version) for model, version, cid in seen)
    )


def fingerprint_part(
    waivers: WaiverSet | None, model: str, version: str, today: dt.date
) -> dict[str, Any] | None:
    """What the waivers contribute to a version's reuse fingerprint.

    The file's bytes (any edit recomputes), and which waivers covering this version are still in
    force today: a waiver expiring overnight changes the outcome without changing the file.
    """
    if waivers is None:
        return None
    return {
        "sha256": waivers.sha256,
        "in_force": sorted(
            w.id for w in waivers.waivers if w.covers(model, version) and not w.expired(today)
        ),
    }
