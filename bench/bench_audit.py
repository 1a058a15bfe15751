"""Goal 3: one full audit of a version trained on 1,000,000 rows x 10 columns.

Run: ``.venv/bin/python bench/bench_audit.py [--rows N] [--rounds N] [--profile]``.

Setup (not timed): a sqlite registry in a temporary folder; the data (label, two sensitive
features giving 8 groups, seven numeric features) is logged with ``govern.track.log_training_data``
and a scikit-learn ``LogisticRegression`` on the numeric columns is registered as ``big/1``.

Then, alternately, one fresh process per side and per round (so each side's peak memory is its
own):

- **govern**: ``load_policy`` + ``Registry`` + ``resolve`` + ``audit_and_write(write=False,
  jobs=1)`` (what ``govern audit big/1 --no-write --jobs 1 --out DIR`` runs: the HTML report,
  index and results.json that ``--out`` writes). The policy resolves to 10 expectations (the
  baseline pack's 8 and two more) and the four-fifths pack plus five group metrics.
- **hand-written**: the same work with the same libraries and nothing else: ``MlflowClient``
  (version -> run -> training dataset source), hashlib SHA-256 of the file, ``pd.read_parquet``,
  MLflow's ``compute_pandas_digest``, the same 10 expectations in one GX suite on an ephemeral
  context (SUMMARY results, as govern asks), ``mlflow.pyfunc.load_model`` + ``predict``, the
  confusion counts and five metrics per group with a pandas group-by plus the demographic parity
  ratio, and a jinja2 HTML report plus a JSON file.

Each child imports the libraries first (not timed), notes its RSS (the baseline), does the work
(timed), and reports its time and its peak RSS (``VmHWM``) above the baseline. Goals: govern's
median time at most 1.3x the hand-written script's, and govern's peak above baseline at most 2.5x
the DataFrame's in-memory size (``memory_usage(deep=True)``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from benchlib import (
    LABEL,
    NUMERIC,
    PYTHON,
    SENSITIVE,
    check_exit,
    child_env,
    finish,
    goal,
    header,
    loadavg,
    make_frame,
    median,
    new_sqlite_registry,
    peak_rss_bytes,
    register_version,
    rss_bytes,
    run,
    setup_env,
    train,
    workdir,
    write_policy,
)

MODEL = "big"
TIME_GOAL = 1.3
MEMORY_GOAL = 2.5
METRICS = ["selection_rate", "true_positive_rate", "false_positive_rate", "accuracy_score"]

REPORT = """<!doctype html><html><head><meta charset="utf-8">
<title>{{ model }}/{{ version }}</title></head><body>
<h1>{{ model }} version {{ version }}: {{ verdict }}</h1>
<p>data {{ source }}: {{ rows }} rows, sha256 {{ sha }}, MLflow digest {{ digest }}</p>
<h2>Checks</h2><table>{% for c in checks %}<tr><td>{{ c.id }}</td><td>{{ c.status }}</td>
<td>{{ c.summary }}</td></tr>{% endfor %}</table>
<h2>Groups</h2><table>{% for g in groups %}<tr><td>{{ g.group }}</td><td>{{ g.count }}</td>
{% for m, v in g.metrics.items() %}<td>{{ m }} {{ '%.4f' % v }}</td>{% endfor %}</tr>
{% endfor %}</table></body></html>
"""


# --- the two children ---------------------------------------------------------------------------


def _import_common() -> None:
    import fairlearn.metrics  # noqa: F401
    import great_expectations  # noqa: F401
    import jinja2  # noqa: F401
    import mlflow  # noqa: F401
    import mlflow.pyfunc  # noqa: F401
    import mlflow.sklearn  # noqa: F401
    import numpy  # noqa: F401
    import pandas  # noqa: F401
    import pyarrow.parquet  # noqa: F401
    import sklearn.linear_model  # noqa: F401
    from mlflow.data.digest_utils import compute_pandas_digest  # noqa: F401
    from mlflow.tracking import MlflowClient  # noqa: F401


def child_govern(uri: str, policy_path: str, out: str, profile: bool) -> dict[str, Any]:
    _import_common()
    import govern.checks.fairness  # noqa: F401
    import govern.checks.quality  # noqa: F401
    import govern.checks.representation  # noqa: F401
    import govern.pipeline.audit
    from govern.config.policy import load_policy
    from govern.config.selectors import parse_selector
    from govern.registry.client import Registry
    from govern.render.outputs import OutputRequest

    baseline = rss_bytes()
    profiler = None
    if profile:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.005)
        profiler.start()
    start = time.perf_counter()
    policy = load_policy(policy_path)
    registry = Registry(uri)
    versions = registry.resolve([parse_selector(f"{MODEL}/1")])
    result = govern.pipeline.audit.audit_and_write(
        registry, policy, versions, OutputRequest(out=Path(out)), write=False, jobs=1
    )
    elapsed = time.perf_counter() - start
    if profiler is not None:
        profiler.stop()
        sys.stderr.write(profiler.output_text(unicode=False, color=False))
    version = result.versions[0]
    return {
        "seconds": elapsed,
        "baseline": baseline,
        "peak": peak_rss_bytes(),
        "verdict": version.verdict,
        "checks": {c.id: c.status for c in version.checks},
    }


def child_hand(uri: str, out: str, profile: bool) -> dict[str, Any]:
    _import_common()
    import hashlib

    import great_expectations as gx
    import great_expectations.expectations as gxe
    import jinja2
    import mlflow
    import mlflow.pyfunc
    import pandas as pd
    from great_expectations.data_context.types.base import ProgressBarsConfig
    from mlflow.data.digest_utils import compute_pandas_digest
    from mlflow.tracking import MlflowClient

    baseline = rss_bytes()
    profiler = None
    if profile:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.005)
        profiler.start()
    start = time.perf_counter()
    checks: list[dict[str, Any]] = []

    # Lineage: version -> run -> the dataset input with context "training".
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    client = MlflowClient(uri, uri)
    mv = client.get_model_version(MODEL, "1")
    training_run = client.get_run(mv.run_id)
    (dataset_input,) = [
        d
        for d in training_run.inputs.dataset_inputs
        if {t.key: t.value for t in d.tags}.get("mlflow.data.context") == "training"
    ]
    tags = {t.key: t.value for t in dataset_input.tags}
    source = json.loads(dataset_input.dataset.source)["uri"]

    # Integrity: SHA-256 of the file, MLflow's digest of the DataFrame.
    sha = hashlib.sha256()
    with open(source, "rb") as fh:
        while chunk := fh.read(1 << 20):
            sha.update(chunk)
    df = pd.read_parquet(source)
    digest = compute_pandas_digest(df)
    checks.append({"id": "sha256", "status": sha.hexdigest() == tags["govern.sha256"]})
    checks.append({"id": "digest", "status": digest == dataset_input.dataset.digest})

    # Data quality: the same 10 expectations, one suite, ephemeral context.
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    datasource = context.data_sources.add_pandas(name="bench")
    asset = datasource.add_dataframe_asset(name="bench")
    batch = asset.add_batch_definition_whole_dataframe("bench").get_batch(
        batch_parameters={"dataframe": df}
    )
    suite = gx.ExpectationSuite(name="bench")
    expectations = [
        gxe.ExpectTableRowCountToBeBetween(min_value=1),
        *(gxe.ExpectColumnToExist(column=c) for c in [LABEL, *SENSITIVE]),
        *(gxe.ExpectColumnValuesToNotBeNull(column=c) for c in [LABEL, *SENSITIVE]),
        gxe.ExpectCompoundColumnsToBeUnique(column_list=list(df.columns), mostly=0.99),
        gxe.ExpectColumnValuesToBeBetween(column="x0", min_value=-100, max_value=100),
        gxe.ExpectColumnValuesToBeInSet(column="race", value_set=["A", "B", "C", "D"]),
    ]
    for expectation in expectations:
        suite.add_expectation(expectation)
    validation = batch.validate(
        suite, result_format={"result_format": "SUMMARY", "partial_unexpected_count": 5}
    )
    checks.extend(
        {"id": r.expectation_config.type, "status": bool(r.success)} for r in validation.results
    )

    # Predict with the registered model, then group metrics from confusion counts.
    model = mlflow.pyfunc.load_model(f"models:/{MODEL}/1")
    predicted = model.predict(df[NUMERIC])
    truth = df[LABEL].to_numpy() == 1
    guess = pd.Series(predicted).to_numpy() == 1
    frame = df[SENSITIVE].assign(
        tp=truth & guess, fp=~truth & guess, fn=truth & ~guess, tn=~truth & ~guess
    )
    c = frame.groupby(SENSITIVE, observed=True).sum()
    n = c.tp + c.fp + c.fn + c.tn
    metrics = pd.DataFrame(
        {
            "selection_rate": (c.tp + c.fp) / n,
            "true_positive_rate": c.tp / (c.tp + c.fn),
            "false_positive_rate": c.fp / (c.fp + c.tn),
            "accuracy_score": (c.tp + c.tn) / n,
            "precision_score": c.tp / (c.tp + c.fp),
        }
    )
    ratio = metrics.selection_rate.min() / metrics.selection_rate.max()
    checks.append({"id": "demographic_parity_ratio", "status": bool(ratio >= 0.8)})
    checks.append({"id": "min_group_size", "status": bool(n.min() >= 30)})
    groups = [
        {"group": dict(zip(SENSITIVE, key, strict=True)), "count": int(n[key]), "metrics": row}
        for key, row in metrics.to_dict(orient="index").items()
    ]

    # Report.
    verdict = "pass" if all(ch["status"] for ch in checks) else "fail"
    for ch in checks:
        ch["status"] = "pass" if ch["status"] else "fail"
        ch["summary"] = ch["id"]
    html = (
        jinja2.Environment(autoescape=True)
        .from_string(REPORT)
        .render(
            model=MODEL,
            version="1",
            verdict=verdict,
            source=source,
            rows=len(df),
            sha=sha.hexdigest(),
            digest=digest,
            checks=checks,
            groups=groups,
        )
    )
    Path(out).mkdir(parents=True, exist_ok=True)
    (Path(out) / "report.html").write_text(html)
    (Path(out) / "results.json").write_text(
        json.dumps({"verdict": verdict, "checks": checks, "groups": groups}, default=str)
    )
    elapsed = time.perf_counter() - start
    if profiler is not None:
        profiler.stop()
        sys.stderr.write(profiler.output_text(unicode=False, color=False))
    return {
        "seconds": elapsed,
        "baseline": baseline,
        "peak": peak_rss_bytes(),
        "verdict": verdict,
        "checks": {ch["id"]: ch["status"] for ch in checks},
    }


# --- the parent ---------------------------------------------------------------------------------


def build(root: Path, rows: int) -> tuple[str, Path, Path, int]:
    import pandas as pd

    uri = new_sqlite_registry(root)
    df = make_frame(rows, seed=3)
    data_path = root / "data" / "train.parquet"
    register_version(uri, MODEL, df, data_path, train(df))
    df_bytes = int(pd.read_parquet(data_path).memory_usage(deep=True).sum())
    return uri, data_path, write_policy(root), df_bytes


def side(kind: str, uri: str, policy: Path, out: Path, profile: bool) -> dict[str, Any]:
    cmd = [PYTHON, __file__, "--child", kind, "--uri", uri, "--policy", policy, "--out", out]
    if profile:
        cmd.append("--profile")
    proc = run(cmd, env=child_env(), cwd=out.parent)
    check_exit(proc)
    if profile:
        print(f"--- profile of the {kind} side\n{proc.stderr[-12000:]}")
    line = [x for x in proc.stdout.splitlines() if x.startswith("CHILD ")][-1]
    return dict(json.loads(line[len("CHILD ") :]))


def main(rows: int, rounds: int, profile: bool) -> None:
    header(f"Goal 3: one full audit of {rows:,} rows x 10 columns vs a hand-written script")
    with workdir("audit") as root:
        start = time.perf_counter()
        uri, data_path, policy, df_bytes = build(root, rows)
        print(
            f"   setup {time.perf_counter() - start:.1f} s: "
            f"{data_path.stat().st_size / 1e6:.1f} MB "
            f"parquet, DataFrame {df_bytes / 2**20:.1f} MiB in memory (deep)",
            flush=True,
        )
        results: dict[str, list[dict[str, Any]]] = {"govern": [], "hand": []}
        for r in range(rounds):
            for kind in ("govern", "hand"):
                res = side(kind, uri, policy, root / f"out-{kind}-{r}", profile and r == 0)
                results[kind].append(res)
                print(
                    f"   round {r + 1}/{rounds} {kind:<7} {res['seconds']:7.2f} s, peak "
                    f"{(res['peak'] - res['baseline']) / 2**20:7.1f} MiB above baseline "
                    f"({res['baseline'] / 2**20:.0f} MiB), verdict {res['verdict']}",
                    flush=True,
                )
        gov = results["govern"][-1]
        bad = {k: v for k, v in gov["checks"].items() if v != "pass"}
        print(f"   govern checks: {len(gov['checks'])}, not passed: {bad or 'none'}")
        tg = median([x["seconds"] for x in results["govern"]])
        th = median([x["seconds"] for x in results["hand"]])
        mg = median([x["peak"] - x["baseline"] for x in results["govern"]])
        mh = median([x["peak"] - x["baseline"] for x in results["hand"]])
        print(f"   load average now {loadavg()}")
        goal(
            3,
            "full audit <= 1.3x hand-written script",
            tg / th <= TIME_GOAL,
            f"govern {tg:.2f} s vs hand-written {th:.2f} s = {tg / th:.2f}x "
            f"(goal <= {TIME_GOAL}x; medians of {rounds})",
            govern_s=round(tg, 3),
            hand_s=round(th, 3),
            ratio=round(tg / th, 3),
        )
        goal(
            3,
            "audit peak memory <= 2.5x DataFrame size above baseline",
            mg / df_bytes <= MEMORY_GOAL,
            f"govern peak {mg / 2**20:.0f} MiB above baseline = {mg / df_bytes:.2f}x the "
            f"{df_bytes / 2**20:.0f} MiB DataFrame (hand-written {mh / 2**20:.0f} MiB = "
            f"{mh / df_bytes:.2f}x; goal <= {MEMORY_GOAL}x)",
            govern_peak_mib=round(mg / 2**20, 1),
            hand_peak_mib=round(mh / 2**20, 1),
            df_mib=round(df_bytes / 2**20, 1),
            ratio=round(mg / df_bytes, 3),
            hand_ratio=round(mh / df_bytes, 3),
        )
    finish("audit", rows=rows)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="pyinstrument, first round")
    parser.add_argument("--child", choices=["govern", "hand"], help=argparse.SUPPRESS)
    parser.add_argument("--uri", help=argparse.SUPPRESS)
    parser.add_argument("--policy", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    setup_env()
    if args.child == "govern":
        out = child_govern(args.uri, args.policy, args.out, args.profile)
        print("CHILD " + json.dumps(out))
    elif args.child == "hand":
        print("CHILD " + json.dumps(child_hand(args.uri, args.out, args.profile)))
    else:
        main(args.rows, args.rounds, args.profile)
