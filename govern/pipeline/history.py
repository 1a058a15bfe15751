"""The version's chain of signed records, walked back from its head, and the alias moves.

Every govern record of a version (an audit, a promotion, a review) is a signed statement that
names the version's previous record by the SHA-256 of its envelope. Walking back from the head
(the ``govern.head`` tag) finds an edited record (its digest no longer matches the pointer to
it), a missing one (a pointer to nothing), and an unsigned or untrusted one. MLflow keeps no
history of aliases, so an alias is checked against govern's own promotion records instead: an
alias on a version that no govern promotion put there is an ungoverned promotion.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from govern.attest.review import REVIEW_PREDICATE_TYPE
from govern.attest.statement import RECORD_PREDICATE_TYPES, envelope_digest, open_envelope
from govern.config.policy import Policy
from govern.errors import NotVerified
from govern.pipeline.verify import TrustedKeys
from govern.registry.client import Registry, VersionInfo, one_line
from govern.registry.record import RECORD_ARTIFACTS, RUN_TAG_MODEL, chain_head, version_runs
from govern.registry.review import REVIEW_ARTIFACT


@dataclass(frozen=True)
class ChainRecord:
    """One record as found in the registry, checked on its own."""

    sha256: str
    kind: str
    run_id: str
    at: str | None
    summary: str
    previous: str | None
    signed: bool
    keyid: str | None
    problem: str | None
    """Why this record is not verified (bad signature, untrusted or missing key), if it is not."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "sha256": self.sha256,
            "kind": self.kind,
            "run_id": self.run_id,
            "at": self.at,
            "summary": self.summary,
            "previous": self.previous,
            "signed": self.signed,
            "keyid": self.keyid,
            "problem": self.problem,
        }


@dataclass(frozen=True)
class Chain:
    """The version's records newest first as the chain links them, and what is wrong with it."""

    ref: str
    records: tuple[ChainRecord, ...]
    problems: tuple[str, ...]
    aliases: tuple[dict[str, Any], ...]

    @property
    def intact(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.ref,
            "intact": self.intact,
            "problems": list(self.problems),
            "records": [r.to_dict() for r in self.records],
            "aliases": list(self.aliases),
        }


def _summary(kind: str, predicate: Mapping[str, Any]) -> str:
    if kind == "audit":
        return f"audit: {predicate.get('verdict')}"
    if kind == "promotion":
        return (
            f"promotion: alias '{predicate.get('alias')}' from "
            f"{predicate.get('alias_before') or 'unset'} to {predicate.get('alias_after')}"
        )
    if kind == "incident":
        return (
            f"incident: alias '{predicate.get('alias')}' {predicate.get('action')} "
            f"({predicate.get('reason')})"
        )
    return (
        f"review: {predicate.get('decision')} as {predicate.get('role')} by "
        f"{predicate.get('reviewer')}"
    )


def _read_records(
    registry: Registry,
    experiment: str,
    info: VersionInfo,
    trust: TrustedKeys,
    reviewers: TrustedKeys,
) -> list[ChainRecord]:
    """Every record artifact on the version's govern runs, each opened and checked alone."""
    import tempfile

    runs = version_runs(registry, experiment, info.model, info.version)
    found: list[ChainRecord] = []
    artifacts = {**RECORD_ARTIFACTS, REVIEW_ARTIFACT: "review"}
    with tempfile.TemporaryDirectory(prefix="govern-history-") as tmp:
        for run in runs:
            try:
                names = {a.path for a in registry.client.list_artifacts(run.info.run_id)}
            except Exception:
                continue
            for name, kind in artifacts.items():
                if name not in names:
                    continue
                try:
                    path = registry.client.download_artifacts(run.info.run_id, name, tmp)
                    envelope = json.loads(Path(path).read_text(encoding="utf-8"))
                except Exception as exc:
                    found.append(
                        ChainRecord(
                            "?",
                            kind,
                            run.info.run_id,
                            None,
                            f"{kind}: unreadable",
                            None,
                            False,
                            None,
                            f"cannot read {name}: {one_line(exc)}",
                        )
                    )
                    continue
                keys = reviewers if kind == "review" else trust
                found.append(_check_record(envelope, kind, run.info.run_id, keys))
    return found


def _check_record(envelope: Any, kind: str, run_id: str, trust: TrustedKeys) -> ChainRecord:
    sha = envelope_digest(envelope)
    problem = None
    accepted = (*RECORD_PREDICATE_TYPES, REVIEW_PREDICATE_TYPE)
    try:
        opened = open_envelope(envelope, list(trust.keys) if trust.checking else None, accepted)
    except NotVerified as exc:
        problem = str(exc)
        try:
            opened = open_envelope(envelope, None, accepted)
        except NotVerified:
            return ChainRecord(
                sha, kind, run_id, None, f"{kind}: unreadable", None, False, None, problem
            )
    predicate = opened.predicate
    at = (
        predicate.get("signed_at")
        or predicate.get("promoted_at")
        or predicate.get("reviewed_at")
        or predicate.get("detected_at")
    )
    if problem is None and not opened.signed and trust.required:
        problem = "unsigned"
    previous = predicate.get("previous_record")
    return ChainRecord(
        sha,
        kind,
        run_id,
        str(at) if at else None,
        _summary(kind, predicate),
        str(previous) if previous else None,
        opened.signed,
        opened.keyids[0] if opened.keyids else None,
        problem,
    )


def walk_chain(
    registry: Registry,
    experiment: str,
    info: VersionInfo,
    trust: TrustedKeys,
    reviewers: TrustedKeys | None = None,
) -> Chain:
    """The chain from the version's head back to its first record, with every break named.

    Audits and promotions are checked against the auditors' keys (``trust``), reviews against
    the reviewers' keys."""
    reviewers = reviewers or TrustedKeys((), trust.required)
    records = _read_records(registry, experiment, info, trust, reviewers)
    by_sha = {r.sha256: r for r in records}
    problems: list[str] = []
    ordered: list[ChainRecord] = []
    head = chain_head(info.tags)
    cursor = head["sha256"] if head else None
    if head is None and records:
        problems.append("the version has govern records but no chain head (govern.head)")
    seen: set[str] = set()
    named_by = "the chain head"
    while cursor:
        if cursor in seen:
            problems.append(f"the chain loops at {cursor[:12]}…")
            break
        seen.add(cursor)
        record = by_sha.get(cursor)
        if record is None:
            problems.append(f"record {cursor[:12]}… named by {named_by} is missing or was edited")
            break
        ordered.append(record)
        if record.problem:
            problems.append(
                f"{record.kind} record {record.sha256[:12]}… ({record.at or 'undated'}): "
                f"{record.problem}"
            )
        named_by = f"the {record.kind} record {record.sha256[:12]}…"
        cursor = record.previous
    # Every record should hang off the chain; one that does not was written outside it (a
    # record whose write was interrupted is the benign case, a planted one the other).
    problems.extend(
        f"{r.kind} record {r.sha256[:12]}… on run {r.run_id} is not in the chain"
        for r in records
        if r.sha256 not in seen
    )
    return Chain(
        info.ref, tuple(ordered), tuple(problems), tuple(alias_moves(registry, experiment, info))
    )


def promotion_runs(registry: Registry, experiment: str, model: str) -> list[Any]:
    """govern's gate runs of one model that moved an alias, newest first."""
    experiment_id = registry.experiment_id(experiment)
    if experiment_id is None:
        return []
    runs = registry.call(
        f"reading promotions of {model}",
        registry.client.search_runs,
        [experiment_id],
        filter_string=f"tags.`{RUN_TAG_MODEL}` = '{_escape(model)}' and "
        "tags.`govern.promote_to` != ''",
        order_by=["attributes.start_time DESC"],
        max_results=1000,
    )
    return [r for r in runs if r.data.tags.get(RUN_TAG_MODEL) == model]


def alias_moves(
    registry: Registry, experiment: str, info: VersionInfo, promotions: list[Any] | None = None
) -> list[dict[str, Any]]:
    """Each alias on the version now, with the govern promotion that put it there, or flagged
    as an ungoverned promotion when none did (MLflow itself keeps no history of aliases).
    ``promotions`` are the model's ``promotion_runs`` when the caller already has them."""
    moves: list[dict[str, Any]] = []
    if not info.aliases:
        return moves
    runs = (
        promotions if promotions is not None else promotion_runs(registry, experiment, info.model)
    )
    for alias in info.aliases:
        latest = next(
            (
                r
                for r in runs
                if r.data.tags.get(RUN_TAG_MODEL) == info.model
                and r.data.tags.get("govern.promote_to") == alias
            ),
            None,
        )
        governed = latest is not None and latest.data.tags.get("govern.alias_after") == info.version
        moves.append(
            {
                "alias": alias,
                "governed": governed,
                "audit_run_id": latest.info.run_id if latest is not None else None,
                "problem": None
                if governed
                else (
                    f"ungoverned promotion: alias '{alias}' points at version {info.version}, "
                    + (
                        "and no govern gate ever moved it"
                        if latest is None
                        else f"but govern last moved it to version "
                        f"{latest.data.tags.get('govern.alias_after') or 'none'}"
                    )
                ),
            }
        )
    return moves


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")


def reviewer_keys(policy: Policy | None) -> TrustedKeys:
    """The trusted reviewers' keys: their signatures make a review record verified."""
    from govern.attest.keys import load_public_key

    reviewers = policy.trust.reviewers if policy and policy.trust else ()
    return TrustedKeys(tuple(load_public_key(r.key) for r in reviewers), bool(reviewers))
