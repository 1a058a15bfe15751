"""Every output names a waived check as waived, with its waiver, and never counts it as passed."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from test_html import chk, make_run, make_version

from govern.model.results import AuditRun, WaiverRef
from govern.render.formats import render_run
from govern.render.html import render_index, render_version_report
from govern.render.junit import render_junit
from govern.render.markdown import render_summary

WAIVER = WaiverRef(
    id="W-2026-014",
    reason="Mitigation retrain scheduled",
    requested_by="alice@example.com",
    approved_by="bob@example.com",
    created="2026-11-20",
    expires="2027-01-31",
    ticket="RISK-1234",
)


def waived_run() -> AuditRun:
    checks = (
        chk("lineage.training_data", summary="training data found"),
        chk(
            "fairness.demographic_parity_ratio",
            "fairness",
            "waived",
            "demographic_parity_ratio = 0.31 is below 0.8",
            observed=0.31,
            threshold={"min": 0.8},
            waiver=WAIVER,
        ),
    )
    return make_run(make_version(checks=checks), waivers_sha256="a" * 64)


def test_results_json_round_trips_the_waiver_and_lists_it_on_the_version():
    run = waived_run()
    data = json.loads(render_run(run, "json"))

    version = data["versions"][0]
    assert version["verdict"] == "pass"
    assert version["checks"][1]["status"] == "waived"
    assert version["checks"][1]["waiver"] == WAIVER.to_dict()
    assert version["waivers"] == [
        {**WAIVER.to_dict(), "checks": ["fairness.demographic_parity_ratio"]}
    ]
    assert data["waivers_sha256"] == "a" * 64
    assert AuditRun.from_dict(data).to_dict() == run.to_dict()


def test_table_counts_a_waived_check_as_not_passed_and_names_the_waiver():
    lines = render_run(waived_run(), "table").splitlines()

    assert lines[0].split() == [
        "MODEL",
        "VERSION",
        "VERDICT",
        "PASSED",
        "FIRST",
        "PROBLEM",
        "WAIVED",
    ]
    assert "PASS · 1 waiver" in lines[1]
    assert " 1/2 " in lines[1]
    assert "W-2026-014 (expires 2027-01-31)" in lines[1]


def test_report_shows_the_verdict_with_waivers_and_the_waived_badge():
    run = waived_run()
    html = render_version_report(run.versions[0], run)

    assert "Passes with 1 waiver: 1 of 2 checks passed and 1 failed check is waived" in html
    assert "◐ WAIVED" in html
    assert 'Waived by <strong dir="auto">W-2026-014</strong>' in html
    assert 'approved by <span dir="auto">bob@example.com</span>, expires 2027-01-31' in html
    assert "All 2 checks passed" not in html
    assert "PASS · 1 waiver" in html  # sign-off and running footer


def test_index_verdict_cell_says_pass_with_one_waiver():
    html = render_index(waived_run())

    assert '<span class="waiver-count">· 1 waiver</span>' in html
    assert "PASS (1 with waivers)" in html


def test_markdown_lists_the_waiver_beside_the_verdict():
    text = render_summary(waived_run())

    assert "| Waivers |" in text
    assert "✅ PASS · 1 waiver" in text
    assert "| W-2026-014: Mitigation retrain scheduled (approved by bob\\@example.com" in text
    assert "(1 with waivers)" in text


def test_junit_waived_check_is_no_failure_and_names_its_waiver():
    root = ET.fromstring(render_junit(waived_run()).split("\n", 1)[1])

    assert root.get("failures") == "0" and root.get("errors") == "0"
    case = root.find(".//testcase[@name='fairness.demographic_parity_ratio']")
    assert case is not None and case.find("failure") is None and case.find("skipped") is None
    assert case.findtext("system-out", "").startswith(
        "WAIVED by waiver W-2026-014 (RISK-1234): Mitigation retrain scheduled; requested by "
        "alice@example.com, approved by bob@example.com, expires 2027-01-31."
    )
    props = {p.get("name"): p.get("value") for p in root.iter("property")}
    assert props["verdict"] == "PASS · 1 waiver" and props["waivers"] == "W-2026-014"
