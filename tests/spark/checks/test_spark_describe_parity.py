"""Engine parity for the description of a dataset: the Spark functions report exactly what the
pandas engine reports for the same parquet data (rows, columns, dtypes, missing values, label
balance, representation)."""

from __future__ import annotations

from typing import Any

import pytest

from govern.checks.labels import label_balance, positive_rows
from govern.checks.representation import describe_representation

# name -> (label, positive label, sensitive features)
ROLES: dict[str, tuple[str, Any, tuple[str, ...]]] = {
    "adult_sample": ("income", ">50K", ("sex", "race")),
    "generated": ("label", 1, ("sex", "group")),
    "adult": ("income", ">50K", ("sex", "race")),
    "compas": ("two_year_recid", 1, ("race", "sex")),
}


def _pandas_description(df: Any, label: str) -> dict[str, Any]:
    """What version.VersionAudit._measure records of a pandas frame."""
    return {
        "rows": len(df),
        "columns": tuple(str(c) for c in df.columns),
        "dtypes": {str(c): str(t) for c, t in df.dtypes.items()},
        "missing": {str(c): int(n) for c, n in df.isna().sum().items()},
        "label_balance": label_balance(df[label]),
    }


@pytest.mark.parametrize("name", list(ROLES))
def test_description_matches_pandas(load: Any, name: str) -> None:
    from govern.checks.spark_describe import describe

    df, sdf = load(name)
    label = ROLES[name][0]
    got = describe(sdf, label)
    assert {
        "rows": got.rows,
        "columns": got.columns,
        "dtypes": got.dtypes,
        "missing": got.missing,
        "label_balance": got.label_balance,
    } == _pandas_description(df, label)


@pytest.mark.parametrize("name", list(ROLES))
@pytest.mark.parametrize("min_group_size", [30, 1000])
def test_representation_matches_pandas(load: Any, name: str, min_group_size: int) -> None:
    from govern.checks.spark_describe import describe_representation as on_spark

    df, sdf = load(name)
    label, positive, sensitive = ROLES[name]
    expected = describe_representation(
        df, sensitive, positive_rows(df[label], positive), min_group_size
    )
    got = on_spark(sdf, sensitive, label, positive, min_group_size)
    assert [r.to_dict() for r in got] == [r.to_dict() for r in expected]
    assert len(got) == 3  # each feature, then their intersection


def test_generated_data_has_missing_groups(load: Any) -> None:
    """The generated set is the case that matters: missing sensitive values are a group of their
    own on both engines, and an int label read back as int64."""
    from govern.checks.spark_describe import describe, describe_representation

    _, sdf = load("generated")
    got = describe_representation(sdf, ("sex", "group"), "label", 1, 30)
    sex = {g.group["sex"]: g.count for g in got[0].groups}
    group = {g.group["group"]: g.count for g in got[1].groups}
    assert set(sex) == {"F", "M", "(missing)"}
    assert set(group) == {"1.0", "2.0", "3.0", "(missing)"}
    assert sum(sex.values()) == 5_000
    description = describe(sdf, "label")
    assert description.dtypes["label"] == "int64"
    assert description.dtypes["sex"] == "str"
    assert description.missing["sex"] == sex["(missing)"]


def test_text_positive_label_on_numbers_shows_no_positive_shares(load: Any) -> None:
    """The one rule: a text positive label cannot match numbers, on either engine."""
    from govern.checks.spark_describe import describe_representation as on_spark

    df, sdf = load("generated")
    assert positive_rows(df["label"], "1") is None
    got = on_spark(sdf, ("sex",), "label", "1", 30)
    assert all(g.positives is None for g in got[0].groups)
    expected = describe_representation(df, ("sex",), None, 30)
    assert [r.to_dict() for r in got] == [r.to_dict() for r in expected]


def test_pandas_dtype_map_for_spark_written_data(spark: Any, tmp_path: Any) -> None:
    """The documented map, against pandas reading what Spark wrote (with and without nulls)."""
    import datetime

    import pandas as pd

    from govern.checks.spark_describe import describe

    rows = [
        (1, 2, 3, 1.5, 2.5, True, "a", datetime.datetime(2024, 1, 1), None, None, None),
        (4, 5, 6, 0.5, 1.5, False, "b", datetime.datetime(2024, 1, 2), 7, False, "c"),
    ]
    schema = (
        "b byte, s short, i int, f float, d double, t boolean, x string, ts timestamp, "
        "in_ int, bn boolean, sn string"
    )
    spark.createDataFrame(rows, schema).coalesce(1).write.parquet(str(tmp_path / "typed"))
    sdf = spark.read.parquet(str(tmp_path / "typed"))
    df = pd.read_parquet(tmp_path / "typed")
    assert describe(sdf).dtypes == {str(c): str(t) for c, t in df.dtypes.items()}


def test_sensitive_columns_named_like_internal_ones(spark: Any) -> None:
    """Columns called ``_n`` or ``_pos`` are data like any other on both engines."""
    import pandas as pd

    from govern.checks.spark_describe import describe_representation as on_spark

    df = pd.DataFrame({"_n": ["a", "b", "a", None], "_pos": [1, 1, 2, 2], "y": [1, 0, 1, 1]})
    sdf = spark.createDataFrame(df.astype(object).where(df.notna(), None))
    expected = describe_representation(df, ("_n", "_pos"), positive_rows(df["y"], 1), 1)
    got = on_spark(sdf, ("_n", "_pos"), "y", 1, 1)
    assert [r.to_dict() for r in got] == [r.to_dict() for r in expected]
    assert {g.group["_n"]: g.count for g in expected[0].groups} == {"a": 2, "b": 1, "(missing)": 1}
