"""Load examples/airflow with Airflow's own DagBag and check the govern DAG; exit 0 or 1.

Runs in the Airflow virtualenv (.venv-airflow, see tests/airflow/requirements.txt), never in
govern's: tests/test_examples.py starts it with $GOVERN_AIRFLOW_PYTHON.

    check_dag.py --workdir DIR                 load the DAG, check its structure and the route
    check_dag.py --workdir DIR --exec-command  also run the audit task's bash command for real
                                               (govern on PATH) and check its exit-code mapping
    check_dag.py --workdir DIR --run-dag all_passed|notify_violations
                                               also run the whole DAG with dag.test() against the
                                               registry in $MLFLOW_TRACKING_URI; expect that branch

Everything Airflow writes (its config, its sqlite metadata database, logs) goes under DIR.
"""

from __future__ import annotations

import argparse
import datetime as dt
import inspect
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DAG_FOLDER = REPO / "examples" / "airflow"
DAG_FILE = DAG_FOLDER / "govern_nightly_dag.py"
DAG_ID = "govern_nightly_audit"
SCHEDULE = "30 2 * * *"
TASKS = {
    "govern_audit",
    "route",
    "all_passed",
    "notify_violations",
    "policy_error",
    "could_not_audit",
}
BRANCHES = {"all_passed", "notify_violations", "policy_error", "could_not_audit"}

# A valid policy, so that only the registry can make govern exit 3 or 4.
POLICY = """\
version: 1
models:
  - match: "*"
    packs: [baseline, four-fifths]
    label: income
    positive_label: ">50K"
    sensitive_features: [sex]
"""

failures: list[str] = []


def check(condition: object, message: str) -> None:
    print(("ok    " if condition else "FAIL  ") + message)
    if not condition:
        failures.append(message)


def setup_airflow_home(workdir: Path) -> Path:
    """Point Airflow at a private home before it is imported (it reads the env at import)."""
    home = workdir / "airflow-home"
    dags = workdir / "dags"
    home.mkdir(parents=True, exist_ok=True)
    dags.mkdir(parents=True, exist_ok=True)
    os.environ["AIRFLOW_HOME"] = str(home)
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(dags)
    return dags


def load_dagbag(folder: Path):  # -> DagBag; airflow is imported late, after AIRFLOW_HOME is set
    try:  # Airflow >= 3.1
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 2.x, 3.0
        from airflow.models.dagbag import DagBag
    kwargs: dict[str, object] = {"dag_folder": str(folder)}
    if "include_examples" in inspect.signature(DagBag.__init__).parameters:
        kwargs["include_examples"] = False  # newer releases read core.load_examples instead
    return DagBag(**kwargs)


def check_structure(folder: Path):  # -> the DAG, or None when it did not load
    bag = load_dagbag(folder)
    check(not bag.import_errors, f"no import errors (got {bag.import_errors})")
    check(set(bag.dag_ids) == {DAG_ID}, f"exactly the DAG {DAG_ID} (got {sorted(bag.dag_ids)})")
    dag = bag.dags.get(DAG_ID)
    if dag is None:
        return None
    timetable = getattr(dag, "timetable", None)
    schedule = getattr(dag, "schedule", None) or getattr(dag, "schedule_interval", None)
    check(
        schedule == SCHEDULE or getattr(timetable, "summary", None) == SCHEDULE,
        f"schedule is {SCHEDULE!r} (got {schedule!r}, {timetable!r})",
    )
    check(dag.catchup is False, "catchup is off")
    check(dag.max_active_runs == 1, "at most one run at a time")
    check(set(dag.task_ids) == TASKS, f"tasks are {sorted(TASKS)} (got {sorted(dag.task_ids)})")
    if set(dag.task_ids) != TASKS:
        return dag

    audit = dag.get_task("govern_audit")
    command = audit.bash_command
    check(type(audit).__name__ == "BashOperator", "govern_audit is a BashOperator")
    check("govern audit --all" in command, "govern_audit runs `govern audit --all`")
    for flag in ("--out", "--junit", "--jobs", "--timeout"):
        check(flag in command, f"govern_audit passes {flag}")
    check("{{" not in command and "{%" not in command, "audit command has no Jinja to render")
    check(audit.retries >= 1, f"govern_audit is retried (retries={audit.retries})")
    check(audit.do_xcom_push, "govern_audit pushes its last line as XCom")
    check(set(audit.downstream_task_ids) == {"route"}, "govern_audit feeds route")

    route = dag.get_task("route")
    check(set(route.downstream_task_ids) == BRANCHES, f"route branches to {sorted(BRANCHES)}")
    callable_ = route.python_callable
    for line, expected in (
        ("0 /r/2026-01-01", "all_passed"),
        ("1 /r/2026-01-01", "notify_violations"),
        ("2 /r/2026-01-01", "policy_error"),
        ("3 /r/2026-01-01", "could_not_audit"),
    ):
        got = callable_(line)
        check(got == expected, f"route({line!r}) -> {expected} (got {got!r})")
    try:
        callable_(None)
        check(False, "route(None) raises: a missing XCom must not count as a pass")
    except ValueError:
        check(True, "route(None) raises: a missing XCom must not count as a pass")
    for task_id in ("notify_violations", "policy_error", "could_not_audit"):
        task = dag.get_task(task_id)
        check(task.retries == 0, f"{task_id} fails without retrying")
    notify_env = dag.get_task("notify_violations").env or {}
    check(
        "ti.xcom_pull(task_ids='govern_audit')" in notify_env.get("AUDIT_RESULT", ""),
        "notify_violations gets the audit's XCom as an environment variable",
    )
    return dag


def check_command(dag, workdir: Path) -> None:
    """Run the audit task's real command with bash (as BashOperator does) and govern on PATH."""
    command = dag.get_task("govern_audit").bash_command
    reports = workdir / "command-reports"
    policy = workdir / "govern.yaml"
    policy.write_text(POLICY)
    cases = [
        (
            "registry database missing (a fix, not a retry)",
            {"MLFLOW_TRACKING_URI": f"sqlite:///{workdir / 'no-such-registry.db'}"},
            0,
            "3",
        ),
        (
            "unreachable registry (retried)",
            {
                "MLFLOW_TRACKING_URI": "http://127.0.0.1:9",
                "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
            },
            4,
            None,
        ),
        ("missing policy", {"GOVERN_POLICY": str(workdir / "no-such-policy.yaml")}, 0, "2"),
    ]
    for name, overrides, expected_exit, expected_code in cases:
        env = {
            **os.environ,
            "GOVERN_REPORTS": str(reports),
            "GOVERN_POLICY": str(policy),
            **overrides,
        }
        proc = subprocess.run(
            ["bash", "-c", command], env=env, capture_output=True, text=True, timeout=300
        )
        check(
            proc.returncode == expected_exit,
            f"{name}: the task exits {expected_exit} (got {proc.returncode}; "
            f"stderr: {proc.stderr.strip()[-400:]!r})",
        )
        lines = proc.stdout.strip().splitlines()
        if expected_code is None:
            check(not lines, f"{name}: no XCom line when the task fails (got {lines!r})")
        else:
            day = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")
            want = f"{expected_code} {reports}/{day}"
            check(lines[-1:] == [want], f"{name}: XCom line is {want!r} (got {lines!r})")


def run_dag(workdir: Path, dags: Path, expected_branch: str) -> None:
    """Run the DAG once with dag.test() (tasks run in this process, BashOperator in bash)."""
    for key in ("MLFLOW_TRACKING_URI", "GOVERN_POLICY", "GOVERN_REPORTS"):
        if not os.environ.get(key):
            check(False, f"--run-dag needs ${key}")
            return
    shutil.copy2(DAG_FILE, dags / DAG_FILE.name)
    migrate = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if migrate.returncode != 0:
        check(False, f"airflow db migrate failed: {migrate.stderr[-2000:]}")
        return
    check(True, "airflow db migrate")
    bag = load_dagbag(dags)
    dag = bag.dags[DAG_ID]
    run = dag.test()
    states = {
        ti.task_id: str(getattr(ti.state, "value", ti.state)) for ti in run.get_task_instances()
    }
    print(f"dag run state: {run.state}; task states: {json.dumps(states, sort_keys=True)}")
    check(states.get("govern_audit") == "success", "govern_audit succeeded (exit 0 or 1)")
    check(states.get("route") == "success", "route succeeded")
    want = "success" if expected_branch == "all_passed" else "failed"
    check(states.get(expected_branch) == want, f"{expected_branch} is {want}")
    for other in BRANCHES - {expected_branch}:
        check(states.get(other) == "skipped", f"{other} was skipped")
    run_state = str(getattr(run.state, "value", run.state))
    want_run = "success" if expected_branch == "all_passed" else "failed"
    check(run_state == want_run, f"the DAG run is {want_run} (got {run_state})")
    reports = Path(os.environ["GOVERN_REPORTS"])
    written = sorted(reports.glob("*/results.json"))
    check(len(written) == 1, f"one dated report folder with results.json (got {written})")
    if written:
        results = json.loads(written[0].read_text())
        verdict = {"all_passed": "pass", "notify_violations": "fail"}.get(expected_branch)
        check(results["verdict"] == verdict, f"results.json verdict is {verdict}")
        check((written[0].parent / "junit.xml").is_file(), "junit.xml was written")
        check((written[0].parent / "index.html").is_file(), "index.html was written")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, help="scratch folder (default: a new temp dir)")
    parser.add_argument("--exec-command", action="store_true")
    parser.add_argument("--run-dag", choices=["all_passed", "notify_violations"])
    args = parser.parse_args()
    workdir = (args.workdir or Path(tempfile.mkdtemp(prefix="govern-airflow-"))).resolve()
    dags = setup_airflow_home(workdir)

    import airflow

    print(f"airflow {airflow.__version__}, python {sys.version.split()[0]}, workdir {workdir}")
    dag = check_structure(DAG_FOLDER)
    if dag is not None and not failures and args.exec_command:
        check_command(dag, workdir)
    if dag is not None and not failures and args.run_dag:
        run_dag(workdir, dags, args.run_dag)
    if failures:
        print(f"check_dag: {len(failures)} check(s) failed", file=sys.stderr)
        for message in failures:
            print(f"  - {message}", file=sys.stderr)
        return 1
    print("check_dag: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
