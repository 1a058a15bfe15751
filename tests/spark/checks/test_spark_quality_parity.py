"""Engine parity for data quality: GX's Spark data source gives the pandas engine's checks (the
same statuses and the same counts), and expectations GX cannot run on Spark are a policy error
naming them."""

from __future__ import annotations

import math
from typing import Any

import pytest

from govern.checks.quality import run_expectations
from govern.errors import PolicyError
from govern.model.results import verdict_of
from govern.model.specs import ExpectationSpec


def _spec(kind: str, **kwargs: Any) -> ExpectationSpec:
    return ExpectationSpec(type=kind, kwargs=kwargs, origin="test")


GENERATED = [
    _spec("expect_table_row_count_to_be_between", min_value=1000, max_value=10_000),
    _spec("expect_table_columns_to_match_set", column_set=["sex", "group", "age", "score"]),
    _spec("expect_column_to_exist", column="sex"),
    _spec("expect_column_values_to_not_be_null", column="sex"),
    _spec("expect_column_values_to_not_be_null", column="score", mostly=0.9),
    _spec("expect_column_values_to_be_in_set", column="sex", value_set=["F", "M"]),
    _spec("expect_column_values_to_be_between", column="age", min_value=20, max_value=75),
    _spec("expect_column_values_to_be_between", column="score", min_value=-2, max_value=2),
    _spec("expect_column_values_to_be_in_set", column="group", value_set=[1.0, 2.0]),
    _spec("expect_column_values_to_be_of_type", column="age", type_="int64"),
    _spec("expect_column_values_to_be_of_type", column="score", type_="float64"),
    _spec("expect_column_values_to_be_of_type", column="flag", type_="bool"),
    _spec("expect_column_values_to_be_of_type", column="age", type_="float64"),
    _spec("expect_column_values_to_be_in_type_list", column="label", type_list=["int64"]),
    _spec("expect_column_values_to_match_regex", column="sex", regex="^[FM]$"),
    _spec("expect_column_value_lengths_to_be_between", column="sex", min_value=1, max_value=1),
    _spec("expect_column_mean_to_be_between", column="age", min_value=40, max_value=60),
    _spec("expect_column_min_to_be_between", column="age", min_value=18, max_value=18),
    _spec("expect_column_max_to_be_between", column="age", min_value=70, max_value=90),
    _spec("expect_column_distinct_values_to_be_in_set", column="sex", value_set=["F", "M"]),
    _spec("expect_column_proportion_of_non_null_values_to_be_between", column="sex", min_value=0.9),
    _spec("expect_column_unique_value_count_to_be_between", column="group", min_value=3),
    _spec("expect_column_pair_values_a_to_be_greater_than_b", column_A="age", column_B="label"),
    _spec("expect_column_values_to_be_between", column="missing_column", min_value=0),
]

ADULT = [
    _spec("expect_column_values_to_be_between", column="age", min_value=17, max_value=90),
    _spec("expect_column_values_to_not_be_null", column="workclass"),
    _spec("expect_column_values_to_not_be_null", column="occupation", mostly=0.95),
    _spec("expect_column_values_to_be_in_set", column="sex", value_set=["Male", "Female"]),
    _spec("expect_column_values_to_be_in_set", column="income", value_set=["<=50K", ">50K"]),
    _spec("expect_column_values_to_be_of_type", column="age", type_="int64"),
    _spec("expect_column_values_to_be_of_type", column="sex", type_="str"),
    _spec("expect_column_proportion_of_unique_values_to_be_between", column="race", max_value=0.1),
    _spec("expect_column_stdev_to_be_between", column="age", min_value=1, max_value=20),
]

COMPAS = [
    _spec("expect_column_values_to_be_in_set", column="two_year_recid", value_set=[0, 1]),
    _spec("expect_column_values_to_be_between", column="decile_score", min_value=1, max_value=10),
    _spec("expect_column_values_to_not_be_null", column="days_b_screening_arrest"),
    _spec("expect_column_values_to_be_between", column="priors_count", max_value=20),
    _spec(
        "expect_column_values_to_be_in_set",
        column="race",
        value_set=["African-American", "Caucasian", "Hispanic", "Other"],
    ),
]

CASES = {"generated": GENERATED, "adult_sample": ADULT, "adult": ADULT, "compas": COMPAS}


def _same(a: Any, b: Any) -> bool:
    """Equal, except that floats (a mean, a standard deviation: sums Spark adds up in another
    order) may differ by 1e-12 relative; counts are integers and must be equal exactly."""
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and bool(a == b)


def _comparable(check: Any) -> dict[str, Any]:
    """A check as the report shows it; the Spark type itself is an extra detail on Spark."""
    out = check.to_dict()
    out["details"]["result"].pop("spark_type", None)
    return out


@pytest.mark.parametrize("name", list(CASES))
def test_quality_matches_pandas(load: Any, name: str) -> None:
    from govern.checks import spark_quality

    df, sdf = load(name)
    expected = run_expectations(df, CASES[name])
    got = spark_quality.run_expectations(sdf, CASES[name])
    assert len(got) == len(expected)
    for mine, theirs in zip(got, expected, strict=True):
        assert _same(_comparable(mine), _comparable(theirs)), (mine, theirs)
    assert verdict_of(got) == verdict_of(expected)
    # Both outcomes occur, so the comparison is not between two vacuous runs.
    statuses = {c.status for c in expected}
    assert {"pass", "fail"} <= statuses


def test_a_passing_suite_passes_on_both_engines(load: Any) -> None:
    from govern.checks import spark_quality

    specs = [s for s in ADULT if s.kwargs.get("column") not in ("workclass", "occupation")]
    df, sdf = load("adult_sample")
    expected = run_expectations(df, specs)
    got = spark_quality.run_expectations(sdf, specs)
    assert verdict_of(expected) == verdict_of(got) == "pass"
    for mine, theirs in zip(got, expected, strict=True):
        assert _same(_comparable(mine), _comparable(theirs)), (mine, theirs)


def test_what_gx_cannot_run_on_spark_really_fails_there(load: Any) -> None:
    """The registry-derived list is not a guess: forced through GX's Spark data source, each
    listed expectation comes back as an error, while pandas runs it."""
    from govern.checks.quality import run_on_batch

    df, sdf = load("generated")
    specs = [
        _spec("expect_column_values_to_be_dateutil_parseable", column="sex"),
        _spec("expect_column_values_to_match_like_pattern", column="sex", like_pattern="F%"),
        _spec(
            "expect_column_values_to_match_like_pattern_list",
            column="sex",
            like_pattern_list=["F%"],
        ),
        _spec("expect_column_values_to_not_match_like_pattern", column="sex", like_pattern="X%"),
        _spec(
            "expect_column_values_to_not_match_like_pattern_list",
            column="sex",
            like_pattern_list=["X%"],
        ),
    ]
    on_spark = run_on_batch(sdf, specs, engine="spark")
    assert [c.status for c in on_spark] == ["error"] * len(specs)
    on_pandas = run_expectations(df, specs[:1])
    assert on_pandas[0].status in ("pass", "fail")


def test_type_expectations_report_pandas_names(load: Any) -> None:
    from govern.checks import spark_quality

    _, sdf = load("generated")
    checks = spark_quality.run_expectations(
        sdf, [_spec("expect_column_values_to_be_of_type", column="age", type_="LongType")]
    )
    assert checks[0].status == "pass"
    assert checks[0].observed == "int64"
    assert checks[0].details["result"]["spark_type"] == "LongType"


def test_expectations_gx_cannot_run_on_spark_are_a_policy_error(load: Any) -> None:
    from govern.checks import spark_quality

    _, sdf = load("generated")
    specs = [
        _spec("expect_column_values_to_not_be_null", column="sex"),
        _spec("expect_column_values_to_be_dateutil_parseable", column="sex"),
        _spec("expect_column_values_to_match_like_pattern", column="sex", like_pattern="F%"),
    ]
    with pytest.raises(PolicyError) as error:
        spark_quality.run_expectations(sdf, specs)
    assert str(error.value) == (
        "Great Expectations cannot run these expectations on Spark: "
        "expect_column_values_to_be_dateutil_parseable, "
        "expect_column_values_to_match_like_pattern; use the pandas engine for this model, "
        "or other expectations"
    )


def test_the_list_of_expectations_spark_cannot_run() -> None:
    """The tested list, read from GX 1.24's metric registry over govern's whole vocabulary."""
    import json

    from govern.checks.spark_quality import unsupported_on_spark
    from govern.config import vocabulary

    path = vocabulary.__file__.replace("vocabulary.py", "gx_vocabulary.json")
    with open(path, encoding="utf-8") as fh:
        types = sorted(json.load(fh)["types"])
    assert unsupported_on_spark(types) == [
        "expect_column_values_to_be_dateutil_parseable",
        "expect_column_values_to_match_like_pattern",
        "expect_column_values_to_match_like_pattern_list",
        "expect_column_values_to_not_match_like_pattern",
        "expect_column_values_to_not_match_like_pattern_list",
        "expect_query_results_to_match_comparison",
    ]
