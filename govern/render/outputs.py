"""The output folder and files: every requested output of a run, none of them ever half there.

One place decides whether an output folder is usable (``check_out_dir``) and one writes what was
asked for (``write_requested``); the CLI, the demo, the bench scripts and the library call that
audits and writes (``govern.pipeline.audit.audit_and_write``) all go through them.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable
from pathlib import Path

from govern._io import atomic_write_text
from govern.errors import OutputError, UsageError
from govern.model.results import SCHEMA_VERSION, AuditRun
from govern.render.environment import make_environment
from govern.render.html import INDEX_TEMPLATE, REPORT_TEMPLATE, SURROGATES, render_page
from govern.render.index import INDEX_SORTS, index_context, index_rows
from govern.render.names import (
    REPORTS_DIR,
    RESULTS_NAME,
    SUMMARY_NAME,
    attestation_href,
    report_href,
)
from govern.render.views import version_context

PAPERS = ("A4", "Letter")


@dataclasses.dataclass(frozen=True)
class OutputRequest:
    """Which files a run should leave behind, besides what it prints."""

    out: Path | None = None
    """Folder for ``results.json``, the index pages, ``summary.md`` and the version reports."""
    templates: Path | None = None
    """Folder of Jinja2 templates overriding the packaged ones."""
    junit: Path | None = None
    """JUnit XML file: one test suite per version, one test case per check."""
    pdf: bool = False
    """Also print each version report to PDF beside its HTML (needs ``out``)."""
    paper: str = "A4"
    report_base: str | None = None
    """Where CI publishes ``out``; ``summary.md`` then links there."""

    def check(self) -> None:
        """Refuse an unusable request before minutes are spent on an audit."""
        if self.pdf and self.out is None:
            raise UsageError("--pdf needs --out: the PDFs are written beside the HTML reports")
        if self.paper not in PAPERS:
            raise UsageError(f"unknown paper size {self.paper!r} (choose {' or '.join(PAPERS)})")
        if self.templates is not None and not Path(self.templates).is_dir():
            raise UsageError(f"--templates {self.templates} is not a folder")
        if self.out is not None:
            check_out_dir(Path(self.out))
        if self.junit is not None:
            check_file_target(Path(self.junit), "--junit")


def results_json(run: AuditRun) -> str:
    """``results.json`` as written to a folder and to the registry: strict JSON, UTF-8 safe."""
    try:
        data = run.to_dict()
        text = json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise OutputError(f"cannot write {RESULTS_NAME}: {exc}") from exc
    if SURROGATES.search(text):
        # Keep the exact text as a JSON escape rather than lose it; UTF-8 cannot carry it raw.
        text = json.dumps(data, indent=2, ensure_ascii=True, allow_nan=False)
    return text + "\n"


def _nearest_existing(path: Path) -> Path:
    ancestor = path.absolute().parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    return ancestor


def check_out_dir(out_dir: Path) -> None:
    """Fail before any audit or rendering work if the folder can never receive the files."""
    if out_dir.exists() or out_dir.is_symlink():
        if not out_dir.is_dir():
            raise OutputError(f"--out {out_dir} is a file, not a folder")
        if not os.access(out_dir, os.W_OK | os.X_OK):
            raise OutputError(f"--out {out_dir} is not writable")
        reports = out_dir / REPORTS_DIR
        if (reports.exists() or reports.is_symlink()) and not reports.is_dir():
            raise OutputError(f"--out {out_dir}: {reports} is a file, not a folder")
        return
    ancestor = _nearest_existing(out_dir)
    if not ancestor.is_dir():
        raise OutputError(f"--out {out_dir} cannot be created: {ancestor} is a file, not a folder")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise OutputError(f"--out {out_dir} cannot be created: {ancestor} is not writable")


def check_file_target(path: Path, option: str) -> None:
    """The same early refusal for a single output file (``--junit``)."""
    if path.is_dir():
        raise OutputError(f"{option} {path} is a folder, not a file")
    folder = path.parent if path.parent.exists() else _nearest_existing(path)
    if not folder.is_dir():
        raise OutputError(f"{option} {path} cannot be created: {folder} is a file, not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"{option} {path}: folder {folder} is not writable")


def _summary(run: AuditRun, report_base: str | None) -> str:
    from govern.render.markdown import render_summary

    return SURROGATES.sub("\ufffd", render_summary(run, report_base=report_base))


def write_outputs(
    run: AuditRun,
    out_dir: Path,
    *,
    templates: Path | None = None,
    report_base: str | None = None,
) -> AuditRun:
    """Write every report, the index pages, ``summary.md`` and ``results.json`` into ``out_dir``.

    ``report_base`` is where CI publishes ``out_dir``; ``summary.md`` then links there instead of
    to paths relative to the folder.

    Everything is rendered in memory before the first byte is written, so a broken template or
    unserialisable value leaves no half-updated set of evidence behind; each file is then written
    atomically. ``results.json`` goes last: when it is there, the reports it points to are too.
    Returns the run with each version's ``report`` path (relative to ``out_dir``) filled in, which
    is exactly what ``results.json`` records.
    """
    out_dir = Path(out_dir)
    check_out_dir(out_dir)
    env = make_environment(templates)
    versions = tuple(dataclasses.replace(v, report=report_href(v)) for v in run.versions)
    written = dataclasses.replace(run, versions=versions)
    pages = [
        (out_dir / report_href(v), render_page(env, REPORT_TEMPLATE, version_context(v, written)))
        for v in versions
    ]
    rows = index_rows(written)
    pages.extend(
        (
            out_dir / s.filename,
            render_page(env, INDEX_TEMPLATE, index_context(written, s.key, rows)),
        )
        for s in INDEX_SORTS
    )
    pages.extend(
        (out_dir / attestation_href(v), json.dumps(v.attestation["envelope"], indent=2) + "\n")
        for v in versions
        if v.attestation and v.attestation.get("envelope")
    )
    pages.append((out_dir / SUMMARY_NAME, _summary(written, report_base)))
    pages.append((out_dir / RESULTS_NAME, results_json(written)))
    for path, text in pages:
        atomic_write_text(path, text)
    return written


def write_requested(
    run: AuditRun, request: OutputRequest, *, say: Callable[[str], None] | None = None
) -> AuditRun:
    """Write every file ``request`` asks for; returns the run as ``results.json`` records it."""
    if request.out is not None:
        out = Path(request.out)
        run = write_outputs(run, out, templates=request.templates, report_base=request.report_base)
        if say:
            say(f"report: {out / 'index.html'}")
        if request.pdf:
            from govern.render.pdf import write_pdfs

            written = write_pdfs(run, out, paper=request.paper)
            if say:
                say(f"{len(written)} PDF report(s) written under {out}")
    if request.junit is not None:
        from govern.render.junit import render_junit

        atomic_write_text(Path(request.junit), render_junit(run))
    return run


def load_results(path: Path) -> AuditRun:
    """Read a results.json written by govern; a one-line UsageError if it is not one."""
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
