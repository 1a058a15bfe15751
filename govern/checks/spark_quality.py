"""Data quality on Spark: the same Great Expectations suite, run by GX's Spark data source.

Everything but the batch is ``quality.py``'s: the strict building of each expectation, one
suite run with a fallback to one expectation at a time, and the fail-closed reading of GX's
results. Here only what differs on Spark:

- GX's Spark data source, on the same ephemeral context (nothing written to disk), with
  ``persist=False`` (GX would otherwise cache the whole batch on the executors) and the SUMMARY
  result format, so counts and five example values come back, never rows.
- Type names. A policy names pandas types (``int64``, ``str``); GX on Spark compares
  ``isinstance(column_type, getattr(pyspark.sql.types, name))``, so the names are mapped
  (``PANDAS_TO_SPARK``) before GX sees them, and the observed Spark type is reported back by its
  pandas name (``spark_describe.SPARK_TO_PANDAS``), so a report reads the same on both engines.
  Known difference: a whole-number (or boolean) column with missing values is still
  ``LongType`` (``BooleanType``) on Spark, where pandas reads it as ``float64`` (``object``, whose
  values GX then checks one by one). The Spark engine judges the column's declared type there.
- Example values (``partial_unexpected_list``, five at most) are the first ones in the engine's
  scan order: on data split over many partitions they may be other examples than pandas shows,
  while every count is the same.
- Row conditions are passed as written: a ``condition_parser: pandas`` condition is an error
  check on Spark (GX's Spark engine parses ``spark`` conditions), never a silent pass.
- Spark Connect DataFrames go the same way: GX 1.24's Spark data source accepts them
  (``SparkDatasource.is_spark_data_frame`` lists classic and Connect frames, and pyspark 4's
  Connect ``DataFrame`` subclasses ``pyspark.sql.DataFrame``, which the execution engine checks);
  tests/spark/test_spark_connect.py runs the same suite over a real Connect server.
- Expectations GX cannot run on Spark (no Spark implementation of the metric they need) are a
  ``PolicyError`` naming them, before anything runs: a check that could not run must never look
  like one that passed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from govern.checks.quality import _gx, run_on_batch
from govern.checks.spark_describe import SPARK_TO_PANDAS
from govern.errors import PolicyError
from govern.model.results import CheckResult
from govern.model.specs import ExpectationSpec
from govern.model.wording import short_value

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

PANDAS_TO_SPARK: dict[str, str] = {
    "int8": "ByteType",
    "int16": "ShortType",
    "int32": "IntegerType",
    "int64": "LongType",
    "int": "LongType",
    "Int64": "LongType",
    "float32": "FloatType",
    "float64": "DoubleType",
    "float": "DoubleType",
    "Float64": "DoubleType",
    "bool": "BooleanType",
    "boolean": "BooleanType",
    "str": "StringType",
    "string": "StringType",
    "object": "StringType",
    "O": "StringType",
    "datetime64[ns]": "TimestampType",
    "datetime64[us]": "TimestampNTZType",
    "datetime64[ns, UTC]": "TimestampType",
    "datetime64[us, UTC]": "TimestampType",
}
"""A pandas type name in a policy -> the ``pyspark.sql.types`` class GX checks on Spark. Spark
type names (``LongType``) pass unchanged. ``object`` is mapped to strings because that is what an
object column holds in tabular training data; pandas 3 reads text as ``str``."""

_TYPE_ARGUMENTS = {"type_": False, "type_list": True}
"""Arguments that name column types (``True``: a list of names)."""

TYPE_EXPECTATIONS = frozenset(
    {"expect_column_values_to_be_of_type", "expect_column_values_to_be_in_type_list"}
)
"""On Spark these read the column's declared type (``table.column_types``) rather than every
value, so they run although their per-value metric has no Spark implementation."""


def unsupported_on_spark(types: Sequence[str]) -> list[str]:
    """The expectation types among ``types`` that GX 1.x cannot run on Spark: the metric they
    depend on has no Spark provider in GX's metric registry (read from GX itself, so a new GX
    release is judged by what it ships). Unknown types are left to the policy validation."""
    _gx()
    from great_expectations.expectations.registry import (
        _registered_metrics,
        get_expectation_impl,
        list_registered_expectation_implementations,
    )

    known = set(list_registered_expectation_implementations())
    out = []
    for type_ in dict.fromkeys(types):
        if type_ not in known or type_ in TYPE_EXPECTATIONS:
            continue
        cls = get_expectation_impl(type_)
        names: list[str] = []
        map_metric = getattr(cls, "map_metric", None)
        if map_metric:
            condition = f"{map_metric}.condition"
            names.append(condition if condition in _registered_metrics else map_metric)
        names.extend(getattr(cls, "metric_dependencies", ()) or ())
        for name in names:
            providers = _registered_metrics.get(name, {}).get("providers", {})
            if name in _registered_metrics and "SparkDFExecutionEngine" not in providers:
                out.append(type_)
                break
    return out


def _spark_type_name(name: Any) -> Any:
    if not isinstance(name, str):
        return name
    if name in PANDAS_TO_SPARK:
        return PANDAS_TO_SPARK[name]
    if name.endswith("Type"):
        return name
    raise PolicyError(
        f"type {name!r} has no Spark equivalent govern knows; use one of "
        f"{', '.join(sorted(PANDAS_TO_SPARK))} or a pyspark.sql.types name"
    )


def to_spark_types(type_: str, kwargs: Mapping[str, Any]) -> Mapping[str, Any]:
    """A spec's arguments with pandas type names replaced by Spark's (``PANDAS_TO_SPARK``)."""
    if type_ not in TYPE_EXPECTATIONS:
        return kwargs
    out = dict(kwargs)
    for key, is_list in _TYPE_ARGUMENTS.items():
        if key not in out or out[key] is None:
            continue
        if is_list and isinstance(out[key], list | tuple):
            out[key] = [_spark_type_name(v) for v in out[key]]
        elif not is_list:
            out[key] = _spark_type_name(out[key])
    return out


def _pandas_observed(check: CheckResult) -> CheckResult:
    """A type expectation's observed Spark type reported by its pandas name."""
    details = check.details or {}
    if details.get("expectation_type") not in TYPE_EXPECTATIONS:
        return check
    observed = check.observed
    if not isinstance(observed, str) or observed not in SPARK_TO_PANDAS:
        return check
    name = SPARK_TO_PANDAS[observed]
    result = dict(details.get("result") or {})
    result["observed_value"] = name
    result["spark_type"] = observed
    shown = f"observed {short_value(observed)}"
    summary = check.summary.replace(shown, f"observed {short_value(name)}")
    return replace(check, observed=name, summary=summary, details={**details, "result": result})


def run_expectations(sdf: DataFrame, specs: Sequence[ExpectationSpec]) -> list[CheckResult]:
    """``quality.run_expectations`` on a Spark DataFrame, counted on the executors.

    Raises ``PolicyError`` naming every expectation type GX cannot run on Spark; otherwise one
    result per spec, in order, each failing closed exactly as on pandas.
    """
    unsupported = unsupported_on_spark([str(s.type) for s in specs])
    if unsupported:
        raise PolicyError(
            "Great Expectations cannot run these expectations on Spark: "
            f"{', '.join(unsupported)}; use the pandas engine for this model, or other "
            "expectations"
        )
    checks = run_on_batch(sdf, specs, engine="spark", translate=to_spark_types)
    return [_pandas_observed(c) for c in checks]
