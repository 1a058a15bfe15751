"""Great Expectations data-quality checks, run for real (no mocks) on small frames and on the
Adult sample shipped with govern."""

from __future__ import annotations

import os

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

import json
import math
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from govern.checks.quality import known_expectation_types, run_expectations, validate_expectation
from govern.errors import PolicyError
from govern.model.results import CheckResult
from govern.model.specs import ExpectationSpec

REPO = Path(__file__).resolve().parents[2]
ADULT = REPO / "govern" / "data" / "adult-sample.csv.gz"
KEPT_RESULT_KEYS = {
    "observed_value",
    "element_count",
    "unexpected_count",
    "unexpected_percent",
    "missing_count",
    "missing_percent",
    "partial_unexpected_list",
}


def spec(type_: str, origin: str = "", **kwargs: object) -> ExpectationSpec:
    return ExpectationSpec(type=type_, kwargs=kwargs, origin=origin)


def run_one(df: pd.DataFrame, type_: str, **kwargs: object) -> CheckResult:
    (result,) = run_expectations(df, [spec(type_, **kwargs)])
    return result


@pytest.fixture(scope="module")
def adult() -> pd.DataFrame:
    df = pd.read_csv(ADULT)
    assert df.shape == (6000, 15)
    return df


@pytest.fixture(scope="module")
def adult_specs() -> list[ExpectationSpec]:
    return [
        spec("expect_column_values_to_not_be_null", "pack baseline", column="workclass"),
        spec("expect_column_values_to_not_be_null", column="sex"),
        spec("expect_column_values_to_be_between", column="age", min_value=18, max_value=100),
        spec("expect_column_values_to_be_in_set", column="race", value_set=["White", "Black"]),
        spec(
            "expect_column_values_to_be_in_set",
            column="race",
            value_set=["White", "Black"],
            mostly=0.9,
        ),
        spec(
            "expect_column_mean_to_be_between", column="hours-per-week", min_value=30, max_value=50
        ),
        spec("expect_table_row_count_to_be_between", min_value=1000),
        spec("expect_column_values_to_be_unique", column="fnlwgt"),
        spec("expect_compound_columns_to_be_unique", column_list=["age", "fnlwgt", "education"]),
        spec("expect_column_values_to_not_be_null", column="native-country", mostly=0.95),
        spec("expect_column_values_to_not_be_null", column="no-such-column"),
    ]


@pytest.fixture(scope="module")
def adult_results(adult: pd.DataFrame, adult_specs: list[ExpectationSpec]) -> list[CheckResult]:
    return run_expectations(adult, adult_specs)


# --- run_expectations on the Adult sample ------------------------------------------------------


def test_adult_one_result_per_spec_in_order(
    adult_specs: list[ExpectationSpec], adult_results: list[CheckResult]
) -> None:
    # GX returns results grouped by column, not in suite order; each must still match its spec.
    assert len(adult_results) == len(adult_specs)
    for s, r in zip(adult_specs, adult_results, strict=True):
        assert r.kind == "quality"
        assert r.details["expectation_type"] == s.type
        assert r.details["kwargs"] == dict(s.kwargs)
        assert r.details["origin"] == s.origin
    assert adult_results[0].details["origin"] == "pack baseline"


def test_adult_not_null_counts_missing_values_exactly(
    adult: pd.DataFrame, adult_results: list[CheckResult]
) -> None:
    missing = int(adult["workclass"].isna().sum())
    assert missing > 0
    r = adult_results[0]
    assert r.id == "quality.expect_column_values_to_not_be_null.workclass"
    assert r.status == "fail"
    assert r.details["result"]["unexpected_count"] == missing
    assert r.details["result"]["element_count"] == len(adult)
    assert r.observed == pytest.approx(100 * missing / len(adult))
    assert r.threshold is None
    assert f"{missing} unexpected" in r.summary

    sex = adult_results[1]
    assert sex.status == "pass"
    assert sex.details["result"]["unexpected_count"] == 0 == int(adult["sex"].isna().sum())


def test_adult_between_fails_with_exact_count_and_summary(
    adult: pd.DataFrame, adult_results: list[CheckResult]
) -> None:
    out_of_range = int(((adult["age"] < 18) | (adult["age"] > 100)).sum())
    assert out_of_range > 0
    r = adult_results[2]
    assert r.id == "quality.expect_column_values_to_be_between.age"
    assert r.status == "fail"
    assert r.details["result"]["unexpected_count"] == out_of_range
    assert r.threshold == {"min_value": 18, "max_value": 100}
    pct = 100 * out_of_range / len(adult)
    assert (
        r.summary == f"values of 'age' between 18 and 100: {out_of_range} unexpected ({pct:.1f}%)"
    )
    examples = r.details["result"]["partial_unexpected_list"]
    assert 0 < len(examples) <= 5
    assert all(v < 18 or v > 100 for v in examples)


def test_adult_mostly_decides_pass_or_fail(
    adult: pd.DataFrame, adult_results: list[CheckResult]
) -> None:
    others = int((~adult["race"].isin(["White", "Black"])).sum())
    assert 0 < others < 0.1 * len(adult)
    strict, lenient = adult_results[3], adult_results[4]
    assert strict.status == "fail"
    assert lenient.status == "pass"
    assert strict.details["result"]["unexpected_count"] == others
    assert lenient.details["result"]["unexpected_count"] == others
    assert lenient.threshold == {"value_set": ["White", "Black"], "mostly": 0.9}
    assert strict.id == "quality.expect_column_values_to_be_in_set.race"
    assert lenient.id == "quality.expect_column_values_to_be_in_set.race#2"

    country = adult_results[9]
    missing = int(adult["native-country"].isna().sum())
    assert 0 < missing < 0.05 * len(adult)
    assert country.status == "pass"
    assert country.details["result"]["unexpected_count"] == missing


def test_adult_aggregate_expectations_report_observed_value(
    adult: pd.DataFrame, adult_results: list[CheckResult]
) -> None:
    mean = adult_results[5]
    assert mean.status == "pass"
    assert mean.observed == pytest.approx(float(adult["hours-per-week"].mean()))
    assert mean.details["result"]["observed_value"] == pytest.approx(mean.observed)

    rows = adult_results[6]
    assert rows.status == "pass"
    assert rows.observed == len(adult)
    assert rows.id == "quality.expect_table_row_count_to_be_between"
    assert rows.threshold == {"min_value": 1000}


def test_adult_uniqueness_counts_match_pandas(
    adult: pd.DataFrame, adult_results: list[CheckResult]
) -> None:
    dup = int(adult["fnlwgt"].duplicated(keep=False).sum())
    assert adult_results[7].status == "fail"
    assert adult_results[7].details["result"]["unexpected_count"] == dup

    cols = ["age", "fnlwgt", "education"]
    compound_dup = int(adult.duplicated(subset=cols, keep=False).sum())
    r = adult_results[8]
    assert r.id == "quality.expect_compound_columns_to_be_unique.age+fnlwgt+education"
    assert r.status == ("fail" if compound_dup else "pass")
    assert r.details["result"]["unexpected_count"] == compound_dup


def test_adult_missing_column_is_an_error_not_a_pass(adult_results: list[CheckResult]) -> None:
    r = adult_results[10]
    assert r.status == "error"
    assert r.id == "quality.expect_column_values_to_not_be_null.no-such-column"
    assert "'no-such-column' does not exist" in r.summary
    assert r.observed is None


def test_adult_results_are_small_and_json_able(adult_results: list[CheckResult]) -> None:
    for r in adult_results:
        text = json.dumps(r.details, allow_nan=False)
        json.dumps(r.to_dict(), allow_nan=False)
        assert set(r.details["result"]) <= KEPT_RESULT_KEYS
        assert len(r.details["result"].get("partial_unexpected_list", [])) <= 5
        assert "partial_unexpected_index_list" not in text
        assert "\n" not in r.summary


def test_adult_repeated_calls_give_identical_results(
    adult: pd.DataFrame,
    adult_specs: list[ExpectationSpec],
    adult_results: list[CheckResult],
) -> None:
    again = run_expectations(adult, adult_specs)
    assert [r.to_dict() for r in again] == [r.to_dict() for r in adult_results]


# --- run_expectations edge cases ----------------------------------------------------------------


def test_identical_specs_each_get_a_result_and_unique_ids() -> None:
    # GX's suite silently keeps only the first of two equal expectations.
    df = pd.DataFrame({"x": [1.0, None, 3.0]})
    same = spec("expect_column_values_to_not_be_null", column="x")
    results = run_expectations(df, [same, same, same])
    assert [r.id for r in results] == [
        "quality.expect_column_values_to_not_be_null.x",
        "quality.expect_column_values_to_not_be_null.x#2",
        "quality.expect_column_values_to_not_be_null.x#3",
    ]
    assert [r.status for r in results] == ["fail"] * 3
    assert [r.details["result"]["unexpected_count"] for r in results] == [1, 1, 1]


def test_ids_are_unique_across_a_mixed_call() -> None:
    df = pd.DataFrame({"a": [1, 2, 3], "b": [3, 2, 1]})
    specs = [
        spec("expect_column_values_to_be_between", column="a", min_value=0, max_value=5),
        spec("expect_column_values_to_be_between", column="a", min_value=1, max_value=2),
        spec("expect_column_values_to_be_between", column="b", min_value=0, max_value=5),
        spec("expect_column_pair_values_to_be_equal", column_A="a", column_B="b"),
        spec("expect_column_pair_values_to_be_equal", column_A="a", column_B="b", mostly=0.1),
        spec("expect_table_row_count_to_equal", value=3),
        spec("expect_table_row_count_to_equal", value=4),
    ]
    results = run_expectations(df, specs)
    ids = [r.id for r in results]
    assert len(set(ids)) == len(ids)
    assert ids[3] == "quality.expect_column_pair_values_to_be_equal.a+b"
    assert ids[4] == "quality.expect_column_pair_values_to_be_equal.a+b#2"
    assert ids[6] == "quality.expect_table_row_count_to_equal#2"
    assert [r.status for r in results] == ["pass", "fail", "pass", "fail", "pass", "pass", "fail"]
    assert results[3].details["result"]["unexpected_count"] == int((df["a"] != df["b"]).sum())


def test_gx_exceptions_are_errors_and_do_not_hide_other_checks() -> None:
    df = pd.DataFrame({"s": ["a", "b", "c"], "n": [1, 2, 30]})
    results = run_expectations(
        df,
        [
            spec("expect_column_values_to_match_regex", column="s", regex="(["),
            spec("expect_column_values_to_be_between", column="s", min_value=0, max_value=1),
            spec("expect_column_values_to_be_between", column="n", min_value=0, max_value=10),
        ],
    )
    bad_regex, mixed_types, ok = results
    for r in (bad_regex, mixed_types):
        assert r.status == "error"
        assert "expectation raised:" in r.summary
        assert r.details["exception"]
        assert r.observed is None
    assert "regular expression" in bad_regex.summary
    assert ok.status == "fail"
    assert ok.details["result"]["unexpected_count"] == 1


def test_whole_suite_crash_falls_back_to_one_at_a_time() -> None:
    # An invalid KL partition raises while GX builds the metric graph, outside its per-expectation
    # error handling, which aborts the whole suite.
    df = pd.DataFrame({"x": [1.0, 2.0, 3.0]})
    results = run_expectations(
        df,
        [
            spec("expect_column_values_to_not_be_null", column="x"),
            spec(
                "expect_column_kl_divergence_to_be_less_than",
                column="x",
                partition_object={"bins": [0, 1]},
                threshold=0.1,
            ),
            spec("expect_column_max_to_be_between", column="x", max_value=2),
        ],
    )
    assert [r.status for r in results] == ["pass", "error", "fail"]
    assert "partition_object" in results[1].summary
    assert results[2].observed == 3.0


def test_missing_columns_are_errors_but_column_to_exist_is_a_fail() -> None:
    df = pd.DataFrame({"a": [1, 2]})
    results = run_expectations(
        df,
        [
            spec("expect_column_values_to_be_unique", column="b"),
            spec("expect_column_pair_values_to_be_equal", column_A="a", column_B="zz"),
            spec("expect_column_to_exist", column="b"),
            spec("expect_column_to_exist", column="a"),
        ],
    )
    assert [r.status for r in results] == ["error", "error", "fail", "pass"]
    assert "'zz' does not exist" in results[1].summary


def test_invalid_spec_becomes_an_error_result() -> None:
    df = pd.DataFrame({"a": [1, 2]})
    results = run_expectations(
        df,
        [
            spec("expect_column_values_to_be_betwen", column="a", min_value=0),
            spec("expect_column_values_to_be_between", column="a", min_value=0),
        ],
    )
    assert results[0].status == "error"
    assert "did you mean 'expect_column_values_to_be_between'" in results[0].summary
    assert results[1].status == "pass"


def test_empty_dataframe_without_columns() -> None:
    results = run_expectations(
        pd.DataFrame(),
        [
            spec("expect_column_values_to_not_be_null", column="x"),
            spec("expect_table_row_count_to_be_between", min_value=1),
        ],
    )
    assert [r.status for r in results] == ["error", "fail"]
    assert results[1].observed == 0


def test_empty_dataframe_with_columns() -> None:
    df = pd.DataFrame({"x": pd.Series([], dtype=float), "s": pd.Series([], dtype=str)})
    results = run_expectations(
        df,
        [
            spec("expect_column_values_to_not_be_null", column="x"),
            spec("expect_column_values_to_be_in_set", column="s", value_set=["a"]),
            spec("expect_column_mean_to_be_between", column="x", min_value=0, max_value=1),
            spec("expect_table_row_count_to_be_between", min_value=1),
        ],
    )
    # An empty table has nothing to check: never a pass.
    assert [r.status for r in results] == ["fail", "fail", "fail", "fail"]
    assert "no rows to check" in results[0].summary
    assert results[2].observed is None
    for r in results:
        json.dumps(r.details, allow_nan=False)


def test_all_nan_column() -> None:
    df = pd.DataFrame({"v": [np.nan] * 4, "k": [1, 2, 3, 4]})
    null, between, mean = run_expectations(
        df,
        [
            spec("expect_column_values_to_not_be_null", column="v"),
            spec("expect_column_values_to_be_between", column="v", min_value=0, max_value=1),
            spec("expect_column_mean_to_be_between", column="v", min_value=0, max_value=1),
        ],
    )
    assert null.status == "fail"
    assert null.details["result"]["unexpected_count"] == 4
    assert null.observed == 100.0
    # GX skips missing values in map expectations and calls that a success; govern does not.
    assert between.status == "fail"
    assert "all 4 values are missing" in between.summary
    assert mean.status == "fail"
    assert mean.observed is None
    for r in (null, between, mean):
        json.dumps(r.to_dict(), allow_nan=False)


def test_all_missing_is_a_pass_only_when_nulls_are_expected() -> None:
    df = pd.DataFrame({"v": [np.nan] * 3})
    (result,) = run_expectations(df, [spec("expect_column_values_to_be_null", column="v")])
    assert result.status == "pass"


def test_non_ascii_and_html_column_names() -> None:
    html, emoji = "<script>alert(1)</script>", "😀 名前"
    df = pd.DataFrame({html: [1.0, None, 3.0], emoji: ["a", "b", "ü"]})
    a, b = run_expectations(
        df,
        [
            spec("expect_column_values_to_not_be_null", column=html),
            spec("expect_column_values_to_be_in_set", column=emoji, value_set=["a", "b"]),
        ],
    )
    assert a.id == f"quality.expect_column_values_to_not_be_null.{html}"
    assert a.status == "fail" and a.details["result"]["unexpected_count"] == 1
    assert b.id == f"quality.expect_column_values_to_be_in_set.{emoji}"
    assert b.status == "fail" and b.details["result"]["partial_unexpected_list"] == ["ü"]
    assert emoji in b.summary
    json.dumps([a.to_dict(), b.to_dict()], allow_nan=False)


def test_non_finite_values_are_json_able() -> None:
    df = pd.DataFrame({"x": [np.inf, -np.inf, 1.0, np.nan]})
    (r,) = run_expectations(
        df, [spec("expect_column_values_to_be_between", column="x", min_value=0, max_value=2)]
    )
    assert r.status == "fail"
    assert r.details["result"]["unexpected_count"] == 2
    assert r.details["result"]["missing_count"] == 1
    text = json.dumps(r.details, allow_nan=False)
    assert "Infinity" not in text and "NaN" not in text
    assert all(
        v is None or math.isfinite(v) for v in r.details["result"]["partial_unexpected_list"]
    )


def test_no_specs_gives_no_results() -> None:
    assert run_expectations(pd.DataFrame({"a": [1]}), []) == []


# --- validate_expectation ------------------------------------------------------------------


def test_validate_accepts_good_expectations() -> None:
    assert (
        validate_expectation(
            "expect_column_values_to_be_between", {"column": "age", "min_value": 18, "mostly": 0.9}
        )
        is None
    )
    validate_expectation("expect_column_values_to_be_in_set", {"column": "s", "value_set": ["a"]})
    validate_expectation("expect_table_row_count_to_be_between", {"min_value": 1})
    validate_expectation("expect_compound_columns_to_be_unique", {"column_list": ["a", "b"]})


def test_validate_rejects_misspelt_type_with_suggestion() -> None:
    with pytest.raises(PolicyError) as info:
        validate_expectation("expect_column_values_to_be_betwen", {"column": "age"})
    assert str(info.value) == (
        "unknown expectation type 'expect_column_values_to_be_betwen' "
        "(did you mean 'expect_column_values_to_be_between'?)"
    )
    with pytest.raises(PolicyError, match=r"unknown expectation type 'zzz'$"):
        validate_expectation("zzz", {})


@pytest.mark.parametrize(
    ("type_", "kwargs", "expected"),
    [
        (
            "expect_column_values_to_be_between",
            {"column": "a", "min_value": 1, "min_vlaue": 2},
            "unknown argument 'min_vlaue' (did you mean 'min_value'?)",
        ),
        (
            "expect_column_values_to_not_be_null",
            {"column": "a", "foo": 1},
            "unknown argument 'foo'",
        ),
        (
            "expect_column_values_to_be_between",
            {"column": "a", "min_value": "abc"},
            "invalid value for 'min_value': 'abc'",
        ),
        (
            "expect_column_values_to_be_between",
            {"column": 5, "min_value": 1},
            "invalid value for 'column': 5",
        ),
        (
            "expect_column_values_to_be_between",
            {"column": "a", "min_value": 1, "mostly": 2},
            "invalid value for 'mostly': 2",
        ),
        (
            "expect_column_values_to_be_between",
            {"column": "a", "min_value": True},
            "invalid value for 'min_value': True",
        ),
        (
            "expect_column_values_to_be_between",
            {"min_value": 1},
            "missing required argument 'column'",
        ),
        (
            "expect_column_values_to_be_in_set",
            {"column": "a"},
            "missing required argument 'value_set'",
        ),
        (
            "expect_column_values_to_be_between",
            {"column": "a"},
            "give min_value, max_value or both",
        ),
        (
            "expect_column_values_to_be_between",
            {"column": "a", "min_value": 5, "max_value": 1},
            "min_value 5 is greater than max_value 1",
        ),
        (
            "expect_column_values_to_be_between",
            {"column": "a", "min_value": 1, "result_format": "COMPLETE"},
            "'result_format' is set by govern",
        ),
        (
            "expect_column_values_to_be_between",
            {"column": "a", "min_value": {"$PARAMETER": "lo"}},
            "suite parameter",
        ),
    ],
)
def test_validate_rejects_bad_kwargs(type_: str, kwargs: dict[str, object], expected: str) -> None:
    with pytest.raises(PolicyError) as info:
        validate_expectation(type_, kwargs)
    message = str(info.value)
    assert message.startswith(f"expectation {type_!r}: ")
    assert expected in message
    assert "\n" not in message


def test_known_expectation_types() -> None:
    names = known_expectation_types()
    assert names == sorted(names)
    assert "expect_column_values_to_be_between" in names
    assert "expect_table_row_count_to_be_between" in names
    assert all(n == n.lower() and " " not in n for n in names)


# --- process hygiene ----------------------------------------------------------------------


def test_import_is_cheap_and_runs_are_offline_and_quiet() -> None:
    """In a fresh interpreter: importing govern.checks.quality pulls in neither GX nor pandas, and
    a run opens no network connection and prints no progress bar."""
    code = textwrap.dedent(
        """
        import socket, sys
        import govern.checks.quality as q
        assert "great_expectations" not in sys.modules, "GX imported at module import"
        assert "pandas" not in sys.modules, "pandas imported at module import"
        attempts = []
        real_connect = socket.socket.connect
        def connect(self, address):
            attempts.append(address)
            raise OSError("network disabled in test")
        socket.socket.connect = connect
        import pandas as pd
        from govern.model.specs import ExpectationSpec
        df = pd.DataFrame({"x": [1.0, 2.0, None] * 50})
        specs = [
            ExpectationSpec("expect_column_values_to_not_be_null", {"column": "x"}),
            # Without a partition object GX computes one through a metrics calculator that has
            # show_progress_bars=True hard-coded, bypassing the context setting.
            ExpectationSpec(
                "expect_column_kl_divergence_to_be_less_than", {"column": "x", "threshold": 0.5}
            ),
        ]
        results = q.run_expectations(df, specs)
        assert [r.status for r in results] == ["fail", "pass"], results
        assert not attempts, attempts
        import os
        assert os.environ["GX_ANALYTICS_ENABLED"] == "false"
        print("OK")
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "GX_ANALYTICS_ENABLED"}
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "OK"
    assert "Calculating Metrics" not in proc.stderr
    assert proc.stderr.strip() == ""
