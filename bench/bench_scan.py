"""Goal 5: ``govern scan --all`` of 1,000 versions on a real tracking server at most 1.2x the bare
MlflowClient calls needed to list them.

Run: ``.venv/bin/python bench/bench_scan.py [--models 100 --per-model 10] [--rounds 3]``.

Setup (not timed): ``mlflow server`` on 127.0.0.1 (sqlite backend, proxied artifacts,
``--workers 1``, ``MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false``) in a temporary folder; 100 models x
10 versions, each version created with ``MlflowClient.create_model_version`` from its own real run
that has a training dataset input logged (``mlflow.data.context = training``).

Then, alternately, each as a fresh process started the same way:

- **govern**: ``govern scan --all --format json --tracking-uri URI``.
- **baseline** (this file with ``--child``): an ``MlflowClient`` and exactly the calls needed to
  list every version with its training dataset, paged like govern (200 a page):
  ``search_registered_models`` until the last page, then per model ``search_model_versions``
  (``name = '...'``) until the last page, then ``get_run`` for each version to read its dataset
  inputs; it prints the same fields as JSON (model, version, aliases, run, dataset name, source,
  digest, governance tags). With 100 models and 1,000 versions that is 1 + 100 + 1,000 = 1,101
  requests. govern makes 1,202: the same, plus one ``search_registered_models`` (the reachability
  check) and one ``get_registered_model`` per model (its aliases, so an alias that points at an
  unlisted version is caught).

Goal: median(govern) <= 1.2 x median(baseline), process start and imports included on both sides.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from benchlib import (
    GOVERN,
    PYTHON,
    check_exit,
    child_env,
    finish,
    goal,
    header,
    loadavg,
    median,
    setup_env,
    workdir,
)

GOAL = 1.2
PAGE = 200


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(root: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    log = (root / "server.log").open("ab")
    proc = subprocess.Popen(
        [
            str(PYTHON),
            "-m",
            "mlflow",
            "server",
            "--backend-store-uri",
            f"sqlite:///{root / 'mlflow.db'}",
            "--artifacts-destination",
            str(root / "artifacts"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        cwd=root,
        env=child_env(MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false"),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    log.close()
    uri = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while True:
        try:
            with urllib.request.urlopen(f"{uri}/health", timeout=2) as resp:
                if resp.status == 200:
                    return proc, uri
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            stop_server(proc)
            raise RuntimeError("mlflow server did not start:\n" + (root / "server.log").read_text())
        time.sleep(0.5)


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=20)


def populate(uri: str, models: int, per_model: int) -> None:
    """Real runs with a training dataset input, and a model version from each run."""
    from mlflow.entities import Dataset, DatasetInput, InputTag
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri, uri)
    experiment = client.create_experiment("training")
    n = 0
    for m in range(models):
        name = f"model-{m:03d}"
        client.create_registered_model(name)
        for v in range(per_model):
            run = client.create_run(experiment, run_name=f"{name}-v{v + 1}")
            run_id = run.info.run_id
            dataset = Dataset(
                name=f"train-{n}.parquet",
                digest=f"{n:08x}",
                source_type="local",
                source=json.dumps({"uri": f"/data/{name}/v{v + 1}/train-{n}.parquet"}),
                schema=json.dumps({"mlflow_colspec": [{"type": "long", "name": "label"}]}),
            )
            tags = [
                InputTag("mlflow.data.context", "training"),
                InputTag("govern.label", "label"),
            ]
            client.log_inputs(run_id, datasets=[DatasetInput(dataset, tags)])
            client.set_terminated(run_id)
            client.create_model_version(name, f"{run.info.artifact_uri}/model", run_id=run_id)
            n += 1
        client.set_registered_model_alias(name, "champion", str(per_model))


def baseline(uri: str) -> None:
    """The bare client calls needed to list every version with its training data."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri, uri)
    models: list[Any] = []
    token = None
    while True:
        page = client.search_registered_models(max_results=PAGE, page_token=token)
        models.extend(page)
        token = page.token
        if not token:
            break
    rows = []
    for model in sorted(models, key=lambda m: m.name):
        aliases: dict[str, list[str]] = {}
        for alias, version in (model.aliases or {}).items():
            aliases.setdefault(str(version), []).append(alias)
        token = None
        while True:
            page = client.search_model_versions(
                filter_string=f"name = '{model.name}'", max_results=PAGE, page_token=token
            )
            for mv in page:
                run = client.get_run(mv.run_id)
                training = [
                    d
                    for d in run.inputs.dataset_inputs
                    if any(t.key == "mlflow.data.context" and t.value == "training" for t in d.tags)
                ]
                ds = training[0].dataset if training else None
                rows.append(
                    {
                        "model": mv.name,
                        "version": mv.version,
                        "aliases": aliases.get(str(mv.version), []),
                        "run_id": mv.run_id,
                        "dataset": None
                        if ds is None
                        else {"name": ds.name, "source": ds.source, "digest": ds.digest},
                        "governance": (mv.tags or {}).get("govern.status"),
                    }
                )
            token = page.token
            if not token:
                break
    print(json.dumps(rows))


def timed_child(cmd: list[str], root: Path) -> tuple[float, Any]:
    start = time.perf_counter()
    proc = subprocess.run(
        [str(c) for c in cmd], capture_output=True, text=True, env=child_env(), cwd=root
    )
    elapsed = time.perf_counter() - start
    check_exit(proc)
    return elapsed, json.loads(proc.stdout)


def main(args: argparse.Namespace) -> None:
    total = args.models * args.per_model
    header(f"Goal 5: govern scan --all of {total} versions on a tracking server vs bare client")
    with workdir("scan") as root:
        server, uri = start_server(root)
        try:
            start = time.perf_counter()
            populate(uri, args.models, args.per_model)
            print(f"   setup {time.perf_counter() - start:.1f} s ({uri}, --workers 1)", flush=True)
            sides = {
                "govern scan --all": [
                    GOVERN,
                    "scan",
                    "--all",
                    "--format",
                    "json",
                    "--tracking-uri",
                    uri,
                ],
                "bare MlflowClient": [PYTHON, __file__, "--child", uri],
            }
            times: dict[str, list[float]] = {k: [] for k in sides}
            counts: dict[str, int] = {}
            for r in range(args.rounds):
                order = list(sides) if r % 2 == 0 else list(reversed(sides))
                for name in order:
                    elapsed, rows = timed_child(sides[name], root)
                    times[name].append(elapsed)
                    counts[name] = len(rows)
                    print(
                        f"   round {r + 1}/{args.rounds} {name:<20} {elapsed:7.2f} s "
                        f"({len(rows)} versions); load {loadavg()}",
                        flush=True,
                    )
        finally:
            stop_server(server)
        tg, tb = median(times["govern scan --all"]), median(times["bare MlflowClient"])
        ok = tg / tb <= GOAL and counts["govern scan --all"] == counts["bare MlflowClient"] == total
        print(f"   load average now {loadavg()}")
        goal(
            5,
            "govern scan --all <= 1.2x bare MlflowClient listing",
            ok,
            f"govern {tg:.2f} s vs bare client {tb:.2f} s = {tg / tb:.2f}x for {total} versions "
            f"(goal <= {GOAL}x; medians of {args.rounds}; process start included on both sides)",
            govern_s=round(tg, 3),
            baseline_s=round(tb, 3),
            ratio=round(tg / tb, 3),
            versions=total,
        )
    finish("scan")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=100)
    parser.add_argument("--per-model", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--child", metavar="URI", help=argparse.SUPPRESS)
    setup_env()
    parsed = parser.parse_args()
    if parsed.child:
        baseline(parsed.child)
        sys.exit(0)
    main(parsed)
