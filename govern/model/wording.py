"""Words and numbers as a reader sees them: value formatting and what each expectation asks for.

One module for every place that puts an expectation or a measured value into words: the one-line
summary of a quality check (written into ``results.json`` by the quality engine) and the longer
sentences of the HTML report. Both read the same column rules (``expectation_columns``) so a
check's id, its summary and its report row always name the same columns. Pure functions of their
arguments: no I/O and no heavy imports, so the engines and the renderers can both depend on it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from govern.model.results import jsonable


def cut(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters with an ellipsis (``...``) when longer."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --------------------------------------------------------------------------- values


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


# ------------------------------------------------ expectations, long form (reports)


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


# ---------------------------------------- expectations, short form (check summaries)


def short_value(value: Any) -> str:
    """A value inside a one-line check summary: strings quoted and cut, lists cut at five."""
    if isinstance(value, bool) or value is None:
        return str(value).lower() if value is not None else "none"
    if isinstance(value, float):
        return f"{value:.6g}" if math.isfinite(value) else str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return repr(value) if len(value) <= 40 else repr(value[:37] + "...")
    if isinstance(value, list | tuple | set | frozenset):
        items = list(value)
        shown = ", ".join(short_value(v) for v in items[:5])
        more = f", ... ({len(items)} values)" if len(items) > 5 else ""
        return "{" + shown + more + "}"
    return cut(repr(jsonable(value)), 40)


def short_percent(value: Any) -> str:
    """GX's ``unexpected_percent`` (already 0-100) for a summary line."""
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        return "n/a"
    if value == 0:
        return "0%"
    if value < 0.1:
        return "<0.1%"
    return f"{value:.1f}%"


def summary_phrase(type_: str, kwargs: Mapping[str, Any], columns: list[str]) -> str:
    """The short name of an expectation that starts its check's one-line summary, built from
    its type name and arguments (the report uses the longer ``describe_expectation``)."""
    subject = _names_text(columns) if columns else "the table"
    phrase = type_.removeprefix("expect_")
    if phrase == "column_to_exist":
        return f"column {kwargs.get('column')!r} exists"
    if phrase == "column_pair_values_a_to_be_greater_than_b" and len(columns) == 2:
        op = ">=" if kwargs.get("or_equal") is True else ">"
        text = f"values of {columns[0]!r} {op} values of {columns[1]!r}"
    else:
        for prefix in ("column_pair_", "compound_", "multicolumn_", "select_column_", "column_"):
            if phrase.startswith(prefix) and columns:
                phrase = phrase.removeprefix(prefix)
                break
        else:
            phrase = phrase.removeprefix("table_")
        what, _, rest = phrase.partition("_to_")
        rest = rest.removeprefix("be_").replace("not_be_", "not_").replace("_", " ")
        text = f"{what.replace('_', ' ')} of {subject} {rest}".strip()
        if "between" in rest and ("min_value" in kwargs or "max_value" in kwargs):
            lo, hi = kwargs.get("min_value"), kwargs.get("max_value")
            if lo is not None and hi is not None:
                bounds = f"between {short_value(lo)} and {short_value(hi)}"
            elif lo is not None:
                bounds = f"at least {short_value(lo)}"
            else:
                bounds = f"at most {short_value(hi)}"
            text = text.replace("between", bounds, 1)
        for key in ("value_set", "value", "type_", "regex", "sum_total", "threshold"):
            if key in kwargs and (key != "threshold" or "less than" in rest):
                text += f" {short_value(kwargs[key])}"
                break
    if "mostly" in kwargs and isinstance(kwargs["mostly"], int | float):
        text += f" (mostly {short_value(float(kwargs['mostly']))})"
    return text
