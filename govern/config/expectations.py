"""Expectations as a policy writes them: templates with placeholders, checked on load and resolved
per version.

A template is checked against the vocabulary of Great Expectations generated from the installed
release (``govern.config.vocabulary``), so loading a policy never imports GX; the engine that runs
the expectations builds them with GX itself, and an expectation GX then rejects is an error check.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from govern.config.fields import Where, as_mapping, as_text, as_text_list, suggest, type_name
from govern.config.vocabulary import validate_expectation_args
from govern.errors import PolicyError
from govern.model.specs import ExpectationSpec


class HasTemplates(Protocol):
    """A policy entry, seen only for its expectation templates (packs first, then its own)."""

    def expectation_templates(self) -> tuple[ExpectationTemplate, ...]: ...


# Placeholders a pack or policy expectation may use, resolved per model version at audit time.
LABEL = "$label"
SENSITIVE_FEATURES = "$sensitive_features"
ALL_COLUMNS = "$all_columns"
COLUMN = "$column"
_PLACEHOLDERS = (LABEL, SENSITIVE_FEATURES, ALL_COLUMNS, COLUMN)
# Anything shaped like a placeholder is one, so a typo such as ``$lable`` is not a column name.
_PLACEHOLDER_RE = re.compile(r"\$[A-Za-z_][A-Za-z0-9_]*")

_EXPECTATION_KEYS = {"type", "kwargs", "for_each_column"}


@dataclass(frozen=True)
class ExpectationTemplate:
    """An expectation as written, before placeholders are replaced with a version's columns."""

    type: str
    kwargs: Mapping[str, Any]
    for_each_column: tuple[str, ...] | None
    origin: str


def parse_expectations(value: Any, where: Where, origin: str) -> tuple[ExpectationTemplate, ...]:
    if not isinstance(value, list):
        raise where.error(f"expected a list, got {type_name(value)}")
    out = []
    for i, item in enumerate(value):
        w = where / i
        data = as_mapping(item, w, _EXPECTATION_KEYS)
        if "type" not in data:
            raise w.error("missing 'type' (the Great Expectations expectation, snake_case)")
        type_ = as_text(data["type"], w / "type")
        kwargs = data.get("kwargs", {})
        if kwargs is None:
            kwargs = {}
        if not isinstance(kwargs, dict):
            raise (w / "kwargs").error(f"expected a mapping, got {type_name(kwargs)}")
        _check_placeholders(kwargs, w / "kwargs")
        for_each = None
        if "for_each_column" in data:
            fw = w / "for_each_column"
            for_each = as_text_list(data["for_each_column"], fw)
            if not for_each:
                raise fw.error("expected at least one column or placeholder")
            for j, item_ in enumerate(for_each):
                if item_ == COLUMN:
                    raise (fw / j).error(f"'{COLUMN}' stands for each of these, not one of them")
                _check_placeholders(item_, fw / j)
            if not _uses(kwargs, COLUMN):
                raise (w / "kwargs").error(
                    f"for_each_column needs '{COLUMN}' in kwargs, or every column would get the "
                    "same check"
                )
        elif _uses(kwargs, COLUMN):
            raise (w / "kwargs").error(f"'{COLUMN}' is only allowed with for_each_column")
        # Validate with placeholders replaced by plausible values, so a bad argument is caught on
        # load rather than when the first version is audited.
        sample = _substitute(
            kwargs, label="label", sensitive=("a", "b"), columns=("a", "b"), column="a"
        )
        try:
            validate_expectation_args(type_, sample)
        except PolicyError as exc:
            raise w.error(str(exc)) from None
        out.append(ExpectationTemplate(type_, dict(kwargs), for_each, f"{origin}[{i}]"))
    return tuple(out)


def _check_placeholders(value: Any, where: Where) -> None:
    """Reject ``$word`` that is not a placeholder; ``$$word`` is the literal text ``$word``."""
    if isinstance(value, str):
        if _PLACEHOLDER_RE.fullmatch(value) and value not in _PLACEHOLDERS:
            raise where.error(
                f"unknown placeholder '{value}'{suggest(value, _PLACEHOLDERS)} "
                f"(placeholders: {', '.join(_PLACEHOLDERS)}; write '$${value[1:]}' for the "
                f"literal text '{value}')"
            )
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_placeholders(item, where / str(key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _check_placeholders(item, where / i)


def _uses(value: Any, placeholder: str) -> bool:
    if isinstance(value, str):
        return value == placeholder
    if isinstance(value, dict):
        return any(_uses(v, placeholder) for v in value.values())
    if isinstance(value, list):
        return any(_uses(v, placeholder) for v in value)
    return False


def _substitute(
    value: Any,
    *,
    label: str,
    sensitive: Sequence[str],
    columns: Sequence[str],
    column: str | None,
) -> Any:
    """Replace placeholders; a list item ``$sensitive_features`` or ``$all_columns`` splices in."""
    if isinstance(value, str):
        if value == LABEL:
            return label
        if value == COLUMN:
            return column
        if value == SENSITIVE_FEATURES:
            return list(sensitive)
        if value == ALL_COLUMNS:
            return list(columns)
        if value.startswith("$$"):
            return value[1:]
        return value
    if isinstance(value, dict):
        return {
            k: _substitute(v, label=label, sensitive=sensitive, columns=columns, column=column)
            for k, v in value.items()
        }
    if isinstance(value, list):
        out: list[Any] = []
        for item in value:
            new = _substitute(
                item, label=label, sensitive=sensitive, columns=columns, column=column
            )
            if item in (SENSITIVE_FEATURES, ALL_COLUMNS):
                out.extend(new)
            else:
                out.append(new)
        return out
    return value


def resolve_expectations(
    entry: HasTemplates,
    *,
    label: str,
    sensitive_features: Sequence[str],
    columns: Sequence[str],
) -> list[ExpectationSpec]:
    """Turn an entry's templates into concrete expectations for one version's data."""
    specs: list[ExpectationSpec] = []
    for template in entry.expectation_templates():
        targets: list[str | None]
        if template.for_each_column is None:
            targets = [None]
        else:
            targets = _substitute(
                list(template.for_each_column),
                label=label,
                sensitive=sensitive_features,
                columns=columns,
                column=None,
            )
        seen: set[str | None] = set()
        for column in targets:
            if column in seen:
                continue
            seen.add(column)
            kwargs = _substitute(
                dict(template.kwargs),
                label=label,
                sensitive=sensitive_features,
                columns=columns,
                column=column,
            )
            specs.append(ExpectationSpec(template.type, kwargs, template.origin))
    return specs
