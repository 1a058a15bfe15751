"""Model selectors: how a user names models and versions on the command line.

Accepted forms: ``NAME`` (every version), ``NAME/3``, ``NAME@alias``, ``models:/NAME/3`` and
``models:/NAME@alias``. MLflow forbids ``/`` and ``:`` in model names but allows ``@``, so an alias
is split off at the last ``@``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from govern.errors import UsageError

_ALIAS_RE = re.compile(r"^[A-Za-z0-9_-]+$")
RESERVED_ALIAS_RE = re.compile(r"^(latest|v\d+)$", re.IGNORECASE)


@dataclass(frozen=True)
class Selector:
    name: str
    version: str | None = None
    alias: str | None = None

    @property
    def single(self) -> bool:
        """True when the selector names exactly one version."""
        return self.version is not None or self.alias is not None

    def __str__(self) -> str:
        if self.version is not None:
            return f"{self.name}/{self.version}"
        if self.alias is not None:
            return f"{self.name}@{self.alias}"
        return self.name


def parse_selector(text: str) -> Selector:
    raw = text.strip()
    body = raw[len("models:/") :] if raw.startswith("models:/") else raw
    if not body:
        raise UsageError(f"empty model selector {text!r}")
    if "/" in body:
        name, _, version = body.rpartition("/")
        if not name or "/" in name or not version.isdigit() or int(version) < 1:
            raise UsageError(
                f"invalid model selector {text!r}: expected NAME, NAME/VERSION or NAME@ALIAS"
            )
        return Selector(name=name, version=str(int(version)))
    if "@" in body:
        name, _, alias = body.rpartition("@")
        if not name or not _ALIAS_RE.match(alias):
            raise UsageError(
                f"invalid model selector {text!r}: an alias is letters, digits, '_' and '-'"
            )
        return Selector(name=name, alias=alias)
    if raw.startswith("models:/"):
        raise UsageError(f"invalid model URI {text!r}: expected models:/NAME/VERSION or @ALIAS")
    if ":" in body:
        raise UsageError(f"invalid model selector {text!r}: model names cannot contain ':'")
    return Selector(name=body)


def validate_alias(alias: str) -> str:
    """Reject aliases MLflow reserves (``latest``, ``v3``) before any work is done."""
    if RESERVED_ALIAS_RE.match(alias):
        raise UsageError(
            f"alias '{alias}' is reserved by MLflow ('latest' and 'v<number>' cannot be set)"
        )
    if not _ALIAS_RE.match(alias):
        raise UsageError(f"invalid alias '{alias}': use letters, digits, '_' and '-'")
    return alias
