"""The reports in a real browser: headless Chromium, driven by Playwright and by govern.render.pdf.

What the HTML tests cannot see is checked here: that the pages load with no console error, no
failed or blocked request and no CSP violation; that planted payloads stay text even with the CSP
switched off (escaping alone must hold); that the charts decode; that the sort links work; and
that printing gives a PDF whose every page carries the model, version, audit date and page
number, whose tables repeat their header and whose reviewer block sits whole on one page.

Chromium is the Debian ``chromium`` package (or ``$GOVERN_CHROMIUM``); Playwright only drives it
(``executable_path``), nothing is downloaded. Tests that need a browser are skipped with the
reason when either is missing (CI sets ``GOVERN_REQUIRE_BROWSER=1`` to make that a failure);
the PDF error paths run everywhere.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import tempfile
import time
import unicodedata
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from test_html import (
    SECTIONS,
    T1,
    Page,
    chk,
    full_version,
    make_run,
    make_version,
    quality,
)

from govern.errors import EXIT_INFRA, GovernError
from govern.model.results import (
    AuditRun,
    FairnessResult,
    GroupMetrics,
    Representation,
    RepresentationGroup,
    TrainingData,
    VersionResult,
)
from govern.render.index import INDEX_SORTS
from govern.render.names import report_filename
from govern.render.outputs import write_outputs
from govern.render.pdf import (
    MISSING,
    PdfError,
    find_chromium,
    render_pdf,
    render_pdf_cli,
    write_pdfs,
)

CHROMIUM = find_chromium()
STRICT = os.environ.get("GOVERN_REQUIRE_BROWSER") == "1"
"""CI sets this so that a missing browser, driver or PDF reader fails instead of skipping."""
NO_CHROMIUM = "Chromium not found: install the 'chromium' package or set GOVERN_CHROMIUM"


def unavailable(reason: str) -> None:
    if STRICT:
        pytest.fail(f"{reason} (GOVERN_REQUIRE_BROWSER=1)")
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def _temp_under_tmp_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Chromium's throw-away profile and its own temporary files go under the test's folder.

    That folder is deeper than Chromium's socket path allows, so every PDF test also checks that
    govern.render.pdf copes with a long $TMPDIR (as CI runners have)."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    monkeypatch.setenv("TMPDIR", str(scratch))


@pytest.fixture
def chromium() -> str:
    if CHROMIUM is None:
        unavailable(NO_CHROMIUM)
    assert CHROMIUM is not None
    return CHROMIUM


LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND",
]
PWNED = "pwned"
PAYLOADS = (
    f"<img src=x onerror=\"document.title='{PWNED}'\">",
    f"<script>document.title='{PWNED}'</script>",
    "<script>alert(1)</script>",
    '"><svg onload=alert(2)>',
    "</style><style>body{display:none}</style>",
)
P = " ".join(PAYLOADS)


# --------------------------------------------------------------------------- results


def planted_version() -> VersionResult:
    """A failing version with a payload in every field a registry or dataset controls."""
    column = f"col{P}"
    group = f"grp{P}"
    training = TrainingData(
        name=f"data{P}",
        source=f"source{P}",
        source_type="local",
        mlflow_digest="d1",
        recomputed_digest="d1",
        rows=300,
        columns=("age", column, "sex", "income"),
        dtypes={"age": "int64", column: "object", "sex": "object", "income": "object"},
        label="income",
        positive_label=f"yes{P}",
        sensitive_features=("sex",),
        missing={"age": 0, column: 7, "sex": 0, "income": 0},
        label_balance={f"yes{P}": 100, "no": 200},
    )
    fairness = FairnessResult(
        ("sex",),
        (
            GroupMetrics({"sex": group}, 200, 80, {"selection_rate": 0.4}),
            GroupMetrics({"sex": "other"}, 100, 20, {"selection_rate": 0.1}),
        ),
        {"demographic_parity_ratio": 0.25},
        30,
        positive_label=f"yes{P}",
        rows=300,
    )
    checks = (
        chk("lineage.training_data", summary=f"found {P}"),
        quality(
            "expect_column_values_to_be_in_set",
            {"column": column, "value_set": [f"v{P}"]},
            "fail",
            element_count=300,
            unexpected_count=2,
            unexpected_percent=0.67,
            partial_unexpected_list=[f"bad{P}"],
        ),
        chk(
            "fairness.demographic_parity_ratio",
            "fairness",
            "fail",
            f"demographic_parity_ratio = 0.25, must be >= 0.8 {P}",
            observed=0.25,
            threshold={"min": 0.8},
        ),
    )
    representation = (
        Representation(
            ("sex",),
            (
                RepresentationGroup({"sex": group}, 200, 2 / 3, 80, 0.4),
                RepresentationGroup({"sex": "other"}, 100, 1 / 3, 20, 0.2),
            ),
            30,
        ),
    )
    return full_version(
        model=f"model{P}",
        version="3",
        aliases=(f"alias{P}",),
        description=f"desc{P}",
        checks=checks,
        training_data=training,
        fairness=fairness,
        representation=representation,
        metadata={"tags": {f"tag{P}": f"value{P}"}, "registered_by": f"user{P}"},
    )


def browser_run() -> AuditRun:
    passing = make_version(
        "simple", "1", checks=(chk("lineage.l"), chk("integrity.i", "integrity"))
    )
    return make_run(planted_version(), full_version(), passing)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, AuditRun]:
    out = tmp_path_factory.mktemp("site")
    return out, write_outputs(browser_run(), out)


def report_path(out: Path, v: VersionResult) -> Path:
    return out / "reports" / report_filename(v)


# --------------------------------------------------------------------------- the browser


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    if CHROMIUM is None:
        unavailable(NO_CHROMIUM)
    try:
        import playwright.sync_api as sync_api
    except ImportError:
        unavailable("Playwright not installed: pip install -e '.[test]'")
    scratch = str(tmp_path_factory.mktemp("browser-tmp"))
    # The driver's and Chromium's own temporary files, unless the folder is too deep for the
    # Unix socket Chromium keeps there (see govern.render.pdf._SOCKET_DIR_MAX).
    tmpdir = scratch if len(scratch) <= 60 else "/tmp"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TMPDIR", tmpdir)
        with sync_api.sync_playwright() as pw:
            launched = pw.chromium.launch(
                executable_path=CHROMIUM,
                args=LAUNCH_ARGS,
                env={**os.environ, "TMPDIR": tmpdir},
            )
            try:
                yield launched
            finally:
                launched.close()


class Visit:
    """One page load with everything that can go wrong recorded."""

    def __init__(self, browser: Any, path: Path, *, bypass_csp: bool = False) -> None:
        self.context = browser.new_context(
            bypass_csp=bypass_csp, viewport={"width": 1200, "height": 900}
        )
        # Runs through DevTools, so the page's CSP does not stop it: it only listens.
        self.context.add_init_script(
            "window.__csp = [];"
            "document.addEventListener('securitypolicyviolation',"
            " e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));"
        )
        self.page = self.context.new_page()
        self.console: list[str] = []
        self.failed: list[str] = []
        self.requests: list[str] = []
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        self.page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}"))
        self.page.on("requestfailed", lambda r: self.failed.append(r.url))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("dialog", self._dialog)
        self.url = path.resolve().as_uri()
        self.page.goto(self.url, wait_until="load")

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def csp_violations(self) -> list[str]:
        return list(self.page.evaluate("window.__csp"))

    def assert_clean(self) -> None:
        """No console message, failed request, script error, dialog or CSP violation; nothing
        requested but the page itself and its data: images."""
        assert self.console == [], self.console
        assert self.failed == [], self.failed
        assert self.errors == [], self.errors
        assert self.dialogs == [], self.dialogs
        assert self.csp_violations() == []
        others = [u for u in self.requests if u != self.url and not u.startswith("data:")]
        assert others == [], others

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def visit(browser: Any) -> Iterator[Any]:
    opened: list[Visit] = []

    def open_(path: Path, **kw: Any) -> Visit:
        opened.append(Visit(browser, path, **kw))
        return opened[-1]

    yield open_
    for v in opened:
        v.close()


def expected_title(path: Path) -> str:
    return " ".join(Page(path.read_text(encoding="utf-8")).root.find("title").text().split())


def test_reports_and_index_load_clean(site: tuple[Path, AuditRun], visit: Any) -> None:
    out, run = site
    for v in run.versions:
        path = report_path(out, v)
        seen = visit(path)
        seen.assert_clean()
        headings = [" ".join(t.split()) for t in seen.page.locator("h2").all_inner_texts()]
        assert headings == SECTIONS
        # every chart decoded into a real picture
        assert seen.page.evaluate(
            "[...document.images].every(i => i.complete && i.naturalWidth > 100)"
        )
        metrics = {m for g in (v.fairness.groups if v.fairness else ()) for m in g.metrics}
        assert seen.page.locator("figure.chart img").count() == len(metrics)
    for sort in INDEX_SORTS:
        seen = visit(out / sort.filename)
        seen.assert_clean()
        assert seen.page.locator("table.versions tbody tr").count() == 3


@pytest.mark.parametrize("bypass_csp", [False, True], ids=["with-csp", "escaping-alone"])
def test_planted_payloads_stay_text(
    site: tuple[Path, AuditRun], visit: Any, bypass_csp: bool
) -> None:
    out, run = site
    planted = run.versions[0]
    assert planted.model.startswith("model<img")
    path = report_path(out, planted)
    seen = visit(path, bypass_csp=bypass_csp)
    seen.assert_clean()
    page = seen.page
    assert page.title() == expected_title(path)
    assert PWNED not in page.title().replace(f"'{PWNED}'", "")  # only inside the shown payload
    assert page.evaluate("document.querySelectorAll('script, svg, iframe, object').length") == 0
    assert (
        page.evaluate(
            "[...document.querySelectorAll('*')].flatMap(e => [...e.attributes])"
            ".filter(a => a.name.startsWith('on')).length"
        )
        == 0
    )
    assert page.evaluate("[...document.images].every(i => i.src.startsWith('data:image/svg+xml'))")
    assert page.locator("body").is_visible()  # the </style> payload did not hide the page
    text = page.inner_text("body")
    for field in ("model", "alias", "desc", "tag", "value", "user", "col", "grp", "yes", "bad"):
        marker = f"{field}{PAYLOADS[0]}"
        assert marker in text or f'"{field}' in text, field
    assert f"model{P}" in page.inner_text("h1")


def test_index_sorts_by_following_links(site: tuple[Path, AuditRun], visit: Any) -> None:
    out, _ = site
    seen = visit(out / "index.html")
    page = seen.page
    verdicts = page.locator("table.versions tbody tr td:nth-child(4)").all_inner_texts()
    assert verdicts == ["✗ FAIL", "✗ FAIL", "✓ PASS"]  # failures first by default
    page.click("table.versions thead a:text('Model')")
    page.wait_for_load_state("load")
    assert page.url.endswith("/index-by-model.html")
    models = page.locator("table.versions tbody tr td:nth-child(1)").all_inner_texts()
    assert models == sorted(models, key=str.casefold)
    page.click("a:text('go back to failures first')")
    page.wait_for_load_state("load")
    assert page.url.endswith("/index.html")
    page.click("table.versions tbody tr:nth-child(1) a:text('report')")
    page.wait_for_load_state("load")
    assert "/reports/" in page.url and page.locator("h2").first.inner_text() == "1. Verdict"
    assert seen.failed == [] and seen.console == []


def test_print_media_hides_navigation_and_repeats_headers(
    site: tuple[Path, AuditRun], visit: Any
) -> None:
    out, run = site
    page = visit(report_path(out, run.versions[1])).page
    page.emulate_media(media="print")
    assert page.evaluate("getComputedStyle(document.querySelector('nav')).display") == "none"
    assert page.evaluate("getComputedStyle(document.querySelector('thead')).display") == (
        "table-header-group"
    )
    assert page.evaluate("getComputedStyle(document.querySelector('tbody tr')).breakInside") == (
        "avoid"
    )
    assert (
        page.evaluate("getComputedStyle(document.querySelector('#sign-off')).breakBefore") == "page"
    )


# --------------------------------------------------------------------------- PDF


def pdf_pages(path: Path) -> list[str]:
    """Text of each page: poppler's pdftotext when installed, else pypdf."""
    assert path.read_bytes().startswith(b"%PDF-")
    if shutil.which("pdftotext"):
        done = subprocess.run(
            ["pdftotext", "-layout", str(path), "-"], capture_output=True, check=True, timeout=60
        )
        pages = done.stdout.decode("utf-8").split("\f")
        return [p for p in pages if p.strip()]
    try:
        import pypdf
    except ImportError:
        unavailable("no PDF text extractor: install poppler-utils (pdftotext) or pypdf")
    return [page.extract_text() for page in pypdf.PdfReader(str(path)).pages]


def pdf_size(path: Path) -> tuple[float, float]:
    match = re.search(rb"/MediaBox\s*\[\s*0 0 ([\d.]+) ([\d.]+)\s*\]", path.read_bytes())
    assert match, "no MediaBox"
    return float(match.group(1)), float(match.group(2))


def flat(text: str) -> str:
    """One line, ligatures expanded (pypdf keeps "ﬀ" where pdftotext writes "ff")."""
    return " ".join(unicodedata.normalize("NFKC", text).split())


def test_printed_report_pages_carry_header_footer_verdict_and_whole_sign_off(
    site: tuple[Path, AuditRun], tmp_path: Path, chromium: str
) -> None:
    out, run = site
    html = report_path(out, run.versions[1])  # credit-risk 3, failing
    pdf = tmp_path / "report.pdf"
    render_pdf(html, pdf)
    pages = [flat(p) for p in pdf_pages(pdf)]
    assert len(pages) >= 3
    for number, text in enumerate(pages, 1):
        assert "credit-risk · version 3" in text, number
        assert f"audited {T1} UTC" in text, number
        assert f"Page {number} of {len(pages)}" in text, number
        assert "verdict FAIL" in text, number
    assert "FAIL" in pages[0] and "must not be promoted" in pages[0]
    signing = [p for p in pages if "10. Reviewer sign-off" in p]
    assert len(signing) == 1
    for label in ("Reviewer name", "Role / function", "Decision", "Date", "Signature"):
        assert label in signing[0], label  # the block is whole on its page
    assert pdf_size(pdf) == pytest.approx((595.92, 841.92), abs=1.5)  # A4


def test_long_tables_repeat_their_header_and_rows_are_not_cut(
    tmp_path: Path, chromium: str
) -> None:
    checks = tuple(
        quality(
            "expect_column_values_to_be_between",
            {"column": "age", "min_value": i, "max_value": 1000 + i},
            "fail" if i % 7 == 0 else "pass",
            element_count=243,
            unexpected_count=i,
            unexpected_percent=i / 2.43,
            partial_unexpected_list=[f"example-{i}-{j}" for j in range(3)],
        )
        for i in range(70)
    )
    v = full_version(checks=checks)
    out = tmp_path / "out"
    write_outputs(make_run(v), out)
    pdf = tmp_path / "long.pdf"
    render_pdf(report_path(out, v), pdf, paper="Letter")
    assert pdf_size(pdf) == pytest.approx((612, 792), abs=1.5)
    pages = [flat(p) for p in pdf_pages(pdf)]
    with_rows = [p for p in pages if '"example-' in p]
    assert len(with_rows) >= 3  # the table really spans pages
    for text in with_rows:
        assert "Status Expected Observed Unexpected Share" in text  # header repeated per page
    for i in range(70):
        # a row printed whole: its first and last example and its arguments on one page
        holders = [p for p in pages if f'"example-{i}-2"' in p]
        assert len(holders) == 1, i
        assert f'"example-{i}-0"' in holders[0] and f'"max_value": {1000 + i}' in holders[0], i


def test_header_and_footer_text_is_escaped_and_numbered(tmp_path: Path, chromium: str) -> None:
    page = tmp_path / "plain.html"
    page.write_text("<!DOCTYPE html><title>t</title><p>" + "text " * 3000 + "</p>", "utf-8")
    pdf = tmp_path / "plain.pdf"
    render_pdf(page, pdf, header="model <b>x</b> & co", footer="audit 2025-03-01")
    pages = [flat(p) for p in pdf_pages(pdf)]
    assert len(pages) >= 2
    for number, text in enumerate(pages, 1):
        assert "model <b>x</b> & co" in text  # shown as typed, not as markup
        assert f"audit 2025-03-01 Page {number} of {len(pages)}" in text


def test_write_pdfs_prints_every_report_next_to_its_html(tmp_path: Path, chromium: str) -> None:
    out = tmp_path / "out"
    run = write_outputs(make_run(full_version(), make_version("simple", "1")), out)
    started = time.monotonic()
    written = write_pdfs(run, out)
    assert [p.name for p in written] == [
        report_filename(v).replace(".html", ".pdf") for v in run.versions
    ]
    for path in written:
        assert path.parent == out / "reports"
        assert "1. Verdict" in flat(pdf_pages(path)[0])
    assert time.monotonic() - started < 60
    with pytest.raises(PdfError, match="write the HTML reports first"):
        write_pdfs(replace(run, versions=(make_version("never-written", "1"),)), out)


def test_plain_print_to_pdf_fallback_keeps_the_report_header(
    site: tuple[Path, AuditRun], tmp_path: Path, chromium: str
) -> None:
    out, run = site
    pdf = tmp_path / "cli.pdf"
    render_pdf_cli(report_path(out, run.versions[1]), pdf, executable=chromium)
    pages = [flat(p) for p in pdf_pages(pdf)]
    assert "credit-risk · version 3" in pages[0] and f"Page 1 of {len(pages)}" in pages[0]


# --------------------------------------------------------------------------- PDF errors


def fake_browser(folder: Path, name: str, body: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(f"#!/bin/sh\n{body}\n", encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_missing_chromium_is_a_clear_govern_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    html = tmp_path / "r.html"
    html.write_text("<p>x</p>", encoding="utf-8")
    monkeypatch.delenv("GOVERN_CHROMIUM", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert find_chromium() is None
    with pytest.raises(PdfError) as caught:
        render_pdf(html, tmp_path / "r.pdf")
    assert str(caught.value) == MISSING
    assert MISSING == "PDF needs Chromium: install the 'chromium' package or set GOVERN_CHROMIUM"
    assert isinstance(caught.value, GovernError) and caught.value.exit_code == EXIT_INFRA
    monkeypatch.setenv("GOVERN_CHROMIUM", str(tmp_path / "nope"))
    with pytest.raises(PdfError, match=r"GOVERN_CHROMIUM=.*nope.* is not an executable"):
        render_pdf(html, tmp_path / "r.pdf")
    assert not (tmp_path / "r.pdf").exists()


def test_find_chromium_prefers_the_setting_then_path_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = tmp_path / "bin"
    chrome = fake_browser(bin_dir, "google-chrome", "exit 0")
    browser = fake_browser(bin_dir, "chromium-browser", "exit 0")
    chosen = fake_browser(tmp_path / "mine", "my-chromium", "exit 0")
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.delenv("GOVERN_CHROMIUM", raising=False)
    assert find_chromium() == str(browser)
    browser.unlink()
    assert find_chromium() == str(chrome)
    monkeypatch.setenv("GOVERN_CHROMIUM", str(chosen))
    assert find_chromium() == str(chosen)


def test_a_browser_that_never_answers_is_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    html = tmp_path / "r.html"
    html.write_text("<p>x</p>", encoding="utf-8")
    pid_file = tmp_path / "pid"
    fake = fake_browser(tmp_path / "bin", "chromium", f"echo $$ > {pid_file}\nexec sleep 60")
    monkeypatch.setenv("GOVERN_CHROMIUM", str(fake))
    started = time.monotonic()
    with pytest.raises(PdfError, match="did not answer within 2 s"):
        render_pdf(html, tmp_path / "r.pdf", timeout=2)
    assert time.monotonic() - started < 15
    pid = int(pid_file.read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # killed and reaped, not left running
    assert not (tmp_path / "r.pdf").exists()


def test_a_browser_that_dies_reports_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    html = tmp_path / "r.html"
    html.write_text("<p>x</p>", encoding="utf-8")
    fake = fake_browser(tmp_path / "bin", "chromium", "echo 'cannot open display' >&2\nexit 1")
    monkeypatch.setenv("GOVERN_CHROMIUM", str(fake))
    with pytest.raises(PdfError, match="Chromium stopped: cannot open display"):
        render_pdf(html, tmp_path / "r.pdf", timeout=10)
    with pytest.raises(PdfError, match="unknown paper size 'A5'"):
        render_pdf(html, tmp_path / "r.pdf", paper="A5")
    with pytest.raises(PdfError, match="no such file"):
        render_pdf(tmp_path / "missing.html", tmp_path / "r.pdf")
