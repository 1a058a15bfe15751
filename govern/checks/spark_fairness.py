"""Fairness on Spark: the confusion cells counted with one ``groupBy`` where the data is, then the
pandas engine's own path (``fairness.evaluate_fairness_from_cells``: fairlearn with the counts as
sample weights, the checks, the bootstrap by multinomial draws over the cells).

What comes to the driver is one row per (group, label value, predicted value): a few hundred rows
for a billion. The positive label is decided on those values by ``labels.positive_mask``, the same
rule the pandas engine applies to every row, and values come back through Arrow exactly as
``pandas.read_parquet`` converts them, so group names, sort order and every metric are the pandas
engine's to the last bit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from govern.checks.fairness import _metrics_to_compute, evaluate_fairness_from_cells
from govern.checks.labels import label_problem, positive_mask, prediction_problem
from govern.checks.spark_describe import column, small_frame
from govern.errors import DataError
from govern.model.results import CheckResult, FairnessResult
from govern.model.specs import FairnessSpec

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import DataFrame

MAX_CELLS = 1_000_000
"""Cells brought to the driver at most. Groups x label classes x predicted classes is small for a
classifier; more means the predictions are scores, or a sensitive feature is an identifier."""

LABEL = "_y"
PREDICTION = "_yhat"


def value_cells(
    sdf: DataFrame, label: str, prediction: str, sensitive: Sequence[str]
) -> pd.DataFrame:
    """Rows per (sensitive values, label value, predicted value), counted on Spark: columns
    ``_s0``.., ``_y``, ``_yhat``, ``_n``, converted as pandas reads parquet."""
    keys = [column(s).alias(f"_s{i}") for i, s in enumerate(sensitive)]
    counted = sdf.groupBy(*keys, column(label).alias(LABEL), column(prediction).alias(PREDICTION))
    frame = small_frame(counted.count().limit(MAX_CELLS + 1))
    if len(frame) > MAX_CELLS:
        raise DataError(
            f"more than {MAX_CELLS:,} (group, label, prediction) cells: predictions must be "
            "class labels and sensitive features must be groups, not identifiers"
        )
    return frame.rename(columns={"count": "_n"})


def _distinct(frame: pd.DataFrame, name: str) -> tuple[pd.Series, int]:
    """A cell column's distinct present values, and how many rows miss it."""
    n = frame["_n"].to_numpy()
    absent = frame[name].isna().to_numpy(dtype=bool)
    present = frame[name][~absent].drop_duplicates().reset_index(drop=True)
    return present, int(n[absent].sum())


def label_problem_of_cells(frame: pd.DataFrame, name: str, positive: Any) -> str | None:
    """``labels.label_problem`` on counted cells (missing values counted by rows, not cells)."""
    present, missing = _distinct(frame, LABEL)
    if missing:
        return f"label column '{name}' has {missing} missing values"
    return label_problem(present, name, positive)


def label_problem_on_spark(sdf: DataFrame, name: str, positive: Any) -> str | None:
    """``labels.label_problem`` for a Spark column, before any model runs: one ``groupBy``."""
    from govern.checks.spark_describe import value_counts

    counted = value_counts(sdf, name)
    missing = counted.missing()
    if missing:
        return f"label column '{name}' has {missing} missing values"
    return label_problem(counted.present(), name, positive)


def prediction_problem_of_cells(frame: pd.DataFrame, rows: int) -> str | None:
    """``labels.prediction_problem`` on counted cells: one prediction per row, each a class."""
    total = int(frame["_n"].sum())
    if total != rows:
        return f"the model returned {total} predictions for {rows} rows"
    predicted, _ = _distinct(frame, PREDICTION)
    labels, _ = _distinct(frame, LABEL)
    return prediction_problem(predicted, labels, len(predicted))


def _positive(frame: pd.DataFrame, name: str, positive_label: Any, what: str) -> Any:
    """``positive_mask`` over the cells, with its missing-value error counted in rows."""
    missing = int(frame["_n"][frame[name].isna().to_numpy(dtype=bool)].sum())
    if missing:
        raise DataError(f"{what} have {missing} missing values")
    return positive_mask(frame[name].reset_index(drop=True), positive_label, what)


def fairness_from_value_cells(
    frame: pd.DataFrame,
    features: tuple[str, ...],
    spec: FairnessSpec,
    *,
    positive_label: Any = 1,
    **options: Any,
) -> tuple[FairnessResult, list[CheckResult]]:
    """``fairness.evaluate_fairness`` from ``value_cells``: the positive rule on the cells'
    values, the cells collapsed to (group, positive truth, positive prediction), then the shared
    path. ``options`` are ``evaluate_fairness``'s (bootstrap, ci_level, seed, ...)."""
    import pandas as pd

    if not features:
        raise DataError("no sensitive features to evaluate fairness on")
    if len(set(features)) != len(features):
        raise DataError(f"sensitive feature names repeat: {list(features)}")
    if int(frame["_n"].sum()) == 0:
        raise DataError("no rows to evaluate fairness on")
    _metrics_to_compute(spec)  # a policy error before any data error, as in evaluate_fairness
    positive_true = _positive(frame, LABEL, positive_label, "labels")
    positive_pred = _positive(frame, PREDICTION, positive_label, "predictions")
    if not positive_true.any() and not positive_pred.any():
        present, _ = _distinct(frame, LABEL)
        seen = ", ".join(repr(v) for v in present.head(5).tolist())
        raise DataError(
            f"positive label {positive_label!r} appears in neither labels nor predictions "
            f"(labels include {seen})"
        )
    groups = [f"_s{i}" for i in range(len(features))]
    collapsed = (
        frame[groups]
        .assign(_t=positive_true, _p=positive_pred, _n=frame["_n"].to_numpy())
        .groupby([*groups, "_t", "_p"], observed=True, dropna=False, sort=False)["_n"]
        .sum()
        .reset_index()
    )
    cells = pd.DataFrame(collapsed)
    return evaluate_fairness_from_cells(
        cells, features, spec, positive_label=positive_label, **options
    )


def evaluate_fairness(
    sdf: DataFrame,
    label: str,
    prediction: str,
    sensitive: Sequence[str],
    spec: FairnessSpec,
    *,
    positive_label: Any = 1,
    **options: Any,
) -> tuple[FairnessResult, list[CheckResult]]:
    """Fairness of ``prediction`` against ``label`` over the groups of ``sensitive``, all columns
    of ``sdf``: one ``groupBy`` count on Spark, the rest on the few cells it returns."""
    features = tuple(str(s) for s in sensitive)
    absent = [c for c in (label, prediction, *features) if c not in sdf.columns]
    if absent:
        raise DataError(f"column(s) not in the data: {', '.join(absent)}")
    frame = value_cells(sdf, label, prediction, features)
    return fairness_from_value_cells(
        frame, features, spec, positive_label=positive_label, **options
    )
