"""Check a policy's expectations against a shipped copy of Great Expectations' vocabulary.

Importing GX costs about 4 s, and loading a policy only needs to know which expectation types
exist, which arguments each takes and what values those accept. ``gx_vocabulary.json`` next to
this module records exactly that, generated from the installed GX by ``python -m
govern.checks.gx_vocabulary --write``; this module reads it with the standard library alone.

The check is a fast, strict first line, not a replacement: the run builds every expectation with
GX again (``govern.checks.quality``), which validates fully. So where this module cannot follow
GX exactly it errs towards refusing. Where GX's pydantic v1 models quietly coerce (``"0.5"`` or
``""`` for a number, ``1`` or ``"yes"`` for a boolean, ``1.5`` truncated to ``1`` for an
integer, a list of pairs for a mapping) a policy here gets an error naming the argument; where a
value cannot be checked without GX (a row condition given as a mapping) it is refused rather than
waved through. Error messages have the same shapes, in the same order of priority, as
``govern.checks.quality.validate_expectation``, so a policy error reads the same whichever check
caught it.
"""

from __future__ import annotations

import json
import math
import os
import re
import string
import threading
from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

from govern.errors import PolicyError

__all__ = [
    "RESERVED_ARGUMENTS",
    "VOCABULARY_FILE",
    "domain_keys",
    "known_expectation_types",
    "load_vocabulary",
    "success_keys",
    "validate_expectation_args",
    "vocabulary_matches_installed_gx",
]

VOCABULARY_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "gx_vocabulary.json")

RESERVED_ARGUMENTS = frozenset(
    {"result_format", "catch_exceptions", "rendered_content", "id", "batch_id", "windows"}
)
"""Fields every GX expectation model has but govern owns: letting a policy set ``result_format``
or ``catch_exceptions`` would change what is recorded, or let one expectation abort the run.
The quality engine refuses the same set when it builds an expectation with GX."""

_SCALAR_KINDS = frozenset({"boolean", "integer", "number", "string", "date", "datetime"})
_UNCHECKED_KINDS = frozenset({"any", "unknown"})

# pydantic v1's parsers for dates given as text (``pydantic.v1.datetime_parse``).
_DATE_RE = re.compile(r"(?P<year>\d{4})-(?P<month>\d{1,2})-(?P<day>\d{1,2})$")
_DATETIME_RE = re.compile(
    r"(?P<year>\d{4})-(?P<month>\d{1,2})-(?P<day>\d{1,2})[T ](?P<hour>\d{1,2}):(?P<minute>\d{1,2})"
    r"(?::(?P<second>\d{1,2})(?:\.(?P<microsecond>\d{1,6})\d{0,6})?)?"
    r"(?P<tzinfo>Z|[+-]\d{2}(?::?\d{2})?)?$"
)

# A subset of GX's legacy row-condition grammar (``legacy_row_conditions.py``, pyparsing) that GX
# is known to parse, matched whole: GX itself stops at the first token it cannot use, so
# ``col("a") > 1 and col("b") < 2`` would silently check only ``a``.
_TEXT = r"!#-&(-\[\]-~\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u00ff"  # no quotes, no backslash
_QUOTED = rf"(?:\"[ \t]*[{_TEXT}][{_TEXT} \t]*\"|'[ \t]*[{_TEXT}][{_TEXT} \t]*')"
_GX_ROW_CONDITION_RE = re.compile(
    r"[ \t\r\n]*col\(\"[^\"\\\r\n]*\"\)"
    r"(?:\.[nN][oO][tT][nN][uU][lL][lL]\(\)"
    r"|[ \t\r\n]*(?:>=|<=|==|!=|>|<)[ \t\r\n]*"
    rf"(?:[+-]?\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|{_QUOTED}))[ \t\r\n]*"
)

_MISSING = object()
_UNCHECKED = "a mapping here cannot be checked before the run; give the value as text"

_LOCK = threading.Lock()
_VOCABULARY: dict[str, Any] | None = None


def load_vocabulary() -> dict[str, Any]:
    """The shipped vocabulary, read once per process: policies are validated many times over."""
    global _VOCABULARY
    if _VOCABULARY is None:
        with _LOCK:
            if _VOCABULARY is None:
                with open(VOCABULARY_FILE, encoding="utf-8") as fh:
                    _VOCABULARY = json.load(fh)
    return _VOCABULARY


def known_expectation_types() -> list[str]:
    """Every expectation type the recorded GX can build, for suggestions and docs."""
    return sorted(load_vocabulary()["types"])


def vocabulary_matches_installed_gx() -> bool:
    """Whether the shipped vocabulary was generated from the GX version installed here.

    Reads package metadata only, so it stays cheap; a mismatch means the fast check may disagree
    with the run, and ``python -m govern.checks.gx_vocabulary --write`` should be run.
    """
    from importlib import metadata  # ~30 ms of email parsing: only when asked

    try:
        installed = metadata.version("great_expectations")
    except metadata.PackageNotFoundError:
        return False
    return bool(installed == load_vocabulary().get("great_expectations"))


def _suggest(name: str, options: Sequence[str]) -> str:
    import difflib  # only on the error path: 10 ms of import otherwise paid by every policy load

    close = difflib.get_close_matches(name, options, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _type_entry(type_: Any) -> Mapping[str, Any]:
    if not isinstance(type_, str) or not type_:
        raise PolicyError(f"expectation type must be a non-empty string, got {type_!r}")
    types = load_vocabulary()["types"]
    entry = types.get(type_)
    if entry is None:
        hint = _suggest(type_, sorted(types))
        raise PolicyError(f"unknown expectation type {type_!r}{hint}")
    return entry


def domain_keys(type_: str) -> tuple[str, ...]:
    """GX's domain keys of ``type_``: the arguments saying what an expectation is about."""
    return tuple(_type_entry(type_)["domain_keys"])


def success_keys(type_: str) -> tuple[str, ...]:
    """GX's success keys of ``type_``: the arguments deciding whether it passes."""
    return tuple(_type_entry(type_)["success_keys"])


def short_repr(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def check_argument_names(type_: str, kwargs: Any, allowed: set[str]) -> None:
    """The arguments are a mapping of text names, none reserved by govern, each one ``allowed``
    (the field names and aliases of the expectation); shared with the GX build so both say it
    the same way."""
    if not isinstance(kwargs, Mapping):
        raise PolicyError(
            f"expectation {type_!r}: arguments must be a mapping, got {type(kwargs).__name__}"
        )
    bad_names = [k for k in kwargs if not isinstance(k, str)]
    if bad_names:
        raise PolicyError(f"expectation {type_!r}: argument names must be text: {bad_names[0]!r}")
    for name in kwargs:
        if name in RESERVED_ARGUMENTS:
            raise PolicyError(
                f"expectation {type_!r}: argument {name!r} is set by govern and cannot be given"
            )
        if name not in allowed:
            hint = _suggest(name, sorted(allowed - RESERVED_ARGUMENTS))
            raise PolicyError(f"expectation {type_!r}: unknown argument {name!r}{hint}")


def validate_expectation_args(type_: str, kwargs: Mapping[str, Any]) -> None:
    """Reject a malformed expectation before anything runs, without importing GX.

    A misspelt type or argument, a boolean bound or a bound-less ``between`` would otherwise be
    a check that silently never happened or always passes. Raises ``PolicyError`` with one line
    naming the type and the offending argument, worded as ``govern.checks.quality`` words it.
    """
    entry = _type_entry(type_)
    fields = entry["fields"]
    allowed = {f["name"] for f in fields} | {f.get("alias", f["name"]) for f in fields}
    check_argument_names(type_, kwargs, allowed)
    _check_value_kinds(type_, fields, kwargs)
    check_bounds(type_, {f["name"] for f in fields}, kwargs)
    check_not_vacuous(type_, kwargs)
    problems, values = _field_problems(fields, kwargs, population_by_name=True)
    rules = entry.get("rules", ())
    # GX's row-condition parser raises past pydantic's error list: its message wins over field
    # errors, as it does in GX.
    for rule in rules:
        if rule.get("name") == "gx_row_condition" and (msg := _root_rule(rule, values)):
            raise PolicyError(f"expectation {type_!r}: {msg}")
    if problems:
        raise PolicyError(f"expectation {type_!r}: " + "; ".join(problems))
    failed = [msg for rule in rules if (msg := _root_rule(rule, values))]
    if failed:
        raise PolicyError(f"expectation {type_!r}: " + "; ".join(failed))


def _check_value_kinds(
    type_: str, fields: Sequence[Mapping[str, Any]], kwargs: Mapping[str, Any]
) -> None:
    """What govern refuses before GX sees it: suite parameters, booleans coerced to numbers and
    mappings standing where only a suite parameter could (GX types most fields
    ``Union[<real type>, dict]``)."""
    by_name = {f["name"]: f for f in fields}
    for name, value in kwargs.items():
        if isinstance(value, Mapping) and "$PARAMETER" in value:
            raise PolicyError(
                f"expectation {type_!r}: argument {name!r} uses a GX suite parameter "
                "($PARAMETER); give the value itself"
            )
        field = by_name.get(name)
        if field is None:
            continue
        kinds = field["kinds"]
        if not kinds or any(k in _UNCHECKED_KINDS for k in kinds):
            continue
        if isinstance(value, bool) and "boolean" not in kinds:
            raise PolicyError(
                f"expectation {type_!r}: invalid value for {name!r}: {value!r} (a boolean is not "
                "allowed here)"
            )
        others = [k for k in kinds if k != "mapping"]
        if isinstance(value, Mapping) and "mapping" in kinds and others:
            if all(k in _SCALAR_KINDS for k in others):
                raise PolicyError(
                    f"expectation {type_!r}: invalid value for {name!r}: {short_repr(value)} "
                    "(a mapping is not allowed here)"
                )
            models = field.get("models", ()) if "object" in others else ()
            for model in models:
                detail = _model_problems(model, value)
                if detail:
                    raise PolicyError(
                        f"expectation {type_!r}: invalid value for {name!r}: "
                        f"{short_repr(value)} ({detail})"
                    )


def check_bounds(type_: str, names: Collection[str], kwargs: Mapping[str, Any]) -> None:
    """A ``*_between`` with no bound always passes, and one with crossed bounds always fails:
    both are policy typos, not checks. ``names`` are the expectation's field names; shared with
    the GX build."""
    if "min_value" not in names or "max_value" not in names:
        return
    lo, hi = kwargs.get("min_value"), kwargs.get("max_value")
    if type_.endswith("_between") and lo is None and hi is None:
        raise PolicyError(f"expectation {type_!r}: give min_value, max_value or both")
    try:
        crossed = lo is not None and hi is not None and lo > hi
    except TypeError:
        return  # incomparable types: the field check reports them
    if crossed:
        raise PolicyError(
            f"expectation {type_!r}: min_value {short_repr(lo)} is greater than max_value "
            f"{short_repr(hi)}"
        )


# Quantities that cannot be negative, and shares that lie in [0, 1]: a bound at or past the end
# of their range bounds nothing.
_COUNT_TYPES = frozenset(
    {
        "expect_table_row_count_to_be_between",
        "expect_table_column_count_to_be_between",
        "expect_column_unique_value_count_to_be_between",
        "expect_column_value_lengths_to_be_between",
        "expect_column_stdev_to_be_between",
    }
)
_SHARE_TYPES = frozenset(
    {
        "expect_column_proportion_of_non_null_values_to_be_between",
        "expect_column_proportion_of_unique_values_to_be_between",
    }
)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def check_not_vacuous(type_: str, kwargs: Mapping[str, Any]) -> None:
    """Reject arguments under which the expectation can never fail.

    ``mostly: 0`` lets every row fail; a row count of at least 0 holds for every table. Such an
    entry would print a pass that checked nothing, which is worse than no check: a reader takes
    it as evidence. Same spirit as the ``{min: 0}`` fairness threshold rule.
    """
    mostly = _number(kwargs.get("mostly"))
    if mostly is not None and mostly <= 0:
        raise PolicyError(
            f"expectation {type_!r}: mostly {short_repr(kwargs['mostly'])} lets every row fail, "
            "so the check could never fail"
        )
    if type_ not in _COUNT_TYPES and type_ not in _SHARE_TYPES:
        return
    lo, hi = _number(kwargs.get("min_value")), _number(kwargs.get("max_value"))
    if "min_value" in kwargs and kwargs["min_value"] is not None and lo is None:
        return  # not a number: the field check reports it
    if "max_value" in kwargs and kwargs["max_value"] is not None and hi is None:
        return
    strict_min = kwargs.get("strict_min") is True
    low_open = lo is None or lo < 0 or (lo == 0 and not strict_min)
    if type_ in _COUNT_TYPES and low_open and hi is None:
        raise PolicyError(
            f"expectation {type_!r}: a count is never below 0, so min_value "
            f"{short_repr(kwargs.get('min_value'))} with no max_value could never fail"
        )
    strict_max = kwargs.get("strict_max") is True
    high_open = hi is None or hi > 1 or (hi == 1 and not strict_max)
    if type_ in _SHARE_TYPES and low_open and high_open:
        raise PolicyError(
            f"expectation {type_!r}: a share lies between 0 and 1, so these bounds could never fail"
        )


def _field_problems(
    fields: Sequence[Mapping[str, Any]], given: Mapping[str, Any], *, population_by_name: bool
) -> tuple[list[str], dict[str, Any]]:
    """pydantic's field errors as govern words them: first error per argument, fields in
    declaration order (the order GX's model lists them); and the valid arguments as GX would
    hold them, which is what its root validators see."""
    problems: list[str] = []
    values: dict[str, Any] = {}
    for field in fields:
        name = field["name"]
        loc = field.get("alias", name)
        value = given.get(loc, _MISSING)
        if value is _MISSING and population_by_name:
            value = given.get(name, _MISSING)
        if value is _MISSING:
            if field.get("required"):
                problems.append(f"missing required argument {loc!r}")
            continue
        problem, coerced = _check_value(field, value, loc)
        if problem is None and coerced is not None:
            problem = _field_rules(field, coerced, loc)
        if problem is not None:
            where, msg = problem
            problems.append(f"invalid value for {where!r}: {short_repr(value)} ({msg})")
        else:
            values[name] = coerced
    return problems, values


def _model_problems(model_name: str, value: Mapping[str, Any]) -> str:
    """What parsing ``value`` into a nested GX model (``QuantileRange``) reports; "" if it
    parses."""
    model = load_vocabulary()["models"].get(model_name)
    if model is None or not model.get("checkable"):
        return _UNCHECKED
    problems, _ = _field_problems(model["fields"], value, population_by_name=False)
    if model.get("extra") == "forbid":
        names = {f.get("alias", f["name"]) for f in model["fields"]}
        problems += [f"unknown argument {k!r}" for k in value if k not in names]
    return "; ".join(problems)


Problem = tuple[str, str]


def _check_value(spec: Mapping[str, Any], value: Any, loc: str) -> tuple[Problem | None, Any]:
    """``(problem, value as GX would hold it)``; the problem is the one pydantic lists first.

    The kinds are a union's members in order: the first that accepts wins, and when none does,
    the first member's error is the one reported.
    """
    if value is None:
        if spec.get("nullable"):
            return None, None
        return (loc, "none is not an allowed value"), None
    problems: list[Problem] = []
    for kind in spec["kinds"]:
        problem, coerced = _KIND_CHECKS.get(kind, _check_unknown)(spec, value, loc)
        if problem is None:
            return None, coerced
        problems.append(problem)
    # "cannot be checked" says more than the first member's complaint (GX's "str type
    # expected" for a structured row condition); the text before "(" is the same either way.
    unchecked = [p for p in problems if p[1] == _UNCHECKED]
    return (unchecked or problems or [(loc, "no accepted kind")])[0], None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _number_limits(spec: Mapping[str, Any], value: float, loc: str) -> Problem | None:
    gt, ge, lt, le = (spec.get(k) for k in ("gt", "ge", "lt", "le"))
    if gt is not None and not value > gt:
        return loc, f"ensure this value is greater than {gt}"
    if gt is None and ge is not None and not value >= ge:
        return loc, f"ensure this value is greater than or equal to {ge}"
    if lt is not None and not value < lt:
        return loc, f"ensure this value is less than {lt}"
    if lt is None and le is not None and not value <= le:
        return loc, f"ensure this value is less than or equal to {le}"
    multiple = spec.get("multiple_of")
    if multiple is not None and value % multiple != 0:
        return loc, f"ensure this value is a multiple of {multiple}"
    if spec.get("finite") and not math.isfinite(value):
        return loc, "ensure this value is a finite number"
    return None


def _check_number(spec: Mapping[str, Any], value: Any, loc: str) -> tuple[Problem | None, Any]:
    if not _is_number(value):
        return (loc, "value is not a valid float"), None
    try:
        number = float(value)
    except OverflowError as exc:  # a huge int: GX fails on it too, with this text
        return (loc, str(exc)), None
    return _number_limits(spec, number, loc), number


def _check_integer(spec: Mapping[str, Any], value: Any, loc: str) -> tuple[Problem | None, Any]:
    # pydantic would truncate 1.5 to 1: a silently different bound, so only whole floats pass.
    if not _is_number(value) or (isinstance(value, float) and not value.is_integer()):
        return (loc, "value is not a valid integer"), None
    number = int(value)
    return _number_limits(spec, number, loc), number


def _check_boolean(spec: Mapping[str, Any], value: Any, loc: str) -> tuple[Problem | None, Any]:
    if isinstance(value, bool):
        return None, value
    return (loc, "value could not be parsed to a boolean"), None


def _check_string(spec: Mapping[str, Any], value: Any, loc: str) -> tuple[Problem | None, Any]:
    choices = spec.get("choices")
    if choices is not None:
        if isinstance(value, str) and value in choices:
            return None, value
        permitted = ", ".join(repr(c) for c in choices)
        if spec.get("enum"):
            return (loc, f"value is not a valid enumeration member; permitted: {permitted}"), None
        return (loc, f"unexpected value; permitted: {permitted}"), None
    if isinstance(value, str):
        text = value
    elif _is_number(value) and not spec.get("strict"):
        text = str(value)  # pydantic's str type turns numbers into their text
    else:
        return (loc, "str type expected"), None
    min_length, max_length = spec.get("min_length"), spec.get("max_length")
    if min_length is not None and len(text) < min_length:
        return (loc, f"ensure this value has at least {min_length} characters"), None
    if max_length is not None and len(text) > max_length:
        return (loc, f"ensure this value has at most {max_length} characters"), None
    pattern = spec.get("pattern")
    if pattern is not None and not re.match(pattern, text):
        return (loc, f'string does not match regex "{pattern}"'), None
    return None, text


def _check_date(spec: Mapping[str, Any], value: Any, loc: str) -> tuple[Problem | None, Any]:
    if isinstance(value, date):
        return None, value
    if isinstance(value, str) and (match := _DATE_RE.match(value)):
        try:
            return None, date(**{k: int(v) for k, v in match.groupdict().items()})
        except ValueError:
            pass
    return (loc, "invalid date format"), None


def _tzinfo(text: str | None) -> timezone | None:
    """pydantic's reading of a UTC offset: an aware datetime does not compare with a naive one,
    which GX's row-count check reports as an error."""
    if not text:
        return None
    if text == "Z":
        return UTC
    minutes = int(text[1:3]) * 60 + (int(text[-2:]) if len(text) > 3 else 0)
    return timezone(timedelta(minutes=-minutes if text[0] == "-" else minutes))


def _check_datetime(spec: Mapping[str, Any], value: Any, loc: str) -> tuple[Problem | None, Any]:
    if isinstance(value, datetime):
        return None, value
    if isinstance(value, str) and (match := _DATETIME_RE.match(value)):
        part = match.groupdict()
        micro = part["microsecond"] or ""
        try:
            stamp = datetime(
                int(part["year"]),
                int(part["month"]),
                int(part["day"]),
                int(part["hour"]),
                int(part["minute"]),
                int(part["second"] or 0),
                int(micro.ljust(6, "0")) if micro else 0,
                _tzinfo(part["tzinfo"]),
            )
        except ValueError:
            return (loc, "invalid datetime format"), None
        return None, stamp
    return (loc, "invalid datetime format"), None


_CONTAINER_ERRORS = {
    "list": "value is not a valid list",
    "sequence": "value is not a valid sequence",
    "set": "value is not a valid set",
    "frozenset": "value is not a valid frozenset",
    "tuple": "value is not a valid tuple",
}


def _check_list(spec: Mapping[str, Any], value: Any, loc: str) -> tuple[Problem | None, Any]:
    if not isinstance(value, list | tuple | set | frozenset):
        return (loc, _CONTAINER_ERRORS.get(spec.get("container", "list"), "not a list")), None
    items = list(value)
    length = spec.get("length")
    if length is not None and len(items) != length:
        return (loc, f"wrong tuple length {len(items)}, expected {length}"), None
    item_spec = spec.get("items")
    coerced = items
    if item_spec is not None:
        coerced = []
        for index, item in enumerate(items):
            problem, item_value = _check_value(item_spec, item, f"{loc}.{index}")
            if problem is not None:
                return problem, None
            coerced.append(item_value)
    min_items, max_items = spec.get("min_items"), spec.get("max_items")
    if min_items is not None and len(items) < min_items:
        return (loc, f"ensure this value has at least {min_items} items"), None
    if max_items is not None and len(items) > max_items:
        return (loc, f"ensure this value has at most {max_items} items"), None
    return None, coerced


def _check_mapping(spec: Mapping[str, Any], value: Any, loc: str) -> tuple[Problem | None, Any]:
    # pydantic would also take ``dict(value)`` of a list of pairs or of "": never what was meant.
    if isinstance(value, Mapping):
        return None, value
    return (loc, "value is not a valid dict"), None


def _check_object(spec: Mapping[str, Any], value: Any, loc: str) -> tuple[Problem | None, Any]:
    if not isinstance(value, Mapping):
        return (loc, "value is not a valid dict"), None
    details = []
    for model in spec.get("models", ()):
        detail = _model_problems(model, value)
        if not detail:
            return None, value
        details.append(detail)
    return (loc, _UNCHECKED if _UNCHECKED in details else details[0] if details else ""), None


def _check_any(spec: Mapping[str, Any], value: Any, loc: str) -> tuple[Problem | None, Any]:
    return None, value


_check_unknown = _check_any  # a kind the generator could not describe: GX checks it at run time

_KIND_CHECKS = {
    "any": _check_any,
    "boolean": _check_boolean,
    "date": _check_date,
    "datetime": _check_datetime,
    "integer": _check_integer,
    "list": _check_list,
    "mapping": _check_mapping,
    "number": _check_number,
    "object": _check_object,
    "string": _check_string,
    "unknown": _check_unknown,
}


def _field_rules(field: Mapping[str, Any], value: Any, loc: str) -> Problem | None:
    """GX's own field validators, as recorded by the generator (see ``gx_vocabulary.py``)."""
    for rule in field.get("rules", ()):
        name, message = rule.get("name"), str(rule.get("message", ""))
        if name == "non_empty" and not value:
            return loc, message
        if name == "min_items" and hasattr(value, "__len__") and len(value) < rule["limit"]:
            return loc, message
        if name == "single_character" and isinstance(value, str) and len(value) != 1:
            return loc, message
        if name == "strftime_format" and isinstance(value, str):
            try:
                now = datetime.now(tz=UTC)
                datetime.strptime(datetime.strftime(now, value), value)  # noqa: DTZ007
            except ValueError as exc:
                return loc, message.replace("{error}", str(exc))
        if name == "format_braces" and isinstance(value, str):
            try:
                list(string.Formatter().parse(value))
            except ValueError as exc:
                return loc, message.replace("{error}", str(exc)).replace("{value}", value)
    return None


def _root_rule(rule: Mapping[str, Any], values: Mapping[str, Any]) -> str:
    """GX's root validators, given the arguments as GX holds them after its field checks."""
    name = rule.get("name")
    lo, hi = values.get("min_value"), values.get("max_value")
    if name == "gx_row_condition":
        condition = values.get("row_condition")
        if (
            isinstance(condition, str)
            and values.get("condition_parser") in rule.get("parsers", ())
            and not _GX_ROW_CONDITION_RE.fullmatch(condition)
        ):
            said = (f"unable to parse condition: {condition}".strip().splitlines() or [""])[0]
            return (
                f'{said} (govern takes col("name") followed by .notnull(), or by ==, !=, <, <=, '
                "> or >= and a number or quoted text, and nothing after it)"
            )
    elif name == "min_or_max_set":
        if lo is None and hi is None:
            return str(rule["message"])
        if "empty_message" in rule and (lo == {} or hi == {}):
            return str(rule["empty_message"])
    elif name == "row_count_bounds":
        if lo is not None and hi is not None and not isinstance(lo, Mapping):
            if not isinstance(hi, Mapping):
                try:
                    if lo > hi:
                        return f"min_value ({lo}) must be less than or equal to max_value ({hi})"
                except TypeError as exc:
                    return str(exc)
        for key, bound in (("min_value", lo), ("max_value", hi)):
            if isinstance(bound, Mapping) and "$PARAMETER" not in bound:
                return f"{key} dict must contain key $PARAMETER"
    return ""
