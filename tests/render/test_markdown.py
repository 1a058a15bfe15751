"""The Markdown run summary for CI job summaries and pull-request comments.

The summary is asserted on twice: as text (what the lines say) and after rendering with mistune
(a CommonMark/GFM-table renderer that Great Expectations already installs) to check that a hostile
model name stays inside its cell and becomes neither a link, an image nor HTML.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from test_html import HOSTILE, chk, full_version, make_run, make_version

from govern.render.markdown import escape, render_summary
from govern.render.names import report_filename
from govern.render.outputs import write_outputs

PAYLOADS = (
    "a|b",
    "`code`",
    "<img src=x onerror=alert(1)>",
    "[click](https://evil.example)",
    "![pic](https://evil.example/x.png)",
    "line\nbreak\r\n| --- |",
    "https://evil.example/autolink",
    "www.evil.example",
    "mail@evil.example",
    "*bold* _it_ ~~gone~~",
    "$x^2$",
    "&lt;escaped&gt;",
    "\\|backslash-pipe",
)


class Cells(HTMLParser):
    """Rows of the rendered table, with every element and attribute seen on the way."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.rows: list[list[str]] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.table_tags: set[str] = set()
        self._cell: list[str] | None = None
        self._in_table = False
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_table = self._in_table or tag == "table"
        if self._in_table:
            self.table_tags.add(tag)
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append("".join(self._cell))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def render(markdown: str) -> Cells:
    mistune = pytest.importorskip("mistune")
    md = mistune.create_markdown(escape=False, plugins=["table", "url", "strikethrough"])
    return Cells(md(markdown))


def run_of_three():
    failing = tuple(
        chk(f"quality.q{i}", "quality", "fail", f"quality check {i} failed") for i in range(5)
    )
    versions = (
        make_version("alpha", "1"),
        make_version("beta", "2", checks=failing, aliases=("challenger", "candidate")),
        make_version("gamma", "3", checks=(chk("lineage.x", "lineage", "error", "no data"),)),
    )
    return make_run(*versions), versions


def test_summary_lists_verdict_counts_and_failures_first() -> None:
    run, versions = run_of_three()
    text = render_summary(run)
    lines = text.splitlines()
    assert lines[0] == "## ⚠️ ERROR: govern audit of 3 model versions"
    assert "**1** error · **1** fail · **1** pass" in lines[2]
    assert "[all reports](index.html)" in lines[2]
    table = [line for line in lines if line.startswith("| ")]
    assert table[0].startswith("| Verdict | Model | Version |")
    assert [row.split(" | ")[1] for row in table[2:]] == ["gamma", "beta", "alpha"]
    beta = table[3]
    # the first three failures, then how many more; no fourth summary
    assert "quality check 0 failed<br>quality check 1 failed<br>quality check 2 failed" in beta
    assert "… and 2 more" in beta and "quality check 3" not in beta
    assert "challenger, candidate" in beta
    assert f"[report](reports/{report_filename(versions[1])})" in beta
    cells = render(text)
    assert [len(r) for r in cells.rows] == [7, 7, 7, 7]
    assert cells.rows[1][0] == "⚠️ ERROR" and cells.rows[2][0] == "❌ FAIL"


def test_links_can_point_at_published_reports() -> None:
    run, versions = run_of_three()
    text = render_summary(run, report_base="https://ci.example/jobs/7 (final)/artifacts")
    base = "https://ci.example/jobs/7%20%28final%29/artifacts/"
    assert f"[all reports]({base}index.html)" in text
    assert f"[report]({base}reports/{report_filename(versions[0])})" in text
    hrefs = [a.get("href") for tag, a in render(text).tags if tag == "a"]
    assert hrefs[0] == f"{base}index.html"
    assert set(hrefs[1:]) == {f"{base}reports/{report_filename(v)}" for v in versions}


def test_write_outputs_writes_the_summary_with_its_links(tmp_path) -> None:
    run, versions = run_of_three()
    write_outputs(run, tmp_path / "out", report_base="https://ci.example/a")
    text = (tmp_path / "out" / "summary.md").read_text(encoding="utf-8")
    assert text == render_summary(run, report_base="https://ci.example/a")
    assert f"(https://ci.example/a/reports/{report_filename(versions[2])})" in text


@pytest.mark.parametrize("payload", PAYLOADS)
def test_hostile_names_cannot_break_the_table_or_inject(payload: str) -> None:
    v = make_version(
        model=f"m{payload}",
        version=f"1{payload}",
        aliases=(f"al{payload}",),
        checks=(chk("quality.x", "quality", "fail", f"summary {payload}"),),
    )
    text = render_summary(make_run(v))
    table = [line for line in text.splitlines() if line.startswith("|")]
    assert len(table) == 3  # header, rule, one row: no line break survived
    cells = render(text)
    assert len(cells.rows) == 2 and len(cells.rows[1]) == 7, cells.rows
    shown = " ".join(payload.split())
    assert cells.rows[1][1] == f"m{shown}"
    assert cells.rows[1][2] == f"1{shown}"
    assert cells.rows[1][3] == f"al{shown}"
    assert cells.rows[1][4] == f"summary {shown}"
    tags = cells.table_tags
    assert tags <= {"table", "thead", "tbody", "tr", "th", "td", "a"}, tags
    hrefs = [a.get("href") for tag, a in cells.tags if tag == "a"]
    assert hrefs == ["index.html", f"reports/{report_filename(v)}"]


def test_escape_defuses_markdown_html_math_and_autolinks() -> None:
    assert escape("a|b") == "a\\|b"
    assert escape("<b>") == "\\<b\\>"
    assert escape("[x](y)") == "\\[x\\]\\(y\\)"
    assert escape("`x`") == "\\`x\\`"
    assert escape("$x$") == "\\$x\\$"
    assert escape("https://e.x") == "https\\://e.x"  # GFM autolinks need the bare "://"
    assert escape("WWW.e.x") == "WWW\\.e.x"
    assert escape("a@b.c") == "a\\@b.c"
    assert escape("one\ntwo\u2028three") == "one two three"
    assert escape("x\x00y") == "x\ufffdy"
    assert escape("y" * 400) == "y" * 299 + "…"
    assert escape("credit-risk 1.2") == "credit-risk 1.2"  # readable where nothing is at risk


def test_full_hostile_version_stays_one_row() -> None:
    v = full_version(model=f"model{HOSTILE}", aliases=(f"alias{HOSTILE}",))
    text = render_summary(make_run(v))
    cells = render(text)
    assert len(cells.rows) == 2 and len(cells.rows[1]) == 7
    assert cells.rows[1][1] == f"model{HOSTILE}"
    assert not [t for t, _ in cells.tags if t in ("script", "img", "style", "iframe")]
    assert "demographic_parity_ratio = ≈0.3521 (must be ≥ 0.8)" in cells.rows[1][5]


def test_long_runs_are_cut_to_fit_a_comment() -> None:
    versions = [
        make_version(f"m{i:04d}", "1", checks=(chk("quality.q", "quality", "fail", "x" * 250),))
        for i in range(1000)
    ]
    brief = [make_version(f"m{i:04d}", "1") for i in range(300)]
    short = render_summary(make_run(*brief), max_rows=200)
    assert len([line for line in short.splitlines() if line.startswith("| ")]) == 2 + 200
    assert "… and 100 more versions: see [the index](index.html)." in short

    text = render_summary(make_run(*versions))  # long summaries: the size limit cuts first
    shown = len([line for line in text.splitlines() if line.startswith("| ")]) - 2
    assert 100 < shown < 200
    assert f"… and {1000 - shown} more versions: see [the index](index.html)." in text
    assert len(text) < 65_536  # GitHub's limit for a pull-request comment
    last = f"m{shown - 1:04d}"
    assert re.search(rf"\| {last} \|", text) and not re.search(rf"\| m{shown:04d} \|", text)


def test_empty_run_is_an_error_summary() -> None:
    text = render_summary(make_run())
    assert text.startswith("## ⚠️ ERROR: govern audit of 0 model versions")
    assert "No versions were audited" in text and "| Verdict |" not in text


def test_reused_results_are_marked():
    from govern.model.results import AuditRun, CheckResult, VersionResult
    from govern.render.markdown import render_summary

    check = CheckResult("integrity.sha256", "integrity", "pass", "ok")
    reused = VersionResult(
        "m",
        "1",
        (),
        None,
        (check,),
        "a",
        "b",
        metadata={"reused_from": {"audit_run_id": "r", "audited_at": "t"}},
    )
    fresh = VersionResult("m", "2", (), None, (check,), "a", "b")
    text = render_summary(AuditRun("0.1.0", "a", "b", "ab" * 32, "p", "u", (reused, fresh)))
    assert text.count("(reused)") == 1
