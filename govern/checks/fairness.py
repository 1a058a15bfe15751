"""Per-group fairness metrics and disparities, computed by fairlearn on collapsed confusion counts.

fairlearn's ``MetricFrame`` calls every metric once per group on the raw rows, which takes tens of
seconds on a million rows. Every metric govern supports depends only on how many rows of a group
fall in each cell of the confusion matrix, so the rows are first collapsed with one pandas
group-by into cells ``(group, y_true, y_pred) -> count`` and fairlearn is handed those cells with
the counts as ``sample_weight``. The numbers are fairlearn's own (the tests compare them with an
unaggregated ``MetricFrame`` on the raw rows); only the work is smaller.

Where fairlearn and scikit-learn quietly turn an undefined rate into ``0.0`` (a true positive rate
of a group with no positive labels), govern reports ``None``, flags the group and refuses to pass
a disparity that depends on it: a gate must not pass on a number nobody measured.

pandas, numpy and fairlearn are imported inside the functions so that ``govern --help`` starts
without them.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from govern.checks.bootstrap import _bootstrap, _cell_counts
from govern.checks.labels import positive_mask
from govern.errors import DataError, PolicyError
from govern.model.results import CheckResult, FairnessResult, GroupMetrics, group_key
from govern.model.specs import DEFAULT_METRICS, DISPARITIES, METRICS, FairnessSpec, Threshold

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

MISSING_LABEL = "(missing)"
"""How a missing sensitive value is shown: such rows form a group of their own, never vanish."""

# Which confusion counts must be non-zero for a metric to be defined. Keys: "pos" (true positives
# + false negatives), "neg" (false positives + true negatives), "pred_pos" (true + false
# positives), "tp_fp_fn" (F1's denominator).
_NEEDS: dict[str, tuple[str, ...]] = {
    "true_positive_rate": ("pos",),
    "false_negative_rate": ("pos",),
    "recall_score": ("pos",),
    "true_negative_rate": ("neg",),
    "false_positive_rate": ("neg",),
    "balanced_accuracy_score": ("pos", "neg"),
    "precision_score": ("pred_pos",),
    "f1_score": ("tp_fp_fn",),
}
_WHY = {
    "pos": "no positive labels",
    "neg": "no negative labels",
    "pred_pos": "no positive predictions",
    "tp_fp_fn": "no positive labels and no positive predictions",
}
_FLAG = {
    "pos": "no_positive_labels",
    "neg": "no_negative_labels",
    "pred_pos": "no_positive_predictions",
    "tp_fp_fn": "no_positive_labels",
}


def _metric_functions() -> dict[str, Callable[..., float]]:
    import fairlearn.metrics as flm
    import sklearn.metrics as skm

    return {
        "selection_rate": flm.selection_rate,
        "true_positive_rate": flm.true_positive_rate,
        "true_negative_rate": flm.true_negative_rate,
        "false_positive_rate": flm.false_positive_rate,
        "false_negative_rate": flm.false_negative_rate,
        "accuracy_score": skm.accuracy_score,
        "balanced_accuracy_score": skm.balanced_accuracy_score,
        "precision_score": skm.precision_score,
        "recall_score": skm.recall_score,
        "f1_score": skm.f1_score,
        "zero_one_loss": skm.zero_one_loss,
    }


def _as_series(values: Any, what: str) -> pd.Series:
    """Positional 1-D view: callers pass lists, arrays, Series with unrelated indexes."""
    import numpy as np
    import pandas as pd

    if isinstance(values, pd.DataFrame):
        if values.shape[1] != 1:
            raise DataError(f"{what} must be one column, got {values.shape[1]}")
        values = values.iloc[:, 0]
    if isinstance(values, pd.Series):
        return values.reset_index(drop=True)
    if isinstance(values, list | tuple):
        return pd.Series(list(values))
    arr = np.asarray(values)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise DataError(f"{what} must be one-dimensional, got shape {arr.shape}")
    return pd.Series(arr)


def _metrics_to_compute(spec: FairnessSpec) -> tuple[str, ...]:
    """The spec's metrics in its own order, then whatever the thresholds need."""
    unknown = [m for m in spec.metrics if m not in METRICS]
    if unknown:
        raise PolicyError(f"unknown fairness metric(s) {unknown}; govern supports {list(METRICS)}")
    bad = [d for d in spec.thresholds if d not in DISPARITIES]
    if bad:
        raise PolicyError(
            f"unknown fairness disparity(ies) {bad}; see govern.checks.fairness.DISPARITIES"
        )
    wanted = list(spec.metrics or DEFAULT_METRICS)
    for disparity in spec.thresholds:
        wanted.extend(DISPARITIES[disparity])
    return tuple(dict.fromkeys(wanted))


class _Missing:
    """Stands for NaN/None/NA in a group key: NaN is not equal to itself, so it cannot be one."""

    def __repr__(self) -> str:
        return MISSING_LABEL


_MISSING = _Missing()


def _normalise(values: tuple[Any, ...]) -> tuple[Any, ...]:
    import pandas as pd

    return tuple(_MISSING if v is None or bool(pd.isna(v)) else v for v in values)


def _sort_key(values: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple((1, "") if v is _MISSING else (0, v) for v in values)


def _text_sort_key(values: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple((1, "", "") if v is _MISSING else (0, type(v).__name__, str(v)) for v in values)


def _label(value: Any) -> str:
    return MISSING_LABEL if value is _MISSING else str(value)


def _fmt(value: float, threshold: Threshold) -> str:
    """Enough digits that the printed value is on the same side of the bound as the real one."""
    allowed = threshold.allows(value)
    bounds = [b for b in (threshold.min, threshold.max) if b is not None]
    for digits in range(3, 17):
        text = f"{value:.{digits}g}"
        shown = float(text)
        if threshold.allows(shown) == allowed and (value in bounds or shown not in bounds):
            return text
    return repr(value)


def _collapse(
    sensitive: pd.DataFrame, positive_true: np.ndarray, positive_pred: np.ndarray
) -> pd.DataFrame:
    """One row per (group, y_true, y_pred) cell with its row count; the expensive step, done once.

    ``dropna=False`` keeps rows with a missing sensitive value as a group; ``observed=True`` keeps
    unused categories of a categorical column from inventing empty groups.
    """
    import pandas as pd

    columns = {
        f"_s{i}": sensitive.iloc[:, i].reset_index(drop=True) for i in range(sensitive.shape[1])
    }
    frame = pd.DataFrame({**columns, "_t": positive_true, "_p": positive_pred}, copy=False)
    keys = [*columns, "_t", "_p"]
    counts = frame.groupby(keys, observed=True, dropna=False, sort=False).size()
    return counts.rename("_n").reset_index()


def evaluate_fairness(
    y_true: Any,
    y_pred: Any,
    sensitive: pd.DataFrame,
    spec: FairnessSpec,
    *,
    positive_label: Any = 1,
    bootstrap: int = 200,
    ci_level: float = 0.95,
    seed: int = 0,
    max_bootstrap_rows: int = 200_000,
) -> tuple[FairnessResult, list[CheckResult]]:
    """Group metrics and the disparities the policy bounds, with a check for each way to fail.

    Disparities follow fairlearn's defaults so that a policy threshold means what fairlearn's
    documentation says: ``method="between_groups"`` (largest minus smallest group value, smallest
    over largest for ratios) and, for equalized odds, ``agg="worst_case"`` (the larger of the TPR
    and FPR differences; the smaller of the two ratios). Groups are the intersections of all
    sensitive features that occur in the data.

    Two deliberate departures, both failing closed: a metric undefined in a group (a rate whose
    denominator is zero, which scikit-learn reports as 0.0 with a warning) is ``None``, and
    ``balanced_accuracy_score`` is ``None`` for a group lacking either class (scikit-learn would
    silently average over the one class present). A disparity needing such a value is not
    computed and its check is an error.

    Confidence intervals (``ci_level``, two-sided percentile) for every group metric and
    disparity come from ``bootstrap`` resamples of the rows with replacement, drawn as multinomial
    counts over the confusion cells (see ``_bootstrap``); ``seed`` makes them reproducible. They
    are omitted, with a note saying why, when ``bootstrap`` is 0 or there are more than
    ``max_bootstrap_rows`` rows. They are for the reader: no check depends on them.
    """
    import pandas as pd

    if bootstrap < 0:
        raise ValueError(f"bootstrap must be >= 0, got {bootstrap}")
    if not 0.0 < ci_level < 1.0:
        raise ValueError(f"ci_level must be between 0 and 1, got {ci_level}")

    if isinstance(sensitive, pd.Series):
        sensitive = sensitive.to_frame()
    features = tuple(str(c) for c in sensitive.columns)
    if not features:
        raise DataError("no sensitive features to evaluate fairness on")
    if len(set(features)) != len(features):
        raise DataError(f"sensitive feature names repeat: {list(features)}")
    truth = _as_series(y_true, "labels")
    predictions = _as_series(y_pred, "predictions")
    if len(predictions) != len(truth):
        raise DataError(f"predictions have {len(predictions)} rows, training data has {len(truth)}")
    if len(sensitive) != len(truth):
        raise DataError(f"sensitive features have {len(sensitive)} rows, labels have {len(truth)}")
    if len(truth) == 0:
        raise DataError("no rows to evaluate fairness on")
    _metrics_to_compute(spec)  # a policy error before any data error

    positive_true = positive_mask(truth, positive_label, "labels")
    positive_pred = positive_mask(predictions, positive_label, "predictions")
    if not positive_true.any() and not positive_pred.any():
        # Nearly always a misspelt positive label; every difference would be a perfect 0.
        seen = ", ".join(repr(v) for v in truth.drop_duplicates().head(5).tolist())
        raise DataError(
            f"positive label {positive_label!r} appears in neither labels nor predictions "
            f"(labels include {seen})"
        )
    cells = _collapse(sensitive, positive_true, positive_pred)
    return evaluate_fairness_from_cells(
        cells,
        features,
        spec,
        positive_label=positive_label,
        bootstrap=bootstrap,
        ci_level=ci_level,
        seed=seed,
        max_bootstrap_rows=max_bootstrap_rows,
    )


def evaluate_fairness_from_cells(
    cells: pd.DataFrame,
    features: tuple[str, ...],
    spec: FairnessSpec,
    *,
    positive_label: Any = 1,
    bootstrap: int = 200,
    ci_level: float = 0.95,
    seed: int = 0,
    max_bootstrap_rows: int = 200_000,
) -> tuple[FairnessResult, list[CheckResult]]:
    """``evaluate_fairness`` from the confusion cells alone: what every engine shares.

    ``cells`` has one row per (group, y_true, y_pred) cell: the group's values in ``_s0``,
    ``_s1``, ... (in ``features`` order, missing values as NaN or None), ``_t`` and ``_p`` (the
    row carries the positive label, in truth and in prediction) and ``_n`` (how many rows). The
    pandas engine collapses its rows into them (``_collapse``); the Spark engine counts them with
    one ``groupBy`` on the executors (``govern.checks.spark_fairness``). Everything after that,
    metrics, checks and the bootstrap, is this one function, so the engines cannot disagree.
    """
    import numpy as np

    if bootstrap < 0:
        raise ValueError(f"bootstrap must be >= 0, got {bootstrap}")
    if not 0.0 < ci_level < 1.0:
        raise ValueError(f"ci_level must be between 0 and 1, got {ci_level}")
    if not features:
        raise DataError("no sensitive features to evaluate fairness on")
    metrics = _metrics_to_compute(spec)
    counts_per_cell = cells["_n"].to_numpy(dtype=np.int64)
    rows = int(counts_per_cell.sum())
    if rows == 0:
        raise DataError("no rows to evaluate fairness on")

    checks: list[CheckResult] = []
    for i, feature in enumerate(features):
        missing = int(counts_per_cell[cells[f"_s{i}"].isna().to_numpy(dtype=bool)].sum())
        if missing:
            checks.append(
                CheckResult(
                    id=f"fairness.sensitive_missing.{feature}",
                    kind="fairness",
                    status="fail",
                    summary=(
                        f"sensitive feature '{feature}' is missing in {missing} of "
                        f"{rows} rows; they are reported as the group '{MISSING_LABEL}'"
                    ),
                    observed=missing,
                    threshold={"max": 0},
                    details={"feature": feature, "missing_rows": missing, "rows": rows},
                )
            )

    keys, group_ids = _groups(cells, features)
    confusion = _confusion(cells, group_ids, len(keys))
    frame = _fairlearn_frame(cells, group_ids, metrics)
    groups = [
        _group_metrics(i, key, features, confusion, frame.by_group, metrics, spec.min_group_size)
        for i, key in enumerate(keys)
    ]
    labels = [group_key(g.group) for g in groups]
    if len(set(labels)) != len(labels):
        raise DataError(
            "distinct sensitive values read the same as text (e.g. 1 and '1'); "
            "make each sensitive column one type"
        )
    checks.append(_min_group_size_check(groups, spec.min_group_size))

    spreads = _spreads(frame) if spec.thresholds else {}
    disparities: dict[str, float | None] = {}
    for name, threshold in spec.thresholds.items():
        value, check = _disparity_check(name, threshold, groups, features, spreads)
        disparities[name] = value
        checks.append(check)

    disparities_ci: dict[str, tuple[float, float] | None] = {}
    level: float | None = None
    if bootstrap == 0:
        note = "confidence intervals omitted: bootstrap disabled"
    elif rows > max_bootstrap_rows:
        note = (
            f"confidence intervals omitted: {rows:,} rows exceed the "
            f"{max_bootstrap_rows:,}-row limit for bootstrapping"
        )
    else:
        counts = _cell_counts(cells, group_ids, len(keys))
        groups, disparities_ci, note = _bootstrap(
            counts, groups, metrics, disparities, bootstrap, ci_level, seed
        )
        level = ci_level

    result = FairnessResult(
        sensitive_features=features,
        groups=tuple(groups),
        disparities=disparities,
        min_group_size=spec.min_group_size,
        positive_label=positive_label,
        rows=rows,
        disparities_ci=disparities_ci,
        ci_level=level,
        ci_note=note,
    )
    return result, checks


def _groups(
    cells: pd.DataFrame, features: tuple[str, ...]
) -> tuple[list[tuple[Any, ...]], np.ndarray]:
    """Distinct groups in feature-value order, and the position of each cell's group."""
    import numpy as np

    keys = [f"_s{i}" for i in range(len(features))]
    tuples = [_normalise(t) for t in cells[keys].itertuples(index=False, name=None)]
    raw = list(dict.fromkeys(tuples))
    try:
        ordered = sorted(raw, key=_sort_key)
    except TypeError:  # a column mixing types that do not compare
        ordered = sorted(raw, key=_text_sort_key)
    position = {key: i for i, key in enumerate(ordered)}
    group_ids = np.fromiter((position[k] for k in tuples), dtype=np.int64, count=len(tuples))
    return ordered, group_ids


def _confusion(cells: pd.DataFrame, group_ids: np.ndarray, size: int) -> dict[str, np.ndarray]:
    """Per-group totals that decide which metrics are defined: the denominators of ``_NEEDS``."""
    import numpy as np

    n = cells["_n"].to_numpy(dtype=np.int64)
    t = cells["_t"].to_numpy(dtype=bool)
    p = cells["_p"].to_numpy(dtype=bool)

    def total(mask: np.ndarray) -> np.ndarray:
        return np.bincount(group_ids, weights=n * mask, minlength=size).astype(np.int64)

    count = total(np.ones_like(t))
    pos = total(t)
    pred_pos = total(p)
    return {
        "count": count,
        "pos": pos,
        "neg": count - pos,
        "pred_pos": pred_pos,
        "tp_fp_fn": pos + pred_pos - total(t & p),
    }


def _fairlearn_frame(cells: pd.DataFrame, group_ids: np.ndarray, metrics: Sequence[str]) -> Any:
    """fairlearn's ``MetricFrame`` over the cells, weighted by their row counts.

    One sensitive column of group positions stands in for the features: fairlearn's per-group
    values, and its min and max over groups, do not depend on how groups are named, and missing
    sensitive values (which fairlearn would reject or drop) stay a group of their own.
    """
    import pandas as pd
    from fairlearn.metrics import MetricFrame

    functions = _metric_functions()
    weights = cells["_n"].to_numpy()
    with warnings.catch_warnings():
        # scikit-learn warns about the 0/0 rates; those are replaced with None by the caller.
        warnings.simplefilter("ignore")
        return MetricFrame(
            metrics={m: functions[m] for m in metrics},
            y_true=cells["_t"].to_numpy(dtype=int),
            y_pred=cells["_p"].to_numpy(dtype=int),
            sensitive_features=pd.Series(group_ids, name="group"),
            sample_params={m: {"sample_weight": weights} for m in metrics},
        )


def _group_metrics(
    i: int,
    key: tuple[Any, ...],
    features: tuple[str, ...],
    confusion: Mapping[str, np.ndarray],
    by_group: pd.DataFrame,
    metrics: Sequence[str],
    min_group_size: int,
) -> GroupMetrics:
    """One group's fairlearn values, with ``None`` (and a flag) wherever a denominator is zero."""
    count = int(confusion["count"][i])
    flags: list[str] = []
    if any(v is _MISSING for v in key):
        flags.append("missing_sensitive_value")
    if count < min_group_size:
        flags.append("below_min_group_size")
    flags.extend(_FLAG[need] for need in ("pos", "neg") if confusion[need][i] == 0)
    if "precision_score" in metrics and confusion["pred_pos"][i] == 0:
        flags.append(_FLAG["pred_pos"])
    values: dict[str, float | None] = {}
    for m in metrics:
        value = float(by_group.loc[i, m])
        defined = all(confusion[need][i] > 0 for need in _NEEDS.get(m, ()))
        values[m] = value if defined and math.isfinite(value) else None
    return GroupMetrics(
        group={f: _label(v) for f, v in zip(features, key, strict=True)},
        count=count,
        positives=int(confusion["pos"][i]),
        metrics=values,
        flags=tuple(flags),
    )


def _min_group_size_check(groups: Sequence[GroupMetrics], min_size: int) -> CheckResult:
    small = [g for g in groups if g.count < min_size]
    smallest = min(g.count for g in groups)
    details = {
        "min_group_size": min_size,
        "groups": [{"group": group_key(g.group), "count": g.count} for g in small],
    }
    if small:
        named = ", ".join(f"{group_key(g.group)} ({g.count})" for g in small)
        summary = f"{len(small)} of {len(groups)} groups have fewer than {min_size} rows: {named}"
    else:
        summary = f"all {len(groups)} groups have at least {min_size} rows (smallest {smallest})"
    return CheckResult(
        id="fairness.min_group_size",
        kind="fairness",
        status="fail" if small else "pass",
        summary=summary,
        observed=smallest,
        threshold={"min": min_size},
        details=details,
    )


def _disparity_check(
    name: str,
    threshold: Threshold,
    groups: Sequence[GroupMetrics],
    features: tuple[str, ...],
    spreads: Mapping[str, Mapping[str, float]],
) -> tuple[float | None, CheckResult]:
    needed = DISPARITIES[name]
    details: dict[str, Any] = {
        "by_group": {group_key(g.group): {m: g.metrics[m] for m in needed} for g in groups},
        "metrics": list(needed),
        "method": "between_groups",
    }
    if name.startswith("equalized_odds_"):
        details["agg"] = "worst_case"

    def error(summary: str) -> tuple[None, CheckResult]:
        return None, CheckResult(
            id=f"fairness.{name}",
            kind="fairness",
            status="error",
            summary=summary,
            observed=None,
            threshold=threshold.to_dict(),
            details=details,
        )

    if len(groups) < 2:
        return error(f"only one group in '{', '.join(features)}': a disparity needs at least two")
    undefined = [
        f"{m} is undefined for {group_key(g.group)} ({_why(m, g)})"
        for m in needed
        for g in groups
        if g.metrics[m] is None
    ]
    if undefined:
        return error(f"{name} cannot be computed: {'; '.join(undefined)}")

    value = _disparity_value(name, needed, spreads)
    if not math.isfinite(value):
        return error(f"{name} is undefined: {', '.join(needed)} is 0 in every group (0/0)")
    allowed = threshold.allows(value)
    return value, CheckResult(
        id=f"fairness.{name}",
        kind="fairness",
        status="pass" if allowed else "fail",
        summary=f"{name} = {_fmt(value, threshold)}, must be {threshold.describe()}",
        observed=value,
        threshold=threshold.to_dict(),
        details=details,
    )


def _why(metric: str, group: GroupMetrics) -> str:
    reasons = [_WHY[need] for need in _NEEDS.get(metric, ()) if _FLAG[need] in group.flags]
    return " and ".join(reasons) if reasons else "not a finite number"


def _spreads(frame: Any) -> dict[str, dict[str, float]]:
    """fairlearn's ``MetricFrame.difference()`` and ``ratio()`` with their defaults
    (``method="between_groups"``), per metric; the named disparity functions are built on these."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # 0/0 in a ratio: reported as an error by the caller
        return {
            "difference": {str(k): float(v) for k, v in frame.difference().items()},
            "ratio": {str(k): float(v) for k, v in frame.ratio().items()},
        }


def _disparity_value(
    name: str, needed: tuple[str, ...], spreads: Mapping[str, Mapping[str, float]]
) -> float:
    """Combine per-metric spreads as fairlearn's named functions do: ``equalized_odds_*`` uses its
    default ``agg="worst_case"`` (the larger TPR/FPR difference, the smaller ratio)."""
    ratio = name.endswith("_ratio")
    values = [spreads["ratio" if ratio else "difference"][m] for m in needed]
    if any(not math.isfinite(v) for v in values):
        return math.nan
    if name.startswith("equalized_odds_"):
        return min(values) if ratio else max(values)
    return values[0]


# --- bootstrap confidence intervals -------------------------------------------------------------
#
# Resampling n rows with replacement changes nothing but how many rows land in each confusion cell
# (group, y_true, y_pred), and those counts are multinomial with the cells' shares of the rows as
# probabilities. So a replicate is one multinomial draw over the cells, and every metric govern
# supports follows from the four confusion counts of each group with a few array operations: the
# whole bootstrap costs (replicates x cells), whatever the number of rows. The point estimates
# stay fairlearn's; the tests check that these formulas reproduce them.

"""Quadrant of a cell: ``2 * y_true + y_pred``."""
