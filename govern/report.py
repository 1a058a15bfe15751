"""HTML reports and the output folder: the evidence a compliance reviewer reads, prints and signs.

Every page is rendered from the ``AuditRun`` alone, the same object ``results.json`` is written
from, so the page a reviewer signs and the file a machine reads cannot disagree.

Everything shown comes from the registry or the training data (model names, tags, descriptions,
column names, category values, expectation kwargs) and is treated as hostile: all templates are
autoescaped, no value is ever marked safe, no value is ever put in a URL, and the pages carry a
Content-Security-Policy that forbids scripts and any network access. Reports are opened from disk
years later, often offline, so they are self-contained: inline CSS, no JavaScript, no fonts or
images by URL.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2

from govern._io import atomic_write_text
from govern.errors import OutputError, UsageError
from govern.resources import templates_dir
from govern.results import (
    KINDS,
    SCHEMA_VERSION,
    AuditRun,
    CheckResult,
    FairnessResult,
    VersionResult,
    jsonable,
)

REPORTS_DIR = "reports"
INDEX_NAME = "index.html"
RESULTS_NAME = "results.json"
REPORT_TEMPLATE = "report.html.j2"
INDEX_TEMPLATE = "index.html.j2"
AUDITED_KINDS = ("lineage", "integrity", "quality", "fairness")
"""Kinds listed in every report even when empty; the others only ever carry errors."""
MAX_EXAMPLES = 5
"""Unexpected values shown per quality check; the full partial list stays in ``results.json``."""

_SLUG_MAX = 60
_VERSION_SLUG_MAX = 20
_UNSAFE_CHARS = re.compile(r"[^A-Za-z0-9_-]+")
_SURROGATES = re.compile("[\ud800-\udfff]")
_VERDICT_ORDER = {"error": 0, "fail": 1, "pass": 2}


# --------------------------------------------------------------------------- formatting


def fmt(value: Any, none: str = "—", exact: bool = False, approx: bool = False) -> str:
    """Turn any result value into plain text for a reviewer; the template escapes it.

    Measurements are shown to 4 significant digits because more digits do not help a reviewer
    decide (``results.json`` keeps the exact value). Thresholds and expectation kwargs are what a
    policy author wrote, so ``exact=True`` shows them unrounded: a bound of 0.99995 must not read
    as 1. ``approx=True`` marks a rounded number with "≈" so an observed value that rounds onto
    its threshold is not mistaken for being equal to it. Always returns a plain ``str`` (never
    ``Markup``) so autoescaping applies.
    """
    if value is None:
        return none
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, float):
        return _fmt_float(value, none=none, exact=exact, approx=approx)
    if isinstance(value, str):
        return str(value)  # drops any Markup subclass: user text is always escaped
    if isinstance(value, Mapping | list | tuple | set | frozenset):
        data = jsonable(value)
        if not exact:
            data = _round_floats(data)
        return json.dumps(data, ensure_ascii=False, separators=(", ", ": "), default=str)
    # numpy scalars and arrays, dates, anything else: jsonable gives a plain value
    return fmt(jsonable(value), none=none, exact=exact, approx=approx)


def _fmt_float(value: float, *, none: str, exact: bool, approx: bool) -> str:
    if math.isnan(value):
        return none
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    if exact:
        return repr(value)
    if value == 0:
        return "0"
    text = f"{value:.0f}" if 1e4 <= abs(value) < 1e15 else f"{value:.4g}"
    if approx and float(text) != value:
        return f"≈{text}"
    return text


def _round_floats(data: Any) -> Any:
    if isinstance(data, float):
        return float(f"{data:.4g}")
    if isinstance(data, dict):
        return {k: _round_floats(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_round_floats(v) for v in data]
    return data


def _finalize(value: Any) -> Any:
    """Print ``None`` as a dash, not as the word "None", wherever a template forgets ``fmt``."""
    return "—" if value is None else value


# --------------------------------------------------------------------------- environment


def make_environment(templates: Path | None = None) -> jinja2.Environment:
    """Build the Jinja2 environment every page is rendered with.

    The user's folder comes first so an organisation can restyle or reword any page (or just
    ``_style.css.j2``) without copying the rest; the packaged templates stay behind it as the
    fallback. Autoescaping is forced on for every name, including ``.j2``, because a template
    that forgot it would turn a model name into script; ``StrictUndefined`` makes a typo in a
    template fail loudly instead of silently dropping evidence from a signed report.
    """
    loaders: list[jinja2.BaseLoader] = []
    if templates is not None:
        folder = Path(templates)
        if not folder.is_dir():
            raise UsageError(f"--templates {folder} is not a folder")
        loaders.append(jinja2.FileSystemLoader(str(folder)))
    loaders.append(jinja2.FileSystemLoader(str(templates_dir())))
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        autoescape=jinja2.select_autoescape(
            enabled_extensions=("html", "htm", "xml", "j2"),
            disabled_extensions=(),
            default_for_string=True,
            default=True,
        ),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        finalize=_finalize,
    )
    env.filters["fmt"] = fmt
    return env


# --------------------------------------------------------------------------- file names


def _slug(text: str, limit: int, fallback: str) -> str:
    slug = _UNSAFE_CHARS.sub("-", text).strip("-")[:limit].strip("-")
    return slug or fallback


def report_filename(result: VersionResult) -> str:
    """The report's file name: readable, safe on every filesystem and unique per version.

    Model names are free text (spaces, slashes, ``..``, right-to-left scripts, emoji), so only
    ASCII letters, digits, ``-`` and ``_`` survive into the readable part; the hash of the exact
    name and version keeps two names that slug alike (``a b`` and ``a/b``, or two non-Latin
    names, or names differing only in case on a case-insensitive disk) in different files.
    """
    # surrogatepass: a lone surrogate in a name read from JSON must not crash the whole run
    key = f"{result.model}\0{result.version}".encode("utf-8", "surrogatepass")
    digest = hashlib.sha256(key).hexdigest()[:8]
    model = _slug(result.model, _SLUG_MAX, "model")
    version = _slug(str(result.version), _VERSION_SLUG_MAX, "x")
    return f"{model}-v{version}-{digest}.html"


def _report_href(result: VersionResult) -> str:
    # Built from report_filename only, never from result.report: that field may come from a
    # results.json someone edited, and an href must not carry user data.
    return f"{REPORTS_DIR}/{report_filename(result)}"


# --------------------------------------------------------------------------- view models


def _check_view(check: CheckResult) -> dict[str, Any]:
    details: Mapping[str, Any] = check.details if isinstance(check.details, Mapping) else {}
    quality: dict[str, Any] | None = None
    extra: dict[str, Any] = dict(details)
    if check.kind == "quality":
        raw = details.get("result")
        gx: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
        partial = gx.get("partial_unexpected_list")
        values = list(partial) if isinstance(partial, list | tuple) else []
        quality = {
            "expectation_type": details.get("expectation_type"),
            "kwargs": details.get("kwargs"),
            "unexpected_count": gx.get("unexpected_count"),
            "unexpected_percent": gx.get("unexpected_percent"),
            # JSON text, so a reviewer sees "" or " Male" (stray space) and null for a missing cell
            "examples": [
                json.dumps(jsonable(v), ensure_ascii=False, default=str)
                for v in values[:MAX_EXAMPLES]
            ],
            "more_examples": len(values) > MAX_EXAMPLES,
        }
        extra = {k: v for k, v in details.items() if k not in ("expectation_type", "kwargs")}
        rest = {
            k: v
            for k, v in gx.items()
            if not str(k).startswith("partial_unexpected")
            and k not in ("unexpected_count", "unexpected_percent")
        }
        extra.pop("result", None)
        if rest:
            extra["result"] = rest
    return {"check": check, "quality": quality, "extra": extra}


def _checks_by_kind(result: VersionResult) -> list[dict[str, Any]]:
    """Group checks by kind, always listing the four audited kinds.

    "No fairness checks ran" is itself evidence a reviewer must see; the kinds that only ever
    carry errors (policy, registry, internal) appear only when something went wrong.
    """
    kinds = [k for k in KINDS if k in AUDITED_KINDS or any(c.kind == k for c in result.checks)]
    kinds.extend(k for k in dict.fromkeys(c.kind for c in result.checks) if k not in kinds)
    groups = []
    for kind in kinds:
        checks = [_check_view(c) for c in result.checks if c.kind == kind]
        statuses = [v["check"].status for v in checks]
        groups.append(
            {
                "kind": kind,
                "checks": checks,
                "counts": {s: statuses.count(s) for s in ("pass", "fail", "error")},
            }
        )
    return groups


def _fairness_view(fairness: FairnessResult | None) -> dict[str, Any] | None:
    if fairness is None:
        return None
    features = list(fairness.sensitive_features)
    metrics: list[str] = []
    for group in fairness.groups:
        features.extend(k for k in group.group if k not in features)
        metrics.extend(m for m in group.metrics if m not in metrics)
    rows = [
        {
            "cells": [group.group.get(f) for f in features],
            "count": group.count,
            "positives": group.positives,
            "metrics": [group.metrics.get(m) for m in metrics],
            "flags": list(group.flags),
        }
        for group in fairness.groups
    ]
    return {
        "fairness": fairness,
        "features": features,
        "metrics": metrics,
        "rows": rows,
        "flagged": sum(1 for r in rows if r["flags"]),
    }


def _compare(recorded: str | None, other: str | None, missing: str) -> str:
    """Label two digests for the reader; the integrity checks, not this label, decide a verdict."""
    if not recorded or not other:
        return missing
    return "match" if recorded.strip().lower() == other.strip().lower() else "mismatch"


def _version_context(result: VersionResult, run: AuditRun) -> dict[str, Any]:
    td = result.training_data
    return {
        "run": run,
        "result": result,
        "verdict": result.verdict,
        "failing": result.failing_checks(),
        "check_groups": _checks_by_kind(result),
        "training": td,
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
        "fairness": _fairness_view(result.fairness),
        "index_href": f"../{INDEX_NAME}",
        "results_href": f"../{RESULTS_NAME}",
    }


def _version_sort_key(version: str) -> tuple[int, int, str]:
    text = str(version)
    if text.isascii() and text.isdigit():
        return (0, int(text), text)
    return (1, 0, text)


def _index_key(result: VersionResult) -> tuple[Any, ...]:
    return (
        _VERDICT_ORDER.get(result.verdict, -1),
        result.model.casefold(),
        result.model,
        _version_sort_key(result.version),
    )


def _index_context(run: AuditRun) -> dict[str, Any]:
    rows = []
    for result in sorted(run.versions, key=_index_key):
        failing = result.failing_checks()
        first = next((c for c in failing if c.status == result.verdict), None)
        if first is not None:
            headline: str | None = first.summary
        elif not result.checks:
            headline = "No checks ran"
        else:
            headline = None
        rows.append(
            {
                "result": result,
                "href": _report_href(result),
                "failing": len(failing),
                "headline": headline,
            }
        )
    return {
        "run": run,
        "verdict": run.verdict,
        "counts": run.counts(),
        "rows": rows,
        "results_href": RESULTS_NAME,
    }


# --------------------------------------------------------------------------- rendering


def _render(env: jinja2.Environment, name: str, context: Mapping[str, Any]) -> str:
    """Render one page, turning any template problem into one line the CLI can print."""
    try:
        text = env.get_template(name).render(context)
    except jinja2.TemplateNotFound as exc:
        raise OutputError(f"template {exc.name} not found") from exc
    except jinja2.TemplateSyntaxError as exc:
        where = exc.filename or exc.name or name
        raise OutputError(f"template {where}, line {exc.lineno}: {exc.message}") from exc
    except (jinja2.TemplateError, TypeError, ValueError, LookupError, AttributeError) as exc:
        # A user's template is code too; whatever it trips over is reported as one line.
        raise OutputError(f"cannot render {name}: {type(exc).__name__}: {exc}") from exc
    # A lone surrogate (possible in a name read from JSON) cannot be encoded as UTF-8.
    return _SURROGATES.sub("\ufffd", text)


def render_version_report(
    result: VersionResult, run: AuditRun, *, templates: Path | None = None
) -> str:
    """The report of one version, the page a reviewer prints and signs.

    Takes the whole run because the policy, environment and tracking server belong to the run,
    and a signed page must name the exact policy it was judged against.
    """
    env = make_environment(templates)
    return _render(env, REPORT_TEMPLATE, _version_context(result, run))


def render_index(run: AuditRun, *, templates: Path | None = None) -> str:
    """The run's landing page: failures first so nobody has to scroll past passes to find them."""
    env = make_environment(templates)
    return _render(env, INDEX_TEMPLATE, _index_context(run))


def _results_json(run: AuditRun) -> str:
    try:
        data = run.to_dict()
        text = json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise OutputError(f"cannot write {RESULTS_NAME}: {exc}") from exc
    if _SURROGATES.search(text):
        # Keep the exact text as a JSON escape rather than lose it; UTF-8 cannot carry it raw.
        text = json.dumps(data, indent=2, ensure_ascii=True, allow_nan=False)
    return text + "\n"


def _check_out_dir(out_dir: Path) -> None:
    """Fail before any rendering work if the folder can never receive the files."""
    if out_dir.exists() or out_dir.is_symlink():
        if not out_dir.is_dir():
            raise OutputError(f"--out {out_dir} is a file, not a folder")
        if not os.access(out_dir, os.W_OK | os.X_OK):
            raise OutputError(f"--out {out_dir} is not writable")
        reports = out_dir / REPORTS_DIR
        if (reports.exists() or reports.is_symlink()) and not reports.is_dir():
            raise OutputError(f"--out {out_dir}: {reports} is a file, not a folder")
        return
    ancestor = out_dir.absolute().parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise OutputError(f"--out {out_dir} cannot be created: {ancestor} is a file, not a folder")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise OutputError(f"--out {out_dir} cannot be created: {ancestor} is not writable")


def write_outputs(run: AuditRun, out_dir: Path, *, templates: Path | None = None) -> AuditRun:
    """Write every report, ``index.html`` and ``results.json`` into ``out_dir``.

    Everything is rendered in memory before the first byte is written, so a broken template or
    unserialisable value leaves no half-updated set of evidence behind; each file is then written
    atomically. ``results.json`` goes last: when it is there, the reports it points to are too.
    Returns the run with each version's ``report`` path (relative to ``out_dir``) filled in, which
    is exactly what ``results.json`` records.
    """
    out_dir = Path(out_dir)
    _check_out_dir(out_dir)
    env = make_environment(templates)
    versions = tuple(dataclasses.replace(v, report=_report_href(v)) for v in run.versions)
    written = dataclasses.replace(run, versions=versions)
    pages = [
        (out_dir / _report_href(v), _render(env, REPORT_TEMPLATE, _version_context(v, written)))
        for v in versions
    ]
    pages.append((out_dir / INDEX_NAME, _render(env, INDEX_TEMPLATE, _index_context(written))))
    pages.append((out_dir / RESULTS_NAME, _results_json(written)))
    for path, text in pages:
        atomic_write_text(path, text)
    return written


def load_results(path: Path) -> AuditRun:
    """Read a results.json written by govern; a one-line OutputError if it is not one."""
    import json

    from govern.errors import UsageError

    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise UsageError(f"{path}: not a readable results.json ({exc})") from None
    if not isinstance(data, dict) or "schema_version" not in data or "versions" not in data:
        raise UsageError(f"{path}: not a govern results.json (no schema_version/versions)")
    if data["schema_version"] != SCHEMA_VERSION:
        raise UsageError(
            f"{path}: results schema_version {data['schema_version']!r} is not supported "
            f"(this govern reads {SCHEMA_VERSION})"
        )
    try:
        return AuditRun.from_dict(data)
    except (KeyError, TypeError, ValueError) as exc:
        raise UsageError(f"{path}: malformed results.json: {exc!r}") from None
