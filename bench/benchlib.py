"""Shared helpers for govern's benchmarks: environment, machine facts, load, timing, verdicts.

Every benchmark builds its registries and data under a temporary folder (``$GOVERN_BENCH_TMP`` or
the system's), never in the repository, and deletes it at the end unless ``GOVERN_BENCH_KEEP=1``.
A benchmark exits non-zero only when it crashes; a missed goal is printed as ``NOT MET``. The last
line of each benchmark is ``BENCH-RESULT {json}``, which ``bench/run_all.py`` collects.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PYTHON = BIN / "python"
GOVERN = BIN / "govern"

ENV = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "GX_ANALYTICS_ENABLED": "false",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    "MLFLOW_LOGGING_LEVEL": "WARNING",
    "GIT_PYTHON_REFRESH": "quiet",
    "PYTHONWARNINGS": "ignore",
    "TQDM_DISABLE": "1",
    "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",
}
LIBRARIES = (
    "mlflow",
    "great-expectations",
    "fairlearn",
    "pandas",
    "numpy",
    "pyarrow",
    "scikit-learn",
    "jinja2",
    "click",
)

LABEL = "label"
SENSITIVE = ["sex", "race"]
NUMERIC = [f"x{i}" for i in range(7)]
"""Ten columns in all: the label, two sensitive features, seven numeric features."""

POLICY = """\
version: 1
models:
  - match: "*"
    packs: [baseline, four-fifths]
    label: label
    positive_label: 1
    sensitive_features: [sex, race]
    expectations:
      - type: expect_column_values_to_be_between
        kwargs: {column: x0, min_value: -100, max_value: 100}
      - type: expect_column_values_to_be_in_set
        kwargs: {column: race, value_set: [A, B, C, D]}
    fairness:
      metrics: [selection_rate, true_positive_rate, false_positive_rate, accuracy_score,
                precision_score]
"""
"""Ten expectations once resolved: the baseline pack's eight (row count; label and two sensitive
features exist and are not null; no duplicated rows) and two of the policy's own."""

_RESULTS: list[dict[str, Any]] = []


def setup_env() -> None:
    import warnings

    warnings.filterwarnings("ignore")  # MLflow's and GX's hints would drown the figures
    os.environ.update(ENV)
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    os.environ.pop("GOVERN_POLICY", None)


PYCACHE = Path(tempfile.gettempdir()) / "govern-bench-pycache"
"""Bytecode cache for the benchmarks' child processes, outside the repository. This session's
environment sets ``PYTHONDONTWRITEBYTECODE=1``, under which an editable install of govern compiles
its modules from source at every start; a pip-installed govern has its bytecode compiled at
install time, so children run with a bytecode cache, as users do."""


def child_env(*, bytecode: bool = True, **extra: str) -> dict[str, str]:
    env = {**os.environ, **ENV, **extra}
    env.pop("MLFLOW_TRACKING_URI", None)
    env.pop("GOVERN_POLICY", None)
    if bytecode:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
    else:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def loadavg() -> str:
    with open("/proc/loadavg") as fh:
        return " ".join(fh.read().split()[:3])


def machine() -> dict[str, Any]:
    cpu = "unknown"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as fh:
        for line in fh:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_kb = 0
    with contextlib.suppress(OSError), open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
                break
    versions = {}
    for dist in LIBRARIES:
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = "not installed"
    return {
        "nproc": os.cpu_count(),
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "cpu": cpu,
        "python": platform.python_version(),
        "libraries": versions,
    }


def header(title: str) -> None:
    m = machine()
    print(f"== {title}")
    print(
        f"   machine: {m['nproc']} CPUs ({m['cpu']}), {m['memory_gib']} GiB, "
        f"Python {m['python']}; load average at start: {loadavg()}",
        flush=True,
    )


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def interleaved(
    rounds: int, sides: dict[str, Callable[[], Any]], *, verbose: bool = True
) -> dict[str, list[float]]:
    """Run each side once per round, in turn (A B A B ...), so that a change in the machine's
    load hits both sides alike; return every side's wall-clock times."""
    times: dict[str, list[float]] = {name: [] for name in sides}
    for r in range(rounds):
        for name, fn in sides.items():
            _, elapsed = timed(fn)
            times[name].append(elapsed)
            if verbose:
                print(f"   round {r + 1}/{rounds} {name:<28} {elapsed:8.3f} s", flush=True)
    return times


def run(cmd: Sequence[str | os.PathLike[str]], **kw: Any) -> subprocess.CompletedProcess[str]:
    """Run a command, failing loudly (with its output) when it crashes."""
    proc = subprocess.run(
        [str(c) for c in cmd], capture_output=True, text=True, env=kw.pop("env", child_env()), **kw
    )
    return proc


def check_exit(proc: subprocess.CompletedProcess[str], allowed: Sequence[int] = (0,)) -> None:
    if proc.returncode not in allowed:
        sys.stderr.write(proc.stdout[-4000:] + "\n" + proc.stderr[-4000:] + "\n")
        raise RuntimeError(f"{proc.args[:3]}... exited {proc.returncode}")


def goal(number: int, title: str, met: bool, detail: str, **figures: Any) -> None:
    word = "MET" if met else "NOT MET"
    print(f"GOAL {number} ({title}): {word} -- {detail}", flush=True)
    _RESULTS.append(
        {"goal": number, "title": title, "met": met, "detail": detail, "figures": figures}
    )


def finish(name: str, **extra: Any) -> None:
    """Print the machine-readable summary ``run_all.py`` collects."""
    payload = {
        "bench": name,
        "load_at_end": loadavg(),
        "goals": _RESULTS,
        "machine": machine(),
        **extra,
    }
    print("BENCH-RESULT " + json.dumps(payload), flush=True)


@contextlib.contextmanager
def workdir(name: str) -> Iterator[Path]:
    """A temporary folder, also the working directory meanwhile: MLflow writes ``./mlruns`` (the
    training runs' artifacts) relative to it."""
    path = Path(
        tempfile.mkdtemp(prefix=f"govern-bench-{name}-", dir=os.environ.get("GOVERN_BENCH_TMP"))
    )
    previous = os.getcwd()
    os.chdir(path)
    try:
        yield path
    finally:
        os.chdir(previous)
        if os.environ.get("GOVERN_BENCH_KEEP") == "1":
            print(f"   kept {path}")
        else:
            shutil.rmtree(path, ignore_errors=True)


# --- data and registries ------------------------------------------------------------------------


def make_frame(rows: int, seed: int) -> Any:
    """Ten columns: an int label that depends on the features, two sensitive string columns
    (2 x 4 = 8 groups) and seven numeric features. Distinct data for every seed."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    sex = rng.choice(np.array(["F", "M"]), size=rows, p=[0.4, 0.6])
    race = rng.choice(np.array(["A", "B", "C", "D"]), size=rows, p=[0.2, 0.2, 0.2, 0.4])
    cols: dict[str, Any] = {}
    male = (sex == "M").astype(np.float64)
    for i, name in enumerate(NUMERIC):
        if i % 3 == 2:
            cols[name] = rng.integers(0, 100, size=rows).astype(np.int64)
        else:
            cols[name] = rng.normal(0.3 * male if i == 0 else 0.0, 1.0, size=rows)
    logit = -1.0 + 1.2 * cols["x0"] - 0.8 * cols["x1"] + 0.01 * cols["x2"] + 0.3 * male
    label = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    return pd.DataFrame({LABEL: label, "sex": sex, "race": race, **cols})


def train(df: Any) -> Any:
    """A real scikit-learn model on the numeric columns (fitted on at most 50,000 rows)."""
    from sklearn.linear_model import LogisticRegression

    sample = df.iloc[:50_000]
    return LogisticRegression(max_iter=500).fit(sample[NUMERIC], sample[LABEL])


def new_sqlite_registry(root: Path) -> str:
    from mlflow.tracking import MlflowClient

    (root / "registry").mkdir(parents=True, exist_ok=True)
    uri = f"sqlite:///{root / 'registry' / 'mlflow.db'}"
    MlflowClient(uri, uri).search_experiments()
    return uri


def register_version(uri: str, name: str, df: Any, data_path: Path, model: Any) -> None:
    """A training run that logs ``df`` with govern.track and a registered sklearn model."""
    import logging

    import mlflow
    import mlflow.sklearn
    from mlflow.models import infer_signature

    from govern.track import log_training_data

    logging.getLogger("mlflow").setLevel(logging.WARNING)

    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    mlflow.set_experiment("training")
    features = df[NUMERIC].iloc[:1000]
    quiet = io.StringIO()  # "Created version '3' of model ...", once per version
    with mlflow.start_run(), contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):
        log_training_data(
            df, data_path, label=LABEL, sensitive_features=SENSITIVE, positive_label=1
        )
        mlflow.sklearn.log_model(
            model,
            name="model",
            signature=infer_signature(features, model.predict(features)),
            registered_model_name=name,
            pip_requirements=["scikit-learn"],
            skops_trusted_types=["numpy.dtype"],
        )


def build_versions(
    uri: str, root: Path, models: int, per_model: int, rows: int, *, seed: int = 100
) -> int:
    """``models`` x ``per_model`` versions, each with its own training run and its own data
    (MLflow shares one dataset record between runs logging the same name and digest)."""
    n = 0
    for m in range(models):
        for v in range(per_model):
            df = make_frame(rows, seed=seed + n)
            path = root / "data" / f"m{m:03d}" / f"v{v + 1}" / "train.parquet"
            register_version(uri, f"model-{m:03d}", df, path, train(df))
            n += 1
    return n


def write_policy(root: Path) -> Path:
    path = root / "govern.yaml"
    path.write_text(POLICY)
    return path


def peak_rss_bytes() -> int:
    """VmHWM of this process."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def rss_bytes() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0
