"""Building blocks for validating parsed YAML: every message names the file and the key path."""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from govern.errors import PolicyError


class Where:
    """Builds "file: key.path" prefixes so every message names exactly what is wrong."""

    def __init__(self, file: str, path: str = "") -> None:
        self.file = file
        self.path = path

    def __truediv__(self, key: str | int) -> Where:
        if isinstance(key, int):
            return Where(self.file, f"{self.path}[{key}]")
        return Where(self.file, f"{self.path}.{key}" if self.path else key)

    def error(self, message: str) -> PolicyError:
        at = f": {self.path}" if self.path else ""
        return error(f"{self.file}{at}: {message}")


def error(message: str) -> PolicyError:
    """A PolicyError on one line: control characters from keys or values are shown escaped."""
    return PolicyError(re.sub(r"[\x00-\x1f\x7f]", lambda m: repr(m.group())[1:-1], message))


def as_mapping(value: Any, where: Where, allowed: set[str]) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise where.error(f"expected a mapping, got {type_name(value)}")
    for key in value:
        if not isinstance(key, str):
            raise where.error(f"keys must be text, got {key!r}")
    unknown = [key for key in value if key not in allowed]
    if unknown:
        close = suggest(unknown[0], sorted(allowed)).strip(" ()")
        hint = f"{close}; " if close else ""
        raise where.error(
            f"unknown key '{unknown[0]}' ({hint}allowed: {', '.join(sorted(allowed))})"
        )
    return value


def type_name(value: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "text", bool: "a boolean"}.get(
        type(value), "null" if value is None else type(value).__name__
    )


def as_text(value: Any, where: Where) -> str:
    if isinstance(value, str) and not value.strip():
        raise where.error("expected non-empty text, got an empty string")
    if not isinstance(value, str):
        raise where.error(f"expected non-empty text, got {type_name(value)}")
    return value


def as_text_list(value: Any, where: Where) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise where.error(f"expected a list of text, got {type_name(value)}")
    items = tuple(as_text(v, where / i) for i, v in enumerate(value))
    for i, item in enumerate(items):
        if item in items[:i]:
            raise (where / i).error(f"'{item}' is listed twice (first at [{items.index(item)}])")
    return items


def as_number(value: Any, where: Where) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise where.error(f"expected a number, got {type_name(value)}")
    number = float(value)
    if not math.isfinite(number):
        raise where.error(f"expected a finite number, got {value}")
    return number


def suggest(name: str, options: Sequence[str] | Mapping[str, Any]) -> str:
    close = difflib.get_close_matches(name, list(options), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""
