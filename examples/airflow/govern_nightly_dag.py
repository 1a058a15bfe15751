"""Nightly govern audit of every version of every registered model, as an Apache Airflow DAG.

Copy this file into your DAGs folder. The workers need ``govern`` on their PATH and, in their
environment (or a secrets backend that exports it), MLFLOW_TRACKING_URI, MLFLOW_TRACKING_TOKEN
if the server needs one, GOVERN_POLICY (the policy file) and GOVERN_REPORTS (where the dated
report folders go). Nothing secret is written into the DAG, its templates or its XComs.

govern's exit code decides what happens, because a violation and a broken registry need
different responses:

* ``govern_audit`` runs ``govern audit --all``. Exit 0 (all passed), 1 (violations), 2 (usage
  or policy error) and 3 (could not audit: lineage, data, a model or an internal error someone
  must fix) are answers: the task succeeds and pushes ``"<exit code> <report folder>"`` as its
  XCom. Exit 4 (the registry was unreachable or the deadline passed) or anything else fails the
  task, and Airflow retries it: on a retry govern reuses the verdicts of versions that are
  unchanged since their recorded audit (no ``--force``).
* ``route`` branches on the exit code to ``all_passed``, ``notify_violations``,
  ``policy_error`` or ``could_not_audit``. The last three fail without retrying (rerunning the
  same audit cannot change a violation or a broken lineage), which marks the DAG run failed and
  fires your failure alerts (email, ``on_failure_callback``, a Slack notifier...). Replace their
  commands with your own notification if you prefer the run to stay green.

Works with Airflow 2.4+ (``airflow.operators``) and 3.x (``airflow.providers.standard`` and
``airflow.sdk``).
"""

from __future__ import annotations

from datetime import timedelta

import pendulum

try:  # Airflow 3
    from airflow.providers.standard.operators.bash import BashOperator
    from airflow.providers.standard.operators.empty import EmptyOperator
    from airflow.sdk import DAG, task
except ImportError:  # Airflow 2
    from airflow import DAG
    from airflow.decorators import task
    from airflow.operators.bash import BashOperator
    from airflow.operators.empty import EmptyOperator

DAG_ID = "govern_nightly_audit"
SCHEDULE = "30 2 * * *"  # 02:30 every night, in the DAG's timezone (UTC here)

# The report folder is the UTC date of the run, as with examples/cron/govern-nightly.sh.
# GOVERN_JOBS (default 2) versions are audited in parallel. --timeout stops govern, reporting
# unfinished versions as errors (exit 4, so Airflow retries), before Airflow's
# execution_timeout kills it without writing any evidence.
AUDIT_COMMAND = r"""
set -u
out="${GOVERN_REPORTS:-/opt/airflow/govern-reports}/$(date -u +%F)"
mkdir -p "$out"
code=0
govern audit --all --out "$out" --junit "$out/junit.xml" --jobs "${GOVERN_JOBS:-2}" \
    --timeout 19800 >&2 || code=$?
echo "govern audit exited $code; reports in $out" >&2
if [ "$code" -ge 4 ]; then
    exit "$code"  # registry unreachable or deadline passed: fail the task, Airflow retries it
fi
echo "$code $out"  # the last line is the XCom that route reads
"""

default_args = {
    "owner": "mlops",
    "retries": 0,
}

with DAG(
    dag_id=DAG_ID,
    description="govern audit --all: lineage, integrity, data quality and fairness of every model",
    schedule=SCHEDULE,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args=default_args,
    tags=["governance", "mlflow"],
    doc_md=__doc__,
) as dag:
    govern_audit = BashOperator(
        task_id="govern_audit",
        bash_command=AUDIT_COMMAND,
        retries=2,
        retry_delay=timedelta(minutes=15),
        execution_timeout=timedelta(hours=6),
        do_xcom_push=True,
    )

    @task.branch(task_id="route")
    def route(result) -> str:  # no parameter annotation: Airflow 2 may run Python < 3.10
        """Pick the next task from govern's exit code (the first word of the audit's XCom)."""
        code = int((result or "").split(" ", 1)[0])
        return {0: "all_passed", 1: "notify_violations", 3: "could_not_audit"}.get(
            code, "policy_error"
        )

    all_passed = EmptyOperator(task_id="all_passed")

    # The audit's XCom reaches the shell as an environment variable, never as code.
    notify_violations = BashOperator(
        task_id="notify_violations",
        bash_command=(
            'echo "govern found policy violations; reports: ${AUDIT_RESULT#* }/index.html" >&2; '
            "exit 1"
        ),
        env={"AUDIT_RESULT": "{{ ti.xcom_pull(task_ids='govern_audit') }}"},
        append_env=True,
        retries=0,
    )

    policy_error = BashOperator(
        task_id="policy_error",
        bash_command=(
            'echo "govern could not start the audit (usage or policy error, exit 2): fix the '
            'policy or the configuration; see the govern_audit log" >&2; exit 1'
        ),
        retries=0,
    )

    could_not_audit = BashOperator(
        task_id="could_not_audit",
        bash_command=(
            'echo "govern could not audit some versions (exit 3: lineage, data, a model or an '
            'internal error); reports: ${AUDIT_RESULT#* }/index.html" >&2; exit 1'
        ),
        env={"AUDIT_RESULT": "{{ ti.xcom_pull(task_ids='govern_audit') }}"},
        append_env=True,
        retries=0,
    )

    route(govern_audit.output) >> [all_passed, notify_violations, policy_error, could_not_audit]
