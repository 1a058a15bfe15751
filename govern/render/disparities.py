"""The fairness section's view: disparities against their thresholds, worst first, with charts.

``key_disparity`` is the one number overviews show (the index, the Markdown summary): the worst
judged disparity, so a version that fails on fairness is never summarised by one that passed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from govern.model.results import FairnessResult, VersionResult
from govern.model.wording import bound_text, fmt


def _disparity_meaning(name: str) -> str:
    from govern.render.charts import disparity_metrics

    metrics = " and ".join(disparity_metrics(name)) or "the metric"
    worst = " (the worse of the two)" if name.startswith("equalized_odds_") else ""
    if name.endswith("_ratio"):
        return f"lowest group {metrics} ÷ highest{worst}; 1 is parity"
    if name.endswith("_difference"):
        return f"highest group {metrics} − lowest{worst}; 0 is parity"
    return ""


def _margin(value: Any, threshold: Any) -> float | None:
    """How far inside (positive) or outside (negative) its bound a disparity is, relative to it."""
    if not isinstance(value, int | float) or not math.isfinite(value):
        return None
    if not isinstance(threshold, Mapping):
        return None
    margins = []
    low, high = threshold.get("min"), threshold.get("max")
    if isinstance(low, int | float):
        margins.append((value - low) / max(abs(low), 1e-9))
    if isinstance(high, int | float):
        margins.append((high - value) / max(abs(high), 1e-9))
    return min(margins) if margins else None


_STATUS_RANK = {"error": 0, "fail": 1, "waived": 2, "pass": 3}


def _disparity_rows(result: VersionResult) -> list[dict[str, Any]]:
    """Every disparity with its threshold and the check that judged it, worst first in rank."""
    fr = result.fairness
    checks = {
        c.id.removeprefix("fairness."): c
        for c in result.checks
        if c.kind == "fairness" and c.id.startswith("fairness.")
    }
    intervals = getattr(fr, "disparities_ci", None) if fr else None
    rows = []
    for name, value in fr.disparities.items() if fr else ():
        check = checks.get(name)
        threshold = check.threshold if check is not None else None
        ci = intervals.get(name) if isinstance(intervals, Mapping) else None
        rows.append(
            {
                "name": name,
                "value": value,
                "ci": ci if isinstance(ci, list | tuple) and len(ci) == 2 else None,
                "threshold": threshold,
                "bound": bound_text(threshold) if threshold is not None else None,
                "status": check.status if check is not None else None,
                "summary": check.summary if check is not None else None,
                "margin": _margin(value, threshold),
                "meaning": _disparity_meaning(name),
            }
        )
    return rows


def key_disparity(result: VersionResult) -> dict[str, Any] | None:
    """The one disparity an overview shows: the worst judged one (an error, then the furthest
    past or nearest to its bound), else the first computed."""
    rows = _disparity_rows(result)
    if not rows:
        return None

    def rank(row: dict[str, Any]) -> tuple[int, float]:
        margin = row["margin"]
        return (
            _STATUS_RANK.get(row["status"], 4),
            margin if margin is not None else -math.inf,
        )

    row = min(rows, key=rank)
    value = fmt(row["value"], none="undefined", approx=True)
    bound = f" (must be {row['bound']})" if row["bound"] else ""
    return {**row, "text": f"{row['name']} = {value}{bound}", "rank": rank(row)}


def _thresholds(result: VersionResult) -> dict[str, Mapping[str, Any]]:
    return {
        row["name"]: row["threshold"]
        for row in _disparity_rows(result)
        if isinstance(row["threshold"], Mapping)
    }


def fairness_view(
    fairness: FairnessResult | None, result: VersionResult | None = None
) -> dict[str, Any] | None:
    if fairness is None:
        return None
    features = list(fairness.sensitive_features)
    metrics: list[str] = []
    for group in fairness.groups:
        features.extend(k for k in group.group if k not in features)
        metrics.extend(m for m in group.metrics if m not in metrics)
    rows = []
    any_ci = False
    for group in fairness.groups:
        intervals = getattr(group, "metrics_ci", None)
        intervals = intervals if isinstance(intervals, Mapping) else {}
        cis = []
        for m in metrics:
            ci = intervals.get(m)
            ok = isinstance(ci, list | tuple) and len(ci) == 2 and None not in ci
            any_ci = any_ci or ok
            cis.append(ci if ok else None)
        rows.append(
            {
                "cells": [group.group.get(f) for f in features],
                "count": group.count,
                "positives": group.positives,
                "metrics": [group.metrics.get(m) for m in metrics],
                "cis": cis,
                "flags": list(group.flags),
            }
        )
    thresholds = _thresholds(result) if result is not None else {}
    from govern.render.charts import fairness_charts

    level = getattr(fairness, "ci_level", None)
    return {
        "fairness": fairness,
        "features": features,
        "metrics": metrics,
        "rows": rows,
        "flagged": sum(1 for r in rows if r["flags"]),
        "disparities": _disparity_rows(result) if result is not None else [],
        "charts": fairness_charts(fairness, thresholds),
        "has_ci": any_ci,
        "ci_level": level if isinstance(level, int | float) else None,
        "ci_note": getattr(fairness, "ci_note", None),
    }
