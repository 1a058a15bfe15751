"""HTML reports and the output folder: the evidence a compliance reviewer reads, prints and signs.

Every page is rendered from the ``AuditRun`` alone, the same object ``results.json`` is written
from, so the page a reviewer signs and the file a machine reads cannot disagree.

Everything shown comes from the registry or the training data (model names, tags, descriptions,
column names, category values, expectation kwargs) and is treated as hostile: all templates are
autoescaped, no value is ever marked safe, no value is ever put in a URL, and the pages carry a
Content-Security-Policy that forbids scripts and any network access. Reports are opened from disk
years later, often offline, so they are self-contained: inline CSS, no JavaScript, no fonts or
images by URL; charts are SVG images carried in ``data:`` URIs (``govern.render.charts``).

The index is written once per sort order (``INDEX_SORTS``) and the column headers link between
the copies: a table a reviewer can sort without any script, that stays one plain table however
many versions a run has.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import re
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import jinja2

from govern._io import atomic_write_text
from govern.errors import OutputError, UsageError
from govern.model.results import (
    KINDS,
    SCHEMA_VERSION,
    AuditRun,
    CheckResult,
    FairnessResult,
    TrainingData,
    VersionResult,
    jsonable,
)
from govern.resources import templates_dir

REPORTS_DIR = "reports"
INDEX_NAME = "index.html"
RESULTS_NAME = "results.json"
SUMMARY_NAME = "summary.md"
REPORT_TEMPLATE = "report.html.j2"
INDEX_TEMPLATE = "index.html.j2"
AUDITED_KINDS = ("lineage", "integrity", "quality", "fairness")
"""Kinds listed in every report even when empty; the others only ever carry errors."""
MAX_EXAMPLES = 5
"""Unexpected values shown per quality check; the full partial list stays in ``results.json``."""
MAX_EXAMPLE_COLUMNS = 2
"""Examples of checks over more columns than this are not shown: each would be (part of) a row."""

_SLUG_MAX = 60
_VERSION_SLUG_MAX = 20
_UNSAFE_CHARS = re.compile(r"[^A-Za-z0-9_-]+")
_SURROGATES = re.compile("[\ud800-\udfff]")
_VERDICT_ORDER = {"error": 0, "fail": 1, "pass": 2}


# --------------------------------------------------------------------------- formatting


def fmt(value: Any, none: str = "—", exact: bool = False, approx: bool = False) -> str:
    """Turn any result value into plain text for a reviewer; the template escapes it.

    Measurements are shown to 4 significant digits because more digits do not help a reviewer
    decide (``results.json`` keeps the exact value). Thresholds and expectation kwargs are what a
    policy author wrote, so ``exact=True`` shows them unrounded: a bound of 0.99995 must not read
    as 1. ``approx=True`` marks a rounded number with "≈" so an observed value that rounds onto
    its threshold is not mistaken for being equal to it. Always returns a plain ``str`` (never
    ``Markup``) so autoescaping applies.
    """
    if value is None:
        return none
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, float):
        return _fmt_float(value, none=none, exact=exact, approx=approx)
    if isinstance(value, str):
        return str(value)  # drops any Markup subclass: user text is always escaped
    if isinstance(value, Mapping | list | tuple | set | frozenset):
        data = jsonable(value)
        if not exact:
            data = _round_floats(data)
        return json.dumps(data, ensure_ascii=False, separators=(", ", ": "), default=str)
    # numpy scalars and arrays, dates, anything else: jsonable gives a plain value
    return fmt(jsonable(value), none=none, exact=exact, approx=approx)


def _fmt_float(value: float, *, none: str, exact: bool, approx: bool) -> str:
    if math.isnan(value):
        return none
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    if exact:
        return repr(value)
    if value == 0:
        return "0"
    text = f"{value:.0f}" if 1e4 <= abs(value) < 1e15 else f"{value:.4g}"
    if approx and float(text) != value:
        return f"≈{text}"
    return text


def _round_floats(data: Any) -> Any:
    if isinstance(data, float):
        return float(f"{data:.4g}")
    if isinstance(data, dict):
        return {k: _round_floats(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_round_floats(v) for v in data]
    return data


def pct(value: Any, none: str = "—") -> str:
    """A share (0.25) as a percentage for reading ("25%"); tiny non-zero shares stay visible."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return none
    percent = float(value) * 100
    if percent == 0:
        return "0%"
    if 0 < abs(percent) < 0.01:
        return "<0.01%"
    return f"{percent:.3g}%" if abs(percent) < 100 else f"{percent:.0f}%"


_CSS_PLAIN = re.compile(r"[A-Za-z0-9 ]")


def css_string(value: Any, limit: int = 90) -> str:
    """Text for inside a CSS string literal in a ``<style>`` element (the printed page header).

    HTML escaping does not apply inside ``<style>``, so every character other than ASCII letters,
    digits and space is written as a CSS hex escape: nothing a model name holds can end the
    string, the rule or the element. The result contains only ``[A-Za-z0-9 \\]``.
    """
    text = " ".join(str(value).split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    out = []
    for char in text:
        code = ord(char)
        if _CSS_PLAIN.fullmatch(char):
            out.append(char)
        elif 0xD800 <= code <= 0xDFFF or code == 0:
            out.append("\\fffd ")
        else:
            out.append(f"\\{code:x} ")
    return "".join(out)


_BREAK_AFTER = re.compile(r"(?<=[_./])(?=.)")


def break_points(value: Any) -> list[str]:
    """Pieces of an identifier (``true_positive_rate``) that a template joins with ``<wbr>``.

    Metric and check names have no spaces; without a break opportunity after ``_`` or ``.`` a
    narrow printed column splits them at an arbitrary letter. Each piece is plain text and is
    escaped by the template like any other value.
    """
    return _BREAK_AFTER.split(str(value))


def _finalize(value: Any) -> Any:
    """Print ``None`` as a dash, not as the word "None", wherever a template forgets ``fmt``."""
    return "—" if value is None else value


# --------------------------------------------------------------------------- environment


def make_environment(templates: Path | None = None) -> jinja2.Environment:
    """Build the Jinja2 environment every page is rendered with.

    The user's folder comes first so an organisation can restyle or reword any page (or just
    ``_style.css.j2``) without copying the rest; the packaged templates stay behind it as the
    fallback. Autoescaping is forced on for every name, including ``.j2``, because a template
    that forgot it would turn a model name into script; ``StrictUndefined`` makes a typo in a
    template fail loudly instead of silently dropping evidence from a signed report.
    """
    loaders: list[jinja2.BaseLoader] = []
    if templates is not None:
        folder = Path(templates)
        if not folder.is_dir():
            raise UsageError(f"--templates {folder} is not a folder")
        loaders.append(jinja2.FileSystemLoader(str(folder)))
    loaders.append(jinja2.FileSystemLoader(str(templates_dir())))
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        autoescape=jinja2.select_autoescape(
            enabled_extensions=("html", "htm", "xml", "j2"),
            disabled_extensions=(),
            default_for_string=True,
            default=True,
        ),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        finalize=_finalize,
    )
    env.filters["fmt"] = fmt
    env.filters["pct"] = pct
    env.filters["css_string"] = css_string
    env.filters["bound"] = bound_text
    env.filters["break_points"] = break_points
    return env


# --------------------------------------------------------------------------- file names


def _slug(text: str, limit: int, fallback: str) -> str:
    slug = _UNSAFE_CHARS.sub("-", text).strip("-")[:limit].strip("-")
    return slug or fallback


def report_filename(result: VersionResult) -> str:
    """The report's file name: readable, safe on every filesystem and unique per version.

    Model names are free text (spaces, slashes, ``..``, right-to-left scripts, emoji), so only
    ASCII letters, digits, ``-`` and ``_`` survive into the readable part; the hash of the exact
    name and version keeps two names that slug alike (``a b`` and ``a/b``, or two non-Latin
    names, or names differing only in case on a case-insensitive disk) in different files.
    """
    # surrogatepass: a lone surrogate in a name read from JSON must not crash the whole run
    key = f"{result.model}\0{result.version}".encode("utf-8", "surrogatepass")
    digest = hashlib.sha256(key).hexdigest()[:8]
    model = _slug(result.model, _SLUG_MAX, "model")
    version = _slug(str(result.version), _VERSION_SLUG_MAX, "x")
    return f"{model}-v{version}-{digest}.html"


def report_href(result: VersionResult) -> str:
    """Where a version's report is, relative to the output folder.

    Built from report_filename only, never from ``result.report``: that field may come from a
    results.json someone edited, and an href must not carry user data.
    """
    return f"{REPORTS_DIR}/{report_filename(result)}"


_report_href = report_href


# --------------------------------------------------------------------------- expectations


def _q(value: Any) -> str:
    """A value inside a sentence: strings quoted (a stray space stays visible), others exact."""
    if isinstance(value, str):
        return repr(value)
    return fmt(value, exact=True)


def _q_list(values: Any, limit: int = 10) -> str:
    if not isinstance(values, list | tuple | set | frozenset):
        return _q(values)
    items = list(values)
    shown = ", ".join(_q(v) for v in items[:limit])
    if len(items) > limit:
        shown += f", … ({len(items)} values in all)"
    return "{" + shown + "}"


def _names_text(columns: list[str]) -> str:
    quoted = [repr(c) for c in columns]
    if len(quoted) <= 1:
        return "".join(quoted)
    return ", ".join(quoted[:-1]) + " and " + quoted[-1]


def _share_text(fraction: Any) -> str | None:
    """``mostly`` as a percentage, exactly as the policy wrote it (0.99995 is 99.995 %, not 100)."""
    if isinstance(fraction, bool) or not isinstance(fraction, int | float):
        return None
    if not math.isfinite(fraction) or fraction >= 1:
        return None
    percent = (Decimal(repr(float(fraction))) * 100).normalize()
    return f"{percent:f}%"


def _range_text(kwargs: Mapping[str, Any], unit: str = "") -> str:
    """``min_value``/``max_value`` (with GX's ``strict_*``) as words, e.g. "at least 1 row"."""
    low, high = kwargs.get("min_value"), kwargs.get("max_value")
    above = "more than" if kwargs.get("strict_min") is True else "at least"
    below = "less than" if kwargs.get("strict_max") is True else "at most"
    last = high if high is not None else low
    suffix = f" {unit}" if unit else ""
    if unit and last == 1 and not isinstance(last, bool):
        suffix = f" {unit.removesuffix('s')}"
    if low is not None and high is not None:
        if kwargs.get("strict_min") is True or kwargs.get("strict_max") is True:
            return f"{above} {_q(low)} and {below} {_q(high)}{suffix}"
        return f"between {_q(low)} and {_q(high)}{suffix} (inclusive)"
    if low is not None:
        return f"{above} {_q(low)}{suffix}"
    if high is not None:
        return f"{below} {_q(high)}{suffix}"
    return "within any range (no bound given)"


_STATISTICS = {
    "mean": "the mean",
    "median": "the median",
    "stdev": "the standard deviation",
    "sum": "the sum",
    "min": "the smallest value",
    "max": "the largest value",
    "unique_value_count": "the number of distinct values",
    "proportion_of_unique_values": "the share of distinct values",
    "proportion_of_non_null_values": "the share of non-missing values",
}


def expectation_columns(expectation_type: str, kwargs: Mapping[str, Any]) -> list[str]:
    """The column(s) an expectation is about; empty for table-level ones.

    ``column_list`` is the subject only of multi-column expectations (compound uniqueness); in
    ``expect_table_columns_to_match_ordered_list`` it is the expected value.
    """
    if isinstance(kwargs.get("column"), str):
        return [kwargs["column"]]
    if isinstance(kwargs.get("column_A"), str) and isinstance(kwargs.get("column_B"), str):
        return [kwargs["column_A"], kwargs["column_B"]]
    columns = kwargs.get("column_list")
    multi = ("compound_", "multicolumn_", "select_column_")
    if isinstance(columns, list | tuple) and expectation_type.removeprefix("expect_").startswith(
        multi
    ):
        return [str(c) for c in columns]
    return []


def describe_expectation(expectation_type: str, kwargs: Mapping[str, Any] | None) -> str:
    """What an expectation asks for, in words a reviewer without Great Expectations can check.

    Covers the types policies use most; anything else falls back to the type name and its
    arguments, shown exactly, so an unusual expectation is never described wrongly.
    """
    k: Mapping[str, Any] = kwargs if isinstance(kwargs, Mapping) else {}
    phrase = str(expectation_type).removeprefix("expect_")
    columns = expectation_columns(str(expectation_type), k)
    col = _names_text(columns) if columns else "?"
    share = _share_text(k.get("mostly"))
    every = f"at least {share} of the values of {col}" if share else f"every value of {col}"

    def verb(singular: str, plural: str) -> str:
        return plural if share else singular

    text: str | None = None
    if phrase == "column_to_exist":
        text = f"column {_q(k.get('column'))} exists"
    elif phrase == "column_values_to_not_be_null":
        text = f"{every} {verb('is', 'are')} present (not missing)"
    elif phrase == "column_values_to_be_null":
        text = f"{every} {verb('is', 'are')} missing"
    elif phrase == "column_values_to_be_between":
        text = f"{every} {verb('is', 'are')} {_range_text(k)}"
    elif phrase == "column_values_to_be_in_set":
        text = f"{every} {verb('is', 'are')} one of {_q_list(k.get('value_set'))}"
    elif phrase == "column_values_to_not_be_in_set":
        text = f"{every} {verb('is', 'are')} none of {_q_list(k.get('value_set'))}"
    elif phrase == "column_values_to_be_unique":
        text = f"{every} {verb('is', 'are')} unique (occurs in one row only)"
    elif phrase in ("compound_columns_to_be_unique", "multicolumn_values_to_be_unique"):
        rows = f"at least {share} of rows have their" if share else "every row has its"
        text = f"{rows} own combination of {col} (no duplicates)"
    elif phrase == "select_column_values_to_be_unique_within_record":
        text = f"within each row, the values of {col} all differ"
    elif phrase == "table_row_count_to_be_between":
        text = f"the table has {_range_text(k, 'rows')}"
    elif phrase == "table_row_count_to_equal":
        text = f"the table has exactly {_q(k.get('value'))} rows"
    elif phrase == "table_column_count_to_equal":
        text = f"the table has exactly {_q(k.get('value'))} columns"
    elif phrase == "table_column_count_to_be_between":
        text = f"the table has {_range_text(k, 'columns')}"
    elif phrase == "table_columns_to_match_ordered_list":
        text = f"the table's columns are exactly {_q_list(k.get('column_list'))}, in this order"
    elif phrase == "table_columns_to_match_set":
        exact = k.get("exact_match") is not False
        relation = "are exactly" if exact else "include"
        text = f"the table's columns {relation} {_q_list(k.get('column_set'))}"
    elif phrase == "column_values_to_match_regex":
        text = f"{every} {verb('matches', 'match')} the regular expression {_q(k.get('regex'))}"
    elif phrase == "column_values_to_not_match_regex":
        text = f"{every} {verb('does', 'do')} not match the regular expression {_q(k.get('regex'))}"
    elif phrase == "column_values_to_match_regex_list":
        how = "all of" if k.get("match_on") == "all" else "at least one of"
        patterns = _q_list(k.get("regex_list"))
        text = f"{every} {verb('matches', 'match')} {how} the regular expressions {patterns}"
    elif phrase == "column_values_to_be_of_type":
        text = f"{every} {verb('has', 'have')} type {_q(k.get('type_'))}"
    elif phrase == "column_values_to_be_in_type_list":
        text = f"{every} {verb('has', 'have')} one of the types {_q_list(k.get('type_list'))}"
    elif phrase == "column_value_lengths_to_be_between":
        text = f"{every} {verb('is', 'are')} {_range_text(k, 'characters')} long"
    elif phrase == "column_value_lengths_to_equal":
        text = f"{every} {verb('is', 'are')} exactly {_q(k.get('value'))} characters long"
    elif phrase in ("column_values_to_be_increasing", "column_values_to_be_decreasing"):
        way = "increases" if phrase.endswith("increasing") else "decreases"
        strictly = " strictly" if k.get("strictly") is True else ""
        text = f"{col} {way}{strictly} from row to row"
    elif phrase == "column_pair_values_a_to_be_greater_than_b" and len(columns) == 2:
        op = "greater than or equal to" if k.get("or_equal") is True else "greater than"
        text = f"in every row, {columns[0]!r} is {op} {columns[1]!r}"
    elif phrase == "column_pair_values_to_be_equal" and len(columns) == 2:
        text = f"in every row, {columns[0]!r} equals {columns[1]!r}"
    elif phrase in ("column_distinct_values_to_be_in_set", "column_distinct_values_to_equal_set"):
        relation = "are all in" if phrase.endswith("in_set") else "are exactly"
        text = f"the distinct values of {col} {relation} {_q_list(k.get('value_set'))}"
    elif phrase == "column_distinct_values_to_contain_set":
        text = f"the distinct values of {col} include {_q_list(k.get('value_set'))}"
    elif phrase == "column_most_common_value_to_be_in_set":
        text = f"the most common value of {col} is one of {_q_list(k.get('value_set'))}"
    elif phrase.startswith("column_") and phrase.endswith("_to_be_between"):
        stat = phrase.removeprefix("column_").removesuffix("_to_be_between")
        if stat in _STATISTICS:
            text = f"{_STATISTICS[stat]} of {col} is {_range_text(k)}"
    if text is None:
        shown = {key: value for key, value in k.items() if key != "result_format"}
        args = ", ".join(f"{key}={fmt(value, exact=True)}" for key, value in shown.items())
        text = f"{expectation_type}({args})"
    elif share and phrase.startswith(("column_values_", "column_value_")):
        text += " (GX counts shares over the values that are present)"
    return text


# --------------------------------------------------------------------------- view models


def _check_view(check: CheckResult) -> dict[str, Any]:
    details: Mapping[str, Any] = check.details if isinstance(check.details, Mapping) else {}
    quality: dict[str, Any] | None = None
    extra: dict[str, Any] = dict(details)
    if check.kind == "quality":
        raw = details.get("result")
        gx: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
        partial = gx.get("partial_unexpected_list")
        values = list(partial) if isinstance(partial, list | tuple) else []
        kwargs = details.get("kwargs")
        expectation_type = str(details.get("expectation_type") or "")
        columns = expectation_columns(
            expectation_type, kwargs if isinstance(kwargs, Mapping) else {}
        )
        # An unexpected "value" of a check over many columns is a slice of a row, up to all of
        # it: the report shows single cell values only, never rows (results.json keeps them).
        withheld = len(columns) > MAX_EXAMPLE_COLUMNS and bool(values)
        if withheld:
            values = []
        quality = {
            "expectation_type": details.get("expectation_type"),
            "kwargs": kwargs,
            "expected": describe_expectation(expectation_type, kwargs)
            if expectation_type
            else check.summary,
            "columns": columns,
            "examples_withheld": withheld,
            "observed_value": gx.get("observed_value"),
            "has_observed_value": "observed_value" in gx,
            "element_count": gx.get("element_count"),
            "missing_count": gx.get("missing_count"),
            "unexpected_count": gx.get("unexpected_count"),
            "unexpected_percent": gx.get("unexpected_percent"),
            # JSON text, so a reviewer sees "" or " Male" (stray space) and null for a missing cell
            "examples": [
                json.dumps(jsonable(v), ensure_ascii=False, default=str)
                for v in values[:MAX_EXAMPLES]
            ],
            "more_examples": len(values) > MAX_EXAMPLES,
            "origin": details.get("origin"),
            "exception": details.get("exception"),
        }
        extra = {
            k: v
            for k, v in details.items()
            if k not in ("expectation_type", "kwargs", "origin", "exception")
        }
        rest = {
            k: v
            for k, v in gx.items()
            if not str(k).startswith("partial_unexpected")
            and k
            not in (
                "unexpected_count",
                "unexpected_percent",
                "observed_value",
                "element_count",
                "missing_count",
                "missing_percent",
            )
        }
        extra.pop("result", None)
        if rest:
            extra["result"] = rest
    return {"check": check, "quality": quality, "extra": extra}


def _checks_by_kind(result: VersionResult) -> list[dict[str, Any]]:
    """Group checks by kind, always listing the four audited kinds.

    "No fairness checks ran" is itself evidence a reviewer must see; the kinds that only ever
    carry errors (policy, registry, internal) appear only when something went wrong. Kept for
    user templates written against earlier versions (``check_groups``).
    """
    kinds = [k for k in KINDS if k in AUDITED_KINDS or any(c.kind == k for c in result.checks)]
    kinds.extend(k for k in dict.fromkeys(c.kind for c in result.checks) if k not in kinds)
    return [_check_group(kind, [c for c in result.checks if c.kind == kind]) for kind in kinds]


def _check_group(kind: str, checks: list[CheckResult]) -> dict[str, Any]:
    views = [_check_view(c) for c in checks]
    statuses = [c.status for c in checks]
    return {
        "kind": kind,
        "checks": views,
        "counts": {s: statuses.count(s) for s in ("pass", "fail", "error")},
    }


_SECTION_OF_KIND = {
    "lineage": "training-data",
    "integrity": "training-data",
    "quality": "data-quality",
    "fairness": "fairness",
    "policy": "policy",
}


def _section_href(check: CheckResult) -> str:
    """The anchor of the section holding a check's details (kinds without one: the verdict)."""
    return "#" + _SECTION_OF_KIND.get(check.kind, "verdict-other")


def _quality_groups(result: VersionResult) -> list[dict[str, Any]]:
    """Quality checks grouped by the column they are about, in the data's column order.

    A reviewer asks "what do we know about column X", not "what did expectation type Y say";
    table-level checks come first, multi-column ones last.
    """
    td = result.training_data
    order = {c: i for i, c in enumerate(td.columns)} if td else {}
    dtypes: Mapping[str, str] = td.dtypes if td else {}
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for check in result.checks:
        if check.kind != "quality":
            continue
        view = _check_view(check)
        columns = tuple(view["quality"]["columns"]) if view["quality"] else ()
        groups.setdefault(columns, []).append(view)

    def key(columns: tuple[str, ...]) -> tuple[int, int, str]:
        if not columns:
            return (0, 0, "")
        if len(columns) == 1:
            return (1, order.get(columns[0], len(order)), columns[0])
        return (2, 0, "\0".join(columns))

    out = []
    for columns in sorted(groups, key=key):
        views = groups[columns]
        statuses = [v["check"].status for v in views]
        out.append(
            {
                "columns": list(columns),
                "dtype": dtypes.get(columns[0]) if len(columns) == 1 else None,
                "known": all(c in order for c in columns) if order else True,
                "checks": views,
                "counts": {s: statuses.count(s) for s in ("pass", "fail", "error")},
            }
        )
    return out


def _ratio(part: Any, whole: Any) -> float | None:
    if not isinstance(part, int | float) or not isinstance(whole, int | float) or not whole:
        return None
    return float(part) / float(whole)


def _provenance_view(td: TrainingData | None) -> dict[str, Any] | None:
    if td is None:
        return None
    rows = td.rows if isinstance(td.rows, int) else None
    missing: Mapping[str, Any] = td.missing if isinstance(td.missing, Mapping) else {}
    columns = []
    for column in td.columns:
        count = missing.get(column)
        columns.append(
            {
                "name": column,
                "dtype": td.dtypes.get(column),
                "missing": count,
                "missing_share": _ratio(count, rows),
                "role": "label"
                if column == td.label
                else ("sensitive feature" if column in td.sensitive_features else ""),
            }
        )
    balance: Mapping[str, Any] = td.label_balance if isinstance(td.label_balance, Mapping) else {}
    total = sum(v for v in balance.values() if isinstance(v, int))
    positive = None if td.positive_label is None else str(td.positive_label)
    classes = [
        {
            "label": label,
            "count": count,
            "share": _ratio(count, total),
            "positive": positive is not None and label == positive,
        }
        for label, count in balance.items()
    ]
    return {
        "columns": columns,
        "missing_recorded": bool(missing),
        "columns_with_missing": sum(1 for c in columns if c["missing"]),
        "classes": classes,
    }


def _representation_view(result: VersionResult) -> list[dict[str, Any]]:
    tables = []
    for rep in result.representation:
        total_pos = sum(g.positives for g in rep.groups if isinstance(g.positives, int))
        tables.append(
            {
                "features": list(rep.features),
                "min_group_size": rep.min_group_size,
                "flagged": sum(1 for g in rep.groups if g.below_min_group_size),
                "rows": [
                    {
                        "cells": [g.group.get(f) for f in rep.features],
                        "count": g.count,
                        "share": g.share,
                        "positives": g.positives,
                        "positive_share": g.positive_share,
                        "share_of_positives": _ratio(g.positives, total_pos)
                        if g.positives is not None
                        else None,
                        "flagged": g.below_min_group_size,
                    }
                    for g in rep.groups
                ],
            }
        )
    return tables


def bound_text(threshold: Any) -> str:
    """A threshold as a reader writes it: ``≥ 0.8``, ``≤ 0.1``, ``between 0.8 and 1.25``."""
    if not isinstance(threshold, Mapping):
        return fmt(threshold, exact=True)
    low, high = threshold.get("min"), threshold.get("max")
    if low is not None and high is not None:
        return f"between {fmt(low, exact=True)} and {fmt(high, exact=True)}"
    if low is not None:
        return f"≥ {fmt(low, exact=True)}"
    if high is not None:
        return f"≤ {fmt(high, exact=True)}"
    return fmt(dict(threshold), exact=True)


def _disparity_meaning(name: str) -> str:
    from govern.render.charts import disparity_metrics

    metrics = " and ".join(disparity_metrics(name)) or "the metric"
    worst = " (the worse of the two)" if name.startswith("equalized_odds_") else ""
    if name.endswith("_ratio"):
        return f"lowest group {metrics} ÷ highest{worst}; 1 is parity"
    if name.endswith("_difference"):
        return f"highest group {metrics} − lowest{worst}; 0 is parity"
    return ""


def _margin(value: Any, threshold: Any) -> float | None:
    """How far inside (positive) or outside (negative) its bound a disparity is, relative to it."""
    if not isinstance(value, int | float) or not math.isfinite(value):
        return None
    if not isinstance(threshold, Mapping):
        return None
    margins = []
    low, high = threshold.get("min"), threshold.get("max")
    if isinstance(low, int | float):
        margins.append((value - low) / max(abs(low), 1e-9))
    if isinstance(high, int | float):
        margins.append((high - value) / max(abs(high), 1e-9))
    return min(margins) if margins else None


_STATUS_RANK = {"error": 0, "fail": 1, "pass": 2}


def _disparity_rows(result: VersionResult) -> list[dict[str, Any]]:
    """Every disparity with its threshold and the check that judged it, worst first in rank."""
    fr = result.fairness
    checks = {
        c.id.removeprefix("fairness."): c
        for c in result.checks
        if c.kind == "fairness" and c.id.startswith("fairness.")
    }
    intervals = getattr(fr, "disparities_ci", None) if fr else None
    rows = []
    for name, value in fr.disparities.items() if fr else ():
        check = checks.get(name)
        threshold = check.threshold if check is not None else None
        ci = intervals.get(name) if isinstance(intervals, Mapping) else None
        rows.append(
            {
                "name": name,
                "value": value,
                "ci": ci if isinstance(ci, list | tuple) and len(ci) == 2 else None,
                "threshold": threshold,
                "bound": bound_text(threshold) if threshold is not None else None,
                "status": check.status if check is not None else None,
                "summary": check.summary if check is not None else None,
                "margin": _margin(value, threshold),
                "meaning": _disparity_meaning(name),
            }
        )
    return rows


def key_disparity(result: VersionResult) -> dict[str, Any] | None:
    """The one disparity an overview shows: the worst judged one (an error, then the furthest
    past or nearest to its bound), else the first computed."""
    rows = _disparity_rows(result)
    if not rows:
        return None

    def rank(row: dict[str, Any]) -> tuple[int, float]:
        margin = row["margin"]
        return (
            _STATUS_RANK.get(row["status"], 3),
            margin if margin is not None else -math.inf,
        )

    row = min(rows, key=rank)
    value = fmt(row["value"], none="undefined", approx=True)
    bound = f" (must be {row['bound']})" if row["bound"] else ""
    return {**row, "text": f"{row['name']} = {value}{bound}", "rank": rank(row)}


def _thresholds(result: VersionResult) -> dict[str, Mapping[str, Any]]:
    return {
        row["name"]: row["threshold"]
        for row in _disparity_rows(result)
        if isinstance(row["threshold"], Mapping)
    }


def _fairness_view(
    fairness: FairnessResult | None, result: VersionResult | None = None
) -> dict[str, Any] | None:
    if fairness is None:
        return None
    features = list(fairness.sensitive_features)
    metrics: list[str] = []
    for group in fairness.groups:
        features.extend(k for k in group.group if k not in features)
        metrics.extend(m for m in group.metrics if m not in metrics)
    rows = []
    any_ci = False
    for group in fairness.groups:
        intervals = getattr(group, "metrics_ci", None)
        intervals = intervals if isinstance(intervals, Mapping) else {}
        cis = []
        for m in metrics:
            ci = intervals.get(m)
            ok = isinstance(ci, list | tuple) and len(ci) == 2 and None not in ci
            any_ci = any_ci or ok
            cis.append(ci if ok else None)
        rows.append(
            {
                "cells": [group.group.get(f) for f in features],
                "count": group.count,
                "positives": group.positives,
                "metrics": [group.metrics.get(m) for m in metrics],
                "cis": cis,
                "flags": list(group.flags),
            }
        )
    thresholds = _thresholds(result) if result is not None else {}
    from govern.render.charts import fairness_charts

    level = getattr(fairness, "ci_level", None)
    return {
        "fairness": fairness,
        "features": features,
        "metrics": metrics,
        "rows": rows,
        "flagged": sum(1 for r in rows if r["flags"]),
        "disparities": _disparity_rows(result) if result is not None else [],
        "charts": fairness_charts(fairness, thresholds),
        "has_ci": any_ci,
        "ci_level": level if isinstance(level, int | float) else None,
        "ci_note": getattr(fairness, "ci_note", None),
    }


_IDENTITY_KEYS = (
    "registered_by",
    "registered_at",
    "status",
    "tags",
    "model_artifact_sha256",
    "signature_inputs",
    "signature_outputs",
    "audit_run_id",
)
_ELSEWHERE_KEYS = ("packs_sha256", "history_error", "representation_error")
KEY_DEPENDENCIES = ("mlflow", "great-expectations", "fairlearn", "pandas")
"""Listed first in every report: the libraries whose versions decide what the numbers mean."""


def _identity_view(result: VersionResult, run: AuditRun) -> dict[str, Any]:
    meta: Mapping[str, Any] = result.metadata if isinstance(result.metadata, Mapping) else {}
    tags = meta.get("tags")
    env: Mapping[str, Any] = run.environment if isinstance(run.environment, Mapping) else {}
    dependencies = [(name, env.get(name, "not recorded")) for name in KEY_DEPENDENCIES]
    dependencies.extend((k, v) for k, v in env.items() if k not in KEY_DEPENDENCIES)
    return {
        "meta": {k: meta.get(k) for k in _IDENTITY_KEYS},
        "tags": tags if isinstance(tags, Mapping) else {},
        "other": {
            k: v for k, v in meta.items() if k not in _IDENTITY_KEYS and k not in _ELSEWHERE_KEYS
        },
        "dependencies": dependencies,
        "environment_recorded": bool(env),
    }


def _policy_view(result: VersionResult) -> dict[str, Any]:
    meta: Mapping[str, Any] = result.metadata if isinstance(result.metadata, Mapping) else {}
    hashes = meta.get("packs_sha256")
    hashes = hashes if isinstance(hashes, Mapping) else {}
    names = list(result.packs)
    names.extend(str(n) for n in hashes if n not in names)
    return {
        "packs": [{"name": n, "sha256": hashes.get(n)} for n in names],
        "checks": _check_group("policy", [c for c in result.checks if c.kind == "policy"]),
    }


def _history_view(result: VersionResult, run: AuditRun) -> list[dict[str, Any]]:
    return [
        {
            "entry": h,
            "same_policy": h.policy_sha256 == run.policy_sha256,
            "disparities": sorted(h.disparities.items()),
            "changed": h.verdict != result.verdict,
        }
        for h in result.history
    ]


def _compare(recorded: str | None, other: str | None, missing: str) -> str:
    """Label two digests for the reader; the integrity checks, not this label, decide a verdict."""
    if not recorded or not other:
        return missing
    return "match" if recorded.strip().lower() == other.strip().lower() else "mismatch"


def _version_context(result: VersionResult, run: AuditRun) -> dict[str, Any]:
    td = result.training_data
    failing = result.failing_checks()
    other_kinds = [c for c in result.checks if c.kind not in _SECTION_OF_KIND]
    meta: Mapping[str, Any] = result.metadata if isinstance(result.metadata, Mapping) else {}
    return {
        "run": run,
        "result": result,
        "verdict": result.verdict,
        "failing": failing,
        "failing_links": [(c, _section_href(c)) for c in failing],
        "check_groups": _checks_by_kind(result),
        "lineage_checks": _check_group(
            "lineage", [c for c in result.checks if c.kind == "lineage"]
        ),
        "integrity_checks": _check_group(
            "integrity", [c for c in result.checks if c.kind == "integrity"]
        ),
        "fairness_checks": _check_group(
            "fairness", [c for c in result.checks if c.kind == "fairness"]
        ),
        "other_checks": _check_group("other", other_kinds) if other_kinds else None,
        "quality_groups": _quality_groups(result),
        "quality_count": sum(1 for c in result.checks if c.kind == "quality"),
        "training": td,
        "provenance": _provenance_view(td),
        "digest_status": _compare(
            td.mlflow_digest if td else None,
            td.recomputed_digest if td else None,
            "not recomputed",
        ),
        "sha_status": _compare(
            td.sha256 if td else None,
            td.logged_sha256 if td else None,
            "not recorded at training time" if td and td.sha256 else "not computed",
        ),
        "identity": _identity_view(result, run),
        "representation": _representation_view(result),
        "representation_error": meta.get("representation_error"),
        "fairness": _fairness_view(result.fairness, result),
        "key_disparity": key_disparity(result),
        "policy": _policy_view(result),
        "history": _history_view(result, run),
        "history_error": meta.get("history_error"),
        "running_head": _running_head(result),
        "index_href": f"../{INDEX_NAME}",
        "results_href": f"../{RESULTS_NAME}",
    }


def _running_head(result: VersionResult) -> dict[str, str]:
    """What every printed page repeats, so a loose page still says which audit it belongs to."""
    return {
        "left": f"{result.model} · version {result.version}",
        "right": f"audited {result.finished_at} UTC",
        "footer": f"govern audit report · verdict {result.verdict.upper()}",
    }


# --------------------------------------------------------------------------- index


def _version_sort_key(version: str) -> tuple[int, int, str]:
    text = str(version)
    if text.isascii() and text.isdigit():
        return (0, int(text), text)
    return (1, 0, text)


def _name_key(result: VersionResult) -> tuple[Any, ...]:
    return (result.model.casefold(), result.model, _version_sort_key(result.version))


def _index_key(result: VersionResult) -> tuple[Any, ...]:
    return (_VERDICT_ORDER.get(result.verdict, -1), *_name_key(result))


@dataclasses.dataclass(frozen=True)
class IndexSort:
    """One pre-sorted copy of the index: the page a column header links to."""

    key: str
    filename: str
    column: str
    description: str


INDEX_SORTS = (
    IndexSort("verdict", INDEX_NAME, "Verdict", "errors, then failures, then passes"),
    IndexSort("model", "index-by-model.html", "Model", "model name A–Z, then version"),
    IndexSort("aliases", "index-by-aliases.html", "Aliases", "versions with an alias first"),
    IndexSort("failed", "index-by-failed.html", "Failed checks", "most failed checks first"),
    IndexSort(
        "disparity",
        "index-by-disparity.html",
        "Key disparity",
        "furthest outside its threshold first",
    ),
    IndexSort("audited", "index-by-audited.html", "Audited at (UTC)", "newest audit first"),
)
"""The index is sortable without script: one static page per order, linked from the column
headers. Separate pages rather than CSS tricks over hidden copies, so that each page stays one
table of plain rows however many versions there are."""


def _sorted_rows(rows: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    by_name = sorted(rows, key=lambda r: _name_key(r["result"]))
    if key == "verdict":
        return sorted(rows, key=lambda r: _index_key(r["result"]))
    if key == "model":
        return by_name
    if key == "aliases":
        return sorted(
            by_name,
            key=lambda r: (
                not r["result"].aliases,
                sorted(a.casefold() for a in r["result"].aliases),
            ),
        )
    if key == "failed":
        return sorted(
            by_name,
            key=lambda r: (-r["failing"], _VERDICT_ORDER.get(r["result"].verdict, -1)),
        )
    if key == "disparity":
        return sorted(
            by_name,
            key=lambda r: (
                r["disparity"] is None,
                r["disparity"]["rank"] if r["disparity"] else (),
            ),
        )
    if key == "audited":
        return sorted(by_name, key=lambda r: str(r["result"].finished_at), reverse=True)
    raise ValueError(f"unknown index order {key!r}")


def _index_rows(run: AuditRun) -> list[dict[str, Any]]:
    rows = []
    for result in run.versions:
        failing = result.failing_checks()
        first = next((c for c in failing if c.status == result.verdict), None)
        if first is not None:
            headline: str | None = first.summary
        elif not result.checks:
            headline = "No checks ran"
        else:
            headline = None
        rows.append(
            {
                "result": result,
                "href": _report_href(result),
                "failing": len(failing),
                "headline": headline,
                "disparity": key_disparity(result),
            }
        )
    return rows


def _index_context(
    run: AuditRun, sort: str = "verdict", rows: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    base = rows if rows is not None else _index_rows(run)
    current = next(s for s in INDEX_SORTS if s.key == sort)
    return {
        "run": run,
        "verdict": run.verdict,
        "counts": run.counts(),
        "rows": _sorted_rows(base, sort),
        "results_href": RESULTS_NAME,
        "summary_href": SUMMARY_NAME,
        "sorts": {s.key: s for s in INDEX_SORTS},
        "sort": current,
        "running_head": {
            "left": f"govern audit run · {len(run.versions)} versions",
            "right": f"finished {run.finished_at} UTC",
            "footer": f"run verdict {run.verdict.upper()} · sorted by {current.description}",
        },
    }


# --------------------------------------------------------------------------- rendering


def _render(env: jinja2.Environment, name: str, context: Mapping[str, Any]) -> str:
    """Render one page, turning any template problem into one line the CLI can print."""
    try:
        text = env.get_template(name).render(context)
    except jinja2.TemplateNotFound as exc:
        raise OutputError(f"template {exc.name} not found") from exc
    except jinja2.TemplateSyntaxError as exc:
        where = exc.filename or exc.name or name
        raise OutputError(f"template {where}, line {exc.lineno}: {exc.message}") from exc
    except (jinja2.TemplateError, TypeError, ValueError, LookupError, AttributeError) as exc:
        # A user's template is code too; whatever it trips over is reported as one line.
        raise OutputError(f"cannot render {name}: {type(exc).__name__}: {exc}") from exc
    # A lone surrogate (possible in a name read from JSON) cannot be encoded as UTF-8.
    return _SURROGATES.sub("\ufffd", text)


def render_version_report(
    result: VersionResult, run: AuditRun, *, templates: Path | None = None
) -> str:
    """The report of one version, the page a reviewer prints and signs.

    Takes the whole run because the policy, environment and tracking server belong to the run,
    and a signed page must name the exact policy it was judged against.
    """
    env = make_environment(templates)
    return _render(env, REPORT_TEMPLATE, _version_context(result, run))


def render_index(run: AuditRun, *, templates: Path | None = None, sort: str = "verdict") -> str:
    """The run's landing page: failures first so nobody has to scroll past passes to find them.

    ``sort`` picks one of the other pre-sorted copies (``INDEX_SORTS``) the headers link to.
    """
    env = make_environment(templates)
    return _render(env, INDEX_TEMPLATE, _index_context(run, sort))


def render_index_pages(run: AuditRun, *, templates: Path | None = None) -> list[tuple[str, str]]:
    """Every pre-sorted copy of the index as ``(file name, html)``, the default one first."""
    env = make_environment(templates)
    rows = _index_rows(run)
    return [
        (s.filename, _render(env, INDEX_TEMPLATE, _index_context(run, s.key, rows)))
        for s in INDEX_SORTS
    ]


def _results_json(run: AuditRun) -> str:
    try:
        data = run.to_dict()
        text = json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise OutputError(f"cannot write {RESULTS_NAME}: {exc}") from exc
    if _SURROGATES.search(text):
        # Keep the exact text as a JSON escape rather than lose it; UTF-8 cannot carry it raw.
        text = json.dumps(data, indent=2, ensure_ascii=True, allow_nan=False)
    return text + "\n"


def _check_out_dir(out_dir: Path) -> None:
    """Fail before any rendering work if the folder can never receive the files."""
    if out_dir.exists() or out_dir.is_symlink():
        if not out_dir.is_dir():
            raise OutputError(f"--out {out_dir} is a file, not a folder")
        if not os.access(out_dir, os.W_OK | os.X_OK):
            raise OutputError(f"--out {out_dir} is not writable")
        reports = out_dir / REPORTS_DIR
        if (reports.exists() or reports.is_symlink()) and not reports.is_dir():
            raise OutputError(f"--out {out_dir}: {reports} is a file, not a folder")
        return
    ancestor = out_dir.absolute().parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise OutputError(f"--out {out_dir} cannot be created: {ancestor} is a file, not a folder")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise OutputError(f"--out {out_dir} cannot be created: {ancestor} is not writable")


def _summary(run: AuditRun, report_base: str | None) -> str:
    from govern.render.markdown import render_summary

    return _SURROGATES.sub("\ufffd", render_summary(run, report_base=report_base))


def write_outputs(
    run: AuditRun,
    out_dir: Path,
    *,
    templates: Path | None = None,
    report_base: str | None = None,
) -> AuditRun:
    """Write every report, the index pages, ``summary.md`` and ``results.json`` into ``out_dir``.

    ``report_base`` is where CI publishes ``out_dir``; ``summary.md`` then links there instead of
    to paths relative to the folder.

    Everything is rendered in memory before the first byte is written, so a broken template or
    unserialisable value leaves no half-updated set of evidence behind; each file is then written
    atomically. ``results.json`` goes last: when it is there, the reports it points to are too.
    Returns the run with each version's ``report`` path (relative to ``out_dir``) filled in, which
    is exactly what ``results.json`` records.
    """
    out_dir = Path(out_dir)
    _check_out_dir(out_dir)
    env = make_environment(templates)
    versions = tuple(dataclasses.replace(v, report=_report_href(v)) for v in run.versions)
    written = dataclasses.replace(run, versions=versions)
    pages = [
        (out_dir / _report_href(v), _render(env, REPORT_TEMPLATE, _version_context(v, written)))
        for v in versions
    ]
    rows = _index_rows(written)
    pages.extend(
        (out_dir / s.filename, _render(env, INDEX_TEMPLATE, _index_context(written, s.key, rows)))
        for s in INDEX_SORTS
    )
    pages.append((out_dir / SUMMARY_NAME, _summary(written, report_base)))
    pages.append((out_dir / RESULTS_NAME, _results_json(written)))
    for path, text in pages:
        atomic_write_text(path, text)
    return written


def load_results(path: Path) -> AuditRun:
    """Read a results.json written by govern; a one-line OutputError if it is not one."""
    import json

    from govern.errors import UsageError

    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise UsageError(f"{path}: not a readable results.json ({exc})") from None
    if not isinstance(data, dict) or "schema_version" not in data or "versions" not in data:
        raise UsageError(f"{path}: not a govern results.json (no schema_version/versions)")
    if data["schema_version"] != SCHEMA_VERSION:
        raise UsageError(
            f"{path}: results schema_version {data['schema_version']!r} is not supported "
            f"(this govern reads {SCHEMA_VERSION})"
        )
    try:
        return AuditRun.from_dict(data)
    except (KeyError, TypeError, ValueError) as exc:
        raise UsageError(f"{path}: malformed results.json: {exc!r}") from None
