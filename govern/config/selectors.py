"""Model selectors: how a user names models and versions on the command line.

Accepted forms: ``NAME`` (every version), ``NAME/3``, ``NAME@alias``, ``models:/NAME/3`` and
``models:/NAME@alias``. MLflow forbids ``/`` and ``:`` in model names but allows ``@``, so an alias
is split off at the last ``@``.
"""

from __future__ import annotations

import re

from govern.errors import UsageError
from govern.model.selector import Selector

__all__ = ["Selector", "parse_selector", "validate_alias", "validate_promotion"]

_ALIAS_RE = re.compile(r"[A-Za-z0-9_-]+")
RESERVED_ALIAS_RE = re.compile(r"^(latest|v[0-9]+)$", re.IGNORECASE)
_VERSION_RE = re.compile(r"[0-9]+")
MAX_ALIAS_LENGTH = 255
"""MLflow's limit on the length of an alias name."""


def _check_name(name: str, text: str) -> str:
    if not name.strip():
        raise UsageError(
            f"invalid model selector {text!r}: expected NAME, NAME/VERSION or NAME@ALIAS"
        )
    if ":" in name:
        raise UsageError(f"invalid model selector {text!r}: model names cannot contain ':'")
    return name


def parse_selector(text: str) -> Selector:
    raw = text.strip()
    body = raw[len("models:/") :] if raw.startswith("models:/") else raw
    if not body:
        raise UsageError(f"empty model selector {text!r}")
    if "/" in body:
        name, _, version = body.rpartition("/")
        # ASCII digits only: str.isdigit() also accepts '²', which int() cannot read.
        if not name or "/" in name or not _VERSION_RE.fullmatch(version) or int(version) < 1:
            raise UsageError(
                f"invalid model selector {text!r}: expected NAME, NAME/VERSION or NAME@ALIAS"
            )
        return Selector(name=_check_name(name, text), version=str(int(version)))
    if "@" in body:
        name, _, alias = body.rpartition("@")
        if not name or not _ALIAS_RE.fullmatch(alias):
            raise UsageError(
                f"invalid model selector {text!r}: an alias is letters, digits, '_' and '-'"
            )
        if RESERVED_ALIAS_RE.fullmatch(alias):
            number = alias[1:] if alias[1:].isdigit() else ""
            hint = f"; for version {int(number)} write {name}/{int(number)}" if number else ""
            raise UsageError(
                f"invalid model selector {text!r}: alias '{alias}' is reserved by MLflow and "
                f"never set{hint}"
            )
        return Selector(name=_check_name(name, text), alias=alias)
    if raw.startswith("models:/"):
        raise UsageError(f"invalid model URI {text!r}: expected models:/NAME/VERSION or @ALIAS")
    return Selector(name=_check_name(body, text))


def validate_alias(alias: str) -> str:
    """Reject aliases MLflow reserves (``latest``, ``v3``) before any work is done."""
    if RESERVED_ALIAS_RE.fullmatch(alias):
        raise UsageError(
            f"alias {alias!r} is reserved by MLflow ('latest' and 'v<number>' cannot be set)"
        )
    if not _ALIAS_RE.fullmatch(alias):
        raise UsageError(f"invalid alias {alias!r}: use letters, digits, '_' and '-'")
    if len(alias) > MAX_ALIAS_LENGTH:
        raise UsageError(f"invalid alias: longer than {MAX_ALIAS_LENGTH} characters")
    return alias


def validate_promotion(alias: str | None, *, write: bool) -> str | None:
    """The one check of ``--promote-to``, made before any work: a valid alias, and a promotion
    always leaves an audit record (so never with ``--no-write``)."""
    if alias is None:
        return None
    if not write:
        raise UsageError(
            "--promote-to and --no-write cannot be used together: a promotion must leave an "
            "audit record"
        )
    return validate_alias(alias)
