"""Every stdout format is behind the one interface, and the CLI offers exactly those formats."""

from __future__ import annotations

import json

import click
import pytest

from govern.cli import RUN_FORMATS, SCAN_FORMATS, main
from govern.model.record import AuditRecord
from govern.model.results import AuditRun, CheckResult, VersionResult
from govern.model.scan import ScanRow
from govern.render.formats import (
    RUN_FORMATTERS,
    SCAN_FORMATTERS,
    OutputFormat,
    ScanFormat,
    render_run,
    render_scan,
)


def _choices(command: str) -> list[str]:
    cmd = main.commands[command]
    option = next(p for p in cmd.params if p.name == "fmt")
    assert isinstance(option.type, click.Choice)
    return list(option.type.choices)


def test_every_format_has_a_formatter_and_nothing_else_does() -> None:
    assert set(RUN_FORMATTERS) == set(OutputFormat)
    assert set(SCAN_FORMATTERS) == set(ScanFormat)


@pytest.mark.parametrize("command", ["audit", "gate"])
def test_the_cli_offers_exactly_the_run_formats(command: str) -> None:
    assert _choices(command) == RUN_FORMATS == [f.value for f in OutputFormat]


def test_the_cli_offers_exactly_the_scan_formats() -> None:
    assert _choices("scan") == SCAN_FORMATS == [f.value for f in ScanFormat]


def _run() -> AuditRun:
    check = CheckResult("integrity.sha256", "integrity", "fail", "data changed after training")
    version = VersionResult(
        "m", "1", (), "r1", (check,), "2026-01-01T00:00:00Z", "2026-01-01T00:01:00Z"
    )
    return AuditRun(
        govern_version="0",
        started_at="2026-01-01T00:00:00Z",
        finished_at="2026-01-01T00:01:00Z",
        policy_sha256="ab" * 32,
        policy_path="govern.yaml",
        tracking_uri="sqlite:///x.db",
        versions=(version,),
    )


def test_each_run_format_says_the_verdict_its_own_way() -> None:
    run = _run()
    assert json.loads(render_run(run, "json"))["verdict"] == "fail"
    table = render_run(run, OutputFormat.TABLE).splitlines()
    assert table[0].split() == ["MODEL", "VERSION", "VERDICT", "PASSED", "FIRST", "PROBLEM"]
    assert table[1].split()[:4] == ["m", "1", "FAIL", "0/1"]
    assert "❌ FAIL" in render_run(run, "markdown")


def test_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError):
        render_run(_run(), "xml")


def _record(proof: str | None, detail: str | None) -> AuditRecord:
    return AuditRecord("pass", "2026-12-01T10:00:00Z", "r1", "p" * 64, proof, detail, "0.1.0")


def test_scan_formats() -> None:
    record = _record("pinned", "2026-11-30T09:00:00Z")
    row = ScanRow("m", "1", ("prod",), "abc", "READY", "d", "/data", "1234", None, record)
    governance = json.loads(render_scan([row], "json"))[0]["governance"]
    assert governance["status"] == "pass" and governance["audit_run_id"] == "r1"
    assert governance["proof"] == "pinned"
    assert governance["proof_label"] == "pinned at the first audit on 2026-11-30T09:00:00Z"
    table = render_scan([row], ScanFormat.TABLE).splitlines()
    assert table[0].split()[-1] == "PROOF"
    assert table[1].split()[:3] == ["m", "1", "prod"]
    assert table[1].split()[-2:] == ["pinned", "2026-11-30"]


@pytest.mark.parametrize(
    ("proof", "detail", "shown"),
    [
        ("training-hash", None, "training-hash"),
        ("mlflow-digest", "age, income", "mlflow-digest (2 cols)"),
        (None, None, "-"),
    ],
)
def test_scan_table_states_the_proof(proof: str | None, detail: str | None, shown: str) -> None:
    row = ScanRow("m", "1", (), "abc", "READY", "d", "/data", "1234", None, _record(proof, detail))
    assert render_scan([row], ScanFormat.TABLE).splitlines()[1].endswith(shown)


def test_scan_shows_an_unreadable_record_and_never_audited() -> None:
    bad = ScanRow("m", "1", (), "abc", "READY", "d", "/data", "1", None, None, "not JSON")
    never = ScanRow("m", "2", (), "abc", "READY", "d", "/data", "1", None, None)
    rows = json.loads(render_scan([bad, never], "json"))
    assert rows[0]["governance"] == {"error": "not JSON", "verified": False, "problem": "not JSON"}
    assert rows[1]["governance"] is None
    table = render_scan([bad, never], ScanFormat.TABLE)
    assert "unreadable record: not JSON" in table and "never audited" in table


def test_every_run_format_names_the_engine_of_each_version() -> None:
    """Which engine read the data is part of every result: table, markdown and the report."""
    from dataclasses import replace

    from govern.render.html import render_version_report

    run = _run()
    spark = replace(run.versions[0], metadata={"engine": "spark"})
    pandas = replace(run.versions[0], version="2", metadata={"engine": "pandas"})
    run = replace(run, versions=(spark, pandas))
    table = render_run(run, OutputFormat.TABLE).splitlines()
    assert table[0].split()[:4] == ["MODEL", "VERSION", "VERDICT", "ENGINE"]
    assert table[1].split()[:4] == ["m", "1", "FAIL", "spark"]
    assert table[2].split()[:4] == ["m", "2", "FAIL", "pandas"]
    markdown = render_run(run, "markdown").splitlines()
    header = next(line for line in markdown if line.startswith("| Verdict"))
    assert header.startswith("| Verdict | Model | Version | Engine |")
    rows = [line.split(" | ") for line in markdown if line.startswith("| ❌")]
    assert sorted(row[3] for row in rows) == ["pandas", "spark"]
    report = render_version_report(spark, run)
    assert "Spark (the data read, hashed and counted where it lives)" in report
