"""View models: what each section of a version report shows, computed from the results alone.

Templates only lay out what these functions hand them, so a user's template override cannot get a
number wrong: every count, share and comparison is made here, from the same ``VersionResult`` that
``results.json`` is written from.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any

from govern.model.results import (
    KINDS,
    AuditRun,
    CheckResult,
    TrainingData,
    VersionResult,
    jsonable,
)
from govern.model.wording import describe_expectation, expectation_columns
from govern.render.disparities import fairness_view, key_disparity
from govern.render.names import INDEX_NAME, RESULTS_NAME

AUDITED_KINDS = ("lineage", "integrity", "quality", "fairness")
"""Kinds listed in every report even when empty; the others only ever carry errors."""
MAX_EXAMPLES = 5
"""Unexpected values shown per quality check; the full partial list stays in ``results.json``."""
MAX_EXAMPLE_COLUMNS = 2
"""Examples of checks over more columns than this are not shown: each would be (part of) a row."""


def _check_view(check: CheckResult) -> dict[str, Any]:
    details: Mapping[str, Any] = check.details if isinstance(check.details, Mapping) else {}
    quality: dict[str, Any] | None = None
    extra: dict[str, Any] = dict(details)
    if check.kind == "quality":
        raw = details.get("result")
        gx: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
        partial = gx.get("partial_unexpected_list")
        values = list(partial) if isinstance(partial, list | tuple) else []
        kwargs = details.get("kwargs")
        expectation_type = str(details.get("expectation_type") or "")
        columns = expectation_columns(
            expectation_type, kwargs if isinstance(kwargs, Mapping) else {}
        )
        # An unexpected "value" of a check over many columns is a slice of a row, up to all of
        # it: the report shows single cell values only, never rows (results.json keeps them).
        withheld = len(columns) > MAX_EXAMPLE_COLUMNS and bool(values)
        if withheld:
            values = []
        quality = {
            "expectation_type": details.get("expectation_type"),
            "kwargs": kwargs,
            "expected": describe_expectation(expectation_type, kwargs)
            if expectation_type
            else check.summary,
            "columns": columns,
            "examples_withheld": withheld,
            "observed_value": gx.get("observed_value"),
            "has_observed_value": "observed_value" in gx,
            "element_count": gx.get("element_count"),
            "missing_count": gx.get("missing_count"),
            "unexpected_count": gx.get("unexpected_count"),
            "unexpected_percent": gx.get("unexpected_percent"),
            # JSON text, so a reviewer sees "" or " Male" (stray space) and null for a missing cell
            "examples": [
                json.dumps(jsonable(v), ensure_ascii=False, default=str)
                for v in values[:MAX_EXAMPLES]
            ],
            "more_examples": len(values) > MAX_EXAMPLES,
            "origin": details.get("origin"),
            "exception": details.get("exception"),
        }
        extra = {
            k: v
            for k, v in details.items()
            if k not in ("expectation_type", "kwargs", "origin", "exception")
        }
        rest = {
            k: v
            for k, v in gx.items()
            if not str(k).startswith("partial_unexpected")
            and k
            not in (
                "unexpected_count",
                "unexpected_percent",
                "observed_value",
                "element_count",
                "missing_count",
                "missing_percent",
            )
        }
        extra.pop("result", None)
        if rest:
            extra["result"] = rest
    return {"check": check, "quality": quality, "extra": extra}


def _checks_by_kind(result: VersionResult) -> list[dict[str, Any]]:
    """Group checks by kind, always listing the four audited kinds.

    "No fairness checks ran" is itself evidence a reviewer must see; the kinds that only ever
    carry errors (policy, registry, internal) appear only when something went wrong. Kept for
    user templates written against earlier versions (``check_groups``).
    """
    kinds = [k for k in KINDS if k in AUDITED_KINDS or any(c.kind == k for c in result.checks)]
    kinds.extend(k for k in dict.fromkeys(c.kind for c in result.checks) if k not in kinds)
    return [_check_group(kind, [c for c in result.checks if c.kind == kind]) for kind in kinds]


def _check_group(kind: str, checks: list[CheckResult]) -> dict[str, Any]:
    views = [_check_view(c) for c in checks]
    statuses = [c.status for c in checks]
    return {
        "kind": kind,
        "checks": views,
        "counts": {s: statuses.count(s) for s in ("pass", "fail", "error", "waived")},
    }


_SECTION_OF_KIND = {
    "lineage": "training-data",
    "integrity": "training-data",
    "quality": "data-quality",
    "fairness": "fairness",
    "policy": "policy",
}


def _section_href(check: CheckResult) -> str:
    """The anchor of the section holding a check's details (kinds without one: the verdict)."""
    return "#" + _SECTION_OF_KIND.get(check.kind, "verdict-other")


def _quality_groups(result: VersionResult) -> list[dict[str, Any]]:
    """Quality checks grouped by the column they are about, in the data's column order.

    A reviewer asks "what do we know about column X", not "what did expectation type Y say";
    table-level checks come first, multi-column ones last.
    """
    td = result.training_data
    order = {c: i for i, c in enumerate(td.columns)} if td else {}
    dtypes: Mapping[str, str] = td.dtypes if td else {}
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for check in result.checks:
        if check.kind != "quality":
            continue
        view = _check_view(check)
        columns = tuple(view["quality"]["columns"]) if view["quality"] else ()
        groups.setdefault(columns, []).append(view)

    def key(columns: tuple[str, ...]) -> tuple[int, int, str]:
        if not columns:
            return (0, 0, "")
        if len(columns) == 1:
            return (1, order.get(columns[0], len(order)), columns[0])
        return (2, 0, "\0".join(columns))

    out = []
    for columns in sorted(groups, key=key):
        views = groups[columns]
        statuses = [v["check"].status for v in views]
        out.append(
            {
                "columns": list(columns),
                "dtype": dtypes.get(columns[0]) if len(columns) == 1 else None,
                "known": all(c in order for c in columns) if order else True,
                "checks": views,
                "counts": {s: statuses.count(s) for s in ("pass", "fail", "error", "waived")},
            }
        )
    return out


def _ratio(part: Any, whole: Any) -> float | None:
    if not isinstance(part, int | float) or not isinstance(whole, int | float) or not whole:
        return None
    return float(part) / float(whole)


def _provenance_view(td: TrainingData | None) -> dict[str, Any] | None:
    if td is None:
        return None
    rows = td.rows if isinstance(td.rows, int) else None
    missing: Mapping[str, Any] = td.missing if isinstance(td.missing, Mapping) else {}
    columns = []
    for column in td.columns:
        count = missing.get(column)
        columns.append(
            {
                "name": column,
                "dtype": td.dtypes.get(column),
                "missing": count,
                "missing_share": _ratio(count, rows),
                "role": "label"
                if column == td.label
                else ("sensitive feature" if column in td.sensitive_features else ""),
            }
        )
    balance: Mapping[str, Any] = td.label_balance if isinstance(td.label_balance, Mapping) else {}
    total = sum(v for v in balance.values() if isinstance(v, int))
    positive = None if td.positive_label is None else str(td.positive_label)
    classes = [
        {
            "label": label,
            "count": count,
            "share": _ratio(count, total),
            "positive": positive is not None and label == positive,
        }
        for label, count in balance.items()
    ]
    return {
        "columns": columns,
        "missing_recorded": bool(missing),
        "columns_with_missing": sum(1 for c in columns if c["missing"]),
        "classes": classes,
    }


def _representation_view(result: VersionResult) -> list[dict[str, Any]]:
    tables = []
    for rep in result.representation:
        total_pos = sum(g.positives for g in rep.groups if isinstance(g.positives, int))
        tables.append(
            {
                "features": list(rep.features),
                "min_group_size": rep.min_group_size,
                "flagged": sum(1 for g in rep.groups if g.below_min_group_size),
                "rows": [
                    {
                        "cells": [g.group.get(f) for f in rep.features],
                        "count": g.count,
                        "share": g.share,
                        "positives": g.positives,
                        "positive_share": g.positive_share,
                        "share_of_positives": _ratio(g.positives, total_pos)
                        if g.positives is not None
                        else None,
                        "flagged": g.below_min_group_size,
                    }
                    for g in rep.groups
                ],
            }
        )
    return tables


_IDENTITY_KEYS = (
    "registered_by",
    "registered_at",
    "status",
    "tags",
    "model_artifact_sha256",
    "signature_inputs",
    "signature_outputs",
    "model_env_manager",
    "engine",
    "predicted_on",
    "audit_run_id",
)
_ELSEWHERE_KEYS = (
    "packs_sha256",
    "history_error",
    "representation_error",
    "fairness_not_applicable",
    "model_requirements",
)
KEY_DEPENDENCIES = ("mlflow", "great-expectations", "fairlearn", "pandas")
"""Listed first in every report: the libraries whose versions decide what the numbers mean."""


def _identity_view(result: VersionResult, run: AuditRun) -> dict[str, Any]:
    meta: Mapping[str, Any] = result.metadata if isinstance(result.metadata, Mapping) else {}
    tags = meta.get("tags")
    env: Mapping[str, Any] = run.environment if isinstance(run.environment, Mapping) else {}
    dependencies = [(name, env.get(name, "not recorded")) for name in KEY_DEPENDENCIES]
    dependencies.extend((k, v) for k, v in env.items() if k not in KEY_DEPENDENCIES)
    return {
        "meta": {k: meta.get(k) for k in _IDENTITY_KEYS},
        "on_cluster": result.predicted_on_cluster,
        "tags": tags if isinstance(tags, Mapping) else {},
        "other": {
            k: v for k, v in meta.items() if k not in _IDENTITY_KEYS and k not in _ELSEWHERE_KEYS
        },
        "dependencies": dependencies,
        "environment_recorded": bool(env),
        "model_requirements": _model_requirements(meta.get("model_requirements")),
    }


def evidence_view(result: VersionResult) -> dict[str, Any]:
    """The attestation as a reviewer reads it; decoded with the standard library only (the
    signature itself is checked by ``govern verify``, not by a renderer)."""
    attestation = result.attestation if isinstance(result.attestation, Mapping) else {}
    envelope = attestation.get("envelope")
    statement: Mapping[str, Any] = {}
    if isinstance(envelope, Mapping):
        try:
            decoded = json.loads(base64.b64decode(str(envelope.get("payload", ""))))
            statement = decoded if isinstance(decoded, Mapping) else {}
        except ValueError:
            statement = {}
    predicate = statement.get("predicate")
    predicate = predicate if isinstance(predicate, Mapping) else {}
    subjects = [
        {"name": str(subject.get("name")), "sha256": str(subject["digest"].get("sha256"))}
        for subject in statement.get("subject") or ()
        if isinstance(subject, Mapping) and isinstance(subject.get("digest"), Mapping)
    ]
    keyids = [str(k) for k in attestation.get("keyids") or ()]
    return {
        "present": bool(envelope),
        "signed": bool(attestation.get("signed")) and bool(keyids),
        "keyids": keyids,
        "envelope_sha256": attestation.get("envelope_sha256"),
        "predicate_type": statement.get("predicateType"),
        "signed_at": predicate.get("signed_at"),
        "results_sha256": predicate.get("results_sha256"),
        "previous_record": predicate.get("previous_record"),
        "subjects": subjects,
    }


def _model_requirements(rows: Any) -> list[dict[str, Any]] | None:
    """The model's declared pins beside the installed versions; ``None`` when not recorded."""
    if not isinstance(rows, list):
        return None
    return [
        {
            "name": row.get("name"),
            "declared": row.get("declared"),
            "installed": row.get("installed"),
            "difference": row.get("difference"),
        }
        for row in rows
        if isinstance(row, Mapping)
    ]


def _policy_view(result: VersionResult) -> dict[str, Any]:
    meta: Mapping[str, Any] = result.metadata if isinstance(result.metadata, Mapping) else {}
    hashes = meta.get("packs_sha256")
    hashes = hashes if isinstance(hashes, Mapping) else {}
    names = list(result.packs)
    names.extend(str(n) for n in hashes if n not in names)
    return {
        "packs": [{"name": n, "sha256": hashes.get(n)} for n in names],
        "checks": _check_group("policy", [c for c in result.checks if c.kind == "policy"]),
    }


def _history_view(result: VersionResult, run: AuditRun) -> list[dict[str, Any]]:
    return [
        {
            "entry": h,
            "same_policy": h.policy_sha256 == run.policy_sha256,
            "disparities": sorted(h.disparities.items()),
            "changed": h.verdict != result.verdict,
        }
        for h in result.history
    ]


def _compare(recorded: str | None, other: str | None, missing: str) -> str:
    """Label two digests for the reader; the integrity checks, not this label, decide a verdict."""
    if not recorded or not other:
        return missing
    return "match" if recorded.strip().lower() == other.strip().lower() else "mismatch"


def version_context(result: VersionResult, run: AuditRun) -> dict[str, Any]:
    td = result.training_data
    failing = result.failing_checks()
    other_kinds = [c for c in result.checks if c.kind not in _SECTION_OF_KIND]
    meta: Mapping[str, Any] = result.metadata if isinstance(result.metadata, Mapping) else {}
    return {
        "run": run,
        "result": result,
        "verdict": result.verdict,
        "failing": failing,
        "failing_links": [(c, _section_href(c)) for c in failing],
        "passed": result.passed_checks(),
        "waived": result.waived_checks(),
        "waived_links": [(c, _section_href(c)) for c in result.waived_checks()],
        "waivers": result.waivers,
        "waivers_file": run.waivers_sha256,
        "check_groups": _checks_by_kind(result),
        "lineage_checks": _check_group(
            "lineage", [c for c in result.checks if c.kind == "lineage"]
        ),
        "integrity_checks": _check_group(
            "integrity", [c for c in result.checks if c.kind == "integrity"]
        ),
        "fairness_checks": _check_group(
            "fairness", [c for c in result.checks if c.kind == "fairness"]
        ),
        "other_checks": _check_group("other", other_kinds) if other_kinds else None,
        "quality_groups": _quality_groups(result),
        "quality_count": sum(1 for c in result.checks if c.kind == "quality"),
        "training": td,
        "provenance": _provenance_view(td),
        "digest_status": _compare(
            td.mlflow_digest if td else None,
            td.recomputed_digest if td else None,
            "not recomputed",
        ),
        "sha_status": _compare(
            td.sha256 if td else None,
            td.logged_sha256 if td else None,
            "not recorded at training time" if td and td.sha256 else "not computed",
        ),
        "identity": _identity_view(result, run),
        "representation": _representation_view(result),
        "representation_error": meta.get("representation_error"),
        "fairness": fairness_view(result.fairness, result),
        "fairness_not_applicable": meta.get("fairness_not_applicable"),
        "evidence": evidence_view(result),
        "key_disparity": key_disparity(result),
        "policy": _policy_view(result),
        "history": _history_view(result, run),
        "history_error": meta.get("history_error"),
        "running_head": _running_head(result),
        "index_href": f"../{INDEX_NAME}",
        "results_href": f"../{RESULTS_NAME}",
    }


def _running_head(result: VersionResult) -> dict[str, str]:
    """What every printed page repeats, so a loose page still says which audit it belongs to."""
    return {
        "left": f"{result.model} · version {result.version}",
        "right": f"audited {result.finished_at} UTC",
        "footer": f"govern audit report · verdict {result.verdict_label}",
    }
