"""HTML reports, the index and the output folder.

Pages are parsed with ``html.parser`` into a small tree and asserted on structurally (elements,
attributes, text): a whole-file snapshot would break on every wording change and still miss an
injected attribute. The result objects are built directly; they are govern's own types.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from markupsafe import Markup

from govern.errors import OutputError, UsageError
from govern.report import (
    make_environment,
    render_index,
    render_version_report,
    report_filename,
    write_outputs,
)
from govern.results import (
    AuditRun,
    CheckResult,
    FairnessResult,
    GroupMetrics,
    TrainingData,
    VersionResult,
)

# --------------------------------------------------------------------------- a tiny DOM

VOID = {"meta", "br", "link", "img", "input", "hr", "col", "area", "base", "embed", "source", "wbr"}
ALLOWED_TAGS = {
    "html", "head", "meta", "title", "style", "body", "nav", "a", "header", "footer", "p", "h1",
    "h2", "h3", "section", "ul", "li", "span", "code", "dl", "div", "dt", "dd", "strong", "br",
    "table", "thead", "tbody", "tr", "th", "td", "pre",
}  # fmt: skip


@dataclass
class Node:
    tag: str
    attrs: dict[str, str | None]
    children: list[Node | str] = field(default_factory=list)

    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def iter(self) -> Iterator[Node]:
        yield self
        for child in self.children:
            if isinstance(child, Node):
                yield from child.iter()

    def find_all(self, tag: str | None = None, **attrs: str) -> list[Node]:
        found = []
        for node in self.iter():
            if tag is not None and node.tag != tag:
                continue
            if all(_has_attr(node, k.rstrip("_"), v) for k, v in attrs.items()):
                found.append(node)
        return found

    def find(self, tag: str | None = None, **attrs: str) -> Node:
        found = self.find_all(tag, **attrs)
        assert found, f"no <{tag}> with {attrs}"
        return found[0]


def _has_attr(node: Node, name: str, value: str) -> bool:
    actual = node.attrs.get(name)
    if actual is None:
        return False
    return value in actual.split() if name == "class" else actual == value


class Page(HTMLParser):
    """Parse a page into a tree, keeping comments and declarations to assert on."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {})
        self.stack = [self.root]
        self.comments: list[str] = []
        self.others: list[str] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, dict(attrs))
        self.stack[-1].children.append(node)
        if tag not in VOID:
            self.stack.append(node)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack[-1].children.append(Node(tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        for depth in range(len(self.stack) - 1, 0, -1):
            if self.stack[depth].tag == tag:
                del self.stack[depth:]
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)

    def handle_comment(self, data: str) -> None:
        self.comments.append(data)

    def handle_pi(self, data: str) -> None:
        self.others.append(data)

    def unknown_decl(self, data: str) -> None:
        self.others.append(data)

    # conveniences
    def elements(self) -> list[Node]:
        return list(self.root.iter())[1:]

    def body_text(self) -> str:
        return self.root.find("body").text()

    def section(self, section_id: str) -> Node:
        return self.root.find("section", id=section_id)

    def h2s(self) -> list[str]:
        return [" ".join(h.text().split()) for h in self.root.find_all("h2")]

    def style(self) -> str:
        return "".join(s.text() for s in self.root.find_all("style"))


def facts(section: Node) -> dict[str, str]:
    """The first-level term -> description pairs of a section's fact list."""
    out = {}
    for div in section.find("dl", class_="facts").children:
        if isinstance(div, Node):
            out[" ".join(div.find("dt").text().split())] = " ".join(div.find("dd").text().split())
    return out


def rows(table: Node) -> list[list[str]]:
    body = table.find("tbody")
    return [[" ".join(td.text().split()) for td in tr.find_all("td")] for tr in body.find_all("tr")]


# --------------------------------------------------------------------------- builders

T0 = "2025-03-01T09:00:00+00:00"
T1 = "2025-03-01T09:05:00+00:00"
SHA_A = "a" * 64


def chk(
    cid: str, kind: str = "lineage", status: str = "pass", summary: str = "", **kw: Any
) -> CheckResult:
    return CheckResult(id=cid, kind=kind, status=status, summary=summary or f"{cid} ok", **kw)


def make_version(
    model: str = "credit-risk",
    version: str = "3",
    checks: tuple[CheckResult, ...] | None = None,
    **kw: Any,
) -> VersionResult:
    if checks is None:
        checks = (chk("lineage.dataset", summary="Training dataset identified"),)
    return VersionResult(
        model=model,
        version=version,
        aliases=kw.pop("aliases", ("champion",)),
        run_id=kw.pop("run_id", "0123456789abcdef"),
        checks=checks,
        started_at=T0,
        finished_at=T1,
        **kw,
    )


def make_run(*versions: VersionResult, **kw: Any) -> AuditRun:
    defaults: dict[str, Any] = {
        "govern_version": "0.1.0",
        "started_at": T0,
        "finished_at": T1,
        "policy_sha256": SHA_A,
        "policy_path": "policy.yaml",
        "tracking_uri": "databricks",
        "versions": versions,
        "policy_text": "models:\n  - match: credit-*\n    packs: [baseline]\n",
        "environment": {"mlflow": "3.17.0", "fairlearn": "0.15.0"},
    }
    defaults.update(kw)
    return AuditRun(**defaults)


def full_version(**kw: Any) -> VersionResult:
    """A failing version with every section populated."""
    checks = (
        chk("lineage.dataset", summary="Training dataset identified from run inputs"),
        chk(
            "integrity.sha256",
            "integrity",
            "fail",
            "Training data changed since it was logged",
            observed="f" * 64,
            threshold="e" * 64,
        ),
        chk(
            "quality.expect_column_values_to_be_in_set.sex",
            "quality",
            "fail",
            "sex has 3 values outside the allowed set",
            observed=0.0123456,
            threshold=0.0,
            details={
                "expectation_type": "expect_column_values_to_be_in_set",
                "kwargs": {"column": "sex", "value_set": ["Female", "Male"], "mostly": 0.99995},
                "result": {
                    "element_count": 243,
                    "unexpected_count": 3,
                    "unexpected_percent": 1.23456,
                    "partial_unexpected_list": [f"bad{i}" for i in range(8)],
                },
            },
        ),
        chk(
            "fairness.demographic_parity_ratio",
            "fairness",
            "fail",
            "Demographic parity ratio below 0.8",
            observed=0.79996,
            threshold={"min": 0.8},
        ),
    )
    fairness = FairnessResult(
        sensitive_features=("sex",),
        groups=(
            GroupMetrics({"sex": "Female"}, 120, 14, {"selection_rate": 0.1, "tpr": None}),
            GroupMetrics(
                {"sex": "Other"},
                4,
                0,
                {"selection_rate": 0.25, "tpr": None},
                ("no_positive_labels",),
            ),
        ),
        disparities={"demographic_parity_ratio": 0.352141, "equalized_odds_difference": None},
        min_group_size=30,
        positive_label=">50K",
        rows=243,
    )
    training = TrainingData(
        name="adult-train",
        source="data/adult.csv",
        source_type="local",
        mlflow_digest="d1g3st",
        recomputed_digest="0th3r",
        sha256="f" * 64,
        logged_sha256="e" * 64,
        rows=243,
        columns=("age", "sex", "income"),
        dtypes={"age": "int64", "sex": "object", "income": "object"},
        label="income",
        positive_label=">50K",
        sensitive_features=("sex",),
    )
    defaults: dict[str, Any] = {
        "checks": checks,
        "training_data": training,
        "fairness": fairness,
        "policy_match": "credit-*",
        "packs": ("baseline",),
        "model_source": "models:/m-42",
        "description": "Scores retail credit applications",
        "metadata": {
            "registered_by": "alice",
            "registered_at": "2025-02-01T10:00:00+00:00",
            "signature": {"inputs": "age:long, sex:string"},
            "artifact_sha256": "9" * 64,
        },
    }
    defaults.update(kw)
    return make_version(**defaults)


# --------------------------------------------------------------------------- the report

SECTIONS = [
    "1. Verdict",
    "2. Identity",
    "3. Training data provenance",
    "4. Checks",
    "5. Fairness",
    "6. Policy",
    "7. Reviewer sign-off",
]


def test_failing_report_leads_with_verdict_and_every_failure() -> None:
    v = full_version()
    page = Page(render_version_report(v, make_run(v)))

    assert page.h2s() == SECTIONS
    sections = [s.attrs.get("id") for s in page.root.find_all("section")]
    assert sections[0] == "verdict"
    verdict = " ".join(page.section("verdict").text().split())
    assert "FAIL" in page.section("verdict").find("p", class_="verdict-word").text()
    assert "must not be promoted" in verdict
    assert "may be promoted" not in verdict
    for check in v.failing_checks():
        assert check.summary in verdict
    assert "Training dataset identified from run inputs" not in verdict  # a pass is not a failure
    assert len(page.section("verdict").find("ul", class_="failures").find_all("li")) == 3


def test_passing_report_says_may_be_promoted() -> None:
    v = make_version(checks=(chk("lineage.a"), chk("integrity.b", "integrity")))
    page = Page(render_version_report(v, make_run(v)))
    verdict = " ".join(page.section("verdict").text().split())
    assert "PASS" in verdict
    assert "may be promoted" in verdict
    assert "must not" not in verdict
    assert page.section("verdict").attrs["class"] == "verdict verdict-pass"


def test_error_and_empty_audits_must_not_be_promoted() -> None:
    errored = make_version(
        checks=(
            chk("lineage.dataset"),
            chk("quality.x", "quality", "fail", "a failure"),
            chk("integrity.sha256", "integrity", "error", "Training data could not be read"),
        )
    )
    empty = make_version(model="empty", checks=())
    for v, expected in ((errored, "Training data could not be read"), (empty, "No checks ran")):
        page = Page(render_version_report(v, make_run(v)))
        verdict = " ".join(page.section("verdict").text().split())
        assert "ERROR" in page.section("verdict").find("p", class_="verdict-word").text()
        assert "must not be promoted" in verdict
        assert "may be promoted" not in verdict
        assert expected in verdict


def test_identity_provenance_policy_and_sign_off_content() -> None:
    v = full_version()
    run = make_run(v)
    page = Page(render_version_report(v, run))

    identity = " ".join(page.section("identity").text().split())
    for text in ("credit-risk", "champion", "Scores retail credit applications", "models:/m-42"):
        assert text in identity
    for key, item in (("registered_by", "alice"), ("artifact_sha256", "9" * 64)):
        assert key in identity and item in identity
    assert "age:long, sex:string" in identity  # nested metadata is rendered, not dropped
    assert "3.17.0" in identity and "fairlearn" in identity
    assert T0 in identity and T1 in identity

    training = page.section("training-data")
    provenance = facts(training)
    assert provenance["MLflow digest"].startswith("MISMATCH")
    assert "d1g3st" in provenance["MLflow digest"] and "0th3r" in provenance["MLflow digest"]
    assert provenance["Full-data SHA-256"].startswith("MISMATCH")
    assert provenance["Rows"] == "243" and provenance["Label column"] == "income"
    assert rows(training.find("table")) == [
        ["1", "age", "int64", ""],
        ["2", "sex", "object", "sensitive feature"],
        ["3", "income", "object", "label"],
    ]

    policy = page.section("policy")
    assert policy.find("pre").text() == run.policy_text
    policy_text = policy.text()
    assert SHA_A in policy_text and "credit-*" in policy_text and "baseline" in policy_text

    sign = page.section("sign-off")
    sign_text = " ".join(sign.text().split())
    for label in ("Reviewer name", "Decision", "Date", "Signature"):
        assert label in sign_text
    assert SHA_A in sign_text and "FAIL" in sign_text


def test_digest_match_is_labelled_match() -> None:
    v = full_version()
    assert v.training_data is not None
    td = TrainingData(
        **{**v.training_data.to_dict(), "recomputed_digest": "d1g3st", "logged_sha256": "f" * 64}
    )
    ok = facts(
        Page(render_version_report(make_version(training_data=td), make_run(v))).section(
            "training-data"
        )
    )
    assert ok["MLflow digest"].startswith("match")
    assert ok["Full-data SHA-256"].startswith("match")
    assert "mismatch" not in " ".join(ok.values()).lower()


def test_checks_grouped_by_kind_with_quality_details() -> None:
    v = full_version()
    page = Page(render_version_report(v, make_run(v)))
    checks = page.section("checks")
    headings = [" ".join(h.text().split()) for h in checks.find_all("h3")]
    assert [h.split()[0] for h in headings] == ["Lineage", "Integrity", "Quality", "Fairness"]
    assert headings[2] == "Quality checks (1: 0 passed, 1 failed, 0 errors)"

    quality = checks.find_all("table")[2]
    (row,) = rows(quality)
    assert row[0] == "✗ FAIL"
    assert "quality.expect_column_values_to_be_in_set.sex" in row[1]
    assert "expect_column_values_to_be_in_set" in row[1]
    assert "3 rows (1.235%)" in row[1]
    assert "0.99995" in row[1]  # kwargs are shown exactly, not rounded to 1
    examples = [li.text() for li in quality.find_all("li")]
    assert examples == [f'"bad{i}"' for i in range(5)]  # at most five, as JSON text
    assert row[2] == "≈0.01235"

    fairness_check = rows(checks.find_all("table")[3])[0]
    assert fairness_check[2] == "≈0.8"  # marked as rounded: it is below its 0.8 bound
    assert fairness_check[3] == '{"min": 0.8}'


def test_empty_audited_kinds_are_stated_and_error_kinds_shown_when_present() -> None:
    v = make_version(
        checks=(
            chk("policy.match", "policy", "error", "No policy entry matches this model"),
            chk("lineage.dataset"),
        )
    )
    checks = Page(render_version_report(v, make_run(v))).section("checks")
    headings = [h.text().split()[0] for h in checks.find_all("h3")]
    assert headings == ["Policy", "Lineage", "Integrity", "Quality", "Fairness"]
    text = " ".join(checks.text().split())
    assert "No fairness checks ran." in text and "No quality checks ran." in text
    assert "No policy entry matches this model" in text


def test_fairness_groups_undefined_and_flags() -> None:
    v = full_version()
    page = Page(render_version_report(v, make_run(v)))
    section = page.section("fairness")
    groups, disparities = section.find_all("table")
    header = [" ".join(th.text().split()) for th in groups.find("thead").find_all("th")]
    assert header == ["sex", "Count", "Positives", "selection_rate", "tpr", "Flags"]
    assert rows(groups) == [
        ["Female", "120", "14", "0.1", "undefined", ""],
        ["Other", "4", "0", "0.25", "undefined", "⚑ no_positive_labels"],
    ]
    trs = groups.find("tbody").find_all("tr")
    assert "flagged" not in (trs[0].attrs.get("class") or "")
    assert trs[1].attrs.get("class") == "flagged"
    assert rows(disparities) == [
        ["demographic_parity_ratio", "0.3521"],
        ["equalized_odds_difference", "undefined"],
    ]


def test_fmt_filter_formats_and_never_returns_markup() -> None:
    env = make_environment()
    fmt = env.filters["fmt"]
    assert fmt(None) == "—"
    assert fmt(None, none="undefined") == "undefined"
    assert fmt(float("nan"), none="undefined") == "undefined"
    assert fmt(0.123456) == "0.1235"
    assert fmt(123456.7) == "123457"
    assert fmt(0.99995, exact=True) == "0.99995"
    assert fmt(0.25, approx=True) == "0.25"
    assert fmt(True) == "true"
    assert fmt({"a": 0.123456, "b": [1, None]}) == '{"a": 0.1235, "b": [1, null]}'
    rendered = env.from_string("{{ v|fmt }}").render(v=Markup("<b>x</b>"))
    assert rendered == "&lt;b&gt;x&lt;/b&gt;"


# --------------------------------------------------------------------------- hostile input

PAYLOADS = (
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "</script><!--",
    "javascript:alert(1)",
    "' onmouseover='alert(1)' x='",
    "</style><script>alert(2)</script>",
    "</title></pre></textarea><script>alert(3)</script>",
    '<a href="https://evil.example/">click</a>',
)
HOSTILE = " ".join(PAYLOADS)


def hostile_version() -> VersionResult:
    h = HOSTILE
    fairness = FairnessResult(
        sensitive_features=(f"feat{h}",),
        groups=(
            GroupMetrics({f"feat{h}": f"group{h}"}, 50, 5, {f"metric{h}": 0.5}, (f"flag{h}",)),
        ),
        disparities={f"disparity{h}": 0.9},
        min_group_size=30,
        positive_label=f"pos{h}",
        rows=50,
    )
    training = TrainingData(
        name=f"data{h}",
        source=f"javascript:alert(1)//{h}",
        source_type=f"srctype{h}",
        mlflow_digest=f"dig{h}",
        recomputed_digest=f"recomputed{h}",
        rows=50,
        columns=(f"col{h}",),
        dtypes={f"col{h}": f"dtype{h}"},
        label=f"col{h}",
        positive_label=f"pos{h}",
        sensitive_features=(f"feat{h}",),
    )
    checks = (
        chk(f"lineage.{h}", summary=f"lsummary{h}", observed=f"obs{h}", threshold={h: h}),
        chk(
            "quality.x",
            "quality",
            "fail",
            f"qsummary{h}",
            details={
                "expectation_type": f"expect{h}",
                "kwargs": {"column": f"col{h}", h: [h]},
                "result": {"unexpected_count": 1, "partial_unexpected_list": [f"unexpected{h}"]},
                "other": {h: h},
            },
        ),
    )
    return make_version(
        model=f"model{h}",
        version=f"7{h}",
        aliases=(f"alias{h}",),
        run_id=f"run{h}",
        checks=checks,
        training_data=training,
        fairness=fairness,
        policy_match=f"match{h}",
        packs=(f"pack{h}",),
        model_source=f"source{h}",
        description=f"desc{h}\nsecond line",
        metadata={f"key{h}": f"meta{h}", "tags": {f"tag{h}": f"tagvalue{h}"}},
    )


def hostile_run(*versions: VersionResult) -> AuditRun:
    h = HOSTILE
    return make_run(
        *versions,
        policy_path=f"policy{h}",
        policy_text=f"text{h}",
        tracking_uri=f"uri{h}",
        environment={f"pkg{h}": f"ver{h}"},
    )


def assert_inert(html: str, expected_hrefs: set[str]) -> Page:
    page = Page(html)
    for node in page.elements():
        assert node.tag in ALLOWED_TAGS, f"unexpected element <{node.tag}>"
        for name, value in node.attrs.items():
            assert not name.startswith("on"), f"event handler {name} on <{node.tag}>"
            if name in ("href", "src", "action", "formaction", "srcset", "style"):
                assert value is not None
                assert "://" not in value
                assert not value.strip().lower().startswith(("javascript:", "http", "data:"))
        if node.tag == "a":
            href = node.attrs.get("href") or ""
            assert href.startswith("#") or href in expected_hrefs, href
    assert page.comments == []  # a leaked "<!--" would open a comment
    assert page.others == []
    return page


def test_hostile_registry_and_data_values_render_as_text() -> None:
    v = hostile_version()
    html = render_version_report(v, hostile_run(v))
    page = assert_inert(html, {"../index.html", "../results.json"})
    text = page.body_text()
    assert text.count("<script>alert(1)</script>") >= 30
    for label in (
        "model", "alias", "desc", "run", "source", "key", "meta", "tag", "tagvalue", "data",
        "srctype", "dig", "recomputed", "col", "dtype", "pos", "feat", "group", "metric", "flag",
        "disparity", "lsummary", "qsummary", "obs", "expect", "policy", "text", "match",
        "pack", "uri", "pkg", "ver",
    ):  # fmt: skip
        assert f"{label}{HOSTILE}" in text, label
    assert f"javascript:alert(1)//{HOSTILE}" in text
    assert len(page.root.find_all("section")) == 7  # no markup closed or opened by the data
    assert page.h2s() == SECTIONS


def test_hostile_values_in_index_render_as_text() -> None:
    v = hostile_version()
    html = render_index(hostile_run(v))
    page = assert_inert(html, {"results.json", f"reports/{report_filename(v)}"})
    (row,) = rows(page.root.find("table", class_="versions"))
    assert row[1] == f"model{HOSTILE}"
    assert row[3] == f"alias{HOSTILE}"
    assert row[5] == f"qsummary{HOSTILE}"


def test_pages_are_self_contained_with_a_strict_csp() -> None:
    v = full_version()
    run = make_run(v)
    for html in (render_version_report(v, run), render_index(run)):
        page = Page(html)
        assert page.root.find("html").attrs.get("lang") == "en"
        head = page.root.find("head")
        assert head.children and any(
            (m.attrs.get("charset") or "").lower() == "utf-8" for m in head.find_all("meta")
        )
        (csp,) = [
            m
            for m in head.find_all("meta")
            if (m.attrs.get("http-equiv") or "").lower() == "content-security-policy"
        ]
        directives = {d.split()[0]: d.split()[1:] for d in (csp.attrs["content"] or "").split(";")}
        assert directives["default-src"] == ["'none'"]
        assert directives["style-src"] == ["'unsafe-inline'"]
        assert directives["base-uri"] == ["'none'"]
        assert directives["form-action"] == ["'none'"]
        assert "script-src" not in directives
        # the policy must be in force before the stylesheet is parsed
        head_tags = [n.tag for n in head.children if isinstance(n, Node)]
        assert head_tags.index("meta") < head_tags.index("style")
        assert not page.root.find_all("script")
        # nothing in the templates points anywhere: no URL at all when the data holds none
        assert "://" not in html
        style = page.style()
        assert "url(" not in style and "@import" not in style
        assert "@media print" in style and "break-inside: avoid" in style


def test_rtl_emoji_model_name_renders_isolated_with_a_safe_file_name() -> None:
    names = ("модель-שלום-🚀", "модель-שלום-🎉", "نموذج")
    files = set()
    for name in names:
        v = make_version(model=name)
        page = Page(render_version_report(v, make_run(v)))
        span = page.root.find("h1").find("span")
        assert span.text() == name
        assert span.attrs.get("dir") == "auto"
        filename = report_filename(v)
        assert re.fullmatch(r"[A-Za-z0-9_-]+-v[A-Za-z0-9_-]+-[0-9a-f]{8}\.html", filename)
        files.add(filename)
    assert len(files) == len(names)


# --------------------------------------------------------------------------- file names


def test_report_filename_is_safe_readable_and_unique() -> None:
    models = ["a b", "a/b", "a-b", "a\\b", "a..b", "A B", "a\0b", "../../etc/passwd", "x" * 300]
    filenames = [report_filename(make_version(model=m, version="1")) for m in models]
    assert len(set(filenames)) == len(models)
    for filename in filenames:
        assert re.fullmatch(r"[A-Za-z0-9_-]{1,60}-v1-[0-9a-f]{8}\.html", filename), filename
    assert filenames[0].startswith("a-b-v1-") and filenames[1].startswith("a-b-v1-")
    assert filenames[-1].startswith("x" * 60 + "-v1-")
    # stable across calls and distinct per version
    assert report_filename(make_version(model="a b", version="1")) == filenames[0]
    assert report_filename(make_version(model="a b", version="2")) != filenames[0]
    assert report_filename(make_version(model="a", version="1/2")).startswith("a-v1-2-")


# --------------------------------------------------------------------------- index


def test_index_orders_failures_first_and_links_each_report() -> None:
    fail = chk("quality.q", "quality", "fail", "quality failed")
    error = chk("integrity.i", "integrity", "error", "could not read data")
    versions = [
        make_version("alpha", "1"),
        make_version("beta", "2", checks=(fail,)),
        make_version("gamma", "3", checks=(chk("lineage.l"), fail, error, fail)),
        make_version("alpha", "10"),
        make_version("alpha", "9"),
        make_version("alpha", "2", checks=(fail,)),
        make_version("zeta", "1", checks=()),
    ]
    run = make_run(*versions)
    page = Page(render_index(run))
    table = page.root.find("table", class_="versions")
    got = [(r[0], r[1], r[2]) for r in rows(table)]
    assert got == [
        ("⚠ ERROR", "gamma", "3"),
        ("⚠ ERROR", "zeta", "1"),
        ("✗ FAIL", "alpha", "2"),
        ("✗ FAIL", "beta", "2"),
        ("✓ PASS", "alpha", "1"),
        ("✓ PASS", "alpha", "9"),
        ("✓ PASS", "alpha", "10"),
    ]
    first = rows(table)[0]
    assert first[4] == "3" and first[5] == "could not read data"  # the error, not a fail
    assert rows(table)[1][5] == "No checks ran"

    by_ref = {(v.model, v.version): v for v in versions}
    for tr in table.find("tbody").find_all("tr"):
        cells = tr.find_all("td")
        v = by_ref[(cells[1].text(), cells[2].text())]
        assert tr.find("a").attrs["href"] == f"reports/{report_filename(v)}"

    summary = page.section("summary")
    counts = [" ".join(li.text().split()) for li in summary.find("ul").find_all("li")]
    assert counts == ["2 ERROR", "2 FAIL", "3 PASS", "7 versions audited"]
    assert any(a.attrs.get("href") == "results.json" for a in summary.find_all("a"))
    assert "ERROR" in page.root.find("h1").text()


def test_index_stays_light_with_a_thousand_versions() -> None:
    fail = chk("quality.q", "quality", "fail", "quality failed")
    versions = [
        make_version(f"model-{i:04d}", str(i), checks=(fail,) if i % 10 == 0 else None)
        for i in range(1000)
    ]
    html = render_index(make_run(*versions))
    page = Page(html)
    table_rows = rows(page.root.find("table", class_="versions"))
    assert len(table_rows) == 1000
    assert all(r[0] == "✗ FAIL" for r in table_rows[:100])
    assert all(r[0] == "✓ PASS" for r in table_rows[100:])
    assert len(html) / 1000 < 1500  # bytes per row: a plain table, nothing heavy per version


# --------------------------------------------------------------------------- output folder


def strict_json(text: str) -> Any:
    def reject(constant: str) -> None:
        raise AssertionError(f"non-standard JSON constant {constant}")

    return json.loads(text, parse_constant=reject)


def test_write_outputs_writes_reports_index_and_results(tmp_path: Path) -> None:
    nan_fairness = FairnessResult(
        ("sex",), (GroupMetrics({"sex": "F"}, 40, 0, {"tpr": math.nan}),), {"dpr": math.nan}, 30
    )
    versions = (
        full_version(),
        make_version("other model", "1", fairness=nan_fairness),
        make_version("модель-שלום-🚀", "2"),
    )
    run = make_run(*versions)
    out = tmp_path / "nested" / "out"

    written = write_outputs(run, out)

    expected = {f"reports/{report_filename(v)}" for v in versions}
    assert {v.report for v in written.versions} == expected
    assert all(v.report is None for v in run.versions)  # the input is not mutated
    assert sorted(p.name for p in out.iterdir()) == ["index.html", "reports", "results.json"]
    assert {f"reports/{p.name}" for p in (out / "reports").iterdir()} == expected

    data = strict_json((out / "results.json").read_text(encoding="utf-8"))
    assert data == written.to_dict()
    assert data["versions"][1]["fairness"]["disparities"]["dpr"] is None
    for entry in data["versions"]:
        report = out / entry["report"]
        assert report.is_file()
        h1 = Page(report.read_text(encoding="utf-8")).root.find("h1").find("span")
        assert h1.text() == entry["model"]

    index = Page((out / "index.html").read_text(encoding="utf-8"))
    hrefs = [a.attrs["href"] or "" for a in index.root.find_all("a")]
    assert set(hrefs) == expected | {"results.json"}
    assert all((out / h).is_file() for h in hrefs)


def test_write_outputs_rejects_a_file_as_out(tmp_path: Path) -> None:
    target = tmp_path / "out.html"
    target.write_text("keep me", encoding="utf-8")
    v = make_version()
    with pytest.raises(OutputError, match=r"--out .*out\.html is a file, not a folder"):
        write_outputs(make_run(v), target)
    assert target.read_text(encoding="utf-8") == "keep me"
    with pytest.raises(OutputError, match="is a file, not a folder"):
        write_outputs(make_run(v), target / "sub")


def test_template_error_leaves_no_partial_output(tmp_path: Path) -> None:
    custom = tmp_path / "templates"
    custom.mkdir()
    (custom / "index.html.j2").write_text("{{ no_such_value }}", encoding="utf-8")
    out = tmp_path / "out"
    out.mkdir()
    (out / "index.html").write_text("previous run", encoding="utf-8")

    with pytest.raises(OutputError, match="index.html.j2"):
        write_outputs(make_run(make_version(), make_version("b")), out, templates=custom)

    assert sorted(p.name for p in out.iterdir()) == ["index.html"]  # no reports, no results
    assert (out / "index.html").read_text(encoding="utf-8") == "previous run"


def test_lone_surrogate_in_a_name_does_not_break_writing(tmp_path: Path) -> None:
    v = make_version(model="bad\ud800name")
    written = write_outputs(make_run(v), tmp_path / "out")
    data = strict_json((tmp_path / "out" / "results.json").read_text(encoding="utf-8"))
    assert data["versions"][0]["model"] == "bad\ud800name"  # kept exactly, as a JSON escape
    assert written.versions[0].report is not None
    report = (tmp_path / "out" / written.versions[0].report).read_text(encoding="utf-8")
    assert "bad\ufffdname" in Page(report).root.find("h1").text()


# --------------------------------------------------------------------------- user templates


def test_user_templates_take_precedence_and_fall_back(tmp_path: Path) -> None:
    custom = tmp_path / "templates"
    custom.mkdir()
    (custom / "report.html.j2").write_text(
        '{% extends "_base.html.j2" %}{% block content %}'
        "<h1>ACME model report</h1><p>{{ result.model }}</p>{% endblock %}",
        encoding="utf-8",
    )
    (custom / "_style.css.j2").write_text("/* acme house style */", encoding="utf-8")
    v = make_version(model="<script>alert(1)</script>")
    run = make_run(v)

    report = Page(render_version_report(v, run, templates=custom))
    assert report.root.find("h1").text() == "ACME model report"
    assert report.root.find("p").text() == "<script>alert(1)</script>"  # still autoescaped
    assert not report.root.find_all("script")
    assert "acme house style" in report.style()

    index = Page(render_index(run, templates=custom))  # no index in the user folder
    assert index.root.find_all("table", class_="versions")
    assert "acme house style" in index.style()

    default = Page(render_version_report(v, run))
    assert "ACME" not in default.body_text()
    assert default.h2s() == SECTIONS


def test_missing_template_folder_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not a folder"):
        make_environment(tmp_path / "nope")
