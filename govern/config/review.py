"""The policy's ``review`` section: which sign-offs a promotion needs.

``review: {required: [{role: validator, count: 1}]}``. A required role must be held by enough
reviewers in ``trust.reviewers``: a requirement nobody can meet would block every promotion
without saying why, so it is a policy error on load.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from govern.config.fields import Where, as_mapping, as_text, type_name
from govern.config.trust import Trust

_REVIEW_KEYS = {"required"}
_REQUIRED_KEYS = {"role", "count"}


@dataclass(frozen=True)
class RequiredReview:
    role: str
    count: int = 1


@dataclass(frozen=True)
class ReviewPolicy:
    required: tuple[RequiredReview, ...]


def parse_review(value: Any, where: Where, trust: Trust | None) -> ReviewPolicy:
    data = as_mapping(value, where, _REVIEW_KEYS)
    if trust is None or not trust.reviewers:
        raise where.error("requires trust.reviewers (whose keys may sign reviews)")
    if "required" not in data:
        raise where.error("missing 'required' (a list of {role, count})")
    raw = data["required"]
    rw = where / "required"
    if not isinstance(raw, list) or not raw:
        got = "an empty list" if raw == [] else type_name(raw)
        raise rw.error(f"expected a non-empty list of {{role, count}}, got {got}")
    required: list[RequiredReview] = []
    for i, item in enumerate(raw):
        entry = as_mapping(item, rw / i, _REQUIRED_KEYS)
        if "role" not in entry:
            raise (rw / i).error("missing 'role'")
        role = as_text(entry["role"], rw / i / "role")
        if any(r.role == role for r in required):
            raise (rw / i / "role").error(f"role '{role}' is listed twice")
        count = entry.get("count", 1)
        if type(count) is not int or count < 1:
            raise (rw / i / "count").error(f"expected a whole number of at least 1, got {count!r}")
        holders = [r.id for r in trust.reviewers if role in r.roles]
        if len(holders) < count:
            held = f"only {', '.join(holders)}" if holders else "no reviewer in trust.reviewers"
            raise (rw / i / "role").error(
                f"{count} '{role}' review(s) required but {held} holds the role"
            )
        required.append(RequiredReview(role, count))
    return ReviewPolicy(tuple(required))
