"""The command line itself: help text, fast start, exit codes, clean stdout."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click
import pytest
from helpers import run_cli

from govern import __version__
from govern.cli import main

REPO = Path(__file__).resolve().parents[1]
HEAVY = ("mlflow", "great_expectations", "fairlearn", "pandas", "sklearn", "matplotlib", "numpy")


def test_every_command_has_help_text_and_an_example():
    assert main.help and "Exit codes" in main.help
    assert set(main.commands) >= {"scan", "audit", "gate", "demo", "report"}
    for name, command in main.commands.items():
        assert command.help and len(command.help.strip()) > 40, name
        assert command.get_short_help_str().strip(), name
        assert "govern " in command.help, f"{name} help has no example"
        for param in command.params:
            if isinstance(param, click.Option):
                assert param.help, f"{name} {param.opts} has no help"


def test_every_command_and_option_is_in_the_readme():
    readme = (REPO / "README.md").read_text()
    for name, command in main.commands.items():
        assert f"govern {name}" in readme, name
        for param in command.params:
            if isinstance(param, click.Option):
                assert param.opts[0] in readme, f"README does not mention {name} {param.opts[0]}"


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["audit", "--help"],
        ["gate", "--help"],
        ["scan", "--help"],
        ["report", "--help"],
        ["demo", "--help"],
        ["keygen", "--help"],
        ["verify", "--help"],
        ["history", "--help"],
        ["waivers", "sign", "--help"],
        ["serve", "--help"],
        ["reconcile", "--help"],
    ],
)
def test_help_does_not_import_heavy_libraries(args):
    code = (
        "import sys\n"
        "from govern.cli import main\n"
        "try:\n"
        f"    main({args!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        f"print('HEAVY=' + ','.join(m for m in {HEAVY!r} if m in sys.modules), file=sys.stderr)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "HEAVY=\n" in proc.stderr or proc.stderr.rstrip().endswith("HEAVY="), proc.stderr
    assert "Usage:" in proc.stdout


def test_version():
    result = run_cli("--version")
    assert result.exit_code == 0
    assert __version__ in result.stdout


def test_unknown_command_and_bad_selector_exit_2():
    assert run_cli("frobnicate").exit_code == 2
    result = run_cli("gate", "m/zero")
    assert result.exit_code == 2
    assert "invalid model selector 'm/zero'" in result.stderr
    assert "Traceback" not in result.output


VALID_POLICY = "version: 1\nmodels:\n  - match: '*'\n    packs: [baseline, four-fifths]\n"


def test_gate_needs_exactly_one_version(sqlite_uri, tmp_path):
    (tmp_path / "govern.yaml").write_text(VALID_POLICY)
    result = run_cli("gate", "some-model", "--tracking-uri", sqlite_uri)
    assert result.exit_code == 2
    assert "gate audits exactly one version" in result.stderr


def test_promote_with_no_write_is_refused():
    result = run_cli("gate", "m/1", "--promote-to", "production", "--no-write")
    assert result.exit_code == 2
    assert "--promote-to and --no-write" in result.output


def test_selectors_and_all_are_exclusive(sqlite_uri, tmp_path):
    (tmp_path / "govern.yaml").write_text(VALID_POLICY)
    result = run_cli("audit", "m", "--all", "--tracking-uri", sqlite_uri)
    assert result.exit_code == 2
    assert "not both" in result.stderr


def test_missing_default_policy_is_a_policy_error(sqlite_uri):
    result = run_cli("audit", "--all", "--tracking-uri", sqlite_uri)
    assert result.exit_code == 2
    assert "govern.yaml not found" in result.stderr


def test_out_pointing_at_a_file_is_refused_before_auditing(tmp_path):
    target = tmp_path / "file.txt"
    target.write_text("x")
    (tmp_path / "govern.yaml").write_text(VALID_POLICY)
    result = run_cli("audit", "--all", "--out", str(target))
    assert result.exit_code == 3
    assert "is a file, not a folder" in result.stderr
    assert target.read_text() == "x"


def test_report_rerenders_from_results_json(tmp_path):
    from govern.model.results import AuditRun, CheckResult, VersionResult

    check = CheckResult("integrity.sha256", "integrity", "fail", "data changed after training")
    run = AuditRun(
        govern_version=__version__,
        started_at="2026-01-01T00:00:00Z",
        finished_at="2026-01-01T00:01:00Z",
        policy_sha256="ab" * 32,
        policy_path="govern.yaml",
        tracking_uri="http://127.0.0.1:5000",
        versions=(
            VersionResult(
                "m", "1", (), "r1", (check,), "2026-01-01T00:00:00Z", "2026-01-01T00:01:00Z"
            ),
        ),
    )
    src = tmp_path / "results.json"
    src.write_text(json.dumps(run.to_dict()))
    out = tmp_path / "again"

    result = run_cli("report", str(src), "--out", str(out))

    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(out / "index.html")
    again = json.loads((out / "results.json").read_text())
    assert again["versions"][0]["checks"] == run.to_dict()["versions"][0]["checks"]
    html = (out / again["versions"][0]["report"]).read_text()
    assert "data changed after training" in html


def test_report_rejects_a_file_that_is_not_results_json(tmp_path):
    bad = tmp_path / "x.json"
    bad.write_text('{"hello": 1}')
    result = run_cli("report", str(bad), "--out", str(tmp_path / "o"))
    assert result.exit_code == 2
    assert "not a govern results.json" in result.stderr


def test_pdf_without_out_is_a_usage_error():
    result = run_cli("audit", "--all", "--pdf")
    assert result.exit_code == 2
    assert "--pdf needs --out" in result.output


def test_report_pdf_prints_each_version(tmp_path):
    import os

    from govern.model.results import AuditRun, CheckResult, VersionResult
    from govern.render.pdf import find_chromium

    if find_chromium() is None:
        if os.environ.get("GOVERN_REQUIRE_BROWSER"):
            pytest.fail("Chromium is required (GOVERN_REQUIRE_BROWSER is set) but not found")
        pytest.skip("Chromium not installed: apt-get install chromium")
    check = CheckResult("fairness.demographic_parity_ratio", "fairness", "fail", "ratio 0.3")
    run = AuditRun(
        govern_version=__version__,
        started_at="2026-01-01T00:00:00Z",
        finished_at="2026-01-01T00:01:00Z",
        policy_sha256="cd" * 32,
        policy_path="govern.yaml",
        tracking_uri="sqlite:///x.db",
        versions=(
            VersionResult(
                "m", "7", (), "r1", (check,), "2026-01-01T00:00:00Z", "2026-01-01T00:01:00Z"
            ),
        ),
    )
    src = tmp_path / "results.json"
    src.write_text(json.dumps(run.to_dict()))
    out = tmp_path / "out"

    result = run_cli("report", str(src), "--out", str(out), "--pdf", "--paper", "Letter")

    assert result.exit_code == 0, result.output
    pdfs = list((out / "reports").glob("*.pdf"))
    assert len(pdfs) == 1
    assert pdfs[0].read_bytes().startswith(b"%PDF")
    assert "1 PDF report(s) written" in result.stderr


def test_unwritable_out_folder_is_one_line_exit_3(tmp_path):
    """Tests run as root, for whom permission bits do not bind; /proc refuses every new file."""
    if not Path("/proc/self").exists():
        pytest.skip("needs Linux /proc as an unwritable location")
    from govern.model.results import AuditRun

    run = AuditRun(
        __version__,
        "2026-01-01T00:00:00Z",
        "2026-01-01T00:00:01Z",
        "ab" * 32,
        "govern.yaml",
        "sqlite:///x.db",
        (),
    )
    src = tmp_path / "results.json"
    src.write_text(json.dumps(run.to_dict()))
    result = run_cli("report", str(src), "--out", "/proc/govern-unwritable")
    assert result.exit_code == 3
    assert "/proc/govern-unwritable" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_default_jobs_use_every_cpu_only_when_there_is_work_for_them(monkeypatch):
    from govern.cli import _default_jobs

    monkeypatch.setattr("os.cpu_count", lambda: 4)
    assert _default_jobs(15) == 1  # under four versions per CPU: workers would cost more
    assert _default_jobs(16) == 4
    monkeypatch.setattr("os.cpu_count", lambda: None)
    assert _default_jobs(100) == 1
