"""Data-quality checks: Great Expectations 1.x expectations run on the training data.

Great Expectations and pandas take seconds to import, so both are imported inside the functions
that need them: ``govern --help`` must not pay for them.

GX is lenient where an audit cannot be: it coerces odd arguments (``true`` for a number), accepts
any mapping where a suite parameter could stand, reports a crashed expectation as a plain
``success: false`` and de-duplicates a suite behind the caller's back. This module is strict before
running (``validate_expectation``) and fails closed after (an expectation that raised is an
``error``, never a ``pass`` or an ordinary ``fail``).
"""

from __future__ import annotations

import difflib
import json
import os
import threading
import types
import typing
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import date
from typing import TYPE_CHECKING, Any

from govern.config.vocabulary import (
    RESERVED_ARGUMENTS,
    check_argument_names,
    check_bounds,
    check_not_vacuous,
    short_repr,
)
from govern.errors import PolicyError
from govern.model.results import CheckResult, Status, jsonable
from govern.model.specs import ExpectationSpec
from govern.model.wording import expectation_columns, short_percent, short_value, summary_phrase

if TYPE_CHECKING:
    import pandas

__all__ = ["known_expectation_types", "run_expectations", "run_on_batch", "validate_expectation"]

RESULT_FORMAT: dict[str, Any] = {"result_format": "SUMMARY", "partial_unexpected_count": 5}
"""SUMMARY gives counts and a few example values; COMPLETE would copy whole columns of row data
into ``results.json``."""

MAX_EXAMPLES = 5
MAX_EXAMPLE_CHARS = 200

_KEPT_RESULT_KEYS = (
    "observed_value",
    "element_count",
    "unexpected_count",
    "unexpected_percent",
    "missing_count",
    "missing_percent",
)

_RESERVED_KWARGS = RESERVED_ARGUMENTS

_COLUMN_KEYS = ("column", "column_A", "column_B", "column_list")
_NOT_THRESHOLDS = frozenset(
    {"column", "column_A", "column_B", "row_condition", "condition_parser", "ignore_row_if"}
)

_GX_LOCK = threading.RLock()
"""A GX Data Context is not thread-safe; one lock guards creating it and every run on it."""
_CONTEXT: Any = None


def _gx() -> Any:
    """Import GX with analytics off.

    GX 1.24.1 ships no analytics client any more (``analytics_enabled`` is an inert config key
    and its PyPI version checker is never called), but earlier 1.x releases sent usage events
    unless this variable was false when the package was imported, so it is set first in case a
    different version is installed.
    """
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations

    return great_expectations


def _silence_metric_progress_bars() -> None:
    """Force GX's only tqdm bar off.

    The context's ``progress_bars`` setting covers ordinary validation, but a few GX code paths
    (the KL-divergence partition, ``Batch.columns()``) build their metrics calculator with
    ``show_progress_bars=True`` hard-coded, which writes bars to stderr in the middle of the CLI's
    output. All of GX's bars are created through this one module-level name.
    """
    from great_expectations.validator import validation_graph

    original = validation_graph.tqdm
    if getattr(original, "_govern_silenced", False):
        return

    def silent_tqdm(*args: Any, **kwargs: Any) -> Any:
        kwargs["disable"] = True
        return original(*args, **kwargs)

    silent_tqdm._govern_silenced = True  # type: ignore[attr-defined]
    validation_graph.tqdm = silent_tqdm


def _context() -> Any:
    """One ephemeral context per process: nothing is written to disk, and it is built once."""
    global _CONTEXT
    with _GX_LOCK:
        if _CONTEXT is None:
            gx = _gx()
            from great_expectations.data_context.types.base import ProgressBarsConfig

            context = gx.get_context(mode="ephemeral")
            context.variables.progress_bars = ProgressBarsConfig(
                globally=False, metric_calculations=False
            )
            context.config.analytics_enabled = False
            _silence_metric_progress_bars()
            _CONTEXT = context
        return _CONTEXT


def known_expectation_types() -> list[str]:
    """Every expectation type GX can build, for suggestions and for ``govern`` docs."""
    _gx()
    from great_expectations.expectations.registry import (
        list_registered_expectation_implementations,
    )

    return sorted(list_registered_expectation_implementations())


def _expectation_class(type_: str) -> Any:
    if not isinstance(type_, str) or not type_:
        raise PolicyError(f"expectation type must be a non-empty string, got {type_!r}")
    known = known_expectation_types()
    if type_ not in known:
        close = difflib.get_close_matches(type_, known, n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise PolicyError(f"unknown expectation type {type_!r}{hint}")
    from great_expectations.expectations.registry import get_expectation_impl

    return get_expectation_impl(type_)


def _union_members(annotation: Any) -> tuple[Any, ...]:
    """The alternatives of a field type, seen through ``Optional``/``Annotated``."""
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        members: list[Any] = []
        for arg in typing.get_args(annotation):
            members.extend(_union_members(arg))
        return tuple(members)
    return (annotation,)


def _is_scalar_type(member: Any) -> bool:
    if typing.get_origin(member) is typing.Literal:
        return True
    return isinstance(member, type) and issubclass(member, bool | int | float | str | date)


def _check_value_kinds(type_: str, cls: Any, kwargs: Mapping[str, Any]) -> None:
    """Catch what pydantic v1 would silently coerce or GX would resolve at run time.

    Almost every GX field is typed ``Union[<real type>, dict]`` so that it can hold a suite
    parameter (``{"$PARAMETER": ...}``), and pydantic v1 turns ``True`` into ``1.0``: both would
    let ``min_value: true`` or ``min_value: {a: 1}`` through to a run that then errors or, worse,
    compares against 1.
    """
    for name, value in kwargs.items():
        if isinstance(value, Mapping) and "$PARAMETER" in value:
            raise PolicyError(
                f"expectation {type_!r}: argument {name!r} uses a GX suite parameter "
                "($PARAMETER); give the value itself"
            )
        field = cls.__fields__.get(name)
        if field is None:
            continue
        members = [m for m in _union_members(field.outer_type_) if m is not type(None)]
        if not members or any(m is Any or m is object for m in members):
            continue
        if isinstance(value, bool) and not any(m is bool for m in members):
            raise PolicyError(
                f"expectation {type_!r}: invalid value for {name!r}: {value!r} (a boolean is not "
                "allowed here)"
            )
        others = [m for m in members if m is not dict]
        if isinstance(value, Mapping) and dict in members and others:
            if all(_is_scalar_type(m) for m in others):
                raise PolicyError(
                    f"expectation {type_!r}: invalid value for {name!r}: {short_repr(value)} "
                    "(a mapping is not allowed here)"
                )
            # ``Union[QuantileRange, dict]``: pydantic keeps the plain dict, unchecked.
            for model in others:
                if isinstance(model, type) and hasattr(model, "parse_obj"):
                    try:
                        model.parse_obj(dict(value))
                    except Exception as exc:
                        detail = _validation_message(type_, exc, value).split(": ", 1)[-1]
                        raise PolicyError(
                            f"expectation {type_!r}: invalid value for {name!r}: "
                            f"{short_repr(value)} ({detail})"
                        ) from None
    check_bounds(type_, set(cls.__fields__), kwargs)
    check_not_vacuous(type_, kwargs)


def _validation_message(type_: str, exc: Exception, kwargs: Mapping[str, Any]) -> str:
    """One line from pydantic's list, first error per argument.

    A ``Union[float, dict, date]`` field reports one error per alternative; the first (the
    intended type) is the one a policy author can act on.
    """
    errors = getattr(exc, "errors", None)
    if not callable(errors):
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return f"expectation {type_!r}: {first}"
    parts: list[str] = []
    seen: set[str] = set()
    root: list[str] = []
    for err in errors():
        loc = ".".join(str(p) for p in err.get("loc", ())) or "__root__"
        msg = str(err.get("msg", "invalid"))
        if loc == "__root__":
            root.append(msg)
            continue
        top = str(err.get("loc", (loc,))[0])
        if top in seen:
            continue
        seen.add(top)
        kind = str(err.get("type", ""))
        if kind == "value_error.missing":
            parts.append(f"missing required argument {top!r}")
        elif kind == "value_error.extra":
            parts.append(f"unknown argument {top!r}")
        else:
            shown = short_repr(kwargs[top]) if top in kwargs else "?"
            parts.append(f"invalid value for {loc!r}: {shown} ({msg})")
    if not parts:
        parts = root
    return f"expectation {type_!r}: " + "; ".join(parts or ["invalid arguments"])


def _build(type_: str, kwargs: Mapping[str, Any]) -> Any:
    """The GX expectation object, or PolicyError; shared by validation and the run so that what
    was validated is exactly what runs."""
    cls = _expectation_class(type_)
    allowed = set(cls.__fields__) - _RESERVED_KWARGS
    allowed |= {f.alias for n, f in cls.__fields__.items() if n in allowed}
    check_argument_names(type_, kwargs, allowed)
    _check_value_kinds(type_, cls, kwargs)
    try:
        return cls(**dict(kwargs))
    except Exception as exc:  # pydantic.v1 ValidationError, or a validator's own error
        raise PolicyError(_validation_message(type_, exc, kwargs)) from None


def validate_expectation(type_: str, kwargs: Mapping[str, Any]) -> None:
    """Reject a malformed expectation before anything runs.

    GX coerces or defers what an audit must refuse: a misspelt type or argument, a boolean bound
    or a bound-less ``between`` would otherwise be a check that silently never happened or always
    passes. Raises ``PolicyError`` with one line naming the type and the offending argument.
    """
    _build(type_, kwargs)


# ---------------------------------------------------------------------------------------------
# Running


def _domain_columns(kwargs: Mapping[str, Any], domain_keys: Sequence[str]) -> list[str]:
    """Columns that must exist for the expectation to mean anything.

    ``expect_column_to_exist`` has ``column`` as a success key, not a domain key: a missing
    column is its ordinary failure, not an error.
    """
    out: list[str] = []
    for key in _COLUMN_KEYS:
        if key not in domain_keys or key not in kwargs:
            continue
        value = kwargs[key]
        if isinstance(value, list | tuple):
            out.extend(str(v) for v in value)
        else:
            out.append(str(value))
    return out


def _exception_messages(exception_info: Any) -> list[str]:
    """Messages of every exception GX caught for one expectation.

    GX 1.24 uses two shapes: a flat ``{raised_exception, exception_message, ...}`` when building
    or evaluating the expectation failed, and ``{<metric id>: {raised_exception, ...}}`` when a
    metric it depends on failed (a missing column, a bad regex).
    """
    if not isinstance(exception_info, Mapping):
        return []
    if "raised_exception" in exception_info:
        entries: list[Any] = [exception_info]
    else:
        entries = [v for v in exception_info.values() if isinstance(v, Mapping)]
    messages = []
    for entry in entries:
        if entry.get("raised_exception"):
            text = str(entry.get("exception_message") or "").strip()
            messages.append(text.splitlines()[0] if text else "unknown error")
    return messages


def _small_result(result: Mapping[str, Any]) -> dict[str, Any]:
    """What the report needs of GX's result: counts and a handful of example values, never rows
    or row indices."""
    out = {k: jsonable(result[k]) for k in _KEPT_RESULT_KEYS if k in result}
    if "partial_unexpected_list" in result:
        examples = []
        for value in list(result.get("partial_unexpected_list") or [])[:MAX_EXAMPLES]:
            plain = jsonable(value)
            if not (plain is None or isinstance(plain, str | int | float | bool)):
                plain = repr(plain)
            if isinstance(plain, str) and len(plain) > MAX_EXAMPLE_CHARS:
                plain = plain[: MAX_EXAMPLE_CHARS - 3] + "..."
            examples.append(plain)
        out["partial_unexpected_list"] = examples
    return out


def _threshold(kwargs: Mapping[str, Any], cls: Any) -> dict[str, Any] | None:
    keys = [
        k
        for k in kwargs
        if k in cls.success_keys and k not in _NOT_THRESHOLDS and k not in cls.domain_keys
    ]
    return {k: jsonable(kwargs[k]) for k in keys} or None


class _Planned:
    """One spec on its way to a CheckResult."""

    def __init__(self, index: int, type_: str, kwargs: Mapping[str, Any], origin: str) -> None:
        self.index = index
        self.type = type_
        self.kwargs = kwargs
        self.origin = origin
        self.cls: Any = None
        self.expectation: Any = None
        self.columns: list[str] = []
        self.error: str | None = None
        self.group: int | None = None


def _signature(expectation: Any) -> str:
    """What GX's suite considers the same expectation (it keeps only the first of equals)."""
    fields = expectation.dict(exclude={"id", "rendered_content", "notes", "meta"})
    return expectation.expectation_type + json.dumps(fields, sort_keys=True, default=repr)


def _add_datasource(context: Any, name: str, engine: str) -> Any:
    """A pandas or Spark data source on the ephemeral context. On Spark, ``persist=False``: GX
    would otherwise cache the whole batch in executor memory for the length of the audit."""
    if engine == "spark":
        return context.data_sources.add_spark(name=name, persist=False)
    return context.data_sources.add_pandas(name=name)


def _run_suite(context: Any, df: Any, expectations: list[Any], engine: str) -> list[Any]:
    gx = _gx()
    name = f"govern-{uuid.uuid4().hex}"
    datasource = _add_datasource(context, name, engine)
    try:
        asset = datasource.add_dataframe_asset(name=name)
        batch_definition = asset.add_batch_definition_whole_dataframe(name)
        batch = batch_definition.get_batch(batch_parameters={"dataframe": df})
        suite = gx.ExpectationSuite(name=name)
        for expectation in expectations:
            suite.add_expectation(expectation)
        return list(batch.validate(suite, result_format=dict(RESULT_FORMAT)).results)
    finally:
        try:
            context.data_sources.delete(name)
        except Exception:  # cleanup only: the ephemeral context dies with the process
            pass


def _validate_all(df: Any, groups: list[Any], engine: str) -> dict[int, Any]:
    """Run every distinct expectation in one pass; on a whole-suite crash, one at a time.

    GX catches most failures per expectation, but some (building an expectation's metric
    dependencies) escape and would sink every other check with them.
    """
    if not groups:
        return {}
    context = _context()

    def tagged(gid: int) -> Any:
        # GX reorders results (grouped by column), so each carries its position in ``meta``.
        meta = {**(groups[gid].meta or {}), "govern_group": gid}
        return groups[gid].copy(update={"meta": meta}, deep=True)

    by_group: dict[int, Any] = {}
    with _GX_LOCK:
        try:
            for res in _run_suite(context, df, [tagged(g) for g in range(len(groups))], engine):
                gid = (res.expectation_config.meta or {}).get("govern_group")
                if isinstance(gid, int):
                    by_group.setdefault(gid, res)
        except Exception:
            by_group = {}
            for gid in range(len(groups)):
                try:
                    by_group[gid] = _run_suite(context, df, [tagged(gid)], engine)[0]
                except Exception as exc:
                    by_group[gid] = exc
    return by_group


def _unique_ids(planned: list[_Planned]) -> list[str]:
    ids: list[str] = []
    counts: dict[str, int] = {}
    for plan in planned:
        base = f"quality.{plan.type}"
        if plan.columns:
            base += "." + "+".join(plan.columns)
        counts[base] = counts.get(base, 0) + 1
        ids.append(base if counts[base] == 1 else f"{base}#{counts[base]}")
    return ids


def _check_result(plan: _Planned, check_id: str, outcome: Any) -> CheckResult:
    kwargs = plan.kwargs if isinstance(plan.kwargs, Mapping) else {}
    details: dict[str, Any] = {
        "expectation_type": plan.type,
        "kwargs": jsonable(dict(kwargs)),
        "result": {},
        "origin": plan.origin,
    }
    threshold = _threshold(kwargs, plan.cls) if plan.cls is not None else None
    try:
        desc = summary_phrase(plan.type, kwargs, plan.columns)
    except Exception:  # a description must never cost a result
        desc = plan.type

    def error(message: str, raised: bool = True) -> CheckResult:
        details["exception"] = message
        return CheckResult(
            id=check_id,
            kind="quality",
            status="error",
            summary=f"{desc}: expectation raised: {message}" if raised else f"{desc}: {message}",
            threshold=threshold,
            details=details,
        )

    if plan.error is not None:
        return error(plan.error, raised=False)
    if outcome is None:
        return error("Great Expectations returned no result for this expectation")
    if isinstance(outcome, BaseException):
        text = str(outcome).strip()
        return error(text.splitlines()[0] if text else type(outcome).__name__)

    raw = outcome.to_json_dict()
    result = raw.get("result") or {}
    details["result"] = _small_result(result)
    messages = _exception_messages(raw.get("exception_info"))
    if messages:
        return error("; ".join(dict.fromkeys(messages)))

    small = details["result"]
    status: Status = "pass" if raw.get("success") is True else "fail"
    if "observed_value" in small:
        observed = small["observed_value"]
        tail = "no value" if observed is None else short_value(observed)
        summary = f"{desc}: observed {tail}"
    elif "unexpected_count" in small:
        observed = small.get("unexpected_percent")
        summary = f"{desc}: {small['unexpected_count']} unexpected ({short_percent(observed)})"
        total, missing = small.get("element_count"), small.get("missing_count")
        # GX skips missing values in map expectations, so an empty table or an all-missing
        # column "passes" having looked at nothing. Nothing checked is not a pass.
        if total == 0:
            summary = f"{desc}: no rows to check"
            status = "fail"
        elif missing is not None and missing == total:
            summary = f"{desc}: nothing to check, all {total} values are missing"
            if plan.type not in _ALL_MISSING_IS_SUCCESS:
                status = "fail"
    else:
        observed = None
        summary = f"{desc}: {'met' if status == 'pass' else 'not met'}"
    return CheckResult(
        id=check_id,
        kind="quality",
        status=status,
        summary=summary,
        observed=observed,
        threshold=threshold,
        details=details,
    )


# Expectations for which "every value is missing" is the thing being asserted, not a vacuous pass.
_ALL_MISSING_IS_SUCCESS = frozenset({"expect_column_values_to_be_null"})


def run_expectations(df: pandas.DataFrame, specs: Sequence[ExpectationSpec]) -> list[CheckResult]:
    """Run every expectation against ``df``: one result per spec, in the specs' order.

    A spec that is malformed, names a missing column or crashes inside GX becomes an ``error``
    result rather than an exception, so one bad expectation cannot hide the others' outcomes.
    """
    return run_on_batch(df, specs, engine="pandas")


def run_on_batch(
    data: Any,
    specs: Sequence[ExpectationSpec],
    *,
    engine: str,
    translate: Callable[[str, Mapping[str, Any]], Mapping[str, Any]] | None = None,
) -> list[CheckResult]:
    """``run_expectations`` on a pandas (``engine="pandas"``) or Spark (``"spark"``) DataFrame.

    ``translate`` rewrites a spec's arguments for the engine before GX builds it (the Spark
    engine maps pandas type names to Spark's); the check reports the arguments as written.
    """
    planned: list[_Planned] = []
    columns = {str(c) for c in getattr(data, "columns", [])}
    signatures: dict[str, int] = {}
    groups: list[Any] = []
    for index, spec in enumerate(specs):
        plan = _Planned(index, str(spec.type), spec.kwargs, str(spec.origin or ""))
        planned.append(plan)
        try:
            plan.expectation = _build(plan.type, plan.kwargs)
            if translate is not None:
                plan.expectation = _build(plan.type, translate(plan.type, plan.kwargs))
            plan.cls = type(plan.expectation)
        except PolicyError as exc:
            plan.error = f"invalid expectation: {exc}"
            kwargs = plan.kwargs if isinstance(plan.kwargs, Mapping) else {}
            plan.columns = expectation_columns(plan.type, kwargs)
            continue
        domain_keys = tuple(plan.cls.domain_keys)
        plan.columns = expectation_columns(plan.type, plan.kwargs)
        missing = [c for c in _domain_columns(plan.kwargs, domain_keys) if c not in columns]
        if missing:
            names = ", ".join(repr(c) for c in dict.fromkeys(missing))
            plan.error = f"column {names} does not exist in the data"
            if len(missing) > 1:
                plan.error = f"columns {names} do not exist in the data"
            continue
        sig = _signature(plan.expectation)
        if sig not in signatures:
            signatures[sig] = len(groups)
            groups.append(plan.expectation)
        plan.group = signatures[sig]

    outcomes = _validate_all(data, groups, engine)
    ids = _unique_ids(planned)
    return [
        _check_result(plan, check_id, outcomes.get(plan.group) if plan.group is not None else None)
        for plan, check_id in zip(planned, ids, strict=True)
    ]
