"""Engine parity for fairness: confusion cells counted on Spark and fed to the shared path give the
pandas engine's groups, metrics (to 1e-12), confidence intervals, checks and verdict."""

from __future__ import annotations

import math
from typing import Any

import pytest

from govern.checks.fairness import evaluate_fairness
from govern.model.results import verdict_of
from govern.model.specs import FairnessSpec, Threshold

SPEC = FairnessSpec(
    metrics=("selection_rate", "true_positive_rate", "false_positive_rate", "accuracy_score"),
    thresholds={
        "demographic_parity_ratio": Threshold(min=0.8),
        "equalized_odds_difference": Threshold(max=0.1),
        "true_positive_rate_difference": Threshold(max=0.2),
    },
    min_group_size=30,
)

# name -> (label, prediction column, positive label, sensitive features)
CASES: dict[str, tuple[str, str, Any, tuple[str, ...]]] = {
    "generated": ("label", "predicted", 1, ("sex", "group")),
    "compas": ("two_year_recid", "predicted", 1, ("race", "sex")),
    "adult_sample": ("income", "predicted", ">50K", ("sex", "race")),
    "adult": ("income", "predicted", ">50K", ("sex",)),
}


def _close(a: Any, b: Any) -> bool:
    """Equal, with floats equal to 1e-12 (None only equals None)."""
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or abs(a - b) <= 1e-12
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def _with_prediction(df: Any, sdf: Any, name: str) -> tuple[Any, Any]:
    """Adult has no prediction of its own: a rule on the features stands in, the same on both."""
    if name not in ("adult", "adult_sample"):
        return df, sdf
    from pyspark.sql import functions as F

    df = df.assign(predicted=df["education-num"].ge(13).map({True: ">50K", False: "<=50K"}))
    sdf = sdf.withColumn(
        "predicted", F.when(F.col("`education-num`") >= 13, ">50K").otherwise("<=50K")
    )
    return df, sdf


@pytest.mark.parametrize("name", list(CASES))
def test_fairness_matches_pandas(load: Any, name: str) -> None:
    from govern.checks import spark_fairness

    label, prediction, positive, sensitive = CASES[name]
    df, sdf = _with_prediction(*load(name), name)
    expected, expected_checks = evaluate_fairness(
        df[label], df[prediction], df[list(sensitive)], SPEC, positive_label=positive
    )
    got, checks = spark_fairness.evaluate_fairness(
        sdf, label, prediction, sensitive, SPEC, positive_label=positive
    )
    assert _close(got.to_dict(), expected.to_dict())
    assert [c.to_dict() for c in checks] == [c.to_dict() for c in expected_checks]
    assert verdict_of(checks) == verdict_of(expected_checks)
    assert got.groups and got.ci_level == 0.95


def test_missing_sensitive_values_are_counted_in_rows(load: Any) -> None:
    from govern.checks import spark_fairness

    df, sdf = load("generated")
    _, checks = spark_fairness.evaluate_fairness(
        sdf, "label", "predicted", ("sex", "group"), SPEC, positive_label=1
    )
    missing = {c.id: c.observed for c in checks if c.id.startswith("fairness.sensitive_missing")}
    assert missing == {
        "fairness.sensitive_missing.sex": int(df["sex"].isna().sum()),
        "fairness.sensitive_missing.group": int(df["group"].isna().sum()),
    }
    assert all(v > 0 for v in missing.values())


def test_label_and_prediction_errors_match_pandas(spark: Any) -> None:
    """Missing labels and a positive label that is nowhere fail the same way on both engines."""
    import pandas as pd

    from govern.checks import spark_fairness
    from govern.errors import DataError

    df = pd.DataFrame({"g": ["a", "b", "a", "b"], "y": [1.0, None, 0.0, 1.0], "p": [1, 0, 0, 1]})
    sdf = spark.createDataFrame(df.astype(object).where(df.notna(), None))
    with pytest.raises(DataError) as pandas_error:
        evaluate_fairness(df["y"], df["p"], df[["g"]], SPEC, positive_label=1)
    with pytest.raises(DataError) as spark_error:
        spark_fairness.evaluate_fairness(sdf, "y", "p", ("g",), SPEC, positive_label=1)
    assert str(spark_error.value) == str(pandas_error.value) == "labels have 1 missing values"

    assert spark_fairness.label_problem_on_spark(sdf, "y", 1) == (
        "label column 'y' has 1 missing values"
    )
    frame = spark_fairness.value_cells(sdf, "y", "p", ("g",))
    assert spark_fairness.label_problem_of_cells(frame, "y", 1) == (
        "label column 'y' has 1 missing values"
    )
    assert spark_fairness.prediction_problem_of_cells(frame, 5) == (
        "the model returned 4 predictions for 5 rows"
    )


def test_parity_on_a_folder_spark_wrote(load: Any, spark: Any, tmp_path: Any) -> None:
    """A parquet folder of several files written by Spark, read by pandas as one table and by
    Spark: description, quality and fairness agree although the rows come in another order."""
    import pandas as pd

    from govern.checks import spark_fairness, spark_quality
    from govern.checks.quality import run_expectations
    from govern.checks.spark_describe import describe
    from govern.model.specs import ExpectationSpec

    _, source = load("adult_sample")
    folder = tmp_path / "adult-folder"
    source.repartition(4).write.parquet(str(folder))
    assert len(list(folder.glob("*.parquet"))) == 4
    df, sdf = pd.read_parquet(folder), spark.read.parquet(str(folder))
    df, sdf = _with_prediction(df, sdf, "adult_sample")

    got = describe(sdf, "income")
    assert got.rows == len(df)
    assert got.dtypes == {str(c): str(t) for c, t in df.dtypes.items()}
    assert got.missing == {str(c): int(n) for c, n in df.isna().sum().items()}

    specs = [
        ExpectationSpec("expect_column_values_to_not_be_null", {"column": "occupation"}),
        ExpectationSpec("expect_column_values_to_be_between", {"column": "age", "max_value": 60}),
    ]
    on_pandas = run_expectations(df, specs)
    assert [c.to_dict() for c in spark_quality.run_expectations(sdf, specs)] == [
        c.to_dict() for c in on_pandas
    ]

    expected, expected_checks = evaluate_fairness(
        df["income"], df["predicted"], df[["sex"]], SPEC, positive_label=">50K"
    )
    result, checks = spark_fairness.evaluate_fairness(
        sdf, "income", "predicted", ("sex",), SPEC, positive_label=">50K"
    )
    assert _close(result.to_dict(), expected.to_dict())
    assert [c.to_dict() for c in checks] == [c.to_dict() for c in expected_checks]
