"""A Markdown summary of a run for CI job summaries and pull-request comments.

It is rendered by GitHub (or GitLab) next to code review, where a model name that breaks the
table, opens a link or injects HTML would mislead the reviewer deciding on a merge. Every value
that comes from the registry or the data is therefore escaped so that it renders as the exact
text and nothing else: every punctuation character that Markdown, GitHub's autolinks or its
``$`` maths could read as syntax gets a backslash (CommonMark makes escaped punctuation literal,
which stops links, emphasis, HTML and table pipes alike), ``www.`` loses its autolink the same
way, and line breaks become spaces so a value cannot leave its table cell.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from govern.model.results import AuditRun, VersionResult

MAX_SUMMARIES = 3
"""Failed-check summaries shown per version; the report has all of them."""
MAX_ROWS = 200
"""Versions listed before the table is cut: a PR comment is limited to 65,536 characters."""
MAX_CHARS = 60_000
"""Characters of table before it is cut, whatever ``max_rows`` says (same 65,536 limit)."""
MAX_CELL = 300
"""Characters of one user value; longer ones are cut with an ellipsis."""

_PUNCTUATION = re.compile(r"([\\`*_{}\[\]()#+!|~<>&:@$])")
_WWW = re.compile(r"(?i)\b(www)\.")
_BREAKS = re.compile(r"[\r\n\t\f\v\u0085\u2028\u2029]+")
_CONTROL = re.compile("[\x00-\x08\x0e-\x1f\x7f\ud800-\udfff]")
_MARK = {"pass": "✅ PASS", "fail": "❌ FAIL", "error": "⚠️ ERROR"}
_ORDER = {"error": 0, "fail": 1, "pass": 2}


def escape(text: object, limit: int = MAX_CELL) -> str:
    """User text as literal Markdown inline text, safe inside a table cell."""
    plain = _CONTROL.sub("\ufffd", _BREAKS.sub(" ", str(text))).strip()
    if len(plain) > limit:
        plain = plain[: limit - 1] + "…"
    return _WWW.sub(r"\1\\.", _PUNCTUATION.sub(r"\\\1", plain))


def _link_target(base: str | None, path: str) -> str:
    """A link destination that cannot end the link early: no spaces, parentheses or brackets.

    ``path`` is built by govern from safe characters; ``base`` comes from the CI configuration
    and is percent-encoded where Markdown would read it as syntax.
    """
    if not base:
        return path
    safe_base = quote(base, safe="/:?#@!$&'*+,;=%~-._")
    if not safe_base.endswith("/"):
        safe_base += "/"
    return safe_base + path


def _failures(result: VersionResult) -> str:
    failing = result.failing_checks()
    if not failing:
        return "" if result.checks else "No checks ran"
    ordered = sorted(failing, key=lambda c: _ORDER.get(c.status, 3))
    parts = [escape(c.summary) for c in ordered[:MAX_SUMMARIES]]
    if len(failing) > MAX_SUMMARIES:
        parts.append(f"… and {len(failing) - MAX_SUMMARIES} more")
    return "<br>".join(parts)


def _waivers(result: VersionResult) -> str:
    """Each waiver a passing version rests on, so a reviewer sees the exceptions in the PR."""
    parts = [
        f"{escape(w.id, 80)}: {escape(w.reason)} (approved by {escape(w.approved_by, 80)}, "
        f"expires {escape(w.expires, 20)})"
        for w in result.waivers
    ]
    return "<br>".join(parts)


def _verdict_cell(result: VersionResult) -> str:
    mark = _MARK.get(result.verdict, escape(result.verdict.upper()))
    count = len(result.waivers)
    if result.verdict == "pass" and count:
        mark += f" · {count} waiver{'s' if count != 1 else ''}"
    return mark


def _in_sample(result: VersionResult) -> str:
    """Fairness measured on the rows the model was fitted on says so wherever it is shown."""
    return " (in-sample)" if result.fairness is not None and result.fairness.in_sample else ""


def render_summary(
    run: AuditRun, *, report_base: str | None = None, max_rows: int = MAX_ROWS
) -> str:
    """The run as compact GitHub-flavoured Markdown: verdict, counts and one row per version.

    Links point at the HTML reports by their path relative to the output folder, or under
    ``report_base`` (e.g. the URL where CI publishes the folder). Versions are listed failures
    first, like the index, and the table is cut after ``max_rows`` rows or ``MAX_CHARS``
    characters so the summary stays within what a PR comment accepts.
    """
    from govern.render.disparities import key_disparity
    from govern.render.names import INDEX_NAME, report_href

    counts = run.counts()
    total = len(run.versions)
    lines = [
        f"## {_MARK.get(run.verdict, run.verdict.upper())}: govern audit of {total} model "
        f"version{'s' if total != 1 else ''}",
        "",
        f"**{counts['error']}** error · **{counts['fail']}** fail · **{counts['pass']}** pass"
        + (f" ({run.passed_with_waivers()} with waivers)" if run.passed_with_waivers() else "")
        + f" — policy `{escape(run.policy_sha256[:12], 12)}` · govern {escape(run.govern_version)}"
        f" · finished {escape(run.finished_at)} UTC"
        f" · [all reports]({_link_target(report_base, INDEX_NAME)})",
        "",
    ]
    if not run.versions:
        lines.append("No versions were audited: an audit that checked nothing is an error.")
        return "\n".join(lines) + "\n"
    waived = any(v.waivers for v in run.versions)
    engines = any(v.engine for v in run.versions)
    headers = ["Verdict", "Model", "Version", *(["Engine"] if engines else []), "Aliases"]
    headers += ["Failed checks"]
    headers += ["Waivers"] if waived else []
    headers += ["Key disparity", "Report"]
    lines.extend(["| " + " | ".join(headers) + " |", "|" + " --- |" * len(headers)])
    ordered = sorted(
        run.versions,
        key=lambda v: (_ORDER.get(v.verdict, 3), v.model.casefold(), v.model, v.version),
    )
    shown = 0
    size = sum(len(line) + 1 for line in lines)
    for result in ordered[:max_rows]:
        disparity = key_disparity(result)
        cells = [
            _verdict_cell(result)
            + (" (reused)" if isinstance(result.metadata.get("reused_from"), dict) else ""),
            escape(result.model),
            escape(result.version),
            *([escape(result.engine_label or "-", 30)] if engines else []),
            ", ".join(escape(a, 80) for a in result.aliases),
            _failures(result),
            *([_waivers(result)] if waived else []),
            (escape(disparity["text"]) + _in_sample(result)) if disparity else "",
            f"[report]({_link_target(report_base, report_href(result))})",
        ]
        row = "| " + " | ".join(cells) + " |"
        size += len(row) + 1
        if size > MAX_CHARS:
            break
        lines.append(row)
        shown += 1
    if len(ordered) > shown:
        rest = len(ordered) - shown
        lines.extend(
            [
                "",
                f"… and {rest} more version{'s' if rest != 1 else ''}: see "
                f"[the index]({_link_target(report_base, INDEX_NAME)}).",
            ]
        )
    return "\n".join(lines) + "\n"
