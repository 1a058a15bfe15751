"""The scheduling examples in examples/ run for real against real registries.

* examples/github-actions/govern-gate.yml: parsed, then its `run:` steps are executed with bash
  exactly as GitHub's runner does (`bash --noprofile --norc -eo pipefail`, $GITHUB_ENV,
  $GITHUB_STEP_SUMMARY), with the `uses:` actions and the install step left out.
* examples/cron/govern-nightly.sh: run with bash, twice at once, against a real registry.
* examples/airflow/govern_nightly_dag.py: loaded by Airflow's own DagBag and run with dag.test()
  in a separate virtualenv (`make test-airflow`), since Airflow's pins conflict with govern's.
"""

from __future__ import annotations

import ast
import datetime as dt
import fcntl
import functools
import json
import os
import re
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import recorded, register, write_policy
from mlflow.tracking import MlflowClient

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
WORKFLOW = EXAMPLES / "github-actions" / "govern-gate.yml"
WRAPPER = EXAMPLES / "cron" / "govern-nightly.sh"
CRONTAB = EXAMPLES / "cron" / "crontab.example"
DAG_FILE = EXAMPLES / "airflow" / "govern_nightly_dag.py"
CHECK_DAG = REPO / "tests" / "airflow" / "check_dag.py"
SCHEDULING_DOC = REPO / "docs" / "scheduling.md"
BIN = Path(sys.executable).parent
MODEL = "credit-risk"
LOCKED = 75  # the wrapper's exit code when another run holds the lock
TIMESTAMPED = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ govern-nightly\[\d+\]: ", re.M)


# --- shared -------------------------------------------------------------------------------------


@functools.cache
def _help(command: str) -> str:
    proc = subprocess.run(
        [str(BIN / "govern"), command, "--help"], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def require_flags(command: str, *flags: str) -> None:
    """The flags an example uses must exist: a renamed or removed flag fails here, by name."""
    for flag in flags:
        name = "--format markdown" if flag == "markdown" else flag
        assert flag in _help(command), f"the example uses {name}, which `govern {command}` lacks"


def base_env(**extra: str) -> dict[str, str]:
    """The environment a scheduler would give a job: no MLflow or govern settings leak in."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MLFLOW_", "GOVERN_", "GITHUB_", "AIRFLOW"))
    }
    env.update(
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '/usr/bin:/bin')}",
        MLFLOW_DISABLE_TELEMETRY="true",
        GX_ANALYTICS_ENABLED="false",
        PYTHONDONTWRITEBYTECODE="1",
    )
    env.update(extra)
    return env


def build_registry(uri: str, tmp_path: Path, adult: Any, trained: Any) -> tuple[str, str]:
    """credit-risk v(good): the mitigated model, which passes; v(bad): the plain one, which
    selects men about three times as often as women and fails the four-fifths rule."""
    plain, mitigated = trained
    data = adult.head(1000)
    good = register(uri, MODEL, data, mitigated, tmp_path / "d1" / "train.parquet", artifact=True)
    bad = register(uri, MODEL, data, plain, tmp_path / "d2" / "train.parquet", artifact=True)
    return good, bad


def utc_days() -> set[str]:
    """Today (UTC) and, near midnight, tomorrow: the wrapper names folders by its own clock."""
    now = dt.datetime.now(dt.UTC)
    return {f"{now:%Y-%m-%d}", f"{now + dt.timedelta(minutes=15):%Y-%m-%d}"}


def parse_junit(path: Path) -> ET.Element:
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites"
    return root


# --- GitHub Actions -----------------------------------------------------------------------------

EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
GITHUB_BASH = ["bash", "--noprofile", "--norc", "-eo", "pipefail"]  # what `shell: bash` runs


def load_workflow() -> dict[Any, Any]:
    return yaml.safe_load(WORKFLOW.read_text())


def triggers(workflow: dict[Any, Any]) -> dict[str, Any]:
    # YAML 1.1 (PyYAML) reads the bare key `on` as the boolean True; GitHub reads it as "on".
    return workflow.get("on", workflow.get(True))


def gate_job(workflow: dict[Any, Any]) -> dict[str, Any]:
    jobs = workflow["jobs"]
    assert list(jobs) == ["gate"]
    return jobs["gate"]


def render(mapping: dict[str, Any] | None, context: dict[str, str]) -> dict[str, str]:
    """Evaluate `${{ expr }}` in env values; an expression the test does not know fails it."""

    def one(match: re.Match[str]) -> str:
        expr = match.group(1)
        assert expr in context, f"workflow uses ${{{{ {expr} }}}}, which this test cannot supply"
        return context[expr]

    return {k: EXPRESSION.sub(one, str(v)) for k, v in (mapping or {}).items()}


def read_github_env(path: Path) -> dict[str, str]:
    text = path.read_text() if path.exists() else ""
    assert "<<" not in text, "multi-line $GITHUB_ENV values are not emulated"
    return dict(line.split("=", 1) for line in text.splitlines() if line)


class Runner:
    """Runs the gate job's steps as GitHub's runner would, in a workspace folder."""

    def __init__(self, tmp_path: Path, name: str, *, event: str, ref_name: str, inputs: dict):
        self.workspace = tmp_path / name
        self.workspace.mkdir()
        self.runner_temp = tmp_path / f"{name}-runner"
        self.runner_temp.mkdir()
        self.github_env = self.runner_temp / "github_env"
        self.summary = self.runner_temp / "step_summary.md"
        self.summary.touch()
        self.event = event
        self.ref_name = ref_name
        self.inputs = inputs

    def context(self, uri: str) -> dict[str, str]:
        return {
            "secrets.MLFLOW_TRACKING_URI": uri,
            "secrets.MLFLOW_TRACKING_TOKEN": "",  # an unset secret is an empty string
            "inputs.model": self.inputs.get("model", ""),
            "inputs.version": self.inputs.get("version", ""),
        }

    def run_step(
        self, step: dict[str, Any], job_env: dict[str, str], uri: str
    ) -> subprocess.CompletedProcess:
        env = base_env(
            CI="true",
            GITHUB_ACTIONS="true",
            GITHUB_EVENT_NAME=self.event,
            GITHUB_REF_NAME=self.ref_name,
            GITHUB_WORKSPACE=str(self.workspace),
            GITHUB_ENV=str(self.github_env),
            GITHUB_STEP_SUMMARY=str(self.summary),
            RUNNER_TEMP=str(self.runner_temp),
        )
        env.update(job_env)
        env.update(read_github_env(self.github_env))
        env.update(render(step.get("env"), self.context(uri)))
        script = self.runner_temp / f"{step['id']}.sh"
        script.write_text(step["run"])
        return subprocess.run(
            [*GITHUB_BASH, str(script)],
            cwd=self.workspace,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )

    def run_job(self, uri: str) -> dict[str, subprocess.CompletedProcess | str]:
        workflow = load_workflow()
        job = gate_job(workflow)
        context = self.context(uri)
        job_env = {**render(workflow.get("env"), context), **render(job.get("env"), context)}
        results: dict[str, subprocess.CompletedProcess | str] = {}
        failed = False
        for step in job["steps"]:
            condition = step.get("if")
            assert condition in (None, "always()", "success()", "failure()"), condition
            runs = {None: not failed, "success()": not failed, "failure()": failed}.get(
                condition, True
            )
            key = step.get("id") or step.get("uses") or step["name"]
            if not runs:
                results[key] = "skipped"
            elif "uses" in step or step.get("id") == "install":
                results[key] = "not emulated"  # GitHub's actions; govern is already installed
            else:
                proc = self.run_step(step, job_env, uri)
                results[key] = proc
                failed = failed or proc.returncode != 0
        return results


def run_scripts(job: dict[str, Any]) -> list[str]:
    return [step["run"] for step in job["steps"] if "run" in step]


def test_github_workflow_structure():
    workflow = load_workflow()
    on = triggers(workflow)
    inputs = on["workflow_dispatch"]["inputs"]
    assert inputs["model"]["required"] and inputs["version"]["required"]
    assert on["push"]["tags"] == ["promote/**"]
    assert workflow["permissions"] == {"contents": "read"}
    assert workflow["defaults"]["run"]["shell"] == "bash"
    job = gate_job(workflow)
    steps = {step.get("id") or step.get("uses"): step for step in job["steps"]}

    assert "pip install govern" in steps["install"]["run"]
    gate = steps["gate"]["run"]
    command = " ".join(gate.replace("\\\n", " ").split())
    assert 'govern gate "$MODEL/$VERSION" --promote-to production' in command
    for part in ("--out evidence/", "--junit evidence/junit.xml", "--format markdown"):
        assert part in command
    assert '>> "$GITHUB_STEP_SUMMARY"' in gate or 'tee -a "$GITHUB_STEP_SUMMARY"' in gate
    assert 'exit "$code"' in gate  # govern's exit code decides the job

    upload = steps["actions/upload-artifact@v4"]
    assert upload["if"] == "always()"
    assert upload["with"]["path"] == "evidence/"
    assert job["steps"].index(upload) == len(job["steps"]) - 1

    # Secrets reach the job only through env, never pasted into a script; neither do inputs
    # (a crafted input would otherwise be shell code).
    assert job["env"]["MLFLOW_TRACKING_URI"] == "${{ secrets.MLFLOW_TRACKING_URI }}"
    assert job["env"]["MLFLOW_TRACKING_TOKEN"] == "${{ secrets.MLFLOW_TRACKING_TOKEN }}"
    for script in run_scripts(job):
        assert "${{" not in script, script
    text = WORKFLOW.read_text()
    secret_refs = re.findall(r"^\s*([A-Z_]+):\s*\$\{\{\s*secrets\.(\w+)\s*\}\}\s*$", text, re.M)
    assert len(secret_refs) == text.count("secrets.") == 2
    assert all(env_name == secret for env_name, secret in secret_refs)
    assert not re.search(r"(?i)(token|password)\s*[:=]\s*['\"]?[a-z0-9]{8,}", text)

    # every script is valid bash
    for script in run_scripts(job):
        proc = subprocess.run(["bash", "-n"], input=script, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr


def test_github_workflow_matches_the_published_schema():
    """SchemaStore's GitHub workflow schema, vendored in check-jsonschema (no network)."""
    tool = BIN / "check-jsonschema"
    if not tool.exists():
        pytest.skip("check-jsonschema is not installed (an optional test dependency)")
    proc = subprocess.run(
        [str(tool), "--builtin-schema", "vendor.github-workflows", str(WORKFLOW)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize(
    ("event", "ref_name", "inputs", "expected"),
    [
        (
            "workflow_dispatch",
            "main",
            {"model": "credit-risk", "version": "7"},
            ("credit-risk", "7"),
        ),
        ("push", "promote/credit-risk/12", {}, ("credit-risk", "12")),
        ("push", "promote/12", {}, None),
        ("push", "v1.2.0", {}, None),
        ("push", "promote/credit-risk/latest", {}, None),
        ("workflow_dispatch", "main", {"model": "m", "version": "7; touch pwned"}, None),
        ("workflow_dispatch", "main", {"model": "m\nLD_PRELOAD=/tmp/x.so", "version": "1"}, None),
        ("workflow_dispatch", "main", {"model": "", "version": "1"}, None),
    ],
)
def test_github_workflow_resolves_model_and_version(tmp_path, event, ref_name, inputs, expected):
    job = gate_job(load_workflow())
    step = next(s for s in job["steps"] if s.get("id") == "target")
    runner = Runner(tmp_path, "ws", event=event, ref_name=ref_name, inputs=inputs)
    proc = runner.run_step(step, {}, "sqlite:///unused.db")
    written = read_github_env(runner.github_env)
    if expected is None:
        assert proc.returncode == 2, proc.stdout + proc.stderr
        assert "::error::" in proc.stdout
        assert written == {}
        assert not (runner.workspace / "pwned").exists()
    else:
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert written == {"MODEL": expected[0], "VERSION": expected[1]}


def test_github_gate_workflow_runs_for_real(sqlite_uri, tmp_path, adult, trained):
    require_flags("gate", "--junit", "markdown")
    good, bad = build_registry(sqlite_uri, tmp_path, adult, trained)
    client = MlflowClient(sqlite_uri, sqlite_uri)

    # 1. workflow_dispatch of the mitigated version: passes, the alias moves to it.
    passing = Runner(
        tmp_path,
        "dispatch",
        event="workflow_dispatch",
        ref_name="main",
        inputs={"model": MODEL, "version": good},
    )
    write_policy(passing.workspace / "govern.yaml")  # what actions/checkout would bring
    results = passing.run_job(sqlite_uri)
    gate = results["gate"]
    assert isinstance(gate, subprocess.CompletedProcess)
    assert gate.returncode == 0, gate.stdout + gate.stderr
    assert "::notice::" in gate.stdout
    assert str(client.get_model_version_by_alias(MODEL, "production").version) == good
    assert results["actions/upload-artifact@v4"] == "not emulated"  # ran: if: always()
    evidence = passing.workspace / "evidence"
    assert {"results.json", "index.html", "junit.xml"} <= {p.name for p in evidence.iterdir()}
    assert json.loads((evidence / "results.json").read_text())["verdict"] == "pass"
    junit = parse_junit(evidence / "junit.xml")
    assert junit.get("failures") == "0" and junit.get("errors") == "0"
    assert [s.get("name") for s in junit.iter("testsuite")] == [f"{MODEL}/{good}"]
    assert len(list(junit.iter("testcase"))) >= 5
    summary = passing.summary.read_text()
    assert summary.startswith("## ") and "PASS" in summary.splitlines()[0]
    assert "| --- |" in summary
    assert re.search(rf"\|\s*credit\\?-risk\s*\|\s*{good}\s*\|", summary), summary  # its row

    # 2. a pushed tag for the plain version: a violation, exit 1, the alias stays.
    failing = Runner(tmp_path, "tag", event="push", ref_name=f"promote/{MODEL}/{bad}", inputs={})
    write_policy(failing.workspace / "govern.yaml")
    results = failing.run_job(sqlite_uri)
    gate = results["gate"]
    assert isinstance(gate, subprocess.CompletedProcess)
    assert gate.returncode == 1, gate.stdout + gate.stderr
    assert "::error::" in gate.stdout and "was not moved" in gate.stdout
    assert str(client.get_model_version_by_alias(MODEL, "production").version) == good
    assert recorded(client.get_model_version(MODEL, bad).tags)["status"] == "fail"
    assert results["actions/upload-artifact@v4"] == "not emulated"  # still uploads evidence
    evidence = failing.workspace / "evidence"
    assert json.loads((evidence / "results.json").read_text())["verdict"] == "fail"
    junit = parse_junit(evidence / "junit.xml")
    assert int(junit.get("failures")) >= 1
    messages = [f.get("message") for f in junit.iter("failure")]
    assert any("demographic_parity_ratio" in m for m in messages), messages
    summary = failing.summary.read_text()
    assert "FAIL" in summary.splitlines()[0]
    assert re.search(rf"\|\s*credit\\?-risk\s*\|\s*{bad}\s*\|", summary), summary
    assert "govern gate exited 1" in summary


# --- cron ---------------------------------------------------------------------------------------


def nightly_env(reports: Path, uri: str, policy: Path, **extra: str) -> dict[str, str]:
    return base_env(
        GOVERN_REPORTS=str(reports),
        MLFLOW_TRACKING_URI=uri,
        GOVERN_POLICY=str(policy),
        GOVERN_JOBS="1",
        **extra,
    )


def wait_for(path: Path, text: str, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while text not in (path.read_text() if path.exists() else ""):
        assert proc.poll() is None, f"wrapper ended early:\n{path.read_text()}"
        assert time.monotonic() < deadline, f"no {text!r} in:\n{path.read_text()}"
        time.sleep(0.1)


def test_cron_wrapper_audits_prunes_and_refuses_to_overlap(sqlite_uri, tmp_path, adult, trained):
    require_flags("audit", "--junit", "--jobs")
    build_registry(sqlite_uri, tmp_path, adult, trained)
    policy = write_policy(tmp_path / "govern.yaml")
    reports = tmp_path / "reports"
    today = dt.datetime.now(dt.UTC).date()
    old = reports / f"{today - dt.timedelta(days=100)}"
    recent = reports / f"{today - dt.timedelta(days=5)}"
    unrelated = reports / "notes"
    for folder in (old, recent, unrelated):
        folder.mkdir(parents=True)
        (folder / "index.html").write_text("earlier run")
    (reports / "latest").symlink_to(recent.name)
    env = nightly_env(reports, sqlite_uri, policy)

    out, err = tmp_path / "first.out", tmp_path / "first.err"
    with out.open("w") as stdout, err.open("w") as stderr:
        first = subprocess.Popen(
            ["bash", str(WRAPPER)], env=env, stdout=stdout, stderr=stderr, cwd=tmp_path
        )
    try:
        wait_for(err, "starting:", first)  # the lock is held from here on
        started = time.monotonic()
        second = subprocess.run(
            ["bash", str(WRAPPER)], env=env, capture_output=True, text=True, timeout=60
        )
        assert second.returncode == LOCKED, second.stderr
        assert time.monotonic() - started < 15
        assert "another run holds" in second.stderr
        assert TIMESTAMPED.search(second.stderr)
        first.wait(timeout=900)
    finally:
        if first.poll() is None:
            first.kill()
    stderr = err.read_text()
    assert first.returncode == 1, stderr  # a violation: govern's exit code, propagated

    day = os.readlink(reports / "latest")
    assert day in utc_days()
    folder = reports / day
    assert (folder / "index.html").is_file()
    results = json.loads((folder / "results.json").read_text())
    assert results["verdict"] == "fail"
    assert results["counts"]["pass"] == 1 and results["counts"]["fail"] == 1
    assert int(parse_junit(folder / "junit.xml").get("failures")) >= 1
    assert (reports / "latest" / "results.json").is_file()
    assert not (recent / day).exists()  # the link was replaced, not moved into the old target
    assert not list(reports.glob(".latest.*"))  # no temporary link left behind
    # pruned: the dated folder older than 90 days; kept: recent ones and anything not a date
    assert not old.exists()
    assert recent.is_dir() and unrelated.is_dir()
    assert f"pruned {old.name}" in stderr
    assert "govern exited 1" in stderr
    assert len(TIMESTAMPED.findall(stderr)) >= 4
    assert "FAIL" in out.read_text()  # govern's table on stdout, for cron's mail


def test_cron_wrapper_propagates_errors_and_keeps_latest(tmp_path):
    require_flags("audit", "--junit", "--jobs")
    policy = write_policy(tmp_path / "govern.yaml")
    reports = tmp_path / "reports"
    previous = reports / f"{dt.datetime.now(dt.UTC).date() - dt.timedelta(days=200)}"
    previous.mkdir(parents=True)
    (previous / "results.json").write_text("{}")
    (reports / "latest").symlink_to(previous.name)

    missing_registry = f"sqlite:///{tmp_path / 'no-such-registry.db'}"
    proc = subprocess.run(
        ["bash", str(WRAPPER)],
        env=nightly_env(reports, missing_registry, policy),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 3, proc.stderr  # registry error, propagated
    assert "govern exited 3" in proc.stderr
    assert "latest left unchanged" in proc.stderr
    assert os.readlink(reports / "latest") == previous.name
    assert previous.is_dir()  # older than 90 days, but `latest` points at it: never pruned

    proc = subprocess.run(
        ["bash", str(WRAPPER)],
        env=nightly_env(reports, missing_registry, tmp_path / "no-such-policy.yaml"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2, proc.stderr  # policy error, propagated
    assert os.readlink(reports / "latest") == previous.name


def test_cron_wrapper_lock_and_settings(tmp_path):
    reports = tmp_path / "reports"
    reports.mkdir()
    env = nightly_env(reports, "sqlite:///unused.db", tmp_path / "govern.yaml")
    with (reports / ".lock").open("a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # another run in progress
        started = time.monotonic()
        proc = subprocess.run(
            ["bash", str(WRAPPER)], env=env, capture_output=True, text=True, timeout=60
        )
        assert proc.returncode == LOCKED, proc.stderr
        assert time.monotonic() - started < 10
        proc = subprocess.run(
            ["bash", str(WRAPPER)],
            env={**env, "GOVERN_LOCK_WAIT": "2"},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == LOCKED, proc.stderr
        assert time.monotonic() - started >= 2  # waited for the lock before giving up
    assert sorted(p.name for p in reports.iterdir()) == [".lock"]  # nothing else touched

    for bad in ({"GOVERN_KEEP_DAYS": "ninety"}, {"GOVERN_BIN": str(tmp_path / "no-govern")}):
        proc = subprocess.run(
            ["bash", str(WRAPPER)], env={**env, **bad}, capture_output=True, text=True, timeout=60
        )
        assert proc.returncode == 64, proc.stderr
        assert TIMESTAMPED.search(proc.stderr) and "error:" in proc.stderr


CRON_FIELDS = [(0, 59), (0, 23), (1, 31), (1, 12), (0, 7)]


def valid_cron_field(field: str, low: int, high: int) -> bool:
    for part in field.split(","):
        match = re.fullmatch(r"(\*|(\d+)(?:-(\d+))?)(?:/(\d+))?", part)
        if not match:
            return False
        start, end, step = match.group(2), match.group(3), match.group(4)
        if step is not None and int(step) < 1:
            return False
        if start is not None:
            first, last = int(start), int(end if end is not None else start)
            if not low <= first <= last <= high:
                return False
    return True


def test_crontab_example_parses():
    jobs, variables = [], {}
    for line in CRONTAB.read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", line):
            name, value = line.split("=", 1)
            variables[name] = value
        else:
            jobs.append(line)
    assert len(jobs) == 2
    reconcile = jobs[1].split(None, 5)
    for field, (low, high) in zip(reconcile[:5], CRON_FIELDS, strict=True):
        assert valid_cron_field(field, low, high), field
    assert reconcile[5].startswith("govern reconcile --state ")
    assert subprocess.run(["bash", "-n", "-c", reconcile[5]]).returncode == 0
    from govern.cli import main as cli_main

    options = {o for p in cli_main.commands["reconcile"].params for o in p.opts}
    assert {"--state", "--signing-key"} <= options
    fields = jobs[0].split(None, 5)
    assert len(fields) == 6, fields
    for field, (low, high) in zip(fields[:5], CRON_FIELDS, strict=True):
        assert valid_cron_field(field, low, high), field
    assert fields[:5] == ["30", "2", "*", "*", "*"]
    command = fields[5]
    assert re.search(r"(^|\s)/\S*/" + re.escape(WRAPPER.name) + r"(\s|$)", command)
    assert re.search(r"(?<!\\)%", command) is None  # cron turns a bare % into a newline
    assert subprocess.run(["bash", "-n", "-c", command]).returncode == 0
    assert variables["SHELL"] == "/bin/bash"
    assert "MLFLOW_TRACKING_TOKEN" not in variables  # secrets go in GOVERN_ENV_FILE
    assert {"GOVERN_REPORTS", "GOVERN_POLICY", "MLFLOW_TRACKING_URI"} <= set(variables)
    assert WRAPPER.stat().st_mode & 0o111  # executable, as cron runs it directly


# --- Airflow ------------------------------------------------------------------------------------

AIRFLOW_PYTHON = os.environ.get("GOVERN_AIRFLOW_PYTHON")
if AIRFLOW_PYTHON:  # relative to where pytest was started; tests run in tmp dirs
    AIRFLOW_PYTHON = os.path.abspath(AIRFLOW_PYTHON)  # not resolve(): keep the venv's symlink
needs_airflow = pytest.mark.skipif(
    not AIRFLOW_PYTHON,
    reason="needs Apache Airflow in its own virtualenv: run `make test-airflow` "
    "(it sets GOVERN_AIRFLOW_PYTHON)",
)


def run_check_dag(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    assert AIRFLOW_PYTHON and Path(AIRFLOW_PYTHON).is_file(), AIRFLOW_PYTHON
    proc = subprocess.run(
        [AIRFLOW_PYTHON, str(CHECK_DAG), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-6000:]
    assert "check_dag: all checks passed" in proc.stdout
    return proc


def test_airflow_dag_source_keeps_both_import_paths():
    """Without Airflow: the DAG imports Airflow 3's modules first and falls back to Airflow 2's."""
    tree = ast.parse(DAG_FILE.read_text())
    tries = [node for node in tree.body if isinstance(node, ast.Try)]
    assert len(tries) == 1
    modules = {
        n.module for stmt in tries[0].body for n in ast.walk(stmt) if isinstance(n, ast.ImportFrom)
    }
    fallback = {
        n.module
        for handler in tries[0].handlers
        for n in ast.walk(handler)
        if isinstance(n, ast.ImportFrom)
    }
    assert {"airflow.providers.standard.operators.bash", "airflow.sdk"} <= modules
    assert {"airflow.operators.bash", "airflow.decorators"} <= fallback
    assert [h.type.id for h in tries[0].handlers] == ["ImportError"]
    assert "govern audit --all" in DAG_FILE.read_text()


@needs_airflow
def test_airflow_dag_loads_in_dagbag(tmp_path):
    require_flags("audit", "--junit", "--jobs")
    proc = run_check_dag("--workdir", str(tmp_path / "airflow"), "--exec-command", env=base_env())
    assert "ok    govern_audit runs `govern audit --all`" in proc.stdout
    assert "ok    unreachable registry (retried): the task exits 4" in proc.stdout
    assert "ok    registry database missing (a fix, not a retry): the task exits 0" in proc.stdout
    assert "check_dag: all checks passed" in proc.stdout


@needs_airflow
def test_airflow_dag_runs_nightly_audit(sqlite_uri, tmp_path, adult, trained):
    require_flags("audit", "--junit", "--jobs")
    plain, _ = trained
    register(
        sqlite_uri, MODEL, adult.head(1000), plain, tmp_path / "d" / "t.parquet", artifact=True
    )
    policy = write_policy(tmp_path / "govern.yaml")
    reports = tmp_path / "reports"
    env = nightly_env(reports, sqlite_uri, policy)
    proc = run_check_dag(
        "--workdir", str(tmp_path / "airflow"), "--run-dag", "notify_violations", env=env
    )
    assert "ok    notify_violations is failed" in proc.stdout
    (results,) = reports.glob("*/results.json")
    assert results.parent.name in utc_days()
    assert json.loads(results.read_text())["verdict"] == "fail"


# --- docs ---------------------------------------------------------------------------------------


def test_scheduling_doc_points_at_files_that_exist():
    text = SCHEDULING_DOC.read_text()
    paths = set(re.findall(r"(?:examples|tests)/[\w./-]+\.(?:yml|sh|py|example|txt)", text))
    assert {str(p.relative_to(REPO)) for p in (WORKFLOW, WRAPPER, CRONTAB, DAG_FILE)} <= paths
    for path in paths:
        assert (REPO / path).is_file(), path
    for code in ("0", "1", "2", "3", "75"):
        assert re.search(rf"\|\s*{code}\s*\|", text), f"exit code {code} not in the table"
