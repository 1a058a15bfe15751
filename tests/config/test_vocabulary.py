"""The GX-free expectation check (``govern.config.vocabulary``) against GX's own.

The fast check runs when a policy loads; GX's (``validate_expectation``) still runs before every
audit. They must agree: the fast one may be stricter, never more lenient, and a policy error must
read the same whichever caught it. The cases where it is knowingly stricter are listed, with
why, in ``STRICTER``.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator, Mapping
from datetime import date
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
import yaml

from govern.config.vocabulary import (
    RESERVED_ARGUMENTS,
    domain_keys,
    known_expectation_types,
    load_vocabulary,
    success_keys,
    validate_expectation_args,
    vocabulary_matches_installed_gx,
)
from govern.errors import PolicyError

REPO = Path(__file__).resolve().parents[2]
BETWEEN = "expect_column_values_to_be_between"
IN_SET = "expect_column_values_to_be_in_set"
HEAVY = ("great_expectations", "pydantic", "pandas", "numpy", "mlflow", "fairlearn")


def _quality_module() -> Any:
    """``govern.checks.quality``, or ``govern.quality`` where the move has not happened."""
    error: ImportError | None = None
    for name in ("govern.checks.quality", "govern.quality"):
        try:
            return importlib.import_module(name)
        except ImportError as exc:
            error = error or exc
    raise AssertionError(f"cannot import govern's GX check: {error}")


def outcome(check: Callable[[str, Any], None], type_: Any, kwargs: Any) -> str | None:
    """The PolicyError message, or None if accepted; GX prints a warning for some queries."""
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            check(type_, kwargs)
    except PolicyError as exc:
        return str(exc)
    return None


def gx_outcome(type_: Any, kwargs: Any) -> str | None:
    return outcome(_quality_module().validate_expectation, type_, kwargs)


def fast_outcome(type_: Any, kwargs: Any) -> str | None:
    return outcome(validate_expectation_args, type_, kwargs)


def problem_kind(message: str) -> str:
    """``expectation 'type': <problem kind>``: the message up to its first parenthesis."""
    return message.split("(", 1)[0].rstrip()


# --- the shipped file -------------------------------------------------------------------------


def test_shipped_vocabulary_is_the_installed_gx_vocabulary() -> None:
    from govern.checks.gx_vocabulary import build_vocabulary, main

    if vocabulary_matches_installed_gx():
        assert load_vocabulary() == build_vocabulary(), (
            "govern/config/gx_vocabulary.json is stale: run "
            "python -m govern.checks.gx_vocabulary --write"
        )
        assert main(["--check"]) == 0
    else:
        # Another GX is installed: the mismatch must be seen, by the cheap test and by --check.
        installed = metadata.version("great_expectations")
        assert load_vocabulary()["great_expectations"] != installed
        assert main(["--check"]) == 1


def _specs(spec: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    yield spec
    if "items" in spec:
        yield from _specs(spec["items"])


def test_every_field_of_every_type_is_understood() -> None:
    """A GX upgrade that brings a type or validator the generator cannot translate shows up as
    kind or rule ``unknown``; the fast check would then wave that value through."""
    vocab = load_vocabulary()
    models = vocab["models"]
    assert len(vocab["types"]) >= 50
    for type_, entry in vocab["types"].items():
        assert entry["fields"], type_
        for rule in entry.get("rules", ()):
            assert rule["name"] != "unknown", (type_, rule)
        for field in entry["fields"]:
            assert field["name"] not in RESERVED_ARGUMENTS
            for spec in _specs(field):
                assert spec["kinds"] and "unknown" not in spec["kinds"], (type_, field)
                assert all(m in models for m in spec.get("models", ())), (type_, field)
            for rule in field.get("rules", ()):
                assert rule["name"] != "unknown", (type_, field["name"], rule)
    assert models["QuantileRange"]["checkable"] is True
    assert models["ComparisonCondition"]["checkable"] is False


def test_known_types_and_keys_are_gx_s() -> None:
    quality = _quality_module()
    assert known_expectation_types() == quality.known_expectation_types()
    from great_expectations.expectations.registry import get_expectation_impl

    for type_ in ("expect_column_to_exist", BETWEEN, "expect_compound_columns_to_be_unique"):
        cls = get_expectation_impl(type_)
        assert domain_keys(type_) == tuple(cls.domain_keys)
        assert success_keys(type_) == tuple(cls.success_keys)
    with pytest.raises(PolicyError, match=r"^unknown expectation type 'expect_nothing'$"):
        domain_keys("expect_nothing")


def test_import_and_validation_do_not_import_gx() -> None:
    code = textwrap.dedent(
        f"""
        import sys
        import govern.config.vocabulary as v
        v.validate_expectation_args({BETWEEN!r}, {{"column": "a", "min_value": 1}})
        try:
            v.validate_expectation_args({BETWEEN!r}, {{"column": "a", "min_value": True}})
        except Exception as exc:
            assert type(exc).__name__ == "PolicyError", exc
        else:
            raise AssertionError("a boolean bound was accepted")
        v.vocabulary_matches_installed_gx()
        v.domain_keys({BETWEEN!r})
        heavy = [m for m in {HEAVY!r} if m in sys.modules]
        assert not heavy, heavy
        print("OK")
        """
    )
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "GX_ANALYTICS_ENABLED": "false"}
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "OK"


# --- agreement with GX ------------------------------------------------------------------------

# The parametrisation of tests/test_quality.py::test_validate_rejects_bad_kwargs.
QUALITY_REJECTS: list[tuple[str, dict[str, Any], str]] = [
    (
        BETWEEN,
        {"column": "a", "min_value": 1, "min_vlaue": 2},
        "unknown argument 'min_vlaue' (did you mean 'min_value'?)",
    ),
    ("expect_column_values_to_not_be_null", {"column": "a", "foo": 1}, "unknown argument 'foo'"),
    (BETWEEN, {"column": "a", "min_value": "abc"}, "invalid value for 'min_value': 'abc'"),
    (BETWEEN, {"column": 5, "min_value": 1}, "invalid value for 'column': 5"),
    (BETWEEN, {"column": "a", "min_value": 1, "mostly": 2}, "invalid value for 'mostly': 2"),
    (BETWEEN, {"column": "a", "min_value": True}, "invalid value for 'min_value': True"),
    (BETWEEN, {"min_value": 1}, "missing required argument 'column'"),
    (IN_SET, {"column": "a"}, "missing required argument 'value_set'"),
    (BETWEEN, {"column": "a"}, "give min_value, max_value or both"),
    (
        BETWEEN,
        {"column": "a", "min_value": 5, "max_value": 1},
        "min_value 5 is greater than max_value 1",
    ),
    (
        BETWEEN,
        {"column": "a", "min_value": 1, "result_format": "COMPLETE"},
        "'result_format' is set by govern",
    ),
    (BETWEEN, {"column": "a", "min_value": {"$PARAMETER": "lo"}}, "suite parameter"),
    # Arguments under which the check could never fail.
    (BETWEEN, {"column": "a", "min_value": 1, "mostly": 0}, "mostly 0 lets every row fail"),
    (
        "expect_table_row_count_to_be_between",
        {"min_value": 0},
        "a count is never below 0, so min_value 0 with no max_value could never fail",
    ),
    (
        "expect_column_value_lengths_to_be_between",
        {"column": "a", "min_value": -3},
        "a count is never below 0",
    ),
    (
        "expect_column_proportion_of_unique_values_to_be_between",
        {"column": "a", "min_value": 0, "max_value": 1},
        "a share lies between 0 and 1, so these bounds could never fail",
    ),
    (
        "expect_column_proportion_of_non_null_values_to_be_between",
        {"column": "a", "max_value": 1.5},
        "a share lies between 0 and 1",
    ),
]

# The expectation errors of tests/test_policy.py::test_expectation_errors, with placeholders
# replaced as the policy loader replaces them.
POLICY_REJECTS: list[tuple[str, dict[str, Any], str]] = [
    (
        "expect_column_values_to_be_betwen",
        {"column": "age", "min_value": 18},
        "unknown expectation type 'expect_column_values_to_be_betwen' (did you mean "
        "'expect_column_values_to_be_between'?)",
    ),
    (
        BETWEEN,
        {"column": "age", "min_value": "abc"},
        f"expectation {BETWEEN!r}: invalid value for 'min_value': 'abc'",
    ),
    (
        BETWEEN,
        {"column": 3, "min_value": 1},
        f"expectation {BETWEEN!r}: invalid value for 'column': 3",
    ),
    (BETWEEN, {"column": "age", "min": 1}, f"expectation {BETWEEN!r}: unknown argument 'min'"),
    (
        IN_SET,
        {"column": "a", "value_set": 3},
        f"expectation {IN_SET!r}: invalid value for 'value_set': 3",
    ),
    (
        BETWEEN,
        {"column": "label", "min_value": 1, "max_value": 0},
        f"expectation {BETWEEN!r}: min_value 1 is greater than max_value 0",
    ),
]

_PLACEHOLDERS: dict[str, Any] = {
    "$column": "a",
    "$label": "label",
    "$sensitive_features": ["a", "b"],
    "$all_columns": ["a", "b"],
}


def _substitute(value: Any) -> Any:
    if isinstance(value, str):
        return _PLACEHOLDERS.get(value, value)
    if isinstance(value, list):
        return [_substitute(v) for v in value]
    if isinstance(value, dict):
        return {k: _substitute(v) for k, v in value.items()}
    return value


def _shipped_expectations() -> list[tuple[str, dict[str, Any]]]:
    """Every expectation of the built-in packs and of the demo policy."""
    from govern.demo import POLICY

    docs = [yaml.safe_load(p.read_text()) for p in sorted((REPO / "checks").glob("*.yaml"))]
    entries = [e for d in docs for e in d.get("expectations") or ()]
    for model in yaml.safe_load(POLICY)["models"]:
        entries += model.get("expectations") or ()
    return [(e["type"], _substitute(e.get("kwargs") or {})) for e in entries]


SHIPPED = _shipped_expectations()

VALID: list[tuple[str, dict[str, Any]]] = [
    # tests/checks/test_quality.py, tests/render/test_html.py
    (BETWEEN, {"column": "age", "min_value": 18, "mostly": 0.9}),
    (BETWEEN, {"column": "a", "min_value": 0, "max_value": 1, "strict_max": True}),
    (BETWEEN, {"column": "a", "max_value": 0.99995}),
    (IN_SET, {"column": "s", "value_set": ["a"]}),
    (IN_SET, {"column": "race", "value_set": ["White", "Black"], "mostly": 0.9}),
    (IN_SET, {"column": "a", "value_set": list(range(12))}),
    ("expect_table_row_count_to_be_between", {"min_value": 1}),
    # Bounds at the end of a count's or share's range are fine when the other side bounds.
    ("expect_table_row_count_to_be_between", {"min_value": 0, "max_value": 100}),
    ("expect_table_row_count_to_be_between", {"min_value": 0, "strict_min": True}),
    ("expect_column_proportion_of_unique_values_to_be_between", {"column": "a", "min_value": 0.5}),
    ("expect_column_proportion_of_unique_values_to_be_between", {"column": "a", "max_value": 0.9}),
    ("expect_table_row_count_to_equal", {"value": 10}),
    ("expect_compound_columns_to_be_unique", {"column_list": ["a", "b"]}),
    ("expect_compound_columns_to_be_unique", {"column_list": ["age", "fnlwgt", "education"]}),
    ("expect_column_mean_to_be_between", {"column": "hours-per-week", "min_value": 30}),
    ("expect_column_max_to_be_between", {"column": "x", "max_value": 2}),
    ("expect_column_values_to_not_be_null", {"column": "native-country", "mostly": 0.95}),
    ("expect_column_values_to_be_unique", {"column": "fnlwgt"}),
    ("expect_column_values_to_be_null", {"column": "v"}),
    ("expect_column_values_to_match_regex", {"column": "s", "regex": "(["}),
    ("expect_column_values_to_match_regex", {"column": "zip", "regex": r"^\d{5}$"}),
    ("expect_column_pair_values_to_be_equal", {"column_A": "a", "column_B": "b", "mostly": 0.1}),
    (
        "expect_column_pair_values_a_to_be_greater_than_b",
        {"column_A": "end", "column_B": "start", "or_equal": True},
    ),
    ("expect_table_columns_to_match_ordered_list", {"column_list": ["a", "b"]}),
    ("expect_table_columns_to_match_set", {"column_set": ["a", "b"], "exact_match": False}),
    ("expect_column_distinct_values_to_be_in_set", {"column": "a", "value_set": [1, 2]}),
    ("expect_column_kl_divergence_to_be_less_than", {"column": "x", "threshold": 0.5}),
    (
        "expect_column_kl_divergence_to_be_less_than",
        {"column": "x", "partition_object": {"bins": [0, 1]}, "threshold": 0.1},
    ),
    # dates, annotations, choices, nested models, GX's own validators
    (BETWEEN, {"column": "d", "min_value": date(2024, 1, 1), "max_value": "2024-12-31"}),
    (BETWEEN, {"column": "t", "min_value": "2024-01-01 10:00:00"}),
    (BETWEEN, {"column": "a", "min_value": 1, "meta": {"owner": "x"}, "notes": ["a", "b"]}),
    (BETWEEN, {"column": "a", "min_value": 1, "description": "d", "severity": "warning"}),
    (
        BETWEEN,
        {"column": "a", "min_value": 1, "row_condition": "b > 1", "condition_parser": "pandas"},
    ),
    (BETWEEN, {"column": "a", "min_value": 1, "row_condition": {"pass_through_filter": "b > 1"}}),
    (
        BETWEEN,
        {
            "column": "a",
            "min_value": 1,
            "row_condition": {"column": {"name": "b"}, "is_null": True},
        },
    ),
    (IN_SET, {"column": "a", "value_set": []}),
    ("expect_column_values_to_match_regex", {"column": "a", "regex": 5}),
    ("expect_column_values_to_be_of_type", {"column": "a", "type_": "int64"}),
    ("expect_column_values_to_be_in_type_list", {"column": "a", "type_list": ["int", "float"]}),
    ("expect_column_values_to_match_regex_list", {"column": "a", "regex_list": ["x", 1]}),
    ("expect_column_values_to_match_like_pattern", {"column": "a", "like_pattern": "a%"}),
    (
        "expect_column_values_to_match_like_pattern_list",
        {"column": "a", "like_pattern_list": ["a%"], "match_on": "all", "escape": "!"},
    ),
    ("expect_column_values_to_match_strftime_format", {"column": "a", "strftime_format": "%Y"}),
    ("expect_column_values_to_not_be_outliers", {"column": "a", "method": "std", "multiplier": 3}),
    ("expect_column_value_lengths_to_be_between", {"column": "a", "max_value": 3}),
    ("expect_column_value_lengths_to_equal", {"column": "a", "value": 3}),
    (
        "expect_column_value_z_scores_to_be_less_than",
        {"column": "a", "threshold": 3, "double_sided": True},
    ),
    (
        "expect_column_quantile_values_to_be_between",
        {"column": "a", "quantile_ranges": {"quantiles": [0.5], "value_ranges": [[1, None]]}},
    ),
    (
        "expect_column_pair_values_to_be_in_set",
        {"column_A": "a", "column_B": "b", "value_pairs_set": [[1, 2], ("x", "y")]},
    ),
    ("expect_multicolumn_sum_to_equal", {"column_list": ["a", "b"], "sum_total": 10}),
    ("expect_column_to_exist", {"column": "a", "column_index": 2}),
    ("expect_table_row_count_to_equal", {"value": 3.0}),
    ("unexpected_rows_expectation", {"unexpected_rows_query": "select * from {batch}"}),
    ("expect_column_values_to_be_json_parseable", {"column": "a", "mostly": 0}),
]

# GX's own legacy row-condition syntax: what the fast check accepts, GX parses.
GX_ROW_CONDITIONS_ACCEPTED = [
    'col("age") > 18',
    'col("age")>=-1.5e3',
    ' col("a b") == "x y" ',
    "col(\"a\") != 'x,y'",
    'col("a") < +1',
    'col("a") == "é"',
    'col("a").notnull()',
    'col("a").NOTNULL()',
]
GX_ROW_CONDITIONS_REJECTED = ["a > 1", 'col("a") == ""', 'col("a") <> 1', 'col("a") == "x\'y"']

REJECTED: list[tuple[Any, Any]] = [
    *[(t, k) for t, k, _ in QUALITY_REJECTS + POLICY_REJECTS],
    ("", {}),
    (3, {}),
    ("zzz", {}),
    (BETWEEN, ["column", "a"]),
    (BETWEEN, {1: "a"}),
    (BETWEEN, {"column": "a", "min_value": 1, "catch_exceptions": True}),
    (BETWEEN, {"column": "a", "min_value": 1, "windows": []}),
    (BETWEEN, {"column": "", "min_value": 1}),
    (BETWEEN, {"column": None, "min_value": 1}),
    (BETWEEN, {"column": ["a"], "min_value": 1}),
    (BETWEEN, {"column": {"a": 1}, "min_value": 1}),
    (BETWEEN, {"column": "a", "min_value": {"a": 1}}),
    (BETWEEN, {"column": "a", "min_value": None, "max_value": None}),
    (BETWEEN, {"column": "a", "min_value": 1, "mostly": -1}),
    (BETWEEN, {"column": "a", "min_value": 1, "mostly": float("nan")}),
    (BETWEEN, {"column": "a", "min_value": 1, "mostly": None}),
    (BETWEEN, {"column": "a", "min_value": 1, "mostly": True}),
    (BETWEEN, {"column": "a", "min_value": 1, "strict_min": None}),
    (BETWEEN, {"column": "a", "min_value": 1, "severity": "bad"}),
    (BETWEEN, {"column": "a", "min_value": 1, "condition_parser": "sql"}),
    (BETWEEN, {"column": "a", "min_value": 1, "row_condition": {"x": 1}}),
    (BETWEEN, {"column": 5, "min_value": "abc", "mostly": 3}),
    (BETWEEN, {"min_value": "abc"}),
    (BETWEEN, {"column": "d", "min_value": "2024-13-01"}),
    (BETWEEN, {"column": "a", "min_value": "2024-02-01", "max_value": "2024-01-01"}),
    (IN_SET, {"column": "a", "value_set": "abc"}),
    (IN_SET, {"column": "a", "value_set": None}),
    (IN_SET, {"column": "a", "value_set": {"$PARAMETER": "s"}}),
    ("expect_column_distinct_values_to_be_in_set", {"column": "a", "value_set": []}),
    ("expect_column_values_to_match_regex_list", {"column": "a", "regex_list": [1, None]}),
    ("expect_column_values_to_match_regex_list", {"column": "a", "regex_list": []}),
    (
        "expect_column_values_to_match_regex_list",
        {"column": "a", "regex_list": ["a"], "match_on": "some"},
    ),
    (
        "expect_column_values_to_not_match_like_pattern_list",
        {"column": "a", "like_pattern_list": []},
    ),
    ("expect_compound_columns_to_be_unique", {"column_list": ["a"]}),
    ("expect_compound_columns_to_be_unique", {"column_list": "ab"}),
    ("expect_multicolumn_sum_to_equal", {"column_list": ["a", 1], "sum_total": 1}),
    ("expect_multicolumn_sum_to_equal", {"column_list": ["a"], "sum_total": 1}),
    ("expect_table_row_count_to_be_between", {"min_value": 2, "max_value": 1}),
    ("expect_table_row_count_to_be_between", {"min_value": {"a": 1}}),
    ("expect_column_value_lengths_to_be_between", {"column": "a"}),
    ("expect_column_values_to_match_strftime_format", {"column": "a", "strftime_format": "%Q"}),
    (
        "expect_column_values_to_match_like_pattern",
        {"column": "a", "like_pattern": "a%", "escape": "ab"},
    ),
    (
        "expect_column_values_to_match_like_pattern",
        {"column": "a", "like_pattern": "a", "escape": 55},
    ),
    ("unexpected_rows_expectation", {"unexpected_rows_query": "select * from {batch} where {"}),
    (
        "expect_column_pair_values_to_be_in_set",
        {"column_A": "a", "column_B": "b", "value_pairs_set": [[1, 2, 3]]},
    ),
    ("expect_column_quantile_values_to_be_between", {"column": "a", "quantile_ranges": {}}),
    (
        "expect_column_quantile_values_to_be_between",
        {"column": "a", "quantile_ranges": {"quantiles": ["x"], "value_ranges": [[1, 2]]}},
    ),
    ("expect_column_quantile_values_to_be_between", {"column": "a", "quantile_ranges": [0.5]}),
    ("expect_column_values_to_not_be_outliers", {"column": "a", "multiplier": -1}),
    ("expect_column_values_to_not_be_outliers", {"column": "a", "method": "mad"}),
    ("expect_column_to_exist", {"column": "a", "column_index": [2]}),
    ("expect_column_values_to_be_null", {"column": "a", "mostly": 1.5}),
    ("expect_table_columns_to_match_set", {"column_set": "a"}),
    ("expect_column_value_z_scores_to_be_less_than", {"column": "a", "threshold": 3}),
    ("expect_table_row_count_to_be_between", {"min_value": 1, "max_value": "2024-01-01T00:00"}),
    (
        "expect_table_row_count_to_be_between",
        {"min_value": "2024-01-01T00:00Z", "max_value": "2024-02-01T00:00"},
    ),
    # GX's row-condition parser error outranks the field errors
    (
        "expect_column_values_to_not_be_null",
        {"column": ["a"], "row_condition": 2, "condition_parser": "great_expectations"},
    ),
    (
        "expect_column_values_to_not_be_null",
        {
            "column": "a",
            "row_condition": 'col("a")\n<> 1',
            "condition_parser": "great_expectations",
        },
    ),
]


def _agreement_cases() -> list[Any]:
    cases: list[Any] = [pytest.param(t, k, id=f"shipped-{i}") for i, (t, k) in enumerate(SHIPPED)]
    cases += [pytest.param(t, k, id=f"valid-{i}") for i, (t, k) in enumerate(VALID)]
    cases += [pytest.param(t, k, id=f"rejected-{i}") for i, (t, k) in enumerate(REJECTED)]
    for parser in ("great_expectations", "great_expectations__experimental__"):
        for i, cond in enumerate(GX_ROW_CONDITIONS_ACCEPTED + GX_ROW_CONDITIONS_REJECTED):
            kwargs = {"column": "a", "min_value": 1, "row_condition": cond}
            cases.append(
                pytest.param(
                    BETWEEN,
                    {**kwargs, "condition_parser": parser},
                    id=f"gx-row-condition-{parser[-5:]}-{i}",
                )
            )
    return cases


def test_the_tables_are_not_empty() -> None:
    assert len(SHIPPED) >= 8  # baseline pack's four and the demo policy's four
    assert {t for t, _ in SHIPPED} >= {"expect_table_row_count_to_be_between", IN_SET}


@pytest.mark.parametrize(("type_", "kwargs"), _agreement_cases())
def test_fast_check_agrees_with_gx(type_: Any, kwargs: Any) -> None:
    gx, fast = gx_outcome(type_, kwargs), fast_outcome(type_, kwargs)
    assert (fast is None) == (gx is None), f"GX: {gx}\nfast: {fast}"
    if gx is not None and fast is not None:
        assert problem_kind(fast) == problem_kind(gx), f"GX: {gx}\nfast: {fast}"
        assert "\n" not in fast


@pytest.mark.parametrize(("type_", "kwargs", "expected"), QUALITY_REJECTS)
def test_quality_error_cases_read_as_before(
    type_: str, kwargs: dict[str, Any], expected: str
) -> None:
    message = fast_outcome(type_, kwargs)
    assert message is not None
    assert message.startswith(f"expectation {type_!r}: ")
    assert expected in message


@pytest.mark.parametrize(("type_", "kwargs", "expected"), POLICY_REJECTS)
def test_policy_error_cases_read_as_before(
    type_: str, kwargs: dict[str, Any], expected: str
) -> None:
    message = fast_outcome(type_, kwargs)
    assert message is not None and message.startswith(expected)


def test_messages_match_gx_word_for_word_in_the_common_cases() -> None:
    for type_, kwargs in [
        *[(t, k) for t, k, _ in QUALITY_REJECTS + POLICY_REJECTS],
        (BETWEEN, {"column": 5, "min_value": "abc", "mostly": 3}),
        ("expect_column_values_to_be_between_", {}),
        ("", {}),
        (BETWEEN, ["a"]),
    ]:
        assert fast_outcome(type_, kwargs) == gx_outcome(type_, kwargs)


# Where the fast check refuses what GX's model takes, on purpose. Each is a value GX coerces into
# something else, or a value the fast check cannot verify without GX.
STRICTER: list[tuple[str, dict[str, Any], str]] = [
    (BETWEEN, {"column": "a", "min_value": "1.5"}, "text for a number"),
    (BETWEEN, {"column": "a", "min_value": 1, "mostly": "0.5"}, "text for a number"),
    ("expect_column_mean_to_be_between", {"column": "a", "min_value": ""}, "'' becomes {}"),
    (BETWEEN, {"column": "a", "min_value": [["a", 1]]}, "a list of pairs becomes a mapping"),
    (BETWEEN, {"column": "a", "min_value": 1, "strict_min": 1}, "1 becomes True"),
    (BETWEEN, {"column": "a", "min_value": 1, "strict_min": "yes"}, "'yes' becomes True"),
    ("expect_table_row_count_to_be_between", {"min_value": 1.5}, "1.5 is truncated to 1"),
    ("expect_table_row_count_to_be_between", {"min_value": "3"}, "text for an integer"),
    ("expect_column_to_exist", {"column": "a", "column_index": "2"}, "text for an integer"),
    ("expect_column_to_exist", {"column": "a", "column_index": 1.5}, "1.5 is truncated to 1"),
    (
        BETWEEN,
        {"column": "a", "min_value": 1, "row_condition": 'col("a") > 1 and col("b") < 2'},
        "GX ignores everything after 'col(\"a\") > 1'",
    ),
    (
        BETWEEN,
        {"column": "a", "min_value": 1, "row_condition": 'col("a") == date("2024-01-01")'},
        "valid GX syntax the fast check does not parse",
    ),
    (
        BETWEEN,
        {
            "column": "a",
            "min_value": 1,
            "row_condition": {
                "type": "and",
                "conditions": [
                    {"type": "nullity", "column": {"name": "b"}, "is_null": True},
                    {"type": "nullity", "column": {"name": "c"}, "is_null": False},
                ],
            },
        },
        "a structured condition with GX validators of its own",
    ),
    (
        BETWEEN,
        {
            "column": "a",
            "min_value": 1,
            "row_condition": {"column": {"name": "b"}, "operator": ">", "parameter": 1},
        },
        "a comparison, whose GX validators the fast check does not run",
    ),
]
_GX_PARSERS = ("great_expectations", "great_expectations__experimental__")


@pytest.mark.parametrize(("type_", "kwargs", "why"), STRICTER, ids=[why for _, _, why in STRICTER])
def test_fast_check_is_stricter_on_purpose(type_: str, kwargs: dict[str, Any], why: str) -> None:
    if isinstance(kwargs.get("row_condition"), str):
        kwargs = {**kwargs, "condition_parser": _GX_PARSERS[0]}
    assert gx_outcome(type_, kwargs) is None, why
    assert fast_outcome(type_, kwargs) is not None, why


def test_empty_bound_is_refused_by_both_but_worded_differently() -> None:
    """GX turns ``""`` into ``{}`` and then complains about empty strings; the fast check
    names the argument instead."""
    kwargs = {"column": "a", "min_value": ""}
    assert gx_outcome(BETWEEN, kwargs) == f"expectation {BETWEEN!r}: values cannot be empty strings"
    assert fast_outcome(BETWEEN, kwargs) == (
        f"expectation {BETWEEN!r}: invalid value for 'min_value': '' (value is not a valid float)"
    )


# --- every type ----------------------------------------------------------------------------------


def _sample(spec: Mapping[str, Any], index: int = 0) -> Any:
    """A value ``spec`` accepts, built from the vocabulary alone."""
    if "choices" in spec:
        return spec["choices"][0]
    kind = spec["kinds"][0]
    if kind == "string":
        return "ab"[index % 2]
    if kind == "number":
        return spec.get("ge", spec.get("le", 0.5))
    if kind == "integer":
        return 1
    if kind == "any":
        return index
    if kind == "boolean":
        return True
    if kind == "date":
        return "2024-01-01"
    if kind == "datetime":
        return "2024-01-01T00:00:00"
    if kind == "mapping":
        return {}
    if kind == "list":
        count = spec.get("length", 2)
        item = spec.get("items", {"kinds": ["string"]})
        return [_sample(item, i) for i in range(count)]
    if kind == "object":
        model = load_vocabulary()["models"][spec["models"][0]]
        return {f["name"]: _sample(f) for f in model["fields"] if f["required"]}
    raise AssertionError(f"no sample for {spec}")


def _minimal(type_: str) -> dict[str, Any]:
    fields = load_vocabulary()["types"][type_]["fields"]
    kwargs = {f["name"]: _sample(f) for f in fields if f["required"]}
    if type_.endswith("_between") and {"min_value", "max_value"} <= {f["name"] for f in fields}:
        kwargs["max_value"] = _sample(next(f for f in fields if f["name"] == "max_value"))
    return kwargs


@pytest.mark.parametrize("type_", known_expectation_types())
def test_every_type_takes_its_minimal_arguments(type_: str) -> None:
    kwargs = _minimal(type_)
    assert fast_outcome(type_, kwargs) is None
    assert gx_outcome(type_, kwargs) is None
    required = [f["name"] for f in load_vocabulary()["types"][type_]["fields"] if f["required"]]
    for name in required:
        rest = {k: v for k, v in kwargs.items() if k != name}
        fast, gx = fast_outcome(type_, rest), gx_outcome(type_, rest)
        assert fast == gx == f"expectation {type_!r}: missing required argument {name!r}"


def test_check_reports_a_stale_file_and_write_fixes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from govern.checks import gx_vocabulary

    stale = tmp_path / "gx_vocabulary.json"
    text = Path(gx_vocabulary.VOCABULARY_FILE).read_text(encoding="utf-8")
    stale.write_text(text.replace('"expect_column_to_exist"', '"expect_column_to_exsit"'))
    monkeypatch.setattr(gx_vocabulary, "VOCABULARY_FILE", str(stale))
    assert gx_vocabulary.main(["--check"]) == 1
    assert "expect_column_to_exist" in capsys.readouterr().err
    assert gx_vocabulary.main(["--write"]) == 0
    assert gx_vocabulary.main(["--check"]) == 0
    assert stale.read_text(encoding="utf-8") == gx_vocabulary.render_vocabulary(
        gx_vocabulary.build_vocabulary()
    )
