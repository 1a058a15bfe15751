"""HTML reports, the index and the output folder.

Pages are parsed with ``html.parser`` into a small tree and asserted on structurally (elements,
attributes, text): a whole-file snapshot would break on every wording change and still miss an
injected attribute. The result objects are built directly; they are govern's own types. Charts
are decoded from their data: URIs and parsed as XML, so what is asserted is what a browser gets.
"""

from __future__ import annotations

import base64
import json
import math
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from markupsafe import Markup

from govern.errors import OutputError, UsageError
from govern.model.results import (
    AuditRun,
    CheckResult,
    FairnessResult,
    GroupMetrics,
    HistoryEntry,
    Representation,
    RepresentationGroup,
    TrainingData,
    VersionResult,
)
from govern.model.wording import describe_expectation
from govern.render.charts import fairness_charts, threshold_bands
from govern.render.environment import css_string, make_environment
from govern.render.html import render_index, render_version_report
from govern.render.index import INDEX_SORTS
from govern.render.names import report_filename
from govern.render.outputs import write_outputs

# --------------------------------------------------------------------------- a tiny DOM

VOID = {"meta", "br", "link", "img", "input", "hr", "col", "area", "base", "embed", "source", "wbr"}
ALLOWED_TAGS = {
    "html", "head", "meta", "title", "style", "body", "nav", "a", "header", "footer", "p", "h1",
    "h2", "h3", "section", "ul", "li", "span", "code", "dl", "div", "dt", "dd", "strong", "br",
    "table", "thead", "tbody", "tr", "th", "td", "pre", "figure", "figcaption", "img", "wbr",
}  # fmt: skip
SVG_PREFIX = "data:image/svg+xml;base64,"


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

    def charts(self) -> list[Node]:
        return self.root.find_all("img")


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


def pairs(node: Node) -> dict[str, str]:
    """A nested key/value list (tags, dependency versions, packs) as a dict."""
    dl = node.find("dl", class_="kv")
    return {
        words(div.find("dt")): words(div.find("dd")) for div in dl.children if isinstance(div, Node)
    }


def header(table: Node) -> list[str]:
    return [" ".join(th.text().split()) for th in table.find("thead").find_all("th")]


def words(node: Node) -> str:
    return " ".join(node.text().split())


def decode_svg(src: str | None) -> ET.Element:
    """The chart as the browser gets it, parsed as XML (a parse error fails the test)."""
    assert src is not None and src.startswith(SVG_PREFIX), (src or "")[:40]
    return ET.fromstring(base64.b64decode(src[len(SVG_PREFIX) :]).decode("utf-8"))


def svg_texts(svg: ET.Element) -> list[str]:
    return ["".join(t.itertext()) for t in svg.iter() if t.tag.endswith("}text")]


def assert_inert_svg(svg: ET.Element) -> None:
    """Nothing in a chart can run or fetch: no script or foreign content, no handler, no URL."""
    for el in svg.iter():
        local = el.tag.rsplit("}", 1)[-1].lower()
        assert local not in ("script", "foreignobject", "iframe", "image", "a"), local
        for name, value in el.attrib.items():
            attr = name.rsplit("}", 1)[-1].lower()
            assert not attr.startswith("on"), (local, name)
            if attr == "href":
                assert value.startswith("#"), value
            assert "javascript:" not in value.lower()
            if attr == "style":
                assert "url(" not in value or "url(#" in value, value


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
        "environment": {"mlflow": "3.17.0", "fairlearn": "0.15.0", "python": "3.11.7"},
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
        missing={"age": 0, "sex": 12, "income": 0},
        label_balance={"<=50K": 180, ">50K": 60, "(missing)": 3},
    )
    representation = (
        Representation(
            ("sex",),
            (
                RepresentationGroup({"sex": "Female"}, 120, 120 / 243, 14, 14 / 120),
                RepresentationGroup({"sex": "Male"}, 111, 111 / 243, 46, 46 / 111),
                RepresentationGroup({"sex": "(missing)"}, 12, 12 / 243, 0, 0.0, True),
            ),
            30,
        ),
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
            "status": "READY",
            "tags": {"team": "credit", "ticket": "RISK-7"},
            "model_artifact_sha256": "9" * 64,
            "signature_inputs": "['age': long (required), 'sex': string (required)]",
            "signature_outputs": "[Tensor('object', (-1,))]",
            "audit_run_id": "feedc0de",
            "packs_sha256": {"baseline": "b" * 64},
            "legacy": {"inputs": "kept"},
        },
        "representation": representation,
        "history": (
            HistoryEntry(
                "run-old", "2025-02-20T08:00:00Z", "pass", SHA_A, {"demographic_parity_ratio": 0.91}
            ),
            HistoryEntry("run-older", "2025-02-10T08:00:00Z", "fail", "c" * 64, {}),
        ),
    }
    defaults.update(kw)
    return make_version(**defaults)


# --------------------------------------------------------------------------- the report

# --------------------------------------------------------------------------- the report

SECTIONS = [
    "1. Verdict",
    "2. Identity",
    "3. Training data provenance",
    "4. Data quality",
    "5. Representation",
    "6. Fairness",
    "7. Policy",
    "8. Audit history",
    "9. Evidence",
    "10. Reviewer sign-off",
]
SECTION_IDS = [
    "verdict",
    "identity",
    "training-data",
    "data-quality",
    "representation",
    "fairness",
    "policy",
    "history",
    "evidence",
    "sign-off",
]


def test_failing_report_leads_with_verdict_and_every_failure() -> None:
    v = full_version()
    page = Page(render_version_report(v, make_run(v)))

    assert page.h2s() == SECTIONS
    assert [s.attrs.get("id") for s in page.root.find_all("section")] == SECTION_IDS
    verdict = " ".join(page.section("verdict").text().split())
    assert "FAIL" in page.section("verdict").find("p", class_="verdict-word").text()
    assert "must not be promoted" in verdict
    assert "may be promoted" not in verdict
    for check in v.failing_checks():
        assert check.summary in verdict
    assert "Training dataset identified from run inputs" not in verdict  # a pass is not a failure
    items = page.section("verdict").find("ul", class_="failures").find_all("li")
    assert len(items) == 3
    # each failure links to the section holding its details
    assert [li.find("a").attrs["href"] for li in items] == [
        "#training-data",
        "#data-quality",
        "#fairness",
    ]


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


def test_identity_names_who_what_when_and_with_which_software() -> None:
    v = full_version()
    page = Page(render_version_report(v, make_run(v)))
    identity = facts(page.section("identity"))
    assert identity["Model"] == "credit-risk" and identity["Aliases"] == "champion"
    assert identity["Description"] == "Scores retail credit applications"
    assert identity["Registered by"] == "alice"
    assert identity["Registered at (UTC)"] == "2025-02-01T10:00:00+00:00"
    assert identity["Model artifact SHA-256"] == "9" * 64
    assert identity["Input signature"] == "['age': long (required), 'sex': string (required)]"
    assert identity["Output signature"] == "[Tensor('object', (-1,))]"
    assert identity["Training run ID"] == "0123456789abcdef"
    assert identity["Audit recorded as MLflow run"] == "feedc0de"
    dds = {
        words(div.find("dt")): div.find("dd") for div in page.section("identity").find_all("div")
    }
    assert pairs(dds["Tags"]) == {"team": "credit", "ticket": "RISK-7"}
    assert pairs(dds["legacy"]) == {"inputs": "kept"}  # unknown metadata is shown, never dropped
    assert identity["Audit of this version started (UTC)"] == T0
    assert identity["Audit of this version finished (UTC)"] == T1
    assert identity["Tracking server"] == "databricks"
    # the four libraries that decide what the numbers mean come first, even when missing
    deps = page.section("identity").find_all("dl", class_="kv")[-1]
    names = [words(dt) for dt in deps.find_all("dt")]
    assert names == ["mlflow", "great-expectations", "fairlearn", "pandas", "python"]
    values = [words(dd) for dd in deps.find_all("dd")]
    assert values == ["3.17.0", "not recorded", "0.15.0", "not recorded", "3.11.7"]
    # packs and errors have their own sections, not the identity list
    assert "packs_sha256" not in identity and "b" * 64 not in words(page.section("identity"))


def test_the_models_declared_requirements_are_a_table_beside_the_installed_versions() -> None:
    v = full_version()
    requirements = [
        {"name": "scikit-learn", "declared": "1.5.2", "installed": "1.9.1", "difference": "minor"},
        {"name": "numpy", "declared": "2.4.6", "installed": "2.4.6", "difference": None},
        {"name": "xgboost", "declared": "2.1.0", "installed": None, "difference": "not installed"},
    ]
    v = replace(v, metadata={**v.metadata, "model_requirements": requirements})
    section = Page(render_version_report(v, make_run(v))).section("identity")
    table = section.find("table", class_="requirements")
    assert header(table) == ["Package", "Declared by the model", "Installed here", "Difference"]
    assert rows(table) == [
        ["scikit-learn", "1.5.2", "1.9.1", "minor"],
        ["numpy", "2.4.6", "2.4.6", "none"],
        ["xgboost", "2.1.0", "not installed", "not installed"],
    ]
    assert "model_requirements" not in words(section)  # not repeated as raw metadata
    empty = replace(v, metadata={**v.metadata, "model_requirements": []})
    identity = facts(Page(render_version_report(empty, make_run(empty))).section("identity"))
    assert identity["Model's declared requirements"] == (
        "none pinned in the model's requirements.txt"
    )


def test_provenance_shows_missing_values_and_class_balance() -> None:
    v = full_version()
    page = Page(render_version_report(v, make_run(v)))
    training = page.section("training-data")
    provenance = facts(training)
    assert provenance["MLflow digest"].startswith("MISMATCH")
    assert "d1g3st" in provenance["MLflow digest"] and "0th3r" in provenance["MLflow digest"]
    assert provenance["Full-data SHA-256"].startswith("MISMATCH")
    assert provenance["Rows"] == "243" and provenance["Label column"] == "income"
    columns = training.find("table", class_="columns")
    assert header(columns) == ["#", "Column", "Type", "Missing", "Missing share", "Role"]
    assert rows(columns) == [
        ["1", "age", "int64", "0", "0%", ""],
        ["2", "sex", "object", "12", "4.94%", "sensitive feature"],
        ["3", "income", "object", "0", "0%", "label"],
    ]
    assert "3 with" not in words(training) and "1 with missing values" in words(training)
    assert rows(training.find("table", class_="balance")) == [
        ["<=50K", "180", "74.1%", ""],
        [">50K", "60", "24.7%", "✓ positive"],
        ["(missing)", "3", "1.23%", ""],
    ]
    # lineage and integrity checks sit with the provenance they judge
    integrity = training.find("table", class_="checks-integrity")
    (row,) = rows(integrity)
    assert row[0] == "✗ FAIL" and "Training data changed since it was logged" in row[1]


def test_unrecorded_missing_values_and_balance_say_so() -> None:
    v = full_version()
    assert v.training_data is not None
    td = TrainingData(**{**v.training_data.to_dict(), "missing": {}, "label_balance": {}})
    page = Page(render_version_report(make_version(training_data=td), make_run(v)))
    training = page.section("training-data")
    assert [r[3] for r in rows(training.find("table", class_="columns"))] == ["not recorded"] * 3
    assert "class balance was not recorded" in words(training)
    assert not training.find_all("table", class_="balance")


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


def quality(type_: str, kwargs: dict[str, Any], status: str = "pass", **result: Any) -> CheckResult:
    columns = kwargs.get("column") or "+".join(kwargs.get("column_list") or []) or "table"
    return chk(
        f"quality.{type_}.{columns}",
        "quality",
        status,
        f"{type_} {status}",
        observed=result.get("unexpected_percent", result.get("observed_value")),
        details={"expectation_type": type_, "kwargs": kwargs, "result": result, "origin": "pack p"},
    )


def quality_version() -> VersionResult:
    row_like = [{"age": 30, "sex": "F", "income": "SECRET-ROW"}] * 2
    checks = (
        quality(
            "expect_column_values_to_be_in_set",
            {"column": "sex", "value_set": ["Female", "Male"], "mostly": 0.99995},
            "fail",
            element_count=243,
            unexpected_count=3,
            unexpected_percent=1.23456,
            partial_unexpected_list=[f"bad{i}" for i in range(8)],
        ),
        quality(
            "expect_table_row_count_to_be_between",
            {"min_value": 1},
            observed_value=243,
        ),
        quality(
            "expect_column_values_to_be_between",
            {"column": "age", "min_value": 17, "max_value": 90},
            element_count=243,
            unexpected_count=0,
            unexpected_percent=0.0,
            missing_count=2,
            partial_unexpected_list=[],
        ),
        quality(
            "expect_compound_columns_to_be_unique",
            {"column_list": ["age", "sex", "income"], "mostly": 0.99},
            element_count=243,
            unexpected_count=2,
            unexpected_percent=0.82,
            partial_unexpected_list=row_like,
        ),
        quality(
            "expect_column_values_to_not_be_null",
            {"column": "gone"},
            "error",
        ),
        quality(
            "expect_column_mean_to_be_between",
            {"column": "age", "min_value": 20},
            **{"observed_value": 38.25},
        ),
    )
    return full_version(checks=checks)


def test_quality_is_grouped_by_column_in_plain_words() -> None:
    page = Page(render_version_report(quality_version(), make_run()))
    section = page.section("data-quality")
    headings = [words(h) for h in section.find_all("h3")]
    assert [h.split(" —")[0] for h in headings] == [
        "Whole table",
        "Column age (int64)",
        "Column sex (object)",
        "Column gone",  # not in the data: after the data's own columns
        "Columns age, sex, income",
    ]
    assert headings[1].endswith("2 passed, 0 failed, 0 errors")
    tables = section.find_all("table", class_="checks-quality")
    assert header(tables[0]) == [
        "Status",
        "Expected",
        "Observed",
        "Unexpected",
        "Share",
        "Example unexpected values",
    ]
    (table_row,) = rows(tables[0])
    assert table_row[1].startswith("the table has at least 1 row ")
    assert table_row[2] == "243"
    age_between, age_mean = rows(tables[1])
    assert age_between[1].startswith("every value of 'age' is between 17 and 90 (inclusive)")
    assert age_between[2:5] == ["243 values checked, 2 missing skipped", "0", "0%"]
    assert age_mean[1].startswith("the mean of 'age' is at least 20") and age_mean[2] == "38.25"

    (sex,) = rows(tables[2])
    assert sex[0] == "✗ FAIL"
    assert sex[1].startswith(
        "at least 99.995% of the values of 'sex' are one of {'Female', 'Male'}"
    )  # the policy's 0.99995, not rounded to 100 %
    assert '"mostly": 0.99995' in sex[1]  # exact arguments under the sentence
    assert "expect_column_values_to_be_in_set fail" in sex[1]  # why it failed
    assert sex[3:5] == ["3", "1.235%"]
    examples = [li.text() for li in tables[2].find("ul", class_="examples").find_all("li")]
    assert examples == [f'"bad{i}"' for i in range(5)]  # at most five, as JSON text
    assert "first 5 shown" in sex[5]

    (gone,) = rows(tables[3])
    assert gone[0] == "⚠ ERROR"
    (compound,) = rows(tables[4])
    assert compound[1].startswith("at least 99% of rows have their own combination of")
    assert "not shown" in compound[5]
    assert "SECRET-ROW" not in page.body_text()  # a duplicated row is never printed


@pytest.mark.parametrize(
    ("type_", "kwargs", "expected"),
    [
        ("expect_column_to_exist", {"column": "a"}, "column 'a' exists"),
        (
            "expect_column_values_to_not_be_null",
            {"column": "a", "mostly": 0.95},
            "at least 95% of the values of 'a' are present (not missing)",
        ),
        (
            "expect_column_values_to_be_between",
            {"column": "a", "min_value": 0, "max_value": 1, "strict_max": True},
            "every value of 'a' is at least 0 and less than 1",
        ),
        (
            "expect_column_values_to_be_between",
            {"column": "a", "max_value": 0.99995},
            "every value of 'a' is at most 0.99995",
        ),
        (
            "expect_column_values_to_be_in_set",
            {"column": "a", "value_set": list(range(12))},
            "every value of 'a' is one of {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, … (12 values in all)}",
        ),
        (
            "expect_column_values_to_be_unique",
            {"column": "id"},
            "every value of 'id' is unique (occurs in one row only)",
        ),
        (
            "expect_compound_columns_to_be_unique",
            {"column_list": ["a", "b"]},
            "every row has its own combination of 'a' and 'b' (no duplicates)",
        ),
        ("expect_table_row_count_to_equal", {"value": 10}, "the table has exactly 10 rows"),
        (
            "expect_table_columns_to_match_ordered_list",
            {"column_list": ["a", "b"]},
            "the table's columns are exactly {'a', 'b'}, in this order",
        ),
        (
            "expect_column_values_to_match_regex",
            {"column": "zip", "regex": r"^\d{5}$"},
            "every value of 'zip' matches the regular expression '^\\\\d{5}$'",
        ),
        (
            "expect_column_mean_to_be_between",
            {"column": "a", "min_value": 1, "max_value": 2},
            "the mean of 'a' is between 1 and 2 (inclusive)",
        ),
        (
            "expect_column_pair_values_a_to_be_greater_than_b",
            {"column_A": "end", "column_B": "start", "or_equal": True},
            "in every row, 'end' is greater than or equal to 'start'",
        ),
        (
            "expect_table_columns_to_match_set",
            {"column_set": ["a", "b"], "exact_match": False},
            "the table's columns include {'a', 'b'}",
        ),
        (
            "expect_column_distinct_values_to_be_in_set",
            {"column": "a", "value_set": [1, 2]},
            "the distinct values of 'a' are all in {1, 2}",
        ),
        (
            "expect_column_values_to_match_regex",
            {"column": "a", "regex": "x", "mostly": 0.9},
            "at least 90% of the values of 'a' match the regular expression 'x'",
        ),
        (
            "expect_column_kl_divergence_to_be_less_than",
            {"column": "a", "threshold": 0.1},
            "expect_column_kl_divergence_to_be_less_than(column=a, threshold=0.1)",
        ),
    ],
)
def test_describe_expectation(type_: str, kwargs: dict[str, Any], expected: str) -> None:
    assert describe_expectation(type_, kwargs).startswith(expected)


def test_representation_per_feature_with_small_groups_flagged() -> None:
    v = full_version()
    page = Page(render_version_report(v, make_run(v)))
    section = page.section("representation")
    assert words(section.find("h3")) == "By sex — 3 groups, 1 under 30 rows"
    table = section.find("table", class_="representation")
    assert header(table) == [
        "sex",
        "Rows",
        "Share of data",
        "Positive labels",
        "Positive rate in group",
        "Share of all positives",
        "Flag",
    ]
    assert rows(table) == [
        ["Female", "120", "49.4%", "14", "11.7%", "23.3%", ""],
        ["Male", "111", "45.7%", "46", "41.4%", "76.7%", ""],
        ["(missing)", "12", "4.94%", "0", "0%", "0%", "⚑ below minimum group size"],
    ]
    assert table.find("tbody").find_all("tr")[2].attrs.get("class") == "flagged"


def test_representation_intersection_and_error_and_absence() -> None:
    both = Representation(
        ("sex", "race"),
        (RepresentationGroup({"sex": "F", "race": "A"}, 5, 0.5, None, None, True),),
        30,
    )
    v = full_version(representation=(both,))
    section = Page(render_version_report(v, make_run(v))).section("representation")
    assert words(section.find("h3")).startswith("Intersection of sex, race")
    assert rows(section.find("table")) == [
        ["F", "A", "5", "50%", "unknown", "unknown", "unknown", "⚑ below minimum group size"]
    ]
    broken = full_version(representation=(), metadata={"representation_error": "boom <b>"})
    text = words(Page(render_version_report(broken, make_run(broken))).section("representation"))
    assert "could not be described: boom <b>" in text
    none = full_version(representation=())
    text = words(Page(render_version_report(none, make_run(none))).section("representation"))
    assert "No representation was recorded" in text


def test_fairness_tables_checks_and_a_chart_per_metric() -> None:
    v = full_version()
    page = Page(render_version_report(v, make_run(v)))
    section = page.section("fairness")
    groups = section.find("table", class_="groups")
    assert header(groups) == ["sex", "Count", "Positives", "selection_rate", "tpr", "Flags"]
    assert rows(groups) == [
        ["Female", "120", "14", "0.1", "undefined", ""],
        ["Other", "4", "0", "0.25", "undefined", "⚑ no_positive_labels"],
    ]
    trs = groups.find("tbody").find_all("tr")
    assert "flagged" not in (trs[0].attrs.get("class") or "")
    assert trs[1].attrs.get("class") == "flagged"
    disparities = section.find("table", class_="disparities")
    assert header(disparities) == ["Disparity", "Value", "Threshold", "Status", "Meaning"]
    assert rows(disparities) == [
        [
            "demographic_parity_ratio",
            "≈0.3521",
            "≥ 0.8",
            "✗ FAIL",
            "lowest group selection_rate ÷ highest; 1 is parity",
        ],
        [
            "equalized_odds_difference",
            "undefined",
            "none",
            "not judged",
            "highest group true_positive_rate and false_positive_rate − lowest (the worse of "
            "the two); 0 is parity",
        ],
    ]
    (fairness_check,) = rows(section.find("table", class_="checks-fairness"))
    assert fairness_check[2] == "≈0.8"  # marked as rounded: it is below its 0.8 bound
    assert fairness_check[3] == '{"min": 0.8}'

    figures = section.find_all("figure")
    assert [words(f.find("figcaption").find("strong")) for f in figures] == [
        "selection_rate",
        "tpr",
    ]
    selection = figures[0].find("img")
    alt = selection.attrs["alt"] or ""
    assert "Female: 0.1, n=120" in alt and "Other: 0.25, n=4" in alt
    assert "demographic_parity_ratio ≥ 0.8: every group within 0.2–0.25" in alt
    svg = decode_svg(selection.attrs["src"])
    assert_inert_svg(svg)
    texts = svg_texts(svg)
    assert "Female" in texts and "Other" in texts
    assert "0.1  n=120  ✗ outside" in texts  # outside the band, said in words
    assert "0.25  n=4" in texts
    caption = words(figures[0].find("figcaption"))
    assert "Grey band between dashed lines" in caption and "0.8 × highest" in caption
    ci = facts(section)["Confidence intervals"]
    assert ci.startswith("Omitted: they were not computed")


def test_threshold_bands_match_fairlearn_definitions() -> None:
    values = [0.2, 0.5]
    (ratio,), _ = threshold_bands(
        "selection_rate", values, {"demographic_parity_ratio": {"min": 0.8}}
    )
    assert (ratio.low, ratio.high) == pytest.approx((0.4, 0.5))
    (diff,), _ = threshold_bands(
        "true_positive_rate", values, {"equalized_odds_difference": {"max": 0.1}}
    )
    assert (diff.low, diff.high) == pytest.approx((0.4, 0.5))
    (fpr,), _ = threshold_bands(
        "false_positive_rate", values, {"equalized_odds_difference": {"max": 0.1}}
    )
    assert fpr.disparity == "equalized_odds_difference"
    # a bound with no per-group meaning is named, not drawn
    bands, notes = threshold_bands(
        "selection_rate", values, {"demographic_parity_ratio": {"max": 2}}
    )
    assert bands == () and "no per-group range" in notes[0]
    assert threshold_bands("selection_rate", values, {"equal_opportunity_ratio": {"min": 0.8}}) == (
        (),
        (),
    )


def test_confidence_intervals_are_drawn_when_present() -> None:
    v = full_version()
    assert v.fairness is not None
    groups = (
        GroupMetrics(
            {"sex": "F"},
            100,
            10,
            {"selection_rate": 0.3},
            metrics_ci={"selection_rate": (0.2, 0.4)},
        ),
        GroupMetrics(
            {"sex": "M"},
            100,
            10,
            {"selection_rate": 0.5},
            metrics_ci={"selection_rate": (0.4, 0.6)},
        ),
    )
    fairness = FairnessResult(
        ("sex",),
        groups,
        {"demographic_parity_ratio": 0.6},
        30,
        disparities_ci={"demographic_parity_ratio": (0.45, 0.8)},
        ci_level=0.95,
        ci_note="bootstrap, 200 resamples",
    )
    v = full_version(fairness=fairness)
    section = Page(render_version_report(v, make_run(v))).section("fairness")
    assert facts(section)["Confidence intervals"].startswith("Shown at 95% as ranges")
    assert "bootstrap, 200 resamples" in facts(section)["Confidence intervals"]
    assert rows(section.find("table", class_="groups"))[0][3] == "0.3 [0.2, 0.4]"
    assert rows(section.find("table", class_="disparities"))[0][2] == "0.45 – 0.8"
    img = section.find("img")
    assert "0.3 (CI 0.2–0.4)" in (img.attrs["alt"] or "")
    labels = svg_texts(decode_svg(img.attrs["src"]))
    assert "0.3 [0.2, 0.4]  n=100  ✗ outside" in labels  # band: 0.8 × 0.5 … 0.5
    assert "0.5 [0.4, 0.6]  n=100" in labels
    assert "95% confidence intervals" in words(section.find("figcaption"))

    plain = (GroupMetrics({"sex": "F"}, 100, 10, {"selection_rate": 0.3}),)
    noted = FairnessResult(("sex",), plain, {}, 30, ci_note="too few rows for a bootstrap")
    v = full_version(fairness=noted)
    ci = facts(Page(render_version_report(v, make_run(v))).section("fairness"))
    assert ci["Confidence intervals"] == "Omitted: too few rows for a bootstrap"


def test_charts_are_deterministic_and_survive_odd_values() -> None:
    v = full_version()
    assert v.fairness is not None
    first = fairness_charts(v.fairness, {"demographic_parity_ratio": {"min": 0.8}})
    second = fairness_charts(v.fairness, {"demographic_parity_ratio": {"min": 0.8}})
    assert [c.src for c in first] == [c.src for c in second]  # a re-render is byte-identical
    odd = FairnessResult(
        ("sex",),
        (
            GroupMetrics({"sex": "$\\frac{1}{0}$ ^_^"}, 1, 0, {"m": math.inf}),
            GroupMetrics({"sex": "x\x00y\ud800"}, 2, 0, {"m": 0.5}),
        ),
        {},
        30,
    )
    (chart,) = fairness_charts(odd)
    assert chart.error is None, chart.error  # "$" is text, not maths; NUL and surrogates replaced
    texts = svg_texts(decode_svg(chart.src))
    assert "$\\frac{1}{0}$ ^_^" in texts and "x\ufffdy\ufffd" in texts
    assert "undefined  n=1" in texts  # infinity is not a value to draw


def test_value_labels_are_never_cut_off_at_the_right_edge() -> None:
    """The longest label a chart writes (value, interval, count, "✗ outside") ends inside it."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import TextPath

    ci = {"selection_rate": (0.0695, 0.113)}
    fairness = FairnessResult(
        ("sex",),
        (
            GroupMetrics({"sex": "Female"}, 572, 52, {"selection_rate": 0.0909}, metrics_ci=ci),
            GroupMetrics({"sex": "Male"}, 1228, 337, {"selection_rate": 0.274}),
        ),
        {"demographic_parity_ratio": 0.331},
        30,
    )
    (chart,) = fairness_charts(fairness, {"demographic_parity_ratio": {"min": 0.8}})
    svg = decode_svg(chart.src)
    width = float(svg.attrib["width"].removesuffix("pt"))
    font = FontProperties(family="DejaVu Sans")
    texts = [t for t in svg.iter() if t.tag.endswith("}text")]
    (label,) = [t for t in texts if "".join(t.itertext()).endswith("✗ outside")]
    text = "".join(label.itertext())
    assert text == "0.0909 [0.0695, 0.113]  n=572  ✗ outside"
    end = float(label.attrib["x"]) + TextPath((0, 0), text, size=8, prop=font).get_extents().width
    assert end <= width


def test_report_without_matplotlib_keeps_every_number(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # "import matplotlib" now fails
    v = full_version()
    section = Page(render_version_report(v, make_run(v))).section("fairness")
    assert not section.find_all("img")
    missing = section.find_all("p", class_="chart-missing")
    assert len(missing) == 2
    assert "chart not drawn (ModuleNotFoundError" in words(missing[0])
    assert "Female: 0.1, n=120" in words(missing[0])  # the values are still there, as text
    assert rows(section.find("table", class_="groups"))[0][:4] == ["Female", "120", "14", "0.1"]


def test_empty_sections_are_stated_and_error_kinds_shown_when_present() -> None:
    v = make_version(
        checks=(
            chk("policy.match", "policy", "error", "No policy entry matches this model"),
            chk("registry.record", "registry", "error", "verdict not recorded: denied"),
            chk("lineage.dataset"),
        )
    )
    page = Page(render_version_report(v, make_run(v)))
    assert "No quality checks ran." in words(page.section("data-quality"))
    assert "No fairness checks ran." in words(page.section("fairness"))
    assert "No integrity checks ran." in words(page.section("training-data"))
    policy = page.section("policy").find("table", class_="checks-policy")
    assert "No policy entry matches this model" in rows(policy)[0][1]
    other = page.section("verdict").find("table", class_="checks-other")
    assert "verdict not recorded: denied" in rows(other)[0][1]
    links = [a.attrs["href"] for a in page.section("verdict").find("ul").find_all("a")]
    assert links == ["#policy", "#verdict-other"]
    assert page.root.find("div", id="verdict-other")
    assert "No earlier audits recorded" in words(page.section("history"))


def test_every_check_is_detailed_in_exactly_one_section() -> None:
    v = quality_version()
    v = full_version(
        checks=(
            *v.checks,
            *full_version().checks,
            chk("policy.x", "policy", "fail", "p"),
            chk("audit.internal", "internal", "error", "i"),
        )
    )
    page = Page(render_version_report(v, make_run(v)))
    detailed: list[str] = []
    for table in page.root.find_all("table"):
        if "checks" in (table.attrs.get("class") or "").split():
            detailed.extend(code.text() for code in table.find_all("code") if "." in code.text())
    ids = [c.id for c in v.checks]
    assert sorted(d for d in detailed if d in ids) == sorted(ids)


def test_policy_lists_packs_with_hashes_and_text() -> None:
    v = full_version()
    run = make_run(v)
    policy = Page(render_version_report(v, run)).section("policy")
    assert policy.find("pre").text() == run.policy_text
    listed = facts(policy)
    assert listed["Policy SHA-256"] == SHA_A
    assert listed["Matched entry"] == "credit-*"
    packs = Page(render_version_report(v, run)).section("policy").find("dl", class_="kv")
    assert pairs(packs) == {"baseline": f"SHA-256 {'b' * 64}"}
    unhashed = full_version(metadata={})
    packs = Page(render_version_report(unhashed, run)).section("policy").find("dl", class_="kv")
    assert pairs(packs) == {"baseline": "SHA-256 not recorded"}


def test_history_shows_earlier_audits_or_why_not() -> None:
    v = full_version()
    history = Page(render_version_report(v, make_run(v))).section("history")
    text = words(history)
    assert "This audit: ✗ FAIL, demographic_parity_ratio = ≈0.3521 (must be ≥ 0.8)" in text
    assert rows(history.find("table")) == [
        [
            "2025-02-20T08:00:00Z",
            "✓ PASS (differs from this audit)",
            "same policy",
            "demographic_parity_ratio = 0.91",
            "run-old",
        ],
        ["2025-02-10T08:00:00Z", "✗ FAIL", "other policy cccccccccccc", "none", "run-older"],
    ]
    broken = full_version(history=(), metadata={"history_error": "registry said <no>"})
    text = words(Page(render_version_report(broken, make_run(broken))).section("history"))
    assert text.endswith("The audit history could not be read: registry said <no>")


def test_sign_off_block_names_the_exact_audit() -> None:
    v = full_version()
    sign = Page(render_version_report(v, make_run(v))).section("sign-off")
    sign_text = words(sign)
    for label in ("Reviewer name", "Role / function", "Decision", "Date", "Signature"):
        assert label in sign_text
    assert SHA_A in sign_text and "FAIL" in sign_text and T1 in sign_text
    assert "requires a documented exception" in sign_text


def test_sign_off_lists_digital_sign_offs_above_the_paper_block() -> None:
    reviews = [
        {
            "role": "validator",
            "reviewer": "carol@example.com",
            "decision": "approve",
            "reviewed_at": "2026-12-01T10:00:00.000Z",
            "keyid": "ab" * 32,
            "verified": True,
            "problem": None,
        },
        {
            "role": "risk",
            "reviewer": "mallory",
            "decision": "reject",
            "reviewed_at": "2026-12-01T11:00:00.000Z",
            "keyid": "cd" * 32,
            "verified": False,
            "problem": "'mallory' is not a reviewer in trust.reviewers",
        },
    ]
    v = make_version(metadata={"reviews": reviews})
    sign = Page(render_version_report(v, make_run(v))).section("sign-off")
    table = sign.find("table", class_="reviews")
    assert header(table) == ["Role", "Reviewer", "Decision", "Date (UTC)", "Key id", "Signature"]
    assert rows(table) == [
        ["validator", "carol@example.com", "approve", "2026-12-01T10:00:00.000Z", "ab" * 8,
         "verified"],
        ["risk", "mallory", "reject", "2026-12-01T11:00:00.000Z", "cd" * 8,
         "NOT VERIFIED: 'mallory' is not a reviewer in trust.reviewers"],
    ]  # fmt: skip
    text = words(sign)
    assert text.index("Digital sign-offs") < text.index("On paper") < text.index("Reviewer name")
    empty = make_version()
    none = words(Page(render_version_report(empty, make_run(empty))).section("sign-off"))
    assert "No digital sign-off was recorded" in none


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
    pct = env.filters["pct"]
    assert [pct(0.25), pct(0), pct(0.00001), pct(1), pct(None)] == [
        "25%",
        "0%",
        "<0.01%",
        "100%",
        "—",
    ]


def unescape_css(text: str) -> str:
    return re.sub(r"\\([0-9a-f]{1,6}) ", lambda m: chr(int(m.group(1), 16)), text)


def test_css_string_leaves_nothing_that_can_end_a_string_or_style() -> None:
    for value in (HOSTILE, 'a"b', "a\\b", "x\ny", "}</style><script>", "\ud800"):
        escaped = css_string(value, limit=1000)
        assert re.fullmatch(r"[A-Za-z0-9 \\]*", escaped), escaped
        expected = " ".join(value.split()).replace("\ud800", "\ufffd")
        assert unescape_css(escaped) == expected
    assert unescape_css(css_string("x" * 200)) == "x" * 89 + "…"


def test_printed_pages_repeat_model_version_date_and_page_numbers() -> None:
    v = full_version(model='evil"} body{display:none} @page{')
    page = Page(render_version_report(v, make_run(v)))
    styles = page.root.find("head").find_all("style")
    running = styles[-1].text()
    assert 'content: "Page " counter(page) " of " counter(pages)' in running
    contents = [unescape_css(c) for c in re.findall(r'content: "([^"]*)"', running)]
    assert contents[0] == 'evil"} body{display:none} @page{ · version 3'
    assert contents[1] == f"audited {T1} UTC"
    assert contents[2] == "govern audit report · verdict FAIL"
    assert "display:none" not in running  # only as escaped text inside the string
    title = words(page.root.find("title"))  # browsers without margin boxes print the title
    assert title == f'FAIL: evil"}} body{{display:none}} @page{{ version 3 (govern audit {T1})'
    style = page.style()
    assert "thead { display: table-header-group; }" in style
    assert "tr," in style and "break-inside: avoid" in style
    assert ".reviewer { break-before: page;" in style


def test_govern_help_does_not_import_matplotlib() -> None:
    probe = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from govern.cli import main\n"
        "import govern.render.html, govern.render.charts\n"
        "import govern.render.pdf, govern.render.markdown\n"
        "assert CliRunner().invoke(main, ['--help']).exit_code == 0\n"
        "print('matplotlib' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.strip() == "False"


def test_report_for_fifty_columns_forty_groups_thirty_expectations_is_small() -> None:
    columns = tuple(f"column_{i:02d}" for i in range(50))
    secret = "RAW-ROW-VALUE"
    checks = [chk("lineage.dataset")]
    for i in range(30):
        column = columns[i]
        checks.append(
            quality(
                "expect_column_values_to_be_in_set",
                {"column": column, "value_set": [f"v{j}" for j in range(20)], "mostly": 0.99},
                "fail",
                element_count=100_000,
                unexpected_count=40 + i,
                unexpected_percent=0.04,
                partial_unexpected_list=[f"unexpected-{i}-{j}" for j in range(20)],
            )
        )
    checks[-1] = quality(
        "expect_compound_columns_to_be_unique",
        {"column_list": list(columns)},
        "fail",
        element_count=100_000,
        unexpected_count=4,
        unexpected_percent=0.004,
        partial_unexpected_list=[dict.fromkeys(columns, secret)] * 20,
    )
    sexes, races = ("F", "M", "X", "U"), tuple(f"race-{i}" for i in range(10))
    metrics = ("selection_rate", "true_positive_rate", "false_positive_rate", "accuracy_score")
    groups = tuple(
        GroupMetrics(
            {"sex": s, "race": r},
            100 + 37 * i,
            10 + i,
            dict.fromkeys(metrics, i % 17 / 20),
            ("below_min_group_size",) if i % 9 == 0 else (),
            metrics_ci=dict.fromkeys(metrics, (i % 17 / 25, i % 17 / 18)),
        )
        for i, (s, r) in enumerate((s, r) for s in sexes for r in races)
    )
    assert len(groups) == 40
    fairness = FairnessResult(
        ("sex", "race"),
        groups,
        {"demographic_parity_ratio": 0.1, "equalized_odds_difference": 0.7},
        50,
        rows=100_000,
    )
    rep_groups = tuple(
        RepresentationGroup(g.group, g.count, g.count / 100_000, g.positives, 0.1, g.count < 50)
        for g in groups
    )
    training = TrainingData(
        name="wide",
        source="s3://bucket/wide.parquet",
        source_type="s3",
        mlflow_digest="abc",
        rows=100_000,
        columns=columns,
        dtypes=dict.fromkeys(columns, "float64"),
        missing={c: i * 3 for i, c in enumerate(columns)},
        label="column_49",
        label_balance={"0": 70_000, "1": 30_000},
    )
    v = full_version(
        checks=tuple(checks),
        training_data=training,
        fairness=fairness,
        representation=(
            Representation(("sex",), rep_groups[:4], 50),
            Representation(("race",), rep_groups[:10], 50),
            Representation(("sex", "race"), rep_groups, 50),
        ),
    )
    html = render_version_report(v, make_run(v))
    size = len(html.encode("utf-8"))
    print(f"\n50 columns / 40 groups / 30 expectations: {size:,} bytes")
    assert size < 1_000_000
    assert secret not in html  # no row of data, only a few example values
    page = Page(html)
    assert len(page.charts()) == 4  # one chart per metric, each of 40 bars
    assert html.count("unexpected-0-") == 5  # five examples per expectation, of twenty
    svg = decode_svg(page.charts()[0].attrs["src"])
    assert sum(1 for t in svg_texts(svg) if "race-" in t) == 40


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
        missing={f"col{h}": 3},
        label_balance={f"lab{h}": 5},
    )
    representation = (
        Representation(
            (f"feat{h}",), (RepresentationGroup({f"feat{h}": f"rgroup{h}"}, 50, 1.0, 5, 0.1),), 30
        ),
    )
    history = (HistoryEntry(f"hrun{h}", f"hat{h}", f"hverdict{h}", h, {f"hdisp{h}": 0.5}),)
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
        metadata={
            f"key{h}": f"meta{h}",
            "tags": {f"tag{h}": f"tagvalue{h}"},
            "registered_by": f"user{h}",
            "signature_inputs": f"sig{h}",
            "packs_sha256": {f"pack{h}": f"packsha{h}"},
        },
        representation=representation,
        history=history,
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
            if node.tag == "img" and name == "src":
                assert_inert_svg(decode_svg(value))  # govern's own chart, and nothing else
                continue
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
        "pack", "uri", "pkg", "ver", "lab", "rgroup", "hrun", "hat", "hverdict", "hdisp", "user",
        "sig", "packsha",
    ):  # fmt: skip
        assert f"{label}{HOSTILE}" in text, label
    assert json.dumps(f"unexpected{HOSTILE}", ensure_ascii=False) in text  # examples: JSON text
    assert f"javascript:alert(1)//{HOSTILE}" in text
    assert len(page.root.find_all("section")) == 10  # no markup closed or opened by the data
    assert page.h2s() == SECTIONS
    # the group name reaches the chart as text: escaped by matplotlib, never an element
    (chart,) = page.charts()
    assert_inert_svg(svg := decode_svg(chart.attrs["src"]))
    labels = svg_texts(svg)
    assert any("<script>alert(1)</script>" in t for t in labels), labels
    assert f"group{HOSTILE}"[:20] in (chart.attrs["alt"] or "")
    # the printed page header holds it only as CSS escapes
    running = page.root.find("head").find_all("style")[-1].text()
    assert "<" not in running and ">" not in running
    for content in re.findall(r'content: "([^"]*)"', running):
        assert re.fullmatch(r"[A-Za-z0-9 \\]*", content), content


SORT_PAGES = {s.filename for s in INDEX_SORTS}


def test_hostile_values_in_index_render_as_text() -> None:
    v = hostile_version()
    html = render_index(hostile_run(v))
    page = assert_inert(
        html, {"results.json", "summary.md", f"reports/{report_filename(v)}"} | SORT_PAGES
    )
    (row,) = rows(page.root.find("table", class_="versions"))
    assert row[0] == f"model{HOSTILE}"
    assert row[2] == f"alias{HOSTILE}"
    assert row[5] == f"qsummary{HOSTILE}"
    assert row[6] == f"disparity{HOSTILE} = 0.9"


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
        assert "counter(pages)" in style  # page numbers on every printed page


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


def index_versions() -> list[VersionResult]:
    fail = chk("quality.q", "quality", "fail", "quality failed")
    error = chk("integrity.i", "integrity", "error", "could not read data")

    def fair(value: float, minimum: float = 0.8) -> dict[str, Any]:
        status = "pass" if value >= minimum else "fail"
        check = chk(
            "fairness.demographic_parity_ratio",
            "fairness",
            status,
            f"dpr {value}",
            observed=value,
            threshold={"min": minimum},
        )
        result = FairnessResult(("sex",), (), {"demographic_parity_ratio": value}, 30)
        return {"checks": (chk("lineage.l"), check), "fairness": result}

    return [
        make_version("alpha", "1", aliases=(), **fair(0.95)),
        make_version("beta", "2", checks=(fail,), aliases=("zz-top",)),
        make_version("gamma", "3", checks=(chk("lineage.l"), fail, error, fail), aliases=()),
        make_version("alpha", "10", aliases=("champion",), **fair(0.5)),
        make_version("alpha", "9", aliases=(), **fair(0.85)),
        make_version("alpha", "2", checks=(fail,), aliases=("challenger",)),
        make_version("zeta", "1", checks=(), aliases=()),
    ]


def test_index_says_which_results_carry_a_signed_attestation() -> None:
    signed = make_version(
        "m",
        "1",
        attestation={"envelope": {"payload": ""}, "signed": True, "keyids": ["ab" * 32]},
    )
    unsigned = make_version("m", "2", attestation={"envelope": {"payload": ""}, "signed": False})
    bare = make_version("m", "3")
    table = Page(render_index(make_run(signed, unsigned, bare))).root.find(
        "table", class_="versions"
    )
    cells = {r[1]: r[8] for r in rows(table)}
    assert cells == {"1": "✓ signed " + "ab" * 6, "2": "unsigned", "3": "no attestation"}


def test_index_orders_failures_first_and_links_each_report() -> None:
    versions = index_versions()
    run = make_run(*versions)
    page = Page(render_index(run))
    table = page.root.find("table", class_="versions")
    assert header(table) == [
        "Model",
        "Version",
        "Aliases",
        "Verdict ▼",
        "Failed checks",
        "First problem",
        "Key disparity",
        "Audited at (UTC)",
        "Signed",
        "Report",
    ]
    got = [(r[3], r[0], r[1]) for r in rows(table)]
    assert got == [
        ("⚠ ERROR", "gamma", "3"),
        ("⚠ ERROR", "zeta", "1"),
        ("✗ FAIL", "alpha", "2"),
        ("✗ FAIL", "alpha", "10"),
        ("✗ FAIL", "beta", "2"),
        ("✓ PASS", "alpha", "1"),
        ("✓ PASS", "alpha", "9"),
    ]
    first = rows(table)[0]
    assert first[4] == "3" and first[5] == "could not read data"  # the error, not a fail
    assert rows(table)[1][5] == "No checks ran"
    assert rows(table)[3][6] == "demographic_parity_ratio = 0.5 (must be ≥ 0.8)"
    assert rows(table)[3][7] == T1

    by_ref = {(v.model, v.version): v for v in versions}
    for tr in table.find("tbody").find_all("tr"):
        cells = tr.find_all("td")
        v = by_ref[(cells[0].text(), cells[1].text())]
        assert tr.find("a").attrs["href"] == f"reports/{report_filename(v)}"

    summary = page.section("summary")
    counts = [" ".join(li.text().split()) for li in summary.find("ul").find_all("li")]
    assert counts == ["2 ERROR", "3 FAIL", "2 PASS", "7 versions audited"]
    hrefs = {a.attrs.get("href") for a in summary.find_all("a")}
    assert hrefs == {"results.json", "summary.md"}
    assert "ERROR" in page.root.find("h1").text()


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        (
            "model",
            ["alpha/1", "alpha/2", "alpha/9", "alpha/10", "beta/2", "gamma/3", "zeta/1"],
        ),
        (
            "aliases",
            ["alpha/2", "alpha/10", "beta/2", "alpha/1", "alpha/9", "gamma/3", "zeta/1"],
        ),
        (
            "failed",
            ["gamma/3", "alpha/2", "alpha/10", "beta/2", "zeta/1", "alpha/1", "alpha/9"],
        ),
        (
            "disparity",
            ["alpha/10", "alpha/9", "alpha/1", "alpha/2", "beta/2", "gamma/3", "zeta/1"],
        ),
    ],
)
def test_index_copies_are_sorted_by_their_column(sort: str, expected: list[str]) -> None:
    page = Page(render_index(make_run(*index_versions()), sort=sort))
    table = page.root.find("table", class_="versions")
    assert [f"{r[0]}/{r[1]}" for r in rows(table)] == expected
    current = [th for th in table.find("thead").find_all("th") if th.attrs.get("aria-sort")]
    assert len(current) == 1 and "▼" in words(current[0])
    assert not current[0].find_all("a")  # the current order is not a link to itself
    links = {a.attrs["href"] for a in table.find("thead").find_all("a")}
    assert links == SORT_PAGES - {next(s.filename for s in INDEX_SORTS if s.key == sort)}
    assert "go back to failures first" in words(page.section("versions"))


def test_index_stays_light_with_a_thousand_versions() -> None:
    fail = chk("quality.q", "quality", "fail", "quality failed")
    versions = [
        make_version(f"model-{i:04d}", str(i), checks=(fail,) if i % 10 == 0 else None)
        for i in range(1000)
    ]
    run = make_run(*versions)
    html = render_index(run)
    page = Page(html)
    table_rows = rows(page.root.find("table", class_="versions"))
    assert len(table_rows) == 1000
    assert all(r[3] == "✗ FAIL" for r in table_rows[:100])
    assert all(r[3] == "✓ PASS" for r in table_rows[100:])
    assert len(html) / 1000 < 1500  # bytes per row: a plain table, nothing heavy per version
    by_audited = render_index(run, sort="audited")
    assert len(by_audited) / 1000 < 1500


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
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["reports", "results.json", "summary.md", *SORT_PAGES]
    )
    assert {f"reports/{p.name}" for p in (out / "reports").iterdir()} == expected

    data = strict_json((out / "results.json").read_text(encoding="utf-8"))
    assert data == written.to_dict()
    assert data["versions"][1]["fairness"]["disparities"]["dpr"] is None
    for entry in data["versions"]:
        report = out / entry["report"]
        assert report.is_file()
        h1 = Page(report.read_text(encoding="utf-8")).root.find("h1").find("span")
        assert h1.text() == entry["model"]

    for name in SORT_PAGES:
        index = Page((out / name).read_text(encoding="utf-8"))
        hrefs = [a.attrs["href"] or "" for a in index.root.find_all("a")]
        assert set(hrefs) - SORT_PAGES == expected | {"results.json", "summary.md"}
        assert all((out / h).is_file() for h in hrefs)  # every link resolves
        assert len(rows(index.root.find("table", class_="versions"))) == 3
    summary = (out / "summary.md").read_text(encoding="utf-8")
    assert summary.startswith("## ❌ FAIL: govern audit of 3 model versions")


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


def test_an_older_macros_override_keeps_working(tmp_path: Path) -> None:
    custom = tmp_path / "templates"
    custom.mkdir()
    (custom / "_macros.html.j2").write_text(
        '{% macro badge(status) %}<span class="badge">[{{ status|upper }}]</span>{% endmacro %}'
        "{% macro value(v, exact=True) %}<span>{{ v|fmt(exact=exact) }}</span>{% endmacro %}"
        '{% macro names(items, empty="none") %}{{ items|join(", ") or empty }}{% endmacro %}',
        encoding="utf-8",
    )
    v = full_version()
    page = Page(render_version_report(v, make_run(v), templates=custom))
    assert page.h2s() == SECTIONS
    assert "[FAIL]" in words(page.section("verdict"))  # the organisation's own badge


def test_missing_template_folder_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not a folder"):
        make_environment(tmp_path / "nope")


def test_reused_results_are_marked_in_report_and_index(tmp_path):
    """Issue 5: the report says which results were reused from an earlier audit."""
    from dataclasses import replace as _replace

    from govern.model.results import AuditRun, CheckResult, VersionResult
    from govern.render.html import render_index, render_version_report

    check = CheckResult("integrity.sha256", "integrity", "pass", "matches")
    version = VersionResult(
        "m",
        "1",
        (),
        "r",
        (check,),
        "2026-01-01T00:00:00Z",
        "2026-01-01T00:00:01Z",
        metadata={"reused_from": {"audit_run_id": "abc123", "audited_at": "2025-12-31T01:02:03Z"}},
    )
    fresh = _replace(version, version="2", metadata={})
    run = AuditRun("0.1.0", "a", "b", "ab" * 32, "p.yaml", "sqlite:///x", (version, fresh))
    html = render_version_report(version, run)
    assert "Reused result." in html and "abc123" in html and "2025-12-31T01:02:03Z" in html
    assert "Reused result." not in render_version_report(fresh, run)
    assert render_index(run).count(">reused<") == 1


def test_charts_are_drawn_once_while_reusing_drawings_and_never_kept_otherwise() -> None:
    """An audit recorded in MLflow and written to --out renders each report twice; inside
    ``reuse_drawings`` the second copy gets the first's charts, outside nothing is cached."""
    from govern.render.charts import fairness_charts, reuse_drawings

    v = full_version()
    assert v.fairness is not None
    with reuse_drawings():
        first = fairness_charts(v.fairness)
        second = fairness_charts(v.fairness)
        assert first and all(a is b for a, b in zip(first, second, strict=True))
        assert render_version_report(v, make_run(v)) == render_version_report(v, make_run(v))
    again = fairness_charts(v.fairness)
    assert [c.src for c in again] == [c.src for c in first]
    assert all(a is not b for a, b in zip(first, again, strict=True))
