"""Load: a burst of model_version.created webhooks from a real ``mlflow server`` to
``govern serve`` (not one of the six goals; not run by ``run_all.py``).

Run: ``.venv/bin/python bench/bench_webhooks.py [--versions 200] [--models 4] [--workers 1,2,4]
[--rows 2000]``: one run per ``--workers`` value, each on a fresh server, registry and queue.

Setup: ``mlflow server`` on 127.0.0.1 (sqlite backend, proxied artifacts, ``--workers 1``) with
MLflow's webhook variables (a Fernet key, http and private addresses allowed); ``govern serve``
on 127.0.0.1 with its queue in a temporary state folder; a webhook for ``model_version.created``
created with ``MlflowClient.create_webhook``. One training run logs a small frame (``--rows``,
default 2,000 rows, ten columns) with ``govern.track`` and a scikit-learn logistic regression;
then ``--versions`` versions spread round-robin over ``--models`` models are registered from
that run as fast as the client can (``create_model_version``): MLflow delivers one signed
webhook per version. ``govern serve --workers N`` audits different models at once and one
model's versions one after another, so ``--models 1`` gains nothing from workers.

While the worker drains the queue, 200 more signed deliveries are sent straight to
``/webhook`` by 8 client threads (for a model that does not exist: each is queued, then skipped)
to time acceptance under load.

Measured:
- every version has exactly one govern audit run and a ``govern.audit`` record (none lost, none
  audited twice) and every queued delivery is done;
- deliveries accepted per second: (a) the MLflow burst, from govern's queue (first to last
  received); (b) the direct flood, wall time and per-request latency (median, max);
- audits per minute: versions audited / (last audit finished - first delivery received);
- how many audits ran at once (from the queue's claim and finish times: the peak, and the mean
  over the drain) and the resident memory of govern serve's processes (sampled every 5 s).
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


def start_govern(
    root: Path, uri: str, policy: Path, workers: int
) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    log = root / "serve.log"
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [
                str(GOVERN), "serve", "--port", str(port), "--state", str(root / "state"),
                "--policy", str(policy), "--tracking-uri", uri, "--workers", str(workers),
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
            "SELECT delivery_id, event, payload, received_at, state, claimed_at, finished_at, "
            "outcome "
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


def session_rss(sid: int) -> tuple[int, int]:
    """(total, largest) resident bytes of the live processes in session ``sid``."""
    sizes = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            if int(stat[stat.rindex(")") + 2 :].split()[3]) != sid:
                continue
            rss = next(
                line
                for line in (entry / "status").read_text().splitlines()
                if line.startswith("VmRSS:")
            )
        except (OSError, StopIteration, ValueError):
            continue
        sizes.append(int(rss.split()[1]) * 1024)
    return sum(sizes), max(sizes, default=0)


def concurrency(spans: list[tuple[float, float]]) -> tuple[int, float]:
    """(peak, mean over the whole span) of how many intervals were open at once."""
    if not spans:
        return 0, 0.0
    edges = sorted([(a, 1) for a, _ in spans] + [(b, -1) for _, b in spans])
    open_now = peak = 0
    area = 0.0
    last = edges[0][0]
    for at, step in edges:
        area += open_now * (at - last)
        last = at
        open_now += step
        peak = max(peak, open_now)
    total = edges[-1][0] - edges[0][0]
    return peak, (area / total if total else 0.0)


def run_once(args: argparse.Namespace, workers: int) -> dict[str, Any]:
    """One burst on a fresh mlflow server and a fresh govern serve with ``workers`` workers."""
    from mlflow.tracking import MlflowClient

    print(f"-- govern serve --workers {workers}: {args.versions} versions over {args.models} "
          f"models, load {loadavg()}", flush=True)  # fmt: skip
    with workdir(f"webhooks-w{workers}") as root:
        server, uri = start_mlflow(root)
        policy = write_policy(root)
        serve, url = start_govern(root, uri, policy, workers)
        try:
            client = MlflowClient(uri, uri)
            template_name = "bench-template"
            df = make_frame(args.rows, seed=7)
            # The training run and its model first, without a webhook: its version is the
            # template the burst copies (same run, same model files, same data).
            register_version(uri, template_name, df, root / "data" / "train.parquet", train(df))
            template = client.get_model_version(template_name, "1")
            # MLflow accepts a models:/ source only with the logged model's id beside it.
            model_id = getattr(template, "model_id", None) or (
                template.source.removeprefix("models:/")
                if template.source.startswith("models:/")
                else None
            )
            names = [f"bench-hooked-{i}" for i in range(args.models)]
            for name in names:
                client.create_registered_model(name)
            client.create_webhook(
                name="govern-bench",
                url=f"{url}/webhook",
                events=["model_version.created"],
                secret=SECRET,
            )
            time.sleep(2)  # MLflow caches the webhook list for MLFLOW_WEBHOOK_CACHE_TTL
            burst_started = time.time()
            created: list[tuple[str, str]] = []
            for i in range(args.versions):
                name = names[i % len(names)]
                mv = client.create_model_version(
                    name,
                    template.source,
                    run_id=template.run_id,
                    model_id=model_id,
                    await_creation_for=0,
                )
                created.append((name, str(mv.version)))
            burst_seconds = time.time() - burst_started
            print(f"   registered {len(created)} versions in {burst_seconds:.1f} s")
            state = root / "state"

            def received() -> list[dict[str, Any]]:
                return [
                    r
                    for r in rows(state)
                    if json.loads(r["payload"]).get("name") in names
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
            peak_rss = largest_rss = 0
            loads = []
            while time.monotonic() < deadline:
                total, largest = session_rss(serve.pid)
                peak_rss, largest_rss = max(peak_rss, total), max(largest_rss, largest)
                done = [r for r in received() if r["state"] == "done"]
                if len(done) >= len(created):
                    break
                time.sleep(5)
                loads.append(os.getloadavg()[0])
                if len(loads) % 6 == 0:
                    print(
                        f"   ... {len(done)}/{len(created)} audited, load {loadavg()}", flush=True
                    )
            got = received()
            finished = [r["finished_at"] for r in got if r["finished_at"]]
            drain = max(finished) - times[0] if finished and times else float("nan")
            peak, mean_busy = concurrency(
                [
                    (r["claimed_at"], r["finished_at"])
                    for r in got
                    if r["claimed_at"] and r["finished_at"]
                ]
            )
            # Exactly once: one audit run per version, one record each.
            experiment = client.get_experiment_by_name("govern-audits")
            runs = client.search_runs(
                [experiment.experiment_id], filter_string="", max_results=5000
            )
            per_version: dict[tuple[str, str], int] = {}
            for run in runs:
                key = (
                    run.data.tags.get("govern.model", ""),
                    run.data.tags.get("govern.version", ""),
                )
                per_version[key] = per_version.get(key, 0) + 1
            records = 0
            verdicts: dict[str, int] = {}
            for name, version in created:
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
                f"{once}; lost: {lost}; drain {drain:.0f} s -> {audits_per_minute:.1f} audits/min;"
                f" audits at once: peak {peak}, mean {mean_busy:.2f}; govern serve's processes "
                f"{peak_rss / 2**30:.2f} GiB resident at most (largest one "
                f"{largest_rss / 2**30:.2f} GiB); load during the drain "
                f"{min(loads, default=0):.1f}-{max(loads, default=0):.1f}"
            )
            return {
                "workers": workers,
                "models": args.models,
                "versions": len(created),
                "received": len(got),
                "records": records,
                "verdicts": verdicts,
                "exactly_once": once,
                "lost": lost,
                "ok": once and lost == 0 and len(got) == len(created),
                "registration_seconds": round(burst_seconds, 2),
                "mlflow_burst_accept_span_seconds": round(accept_span, 2),
                "flood_deliveries": args.flood,
                "flood_seconds": round(flood_wall, 2),
                "flood_accepted_per_second": round(args.flood / flood_wall, 1),
                "flood_latency_median_ms": round(median(latencies) * 1000, 1),
                "flood_latency_max_ms": round(max(latencies) * 1000, 1),
                "drain_seconds": round(drain, 1),
                "audits_per_minute": round(audits_per_minute, 1),
                "audits_at_once_peak": peak,
                "audits_at_once_mean": round(mean_busy, 2),
                "serve_rss_peak_gib": round(peak_rss / 2**30, 2),
                "largest_process_rss_gib": round(largest_rss / 2**30, 2),
                "load_min": round(min(loads, default=0), 1),
                "load_max": round(max(loads, default=0), 1),
                "rows": args.rows,
            }
        finally:
            stop(serve)
            stop(server)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--versions", type=int, default=200)
    parser.add_argument("--models", type=int, default=4)
    parser.add_argument(
        "--workers", default="1,2,4", help="comma-separated: one run per value, in this order"
    )
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--flood", type=int, default=200)
    parser.add_argument("--timeout", type=float, default=7200, help="seconds for each drain")
    args = parser.parse_args()
    counts = [int(n) for n in args.workers.split(",") if n.strip()]
    setup_env()
    header(
        f"webhook burst: {args.versions} model_version.created deliveries over {args.models} "
        f"models to govern serve, --workers {args.workers}"
    )
    results = [run_once(args, n) for n in counts]
    ok = all(r["ok"] for r in results)
    print(f"RESULT: {'every version audited exactly once' if ok else 'PROBLEM'}")
    for r in results:
        print(
            f"   --workers {r['workers']}: {r['audits_per_minute']} audits/min, drain "
            f"{r['drain_seconds']} s, at once peak {r['audits_at_once_peak']} mean "
            f"{r['audits_at_once_mean']}, load {r['load_min']}-{r['load_max']}"
        )
    finish("webhooks", runs=results)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
