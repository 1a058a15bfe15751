"""Bootstrap confidence intervals for group metrics and disparities, drawn on confusion cells.

Resampling rows with replacement is the same as drawing multinomial counts over the confusion
cells of each group, so a replicate costs a handful of array operations however many rows there
are. The intervals are for the reader: no check depends on them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from govern.model.results import GroupMetrics, group_key
from govern.model.specs import DISPARITIES

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

_TN, _FP, _FN, _TP = range(4)
"""Positions of the confusion cells in a count array."""


def _cell_counts(cells: pd.DataFrame, group_ids: np.ndarray, size: int) -> np.ndarray:
    """Rows per group and quadrant, shape ``(groups, 4)``: groups in result order, then TN, FP,
    FN, TP. A fixed layout, so that a seed gives the same draws whatever order the rows came in."""
    import numpy as np

    quadrant = 2 * cells["_t"].to_numpy(dtype=np.int64) + cells["_p"].to_numpy(dtype=np.int64)
    flat = np.bincount(
        group_ids * 4 + quadrant, weights=cells["_n"].to_numpy(dtype=np.float64), minlength=4 * size
    )
    return np.rint(flat).astype(np.int64).reshape(size, 4)


def _count_metrics(counts: np.ndarray, metrics: Sequence[str]) -> dict[str, np.ndarray]:
    """Each metric from confusion counts of shape ``(..., groups, 4)``: arrays of shape
    ``(..., groups)``, NaN where the metric is undefined (exactly where ``_NEEDS`` says so, or
    where a group has no rows at all)."""
    import numpy as np

    c = counts.astype(np.float64)
    tn, fp, fn, tp = c[..., _TN], c[..., _FP], c[..., _FN], c[..., _TP]
    n = tn + fp + fn + tp
    pos = tp + fn
    neg = tn + fp
    with np.errstate(divide="ignore", invalid="ignore"):  # 0/0 is NaN: undefined
        tpr = tp / pos
        tnr = tn / neg
        every = {
            "selection_rate": (tp + fp) / n,
            "true_positive_rate": tpr,
            "true_negative_rate": tnr,
            "false_positive_rate": fp / neg,
            "false_negative_rate": fn / pos,
            "accuracy_score": (tp + tn) / n,
            "balanced_accuracy_score": (tpr + tnr) / 2,
            "precision_score": tp / (tp + fp),
            "recall_score": tpr,
            "f1_score": 2 * tp / (2 * tp + fp + fn),
            "zero_one_loss": (fp + fn) / n,
        }
    return {m: every[m] for m in metrics}


def _count_disparity(name: str, values: Mapping[str, np.ndarray]) -> np.ndarray:
    """A disparity per replicate from per-group values of shape ``(replicates, groups)``, the way
    ``_disparity_value`` combines fairlearn's spreads; NaN where any value it needs is NaN."""
    import numpy as np

    ratio = name.endswith("_ratio")
    spreads = []
    with np.errstate(divide="ignore", invalid="ignore"):
        for m in DISPARITIES[name]:
            # max/min propagate NaN: a replicate with an undefined group value is undefined.
            high = np.max(values[m], axis=-1)
            low = np.min(values[m], axis=-1)
            spreads.append(low / high if ratio else high - low)
    stacked = np.stack(spreads)
    combined = np.min(stacked, axis=0) if ratio else np.max(stacked, axis=0)
    combined[~np.isfinite(combined)] = np.nan
    return combined


def _bootstrap(
    counts: np.ndarray,
    groups: Sequence[GroupMetrics],
    metrics: Sequence[str],
    disparities: Mapping[str, float | None],
    replicates: int,
    ci_level: float,
    seed: int,
) -> tuple[list[GroupMetrics], dict[str, tuple[float, float] | None], str]:
    """Percentile intervals for each group metric and disparity, and the note saying how.

    A value undefined at the point estimate gets no interval (``None``). A replicate in which a
    value is undefined (a small group drew no positive labels) is left out of that value's
    interval, and the note names the values for which that happened in more than 5% of
    replicates: their intervals describe only the resamples where they exist.
    """
    import dataclasses

    import numpy as np

    rows = int(counts.sum())
    rng = np.random.default_rng(seed)
    draws = rng.multinomial(rows, counts.ravel() / rows, size=replicates)
    draws = draws.reshape(replicates, *counts.shape)
    values = _count_metrics(draws, metrics)
    tail = (1.0 - ci_level) / 2
    quantiles = [tail, 1.0 - tail]
    thin: dict[str, list[str]] = {}

    def interval(samples: np.ndarray, where: str, what: str) -> tuple[float, float] | None:
        kept = samples[~np.isnan(samples)]
        dropped = 1.0 - kept.size / replicates
        if dropped > 0.05:
            thin.setdefault(where, []).append(f"{what} ({dropped:.0%})")
        if kept.size == 0:
            return None
        low, high = np.quantile(kept, quantiles)  # linear interpolation, as fairlearn's bootstrap
        return float(low), float(high)

    out: list[GroupMetrics] = []
    for i, group in enumerate(groups):
        label = group_key(group.group)
        ci = {
            m: None if group.metrics[m] is None else interval(values[m][:, i], label, m)
            for m in metrics
        }
        out.append(dataclasses.replace(group, metrics_ci=ci))
    disparities_ci = {
        name: None
        if value is None
        else interval(_count_disparity(name, values), "disparities", name)
        for name, value in disparities.items()
    }

    note = (
        f"{ci_level * 100:g}% confidence intervals: percentiles of {replicates:,} bootstrap "
        f"resamples of the {rows:,} rows (drawn with replacement, seed {seed})"
    )
    if thin:
        where = "; ".join(f"{w}: {', '.join(what)}" for w, what in thin.items())
        note += (
            "; a resample in which a value is undefined is left out of its interval, and for "
            f"these values that was more than 5% of resamples: {where}"
        )
    return out, disparities_ci, note
