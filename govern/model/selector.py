"""A model selector as parsed from the command line: which model, and which version of it."""

from __future__ import annotations

from dataclasses import dataclass


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
