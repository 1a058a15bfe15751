"""Load: `govern audit --all` over 250 registered models with several versions each.

Builds a sqlite registry of 250 models x 3 versions. Every version points at one of a few real
training runs (real data logged with govern.track, a real scikit-learn model), so each audit does
the full work: lineage, hashing, Great Expectations, predict, fairness. Prints resident memory
after every 50 versions, to show it does not grow with the number of versions audited, and checks
that every version is accounted for.

    .venv/bin/python bench/bench_load.py [--models 250] [--versions 3]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", type=int, default=250)
    parser.add_argument("--versions", type=int, default=3)
    parser.add_argument("--runs", type=int, default=4, help="distinct training runs to point at")
    args = parser.parse_args()

    import warnings

    warnings.filterwarnings("ignore")
    import logging

    import mlflow
    import pandas as pd
    from mlflow.tracking import MlflowClient

    logging.getLogger("mlflow").setLevel(logging.ERROR)
    from govern.config.policy import load_policy
    from govern.demo import log_model, train_models
    from govern.pipeline.audit import audit_and_write
    from govern.registry.client import Registry
    from govern.render.outputs import OutputRequest
    from govern.resources import adult_sample_path
    from govern.track import log_training_data

    root = Path(tempfile.mkdtemp(prefix="govern-load-"))
    uri = f"sqlite:///{root / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    client = MlflowClient(uri, uri)
    exp = client.create_experiment("training", artifact_location=(root / "artifacts").as_uri())
    adult = pd.read_csv(adult_sample_path())
    _, mitigated = train_models(adult)
    sources = []
    t0 = time.perf_counter()
    for i in range(args.runs):
        data = adult.sample(n=800, random_state=i).reset_index(drop=True)
        with mlflow.start_run(experiment_id=exp) as run:
            log_training_data(
                data,
                root / f"data{i}.parquet",
                label="income",
                sensitive_features=["sex"],
                positive_label=">50K",
            )
            info = log_model("unused", mitigated, data.drop(columns=["income"]), register=False)
        sources.append((run.info.run_id, info.model_uri, info.model_id))
    for m in range(args.models):
        name = f"load-{m:03d}"
        client.create_registered_model(name)
        for v in range(args.versions):
            run_id, model_uri, model_id = sources[(m * args.versions + v) % len(sources)]
            client.create_model_version(name, source=model_uri, run_id=run_id, model_id=model_id)
    build = time.perf_counter() - t0
    policy_path = root / "govern.yaml"
    policy_path.write_text(
        "version: 1\nmodels:\n  - match: '*'\n    packs: [baseline, four-fifths]\n"
        "    fairness: {min_group_size: 30}\n"
    )
    registry = Registry(uri)
    policy = load_policy(policy_path)
    versions = registry.resolve([], all_models=True)
    total = len(versions)
    print(
        f"registry: {args.models} models x {args.versions} versions = {total} versions "
        f"(built in {build:.0f} s)",
        flush=True,
    )
    samples: list[tuple[int, float]] = []
    done = 0
    start = time.perf_counter()

    def progress(message: str, transient: bool) -> None:
        nonlocal done
        if transient:
            return
        if message.startswith("["):
            done += 1
            if done % 50 == 0 or done == total:
                samples.append((done, rss_mb()))
                print(
                    f"  {done:4d}/{total} audited, RSS {samples[-1][1]:.0f} MB, "
                    f"{time.perf_counter() - start:.0f} s",
                    flush=True,
                )

    run = audit_and_write(
        registry, policy, versions, OutputRequest(), write=False, progress=progress
    )
    elapsed = time.perf_counter() - start
    counts = run.counts()
    accounted = sum(counts.values())
    print(
        f"audited {accounted}/{total} versions in {elapsed:.0f} s "
        f"({elapsed / total:.2f} s per version): {counts}"
    )
    first, last = samples[0][1], samples[-1][1]
    growth = last - first
    print(
        f"RSS after {samples[0][0]} versions: {first:.0f} MB; after {samples[-1][0]}: "
        f"{last:.0f} MB; growth {growth:+.0f} MB "
        f"({growth / max(samples[-1][0] - samples[0][0], 1) * 1024:.1f} KB per version)"
    )
    ok = accounted == total
    print("every version accounted for:", "YES" if ok else "NO")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
