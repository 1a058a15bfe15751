"""The waivers file: approved, expiring exceptions to failed checks, parsed strictly.

A waiver is the written record that someone other than the requester accepted a known failure
for a bounded time. The file is validated whole, like the policy: a waiver that was approved by
its own requester, that never expires, that outlives ``max_waiver_days`` or that tries to waive a
check about *which data* the model was trained on is refused before any check runs.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from govern.config.fields import Where, as_mapping, as_text, error, type_name
from govern.config.yaml_loader import read_yaml
from govern.model.results import WaiverRef

WAIVERS_VERSION = 1
DEFAULT_MAX_WAIVER_DAYS = 90

UNWAIVABLE = ("lineage.", "integrity.", "policy.", "registry.", "internal.", "audit.")
"""Check ids no waiver may name. Lineage and integrity say *which data* the model was trained on:
no one may waive "this is not the training data". Policy, registry and internal checks say the
audit itself could not be trusted or recorded; an error is never waived either."""
UNWAIVABLE_KINDS = ("lineage", "integrity", "policy", "registry", "internal")
"""The same rule by check kind, applied again when waivers meet results."""

_TOP_KEYS = {"version", "waivers"}
_REQUIRED = (
    "id",
    "model",
    "check",
    "reason",
    "requested_by",
    "approved_by",
    "created",
    "expires",
)
_KEYS = {*_REQUIRED, "versions", "ticket", "signature"}
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class Waiver:
    """One approved exception: a check id on the versions of the models a glob matches."""

    id: str
    model: str
    """A glob on the registered model name, matched like the policy's ``match`` (fnmatchcase)."""
    versions: tuple[str, ...] | None
    """The versions it covers; ``None`` for every version."""
    check: str
    """An exact check id, as in ``results.json``."""
    reason: str
    requested_by: str
    approved_by: str
    created: dt.date
    expires: dt.date
    """The last day (UTC) the waiver applies."""
    ticket: str | None = None
    signature: Mapping[str, Any] | None = None
    """Carried through unparsed. Hook for signed waivers: verified when the policy lists trusted
    reviewers (not yet); until then a signature proves nothing and changes nothing."""

    def covers(self, model: str, version: str) -> bool:
        if not fnmatch.fnmatchcase(model, self.model):
            return False
        return self.versions is None or str(version) in self.versions

    def expired(self, today: dt.date) -> bool:
        return self.expires < today

    def ref(self) -> WaiverRef:
        return WaiverRef(
            id=self.id,
            reason=self.reason,
            requested_by=self.requested_by,
            approved_by=self.approved_by,
            created=self.created.isoformat(),
            expires=self.expires.isoformat(),
            ticket=self.ticket,
        )


@dataclass(frozen=True)
class WaiverSet:
    """A loaded waivers file: what the verdicts rest on, named by path and SHA-256."""

    path: str
    sha256: str
    waivers: tuple[Waiver, ...]
    max_days: int = DEFAULT_MAX_WAIVER_DAYS


def today_utc() -> dt.date:
    """The audit date waivers expire against: UTC, so a run's outcome does not depend on where
    the machine is."""
    return dt.datetime.now(dt.UTC).date()


def _date(value: Any, where: Where) -> dt.date:
    if isinstance(value, dt.datetime):
        raise where.error(f"expected a date YYYY-MM-DD, got a date and time {value.isoformat()}")
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str) and _DATE.match(value.strip()):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            raise where.error(f"'{value}' is not a date in the calendar") from None
    shown = f"'{value}'" if isinstance(value, str) else type_name(value)
    raise where.error(f"expected a date YYYY-MM-DD, got {shown}")


def _versions(value: Any, where: Where) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise where.error(
            f"expected a non-empty list of version numbers, got {type_name(value)}; leave the "
            "key out to cover every version"
        )
    out: list[str] = []
    for i, item in enumerate(value):
        if isinstance(item, bool) or not isinstance(item, int | str):
            raise (where / i).error(f"expected a version number, got {type_name(item)}")
        text = str(item).strip()
        if not text or (isinstance(item, int) and item < 1):
            raise (where / i).error(f"expected a version number >= 1, got {item!r}")
        if text in out:
            raise (where / i).error(f"version {text} is listed twice")
        out.append(text)
    return tuple(out)


def _person(value: Any, where: Where) -> str:
    return as_text(value, where).strip()


def _waiver(value: Any, where: Where, max_days: int) -> Waiver:
    data = as_mapping(value, where, _KEYS)
    for key in _REQUIRED:
        if key not in data:
            hint = " (every waiver ends: the last day it applies)" if key == "expires" else ""
            raise where.error(f"missing '{key}'{hint}")
    check = as_text(data["check"], where / "check").strip()
    if check.startswith(UNWAIVABLE):
        raise (where / "check").error(
            f"'{check}' cannot be waived: lineage and integrity checks prove which data the model "
            "was trained on, and policy, registry and internal checks that the audit itself "
            "holds; no one may waive 'this is not the training data'"
        )
    requested = _person(data["requested_by"], where / "requested_by")
    approved = _person(data["approved_by"], where / "approved_by")
    if requested.casefold() == approved.casefold():
        raise (where / "approved_by").error(
            f"'{approved}' also requested this waiver: it must be approved by someone else"
        )
    created = _date(data["created"], where / "created")
    expires = _date(data["expires"], where / "expires")
    if expires < created:
        raise (where / "expires").error(
            f"{expires.isoformat()} is before created {created.isoformat()}"
        )
    days = (expires - created).days
    if days > max_days:
        raise (where / "expires").error(
            f"{expires.isoformat()} is {days} days after created {created.isoformat()}; "
            f"max_waiver_days allows at most {max_days}"
        )
    ticket = as_text(data["ticket"], where / "ticket").strip() if "ticket" in data else None
    signature = data.get("signature")
    if "signature" in data and not isinstance(signature, dict):
        raise (where / "signature").error(f"expected a mapping, got {type_name(signature)}")
    return Waiver(
        id=as_text(data["id"], where / "id").strip(),
        model=as_text(data["model"], where / "model").strip(),
        versions=_versions(data["versions"], where / "versions") if "versions" in data else None,
        check=check,
        reason=as_text(data["reason"], where / "reason").strip(),
        requested_by=requested,
        approved_by=approved,
        created=created,
        expires=expires,
        ticket=ticket,
        signature=signature,
    )


def load_waivers(
    path: str | os.PathLike[str], max_days: int = DEFAULT_MAX_WAIVER_DAYS
) -> WaiverSet:
    """Read and validate a waivers file whole; raise PolicyError on any flaw."""
    file = Path(path)
    if file.is_dir():
        raise error(f"waivers {file}: is a folder, not a file")
    data, _text, sha = read_yaml(file, "waivers")
    where = Where(str(file))
    if data is None:
        raise where.error("the file is empty")
    try:
        top = as_mapping(data, where, _TOP_KEYS)
        if "version" not in top:
            raise where.error(f"missing 'version' (this govern reads version {WAIVERS_VERSION})")
        if type(top["version"]) is not int or top["version"] != WAIVERS_VERSION:
            raise (where / "version").error(
                f"unsupported waivers version {top['version']!r} (this govern reads "
                f"{WAIVERS_VERSION})"
            )
        raw = top.get("waivers", [])
        if not isinstance(raw, list):
            raise (where / "waivers").error(f"expected a list of waivers, got {type_name(raw)}")
        waivers: list[Waiver] = []
        for i, item in enumerate(raw):
            waiver = _waiver(item, where / "waivers" / i, max_days)
            for j, other in enumerate(waivers):
                if other.id == waiver.id:
                    raise (where / "waivers" / i / "id").error(
                        f"'{waiver.id}' is already the id of waivers[{j}]"
                    )
            waivers.append(waiver)
    except RecursionError:
        raise where.error("nested too deeply") from None
    return WaiverSet(str(file), sha, tuple(waivers), max_days)


def max_waiver_days(value: Any, where: Where) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise where.error(f"expected a whole number >= 1, got {value!r}")
    return value


def waiver_status(waiver: Waiver, today: dt.date) -> str:
    """``active``, ``expired on DATE`` or ``expires today`` / ``expires in N days``."""
    left = (waiver.expires - today).days
    if left < 0:
        return f"expired on {waiver.expires.isoformat()}"
    if left == 0:
        return "expires today"
    if left <= 30:
        return f"expires in {left} day{'s' if left != 1 else ''}"
    return "active"


def status_rows(waivers: WaiverSet, today: dt.date) -> list[dict[str, Any]]:
    """One plain row per waiver for ``govern waivers list`` (renderers read no config types)."""
    return [
        {
            **w.ref().to_dict(),
            "model": w.model,
            "versions": list(w.versions) if w.versions is not None else None,
            "check": w.check,
            "status": waiver_status(w, today),
            "expired": w.expired(today),
            "days_left": (w.expires - today).days,
            "signed": w.signature is not None,
        }
        for w in waivers.waivers
    ]
