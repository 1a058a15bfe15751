"""Waivers end to end against real sqlite registries: the plain model fails the four-fifths rule
(``fairness.demographic_parity_ratio``), and a waiver decides what becomes of that failure."""

from __future__ import annotations

import datetime as dt
import json
import xml.etree.ElementTree as ET
from pathlib import Path

from helpers import POLICY, audit_json, register, results_of, run_cli, write_policy
from mlflow.tracking import MlflowClient

from govern.config.waivers import today_utc

CHECK = "fairness.demographic_parity_ratio"


def waivers_file(
    path: Path,
    *,
    waiver_id: str = "W-2026-014",
    model: str = "credit-*",
    check: str = CHECK,
    expires_in: int = 30,
    reason: str = "Mitigation retrain scheduled; business sign-off in RISK-1234",
) -> Path:
    today = today_utc()
    created = today - dt.timedelta(days=10) if expires_in >= 0 else today - dt.timedelta(days=40)
    path.write_text(
        f"""\
version: 1
waivers:
  - id: {waiver_id}
    model: "{model}"
    check: {check}
    reason: "{reason}"
    ticket: RISK-1234
    requested_by: alice@example.com
    approved_by: bob@example.com
    created: {created.isoformat()}
    expires: {(today + dt.timedelta(days=expires_in)).isoformat()}
"""
    )
    return path


def checks_of(data: dict) -> dict[str, dict]:
    return {c["id"]: c for c in data["versions"][0]["checks"]}


def test_valid_waiver_turns_the_failure_into_a_pass_with_one_waiver(
    sqlite_uri, tmp_path, adult, trained
):
    plain, _ = trained
    version = register(sqlite_uri, "credit-plain", adult, plain, tmp_path / "d" / "t.parquet")
    policy = write_policy(tmp_path / "govern.yaml", "waivers: waivers.yaml\n" + POLICY)
    waivers = waivers_file(tmp_path / "waivers.yaml")
    out = tmp_path / "out"
    junit = tmp_path / "junit.xml"

    result = audit_json(
        sqlite_uri, f"credit-plain/{version}", policy, "--out", str(out), "--junit", str(junit)
    )

    assert result.exit_code == 0, result.output
    data = results_of(result)
    assert data["verdict"] == "pass"
    waived = checks_of(data)[CHECK]
    assert waived["status"] == "waived"
    assert waived["waiver"]["id"] == "W-2026-014"
    assert waived["waiver"]["approved_by"] == "bob@example.com"
    assert [c["id"] for c in data["versions"][0]["checks"] if c["status"] == "fail"] == []
    assert [(w["id"], w["checks"]) for w in data["versions"][0]["waivers"]] == [
        ("W-2026-014", [CHECK])
    ]
    assert data["waivers_path"] == str(waivers)
    assert len(data["waivers_sha256"]) == 64 and data["unused_waivers"] == []
    assert "1 passed (1 with waivers)" in result.stderr
    report = next((out / "reports").glob("*.html")).read_text()
    assert "Passes with 1 waiver" in report and "W-2026-014" in report
    assert "PASS · 1 waiver" in (out / "summary.md").read_text()
    case = ET.parse(junit).find(f".//testcase[@name='{CHECK}']")
    assert case is not None and case.find("failure") is None
    assert "WAIVED by waiver W-2026-014" in case.findtext("system-out", "")


def test_gate_promotes_a_version_that_passes_with_a_waiver(sqlite_uri, tmp_path, adult, trained):
    plain, _ = trained
    version = register(sqlite_uri, "credit-gate", adult, plain, tmp_path / "d" / "t.parquet")
    policy = write_policy(tmp_path / "govern.yaml")
    waivers = waivers_file(tmp_path / "waivers.yaml")

    result = run_cli(
        "gate",
        f"credit-gate/{version}",
        "--promote-to",
        "production",
        "--policy",
        str(policy),
        "--waivers",
        str(waivers),
        "--tracking-uri",
        sqlite_uri,
    )

    assert result.exit_code == 0, result.output
    client = MlflowClient(sqlite_uri, sqlite_uri)
    assert str(client.get_model_version_by_alias("credit-gate", "production").version) == version
    assert "PASS · 1 waiver" in result.stdout
    assert "W-2026-014" in result.stdout


def test_expired_waiver_leaves_the_check_failing_and_says_so(sqlite_uri, tmp_path, adult, trained):
    plain, _ = trained
    version = register(sqlite_uri, "credit-old", adult, plain, tmp_path / "d" / "t.parquet")
    policy = write_policy(tmp_path / "govern.yaml")
    waivers = waivers_file(tmp_path / "waivers.yaml", expires_in=-1)

    result = audit_json(sqlite_uri, f"credit-old/{version}", policy, "--waivers", str(waivers))

    assert result.exit_code == 1, result.output
    data = results_of(result)
    failed = checks_of(data)[CHECK]
    assert failed["status"] == "fail" and failed["waiver"] is None
    expired_on = (today_utc() - dt.timedelta(days=1)).isoformat()
    assert failed["summary"].endswith(f"(waiver W-2026-014 expired on {expired_on})")
    assert data["versions"][0]["waivers"] == [] and data["unused_waivers"] == []


def test_waiver_matching_nothing_is_a_warning_and_changes_no_verdict(
    sqlite_uri, tmp_path, adult, trained
):
    plain, _ = trained
    version = register(sqlite_uri, "credit-x", adult, plain, tmp_path / "d" / "t.parquet")
    policy = write_policy(tmp_path / "govern.yaml")
    waivers = waivers_file(tmp_path / "waivers.yaml", waiver_id="W-LOAN", model="loan-*")

    result = audit_json(sqlite_uri, f"credit-x/{version}", policy, "--waivers", str(waivers))

    assert result.exit_code == 1, result.output
    data = results_of(result)
    assert data["verdict"] == "fail" and checks_of(data)[CHECK]["status"] == "fail"
    assert data["unused_waivers"] == ["W-LOAN"]
    assert "govern: warning: waiver W-LOAN matches no check of the audited versions" in (
        result.stderr
    )


def test_editing_the_waivers_file_recomputes_a_reused_result(sqlite_uri, tmp_path, adult, trained):
    plain, _ = trained
    version = register(sqlite_uri, "credit-reuse", adult, plain, tmp_path / "d" / "t.parquet")
    policy = write_policy(tmp_path / "govern.yaml", "waivers: waivers.yaml\n" + POLICY)
    waivers_file(tmp_path / "waivers.yaml")
    selector = f"credit-reuse/{version}"

    first = results_of(audit_json(sqlite_uri, selector, policy, write=True))
    second = results_of(audit_json(sqlite_uri, selector, policy, write=True))
    waivers_file(tmp_path / "waivers.yaml", reason="Retrain moved to next sprint")
    third = audit_json(sqlite_uri, selector, policy, write=True)

    assert "reused_from" not in first["versions"][0]["metadata"]
    assert second["versions"][0]["metadata"]["reused_from"]
    assert checks_of(second)[CHECK]["status"] == "waived"
    assert third.exit_code == 0, third.output
    edited = results_of(third)
    assert "reused_from" not in edited["versions"][0]["metadata"]
    assert edited["waivers_sha256"] != first["waivers_sha256"]
    assert (
        edited["versions"][0]["metadata"]["fingerprint"]
        != (first["versions"][0]["metadata"]["fingerprint"])
    )
    assert checks_of(edited)[CHECK]["waiver"]["reason"] == "Retrain moved to next sprint"
    client = MlflowClient(sqlite_uri, sqlite_uri)
    recorded = json.loads(client.get_model_version("credit-reuse", version).tags["govern.audit"])
    assert recorded["status"] == "pass"
    assert client.get_run(recorded["audit_run_id"]).data.tags["govern.waivers"] == "W-2026-014"
