"""The policy's ``trust`` section: whose keys may sign audits and reviews.

Only paths are read here (the policy stays free of cryptography imports); the keys are loaded by
``govern.attest.keys`` when something is verified. A key file that does not exist is a policy
error now, not a "not verified" later that nobody can explain.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from govern.config.fields import Where, as_mapping, as_text, as_text_list

_TRUST_KEYS = {"auditors", "reviewers"}
_REVIEWER_KEYS = {"id", "key", "roles"}


@dataclass(frozen=True)
class Reviewer:
    id: str
    key: Path
    roles: tuple[str, ...]


@dataclass(frozen=True)
class Trust:
    auditors: tuple[Path, ...]
    """Public keys whose signatures make an audit record verified."""
    reviewers: tuple[Reviewer, ...] = ()

    @property
    def requires_signatures(self) -> bool:
        """With auditors listed, an unsigned record is not verified."""
        return bool(self.auditors)


def _key_path(value: Any, where: Where, base: Path) -> Path:
    path = Path(os.path.abspath(base / as_text(value, where)))
    if not path.is_file():
        raise where.error(f"key file {path} not found")
    return path


def parse_trust(value: Any, where: Where, base: Path) -> Trust:
    data = as_mapping(value, where, _TRUST_KEYS)
    auditors: tuple[Path, ...] = ()
    if "auditors" in data:
        refs = as_text_list(data["auditors"], where / "auditors")
        auditors = tuple(_key_path(r, where / "auditors" / i, base) for i, r in enumerate(refs))
    reviewers: list[Reviewer] = []
    if "reviewers" in data:
        raw = data["reviewers"]
        rw = where / "reviewers"
        if not isinstance(raw, list):
            raise rw.error("expected a list of {id, key, roles}")
        seen: set[str] = set()
        for i, item in enumerate(raw):
            entry = as_mapping(item, rw / i, _REVIEWER_KEYS)
            for key in ("id", "key", "roles"):
                if key not in entry:
                    raise (rw / i).error(f"missing '{key}'")
            rid = as_text(entry["id"], rw / i / "id")
            if rid in seen:
                raise (rw / i / "id").error(f"reviewer '{rid}' is listed twice")
            seen.add(rid)
            roles = as_text_list(entry["roles"], rw / i / "roles")
            if not roles:
                raise (rw / i / "roles").error("expected at least one role")
            reviewers.append(Reviewer(rid, _key_path(entry["key"], rw / i / "key", base), roles))
    if not auditors and not reviewers:
        raise where.error("lists no auditors and no reviewers; remove it or add keys")
    return Trust(auditors, tuple(reviewers))
