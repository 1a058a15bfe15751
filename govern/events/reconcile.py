"""``govern reconcile``: the backstop for deliveries MLflow gave up on.

MLflow delivers each webhook with a few retries and keeps no queue, so a delivery sent while
``govern serve`` was down is lost. Reconcile finds what such a delivery would have named: every
version created since the last event the server processed (or since ``--since``), and every
version an alias points at (MLflow keeps no time for an alias move, so every aliased version
is in scope), that has no audit record yet.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from govern.errors import UsageError
from govern.model.record import RecordError
from govern.registry.client import READY, Registry, VersionInfo
from govern.registry.record import read_record

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(text: str) -> float:
    """``90s``, ``30m``, ``24h``, ``7d``, ``2w`` as seconds."""
    match = _DURATION.match(text)
    if not match or float(match.group(1)) <= 0:
        raise UsageError(f"invalid duration {text!r}: use a number and s, m, h, d or w (24h, 7d)")
    return float(match.group(1)) * _UNIT[match.group(2)]


@dataclass(frozen=True)
class Selection:
    since: float
    """Unix seconds: versions created after this are in scope."""
    source: str
    """Where ``since`` came from, for the message: the state folder or ``--since``."""
    to_audit: tuple[VersionInfo, ...]
    checked: int
    """How many versions were in scope (created since, or aliased)."""


def select(registry: Registry, since: float, source: str) -> Selection:
    """Versions created after ``since`` or named by an alias, that have no audit record
    (an unreadable record counts as none), READY ones only, in registry order."""
    since_ms = since * 1000
    in_scope: list[VersionInfo] = []
    for name in registry.model_names():
        for info in registry.versions(name):
            created = info.creation_timestamp or 0
            if created >= since_ms or info.aliases:
                in_scope.append(info)
    missing = []
    for info in in_scope:
        if info.status != READY:
            continue
        try:
            if read_record(info.tags) is not None:
                continue
        except RecordError:
            pass
        missing.append(info)
    return Selection(since, source, tuple(missing), len(in_scope))


def window_start(
    last_processed: float | None, since_seconds: float | None, *, now: float | None = None
) -> tuple[float, str]:
    """The start of the window: the last processed event, or ``now - since``; with both, the
    earlier (a wider window costs a listing, a narrower one could miss a version)."""
    current = time.time() if now is None else now
    options: list[tuple[float, str]] = []
    if last_processed is not None:
        options.append((last_processed, "the last event govern serve processed"))
    if since_seconds is not None:
        options.append((current - since_seconds, "--since"))
    if not options:
        options.append((current - 86400, "the default --since 24h"))
    return min(options)
