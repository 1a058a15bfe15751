"""Load: a burst of model_version.created webhooks from a real ``mlflow server`` to
``govern serve`` (not one of the six goals; not run by ``run_all.py``).

Run: ``.venv/bin/python bench/bench_webhooks.py [--versions 200] [--rows 2000]``.

Setup: ``mlflow server`` on 127.0.0.1 (sqlite backend, proxied artifacts, ``--workers 1``) with
MLflow's webhook variables (a Fernet key, http and private addresses allowed); ``govern serve``
on 127.0.0.1 with its queue in a temporary state folder; a webhook for ``model_version.created``
created with ``MlflowClient.create_webhook``. One training run logs a small frame (``--rows``,
default 2,000 rows, ten columns) with ``govern.track`` and a scikit-learn logistic regression;
then ``--versions`` versions of one model are registered from that run as fast as the client
can (``create_model_version``): MLflow delivers one signed webhook per version.

While the worker drains the queue, 200 more signed deliveries are sent straight to
``/webhook`` by 8 client threads (for a model that does not exist: each is queued, then skipped)
to time acceptance under load.

Measured:
- every version has exactly one govern audit run and a ``govern.audit`` record (none lost, none
  audited twice) and every queued delivery is done;
- deliveries accepted per second: (a) the MLflow burst, from govern's queue (first to last
  received); (b) the direct flood, wall time and per-request latency (median, max);
- audits per minute: versions audited / (last audit finished - first delivery received).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from benchlib import (
    GOVERN,
    PYTHON,
    child_env,
    finish,
    header,
    loadavg,
    make_frame,
    median,
    register_version,
    setup_env,
    train,
    workdir,
    write_policy,
)

SECRET = "bench-webhook-secret-0123456789"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, proc: subprocess.Popen[bytes], log: Path, what: str) -> None:
    deadline = time.monotonic() + 180
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start:\n" + log.read_text()[-3000:])
        time.sleep(0.3)


def stop(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


def start_mlflow(root: Path) -> tuple[subprocess.Popen[bytes], str]:
    from cryptography.fernet import Fernet

    port = free_port()
    log = root / "server.log"
    env = child_env(
        MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false",
        MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY=Fernet.generate_key().decode(),
        MLFLOW_WEBHOOK_ALLOWED_SCHEMES="http",
        MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS="true",
        MLFLOW_WEBHOOK_CACHE_TTL="1",
    )
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [
                str(PYTHON), "-m", "mlflow", "server",
                "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
                "--artifacts-destination", str(root / "artifacts"),
                "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
            ],
            cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    uri = f"http://127.0.0.1:{port}"
    wait_http(f"{uri}/health", proc, log, "mlflow server")
    return proc, uri


def start_govern(root: Path, uri: str, policy: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    log = root / "serve.log"
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [
                str(GOVERN), "serve", "--port", str(port), "--state", str(root / "state"),
                "--policy", str(policy), "--tracking-uri", uri,
            ],
            cwd=root, env=child_env(GOVERN_WEBHOOK_SECRET=SECRET), stdout=out,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    wait_http(f"{url}/healthz", proc, log, "govern serve")
    return proc, url


def rows(state: Path) -> list[dict[str, Any]]:
    conn = sqlite3.connect(f"file:{state / 'queue.sqlite'}?mode=ro", uri=True, timeout=30)
    try:
        cursor = conn.execute(
            "SELECT delivery_id, event, payload, received_at, state, finished_at, outcome "
            "FROM events ORDER BY seq"
        )
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]
    finally:
        conn.close()


def flood(url: str, n: int, threads: int) -> tuple[float, list[float], list[int]]:
    """``n`` signed deliveries sent straight to govern serve by ``threads`` clients."""
    from govern.events.signature import sign

    def one(i: int) -> tuple[float, int]:
        body = json.dumps(
            {
                "entity": "model_version",
                "action": "created",
                "timestamp": "",
                "data": {"name": "bench-no-such-model", "version": str(i), "tags": {}},
            }
        ).encode()
        delivery = str(uuid.uuid4())
        ts = str(int(time.time()))
        request = urllib.request.Request(
            f"{url}/webhook",
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "X-MLflow-Delivery-Id": delivery,
                "X-MLflow-Timestamp": ts,
                "X-MLflow-Signature": sign(SECRET, delivery, ts, body),
            },
        )
        started = time.perf_counter()
        try:
            with urllib.request.urlopen(request, timeout=30) as resp:
                status = resp.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        return time.perf_counter() - started, status

    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        results = list(pool.map(one, range(n)))
    return time.perf_counter() - started, [r[0] for r in results], [r[1] for r in results]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--versions", type=int, default=200)
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--flood", type=int, default=200)
    parser.add_argument("--timeout", type=float, default=7200, help="seconds for the drain")
    args = parser.parse_args()
    setup_env()
    header(f"webhook burst: {args.versions} model_version.created deliveries to govern serve")
    from mlflow.tracking import MlflowClient

    with workdir("webhooks") as root:
        server, uri = start_mlflow(root)
        policy = write_policy(root)
        serve, url = start_govern(root, uri, policy)
        try:
            client = MlflowClient(uri, uri)
            name = "bench-hooked"
            df = make_frame(args.rows, seed=7)
            # The training run and its model first, without a webhook: its version is the
            # template the burst copies (same run, same model files, same data).
            register_version(uri, name, df, root / "data" / "train.parquet", train(df))
            template = client.get_model_version(name, "1")
            # MLflow accepts a models:/ source only with the logged model's id beside it.
            model_id = getattr(template, "model_id", None) or (
                template.source.removeprefix("models:/")
                if template.source.startswith("models:/")
                else None
            )
            client.create_webhook(
                name="govern-bench",
                url=f"{url}/webhook",
                events=["model_version.created"],
                secret=SECRET,
            )
            time.sleep(2)  # MLflow caches the webhook list for MLFLOW_WEBHOOK_CACHE_TTL
            burst_started = time.time()
            created = []
            for _ in range(args.versions):
                mv = client.create_model_version(
                    name,
                    template.source,
                    run_id=template.run_id,
                    model_id=model_id,
                    await_creation_for=0,
                )
                created.append(str(mv.version))
            burst_seconds = time.time() - burst_started
            print(f"   registered {len(created)} versions in {burst_seconds:.1f} s")
            state = root / "state"

            def received() -> list[dict[str, Any]]:
                return [
                    r
                    for r in rows(state)
                    if json.loads(r["payload"]).get("name") == name
                    and r["event"] == "model_version.created"
                ]

            deadline = time.monotonic() + 120
            while len(received()) < len(created) and time.monotonic() < deadline:
                time.sleep(0.5)
            got = received()
            times = sorted(r["received_at"] for r in got)
            accept_span = (times[-1] - times[0]) if len(times) > 1 else 0.0
            print(
                f"   govern received {len(got)}/{len(created)} deliveries in "
                f"{accept_span:.1f} s (first to last)"
            )
            flood_wall, latencies, statuses = flood(url, args.flood, 8)
            print(
                f"   direct flood: {args.flood} deliveries in {flood_wall:.2f} s while auditing "
                f"({args.flood / flood_wall:.0f}/s), latency median {median(latencies) * 1000:.0f}"
                f" ms, max {max(latencies) * 1000:.0f} ms, statuses {sorted(set(statuses))}"
            )
            deadline = time.monotonic() + args.timeout
            while time.monotonic() < deadline:
                done = [r for r in received() if r["state"] == "done"]
                if len(done) >= len(created):
                    break
                time.sleep(5)
                print(f"   ... {len(done)}/{len(created)} audited, load {loadavg()}", flush=True)
            got = received()
            finished = [r["finished_at"] for r in got if r["finished_at"]]
            drain = max(finished) - times[0] if finished and times else float("nan")
            # Exactly once: one audit run per version, one record each.
            experiment = client.get_experiment_by_name("govern-audits")
            runs = client.search_runs(
                [experiment.experiment_id],
                filter_string=f"tags.`govern.model` = '{name}'",
                max_results=5000,
            )
            per_version: dict[str, int] = {}
            for run in runs:
                version = run.data.tags.get("govern.version", "")
                per_version[version] = per_version.get(version, 0) + 1
            records = 0
            verdicts: dict[str, int] = {}
            for version in created:
                tag = client.get_model_version(name, version).tags.get("govern.audit")
                if tag:
                    records += 1
                    status = json.loads(tag)["status"]
                    verdicts[status] = verdicts.get(status, 0) + 1
            once = all(per_version.get(v) == 1 for v in created)
            lost = len(created) - records
            audits_per_minute = len(finished) / drain * 60 if drain == drain and drain else 0.0
            print(
                f"   audited {records}/{len(created)} versions ({verdicts}); exactly once: "
                f"{once}; lost: {lost}; drain {drain:.0f} s -> {audits_per_minute:.1f} audits/min"
            )
            ok = once and lost == 0 and len(got) == len(created)
            print(f"RESULT: {'every version audited exactly once' if ok else 'PROBLEM'}")
            finish(
                "webhooks",
                versions=len(created),
                received=len(got),
                records=records,
                verdicts=verdicts,
                exactly_once=once,
                lost=lost,
                registration_seconds=round(burst_seconds, 2),
                mlflow_burst_accept_span_seconds=round(accept_span, 2),
                mlflow_burst_accepted_per_second=round(len(got) / accept_span, 1)
                if accept_span
                else None,
                flood_deliveries=args.flood,
                flood_seconds=round(flood_wall, 2),
                flood_accepted_per_second=round(args.flood / flood_wall, 1),
                flood_latency_median_ms=round(median(latencies) * 1000, 1),
                flood_latency_max_ms=round(max(latencies) * 1000, 1),
                drain_seconds=round(drain, 1),
                audits_per_minute=round(audits_per_minute, 1),
                rows=args.rows,
            )
            return 0 if ok else 1
        finally:
            stop(serve)
            stop(server)


if __name__ == "__main__":
    sys.exit(main())
