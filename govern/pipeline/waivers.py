"""Waivers meet results: a failed check an unexpired waiver matches becomes ``waived``.

Applied after every check ran and before the verdict is recorded, so the record, the report and
the gate see the same statuses. Only ``fail`` is ever waived: an error means "could not check",
and no waiver can stand in for a check that did not run. A waived check is never a pass.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from govern.config.policy import Policy
from govern.config.waivers import UNWAIVABLE, UNWAIVABLE_KINDS, Waiver, WaiverSet
from govern.errors import GovernError, NotVerified, PolicyError, UsageError
from govern.model.results import CheckResult, VersionResult


def _waivable(check: CheckResult) -> bool:
    return (
        check.status == "fail"
        and check.kind not in UNWAIVABLE_KINDS
        and not check.id.startswith(UNWAIVABLE)
    )


def _matching(waivers: WaiverSet, model: str, version: str, check_id: str) -> list[Waiver]:
    return [w for w in waivers.waivers if w.check == check_id and w.covers(model, version)]


def apply_waivers(
    result: VersionResult, waivers: WaiverSet | None, today: dt.date
) -> VersionResult:
    """The result with every failed check an unexpired waiver matches marked ``waived``.

    A check only expired waivers match stays ``fail``, and its summary says which waiver expired
    when, so nobody mistakes a lapsed exception for a new failure. When several unexpired
    waivers match, the one that lasts longest is shown (then the first in the file).
    """
    if waivers is None or not waivers.waivers:
        return result
    checks: list[CheckResult] = []
    changed = False
    for check in result.checks:
        if not _waivable(check):
            checks.append(check)
            continue
        matching = _matching(waivers, result.model, result.version, check.id)
        active = [w for w in matching if not w.expired(today)]
        if active:
            chosen = max(active, key=lambda w: w.expires)
            checks.append(replace(check, status="waived", waiver=chosen.ref()))
            changed = True
        elif matching:
            lapsed = max(matching, key=lambda w: w.expires)
            details = dict(check.details) if isinstance(check.details, Mapping) else {}
            details["expired_waivers"] = [w.ref().to_dict() for w in matching]
            checks.append(
                replace(
                    check,
                    summary=f"{check.summary} (waiver {lapsed.id} expired on "
                    f"{lapsed.expires.isoformat()})",
                    details=details,
                )
            )
            changed = True
        else:
            checks.append(check)
    return replace(result, checks=tuple(checks)) if changed else result


def unused_waivers(waivers: WaiverSet | None, versions: Iterable[VersionResult]) -> tuple[str, ...]:
    """Ids of waivers that match no check of these versions: stale, mistyped or meant for
    versions this run did not audit. A warning, never a failure."""
    if waivers is None:
        return ()
    seen = [(v.model, v.version, c.id) for v in versions for c in v.checks]
    return tuple(
        w.id
        for w in waivers.waivers
        if not any(w.check == cid and w.covers(model, version) for model, version, cid in seen)
    )


def fingerprint_part(
    waivers: WaiverSet | None, model: str, version: str, today: dt.date
) -> dict[str, Any] | None:
    """What the waivers contribute to a version's reuse fingerprint.

    The file's bytes (any edit recomputes), and which waivers covering this version are still in
    force today: a waiver expiring overnight changes the outcome without changing the file.
    """
    if waivers is None:
        return None
    return {
        "sha256": waivers.sha256,
        "in_force": sorted(
            w.id for w in waivers.waivers if w.covers(model, version) and not w.expired(today)
        ),
    }


def waiver_fields(waiver: Waiver) -> dict[str, Any]:
    """The fields an approver signs, as the waiver holds them."""
    return {
        "id": waiver.id,
        "model": waiver.model,
        "versions": list(waiver.versions) if waiver.versions is not None else None,
        "check": waiver.check,
        "reason": waiver.reason,
        "ticket": waiver.ticket,
        "requested_by": waiver.requested_by,
        "approved_by": waiver.approved_by,
        "created": waiver.created,
        "expires": waiver.expires,
    }


def check_waiver_signatures(policy: Policy) -> None:
    """With trusted reviewers in the policy, each waiver must carry its approver's signature:
    the key of the reviewer whose id is ``approved_by``. A waiver that anyone with write access
    to the file could have added, or edited after approval, is a policy error (exit 2)."""
    from govern.attest.keys import load_public_key
    from govern.attest.waivers import verify_waiver

    trust, waivers = policy.trust, policy.waivers
    if trust is None or not trust.reviewers or waivers is None:
        return
    for waiver in waivers.waivers:
        where = f"waivers {waivers.path}: waiver '{waiver.id}'"
        approvers = [r for r in trust.reviewers if r.id.casefold() == waiver.approved_by.casefold()]
        if not approvers:
            raise PolicyError(
                f"{where}: approver '{waiver.approved_by}' is not a trusted reviewer of the policy"
            )
        keys = [load_public_key(r.key) for r in approvers]
        try:
            verify_waiver(waiver_fields(waiver), waiver.signature, keys)
        except NotVerified as exc:
            raise PolicyError(f"{where}: {exc}") from None


def sign_waiver_in_file(path: Path, waiver_id: str, signing_key: str) -> str:
    """Add the approver's signature to one waiver of a waivers file, keeping the file as written
    (comments, order, layout): one ``signature:`` line is added to that waiver, or replaces the
    one it had. The result is read back and verified before it replaces the file."""
    import tempfile

    from govern._io import atomic_write_text
    from govern.attest.keys import load_signer
    from govern.attest.waivers import sign_waiver, verify_waiver
    from govern.config.waivers import load_waivers

    waivers = load_waivers(path, max_days=10**6)  # the policy's limit is checked when it is used
    matches = [w for w in waivers.waivers if w.id == waiver_id]
    if not matches:
        known = ", ".join(w.id for w in waivers.waivers) or "none"
        raise UsageError(f"waivers {path}: no waiver with id '{waiver_id}' (ids: {known})")
    signer = load_signer(signing_key)
    signature = sign_waiver(waiver_fields(matches[0]), signer)
    line = f'signature: {{keyid: "{signature["keyid"]}", sig: "{signature["sig"]}"}}'
    text = Path(path).read_text(encoding="utf-8")
    updated = _with_signature_line(text, waiver_id, line)
    with tempfile.TemporaryDirectory(prefix="govern-waivers-") as tmp:
        trial = Path(tmp) / Path(path).name
        trial.write_text(updated, encoding="utf-8")
        try:
            (written,) = [
                w for w in load_waivers(trial, max_days=10**6).waivers if w.id == waiver_id
            ]
            verify_waiver(waiver_fields(written), written.signature, [signer.public_key])
        except (GovernError, ValueError):
            updated = ""
    if not updated:
        raise UsageError(
            f"waivers {path}: cannot place the signature in waiver '{waiver_id}' automatically; "
            f"add this line to it: {line}"
        )
    atomic_write_text(Path(path), updated)
    return str(signature["keyid"])


def _with_signature_line(text: str, waiver_id: str, line: str) -> str:
    """The text with ``line`` as the waiver's last key; ``""`` when its layout is not the plain
    block style this edit understands (the caller then asks the user to add the line)."""
    import re

    lines = text.split("\n")
    id_re = re.compile(r"^(\s*)(-\s+)?id:\s*(['\"]?)(.+?)\3\s*(#.*)?$")
    for i, current in enumerate(lines):
        m = id_re.match(current)
        if not m or m.group(4) != waiver_id:
            continue
        if m.group(2):  # "- id: ..." starts the item
            start, key_indent = i, len(m.group(1)) + len(m.group(2))
        else:  # id is a later key: the item starts above
            key_indent = len(m.group(1))
            start = next((j for j in range(i - 1, -1, -1) if re.match(r"^\s*-\s+\S", lines[j])), -1)
            if start < 0:
                return ""
        dash_indent = len(lines[start]) - len(lines[start].lstrip())
        end = start + 1
        while end < len(lines):
            stripped = lines[end].strip()
            indent = len(lines[end]) - len(lines[end].lstrip())
            if stripped and not stripped.startswith("#") and indent <= dash_indent:
                break
            end += 1
        block = list(range(start, end))
        kept = [j for j in block if not re.match(r"^\s*signature\s*:", lines[j])]
        if any(re.match(r"^\s*signature\s*:\s*$", lines[j]) for j in block):
            return ""  # a multi-line signature: not ours to rewrite
        last = max(j for j in kept if lines[j].strip() and not lines[j].strip().startswith("#"))
        body = [lines[j] for j in kept]
        at = kept.index(last) + 1
        body.insert(at, " " * key_indent + line)
        return "\n".join(lines[:start] + body + lines[end:])
    return ""
