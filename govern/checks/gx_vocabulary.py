"""Generate ``govern/config/gx_vocabulary.json`` from the installed Great Expectations.

Loading a policy must not import GX (about 4 s), yet has to know every expectation type, its
arguments and what each accepts. This module imports GX once, at development time, and writes
that knowledge down; ``govern.config.vocabulary`` reads it with the standard library only.

    python -m govern.checks.gx_vocabulary --write   # after upgrading GX
    python -m govern.checks.gx_vocabulary --check   # in CI: exit 1 if the file is stale

What is recorded, per type: every pydantic field a policy may set, in declaration order (GX
reports errors in that order), with its alias, whether it is required or may be null, the JSON
kinds its type accepts (``number``, ``integer``, ``string``, ``boolean``, ``list``, ``mapping``,
``date``, ``datetime``, ``object`` for a nested model such as ``QuantileRange``, ``any``), its
constraints (``ge``/``le``/``gt``/``lt``, lengths, ``Literal`` and enum choices, list items) and
GX's own validators, translated into named rules; plus ``domain_keys`` and ``success_keys``.
The layout is ``{"great_expectations": <version>, "models": {<nested model>: {...}},
"types": {<type>: {"domain_keys", "success_keys", "fields": [...], "rules": [...]}}}``; fields
are a list because their order is the order GX reports problems in.

Left out: the fields govern sets itself (``RESERVED_ARGUMENTS``). Kept: ``meta``, ``notes``,
``description``, ``severity`` and, where GX declares it, ``library_metadata``. GX accepts them,
they annotate rather than change what is checked (govern's duplicate detection ignores ``meta``
and ``notes``), and leaving them out would make the fast check refuse policies the run accepts.

A type or validator this module does not know is recorded as kind ``unknown`` or rule
``unknown`` rather than guessed at; ``tests/config/test_vocabulary.py`` fails on either, so a GX
upgrade that needs new translation code cannot slip through.
"""

from __future__ import annotations

import argparse
import enum
import json
import os
import sys
import typing
from collections.abc import Mapping as AbcMapping
from collections.abc import Sequence as AbcSequence
from collections.abc import Set as AbcSet
from datetime import date, datetime
from importlib import metadata
from pathlib import Path
from types import UnionType
from typing import Any

from govern.config.vocabulary import RESERVED_ARGUMENTS, VOCABULARY_FILE

__all__ = ["build_vocabulary", "main", "render_vocabulary"]

_NONE = type(None)

_FIELD_RULES: dict[str, dict[str, Any] | None] = {
    "ExpectColumnDistinctValuesToBeInSet._validate_value_set": {
        "name": "non_empty",
        "message": "value_set must be a non-empty set-like object.",
    },
    "ExpectColumnValuesToMatchRegexList._validate_regex_list": {
        "name": "non_empty",
        "message": "regex_list must not be empty",
    },
    "ExpectColumnValuesToNotMatchRegexList._validate_regex_list": {
        "name": "non_empty",
        "message": "regex_list must not be empty",
    },
    "ExpectColumnValuesToMatchLikePatternList.validate_like_pattern_list": {
        "name": "non_empty",
        "message": "At least one like_pattern must be supplied in the like_pattern_list.",
    },
    "ExpectColumnValuesToNotMatchLikePatternList.validate_like_pattern_list": {
        "name": "non_empty",
        "message": "At least one like_pattern must be supplied in the like_pattern_list.",
    },
    "MulticolumnMapExpectation._validate_column_list": {
        "name": "min_items",
        "limit": 2,
        "message": "column_list must contain at least two columns.",
    },
    "validate_like_pattern_escape": {
        "name": "single_character",
        "message": "escape must be a single character.",
    },
    "ExpectColumnValuesToMatchStrftimeFormat.validate_strftime_format": {
        "name": "strftime_format",
        "message": "Unable to use provided strftime_format. {error}",
    },
    "UnexpectedRowsExpectation._validate_query": {
        "name": "format_braces",
        # completed with GX's LITERAL_BRACE_HINT in _field_rule
        "message": "unexpected_rows_query contains an unpaired or malformed brace: {error}.",
    },
    # Acts on a QuantileRange instance only; with smart_union a mapping stays a plain dict, so
    # GX never runs it for a policy's value.
    "ExpectColumnQuantileValuesToBeBetween.validate_quantile_ranges": None,
    # Text and null always pass it; structured row conditions are refused before the run.
    "BatchExpectation._validate_row_condition": None,
}
"""GX field validators by ``__qualname__``, as rules ``govern.config.vocabulary`` implements.
``None``: nothing for the fast check to do (the comment says why)."""

_ROOT_RULES: dict[str, dict[str, Any] | None] = {
    "Expectation._transform_legacy_row_condition": {"name": "gx_row_condition"},
    "ExpectColumnValuesToBeBetween.check_min_val_or_max_val": {
        "name": "min_or_max_set",
        "message": "min_value and max_value cannot both be None",
        "empty_message": "values cannot be empty strings",
    },
    "ExpectColumnValueLengthsToBeBetween._validate_min_or_max_set": {
        "name": "min_or_max_set",
        "message": "min_value and max_value cannot both be None",
    },
    "ExpectTableRowCountToBeBetween._root_validate": {"name": "row_count_bounds"},
}

_CONTAINERS = {
    list: "list",
    set: "set",
    frozenset: "frozenset",
    tuple: "tuple",
    AbcSequence: "sequence",
    AbcSet: "set",
}


def _gx() -> Any:
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations

    return great_expectations


def _members(annotation: Any) -> list[Any]:
    """The alternatives of a type, seen through ``Optional``/``Annotated``/``Union``."""
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    if typing.get_origin(annotation) in (typing.Union, UnionType):
        out: list[Any] = []
        for arg in typing.get_args(annotation):
            out.extend(_members(arg))
        return out
    return [annotation]


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and hasattr(tp, "__fields__") and hasattr(tp, "parse_obj")


def _limits(tp: type, names: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in names:
        value = getattr(tp, name, None)
        if value is not None and not callable(value):
            out[name] = value
    return out


def _member(tp: Any, models: dict[str, Any]) -> dict[str, Any]:
    """One union member as ``{"kind": ..., <constraints>}``."""
    origin = typing.get_origin(tp)
    if tp is Any or tp is object:
        return {"kind": "any"}
    if origin is typing.Literal:
        choices = list(typing.get_args(tp))
        if all(isinstance(c, str) for c in choices):
            return {"kind": "string", "choices": choices}
        return {"kind": "unknown", "python_type": repr(tp)}
    if origin is not None:
        args = typing.get_args(tp)
        if origin is tuple:
            if len(args) == 2 and args[1] is Ellipsis:
                return {"kind": "list", "container": "tuple", "items": _spec(args[0], models)}
            specs = [_spec(a, models) for a in args]
            if specs and all(s == specs[0] for s in specs):
                return {
                    "kind": "list",
                    "container": "tuple",
                    "length": len(specs),
                    "items": specs[0],
                }
            return {"kind": "unknown", "python_type": repr(tp)}
        if origin in _CONTAINERS:
            out: dict[str, Any] = {"kind": "list", "container": _CONTAINERS[origin]}
            if args and args[0] is not Any:
                out["items"] = _spec(args[0], models)
            return out
        if origin in (dict, AbcMapping):
            return {"kind": "mapping"}
        return {"kind": "unknown", "python_type": repr(tp)}
    if not isinstance(tp, type):
        return {"kind": "unknown", "python_type": repr(tp)}
    if issubclass(tp, enum.Enum):
        values = [m.value for m in tp]
        if all(isinstance(v, str) for v in values):
            return {"kind": "string", "choices": values, "enum": True}
        return {"kind": "unknown", "python_type": repr(tp)}
    if issubclass(tp, bool):
        return {"kind": "boolean"}
    if issubclass(tp, int | float):
        kind = "integer" if issubclass(tp, int) else "number"
        out = {"kind": kind, **_limits(tp, ("gt", "ge", "lt", "le", "multiple_of"))}
        if getattr(tp, "strict", False):
            out["strict"] = True
        if getattr(tp, "allow_inf_nan", None) is False:
            out["finite"] = True
        return out
    if issubclass(tp, str):
        out = {"kind": "string", **_limits(tp, ("min_length", "max_length"))}
        if getattr(tp, "strict", False):
            out["strict"] = True
        regex = getattr(tp, "regex", None)
        if regex is not None:
            out["pattern"] = getattr(regex, "pattern", regex)
        return out
    if issubclass(tp, datetime):
        return {"kind": "datetime"}
    if issubclass(tp, date):
        return {"kind": "date"}
    for base, container in _CONTAINERS.items():
        if isinstance(base, type) and issubclass(tp, base) and base not in (AbcSequence, AbcSet):
            out = {"kind": "list", "container": container}
            out.update(_limits(tp, ("min_items", "max_items")))
            item = getattr(tp, "item_type", None)
            if item is not None and item is not Any:
                out["items"] = _spec(item, models)
            return out
    if issubclass(tp, dict):
        return {"kind": "mapping"}
    if _is_model(tp):
        return {"kind": "object", "models": [_model(tp, models)]}
    return {"kind": "unknown", "python_type": repr(tp)}


def _spec(annotation: Any, models: dict[str, Any], allow_none: bool = False) -> dict[str, Any]:
    """A field-like description of a type: ``kinds`` in union order plus their constraints.

    GX never uses two members of the same kind with different constraints; if it ever does,
    the whole type is recorded as ``unknown`` rather than one of them dropped.
    """
    members = _members(annotation)
    nullable = allow_none or _NONE in members
    spec: dict[str, Any] = {"kinds": []}
    for member in (m for m in members if m is not _NONE):
        part = _member(member, models)
        kind = part.pop("kind")
        if kind == "object":
            spec.setdefault("models", []).extend(part.pop("models"))
        if kind in spec["kinds"]:
            part.pop("container", None)  # list and set both take a list: the first one words it
            if all(spec.get(k) == v for k, v in part.items()):
                continue
            return {"kinds": ["unknown"], "python_type": repr(annotation), "nullable": nullable}
        for key, value in part.items():
            if key in spec and spec[key] != value:
                return {"kinds": ["unknown"], "python_type": repr(annotation), "nullable": nullable}
            spec[key] = value
        spec["kinds"].append(kind)
    if nullable:
        spec["nullable"] = True
    return spec


def _validator_rules(
    validators: list[Any], table: dict[str, dict[str, Any] | None]
) -> list[dict[str, Any]]:
    rules = []
    for func in validators:
        qualname = getattr(func, "__qualname__", repr(func))
        if qualname not in table:
            rules.append({"name": "unknown", "validator": qualname})
            continue
        rule = table[qualname]
        if rule is None:
            continue
        rule = dict(rule)
        if rule["name"] == "format_braces":
            hint = getattr(sys.modules[func.__module__], "LITERAL_BRACE_HINT", None)
            if hint is None:
                from great_expectations.expectations.metrics import query_metric_provider

                hint = query_metric_provider.LITERAL_BRACE_HINT
            rule["message"] += f" {hint} Query: {{value}}"
        if rule["name"] == "gx_row_condition":
            rule["parsers"] = _gx_condition_parsers()
        rules.append(rule)
    return rules


def _gx_condition_parsers() -> list[str]:
    from great_expectations.expectations import expectation

    return [
        expectation.CONDITION_PARSER_GREAT_EXPECTATIONS,
        expectation.CONDITION_PARSER_GREAT_EXPECTATIONS_DEPRECATED,
    ]


def _field(name: str, field: Any, models: dict[str, Any], rules: bool) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": name, "required": bool(field.required is True)}
    if field.alias != name:
        entry["alias"] = field.alias
    entry.update(_spec(field.outer_type_, models, allow_none=bool(field.allow_none)))
    funcs = [v.func for v in (field.class_validators or {}).values()]
    if funcs:
        found = _validator_rules(funcs, _FIELD_RULES if rules else {})
        if found:
            entry["rules"] = found
    return entry


def _root_validators(cls: Any) -> list[Any]:
    pre = list(getattr(cls, "__pre_root_validators__", []))
    post = [func for _, func in getattr(cls, "__post_root_validators__", [])]
    return pre + post


def _model(cls: Any, models: dict[str, Any]) -> str:
    """Record a nested pydantic model once, by class name; returns the name."""
    name = cls.__name__
    if name in models:
        if models[name].get("python_class") != f"{cls.__module__}.{cls.__qualname__}":
            raise ValueError(f"two nested GX models are called {name}")
        return name
    models[name] = {"python_class": f"{cls.__module__}.{cls.__qualname__}"}
    fields = [_field(n, f, models, rules=False) for n, f in cls.__fields__.items()]
    extra = getattr(cls.__config__, "extra", "ignore")
    entry: dict[str, Any] = {
        "python_class": models[name]["python_class"],
        "extra": str(getattr(extra, "value", extra)),
        "fields": fields,
    }
    # No rule of a nested model is implemented by the fast check: any validator makes it
    # uncheckable (see _mark_checkable).
    root = _validator_rules(_root_validators(cls), {})
    if root:
        entry["rules"] = root
    models[name] = entry
    return name


def _spec_ok(spec: dict[str, Any], models: dict[str, Any], seen: set[str]) -> bool:
    if "unknown" in spec.get("kinds", ()) or spec.get("rules"):
        return False
    if "items" in spec and not _spec_ok(spec["items"], models, seen):
        return False
    return all(_model_ok(m, models, seen) for m in spec.get("models", ()))


def _model_ok(name: str, models: dict[str, Any], seen: set[str]) -> bool:
    if name in seen:
        return True  # a cycle: decided by the rest of the walk
    seen.add(name)
    model = models[name]
    if model.get("rules"):
        return False
    return all(_spec_ok(f, models, seen) for f in model["fields"])


def _mark_checkable(models: dict[str, Any]) -> None:
    """A nested model is checkable without GX if it, and every model inside it, has no
    validator and no kind the generator could not describe."""
    for name, model in models.items():
        model["checkable"] = _model_ok(name, models, set())


def _expectation(cls: Any, models: dict[str, Any]) -> dict[str, Any]:
    fields = [
        _field(name, field, models, rules=True)
        for name, field in cls.__fields__.items()
        if name not in RESERVED_ARGUMENTS
    ]
    entry: dict[str, Any] = {
        "domain_keys": list(cls.domain_keys),
        "success_keys": list(cls.success_keys),
        "fields": fields,
    }
    rules = _validator_rules(_root_validators(cls), _ROOT_RULES)
    if rules:
        entry["rules"] = rules
    return entry


def build_vocabulary() -> dict[str, Any]:
    """The vocabulary of the installed GX, as ``gx_vocabulary.json`` should hold it."""
    _gx()
    from great_expectations.expectations.registry import (
        get_expectation_impl,
        list_registered_expectation_implementations,
    )

    models: dict[str, Any] = {}
    entries = {
        name: _expectation(get_expectation_impl(name), models)
        for name in sorted(list_registered_expectation_implementations())
    }
    _mark_checkable(models)
    vocabulary = {
        "great_expectations": metadata.version("great_expectations"),
        "models": models,
        "types": entries,
    }
    # Round-trip so that what is returned compares equal to what a reader of the file loads.
    loaded: dict[str, Any] = json.loads(render_vocabulary(vocabulary))
    return loaded


def render_vocabulary(vocabulary: dict[str, Any]) -> str:
    """Stable text: sorted keys, so regenerating from the same GX changes no byte."""
    return json.dumps(vocabulary, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m govern.checks.gx_vocabulary",
        description="Regenerate or check govern's copy of the Great Expectations vocabulary.",
    )
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--write", action="store_true", help=f"write {VOCABULARY_FILE}")
    action.add_argument(
        "--check", action="store_true", help="exit 1 if the file differs from the installed GX"
    )
    args = parser.parse_args(argv)
    path = Path(VOCABULARY_FILE)
    text = render_vocabulary(build_vocabulary())
    if args.write:
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path}")
        return 0
    try:
        shipped = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        print(f"{path} does not exist; run with --write", file=sys.stderr)
        return 1
    if shipped == text:
        return 0
    old, new = json.loads(shipped), json.loads(text)
    changed = sorted(
        name
        for name in set(old.get("types", {})) | set(new["types"])
        if old.get("types", {}).get(name) != new["types"].get(name)
    )
    print(
        f"{path} is stale: recorded for great_expectations {old.get('great_expectations')}, "
        f"installed {new['great_expectations']}; types that differ: "
        f"{', '.join(changed) or 'none (models or layout differ)'}; run with --write",
        file=sys.stderr,
    )
    return 1


if __name__ == "__main__":
    sys.exit(main())
