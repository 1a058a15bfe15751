"""Time govern's fairness evaluation against the two ways of doing it by hand.

Run from the repository root: ``.venv/bin/python bench/bench_fairness.py [rows]``.

1,000,000 rows, two sensitive features (2 x 4 = 8 groups), five metrics. Compares
``govern.fairness.evaluate_fairness`` (collapse to confusion cells, fairlearn on the cells), a bare
pandas group-by of the confusion counts (the floor: no fairlearn at all) and fairlearn's
``MetricFrame`` on the raw rows (the reference), checks the three agree and prints the timings.
Timing lives here rather than in the test suite because wall-clock assertions are flaky.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import fairlearn.metrics as flm  # noqa: E402
import sklearn.metrics as skm  # noqa: E402

from govern.fairness import evaluate_fairness  # noqa: E402
from govern.specs import FairnessSpec  # noqa: E402

T = TypeVar("T")

METRICS = (
    "selection_rate",
    "true_positive_rate",
    "false_positive_rate",
    "accuracy_score",
    "precision_score",
)
FUNCTIONS = {
    "selection_rate": flm.selection_rate,
    "true_positive_rate": flm.true_positive_rate,
    "false_positive_rate": flm.false_positive_rate,
    "accuracy_score": skm.accuracy_score,
    "precision_score": skm.precision_score,
}


def make_data(rows: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    sex = rng.choice(np.array(["Female", "Male"]), size=rows, p=[0.33, 0.67])
    race = rng.choice(
        np.array(["Asian", "Black", "Other", "White"]), size=rows, p=[0.05, 0.1, 0.05, 0.8]
    )
    base = np.where(sex == "Male", 0.3, 0.12)
    y_true = (rng.random(rows) < base).astype(np.int64)
    y_pred = np.where(rng.random(rows) < 0.8, y_true, 1 - y_true).astype(np.int64)
    return y_true, y_pred, pd.DataFrame({"sex": sex, "race": race})


def pandas_groupby(y_true: np.ndarray, y_pred: np.ndarray, sensitive: pd.DataFrame) -> pd.DataFrame:
    """The floor: confusion counts per group and the five metrics from them, no fairlearn."""
    frame = sensitive.assign(
        tp=(y_true == 1) & (y_pred == 1),
        fp=(y_true == 0) & (y_pred == 1),
        fn=(y_true == 1) & (y_pred == 0),
        tn=(y_true == 0) & (y_pred == 0),
    )
    c = frame.groupby(list(sensitive.columns), observed=True).sum()
    n = c.tp + c.fp + c.fn + c.tn
    return pd.DataFrame(
        {
            "selection_rate": (c.tp + c.fp) / n,
            "true_positive_rate": c.tp / (c.tp + c.fn),
            "false_positive_rate": c.fp / (c.fp + c.tn),
            "accuracy_score": (c.tp + c.tn) / n,
            "precision_score": c.tp / (c.tp + c.fp),
        }
    )


def timed(label: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> tuple[T, float]:
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    elapsed = time.perf_counter() - start
    print(f"  {label:<32} {elapsed:8.3f} s", flush=True)
    return out, elapsed


def main(rows: int = 1_000_000) -> None:
    y_true, y_pred, sensitive = make_data(rows)
    groups = sensitive.groupby(["sex", "race"]).ngroups
    print(f"{rows:,} rows, {groups} groups, {len(METRICS)} metrics")
    spec = FairnessSpec(metrics=METRICS)

    (result, _), t_govern = timed(
        "govern evaluate_fairness", evaluate_fairness, y_true, y_pred, sensitive, spec
    )
    floor, t_pandas = timed("pandas group-by of counts", pandas_groupby, y_true, y_pred, sensitive)
    frame, t_fairlearn = timed(
        "fairlearn MetricFrame (raw rows)",
        flm.MetricFrame,
        metrics=FUNCTIONS,
        y_true=y_true,
        y_pred=y_pred,
        sensitive_features=sensitive,
    )

    for group in result.groups:
        key = (group.group["sex"], group.group["race"])
        for metric in METRICS:
            ours = group.metrics[metric]
            assert ours is not None, (key, metric)
            assert np.isclose(ours, frame.by_group.loc[key, metric], rtol=1e-9, atol=0)
            assert np.isclose(ours, floor.loc[key, metric], rtol=1e-9, atol=0)
    assert len(result.groups) == len(frame.by_group) == len(floor)
    print("  all per-group values equal (rtol 1e-9)")
    print(f"  fairlearn raw / govern:  {t_fairlearn / t_govern:8.1f}x")
    print(f"  govern / pandas floor:   {t_govern / t_pandas:8.1f}x")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
