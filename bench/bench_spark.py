"""The Spark engine against the pandas engine on one large training set, and where pandas stops.

    .venv/bin/python bench/bench_spark.py                       # 20M rows; ladder 1M..20M
    .venv/bin/python bench/bench_spark.py --rows 200000 --ladder 100000,200000   # smoke test
    .venv/bin/python bench/bench_spark.py --out /tmp/spark-bench --data /tmp/spark-data

What it does, all under a temporary folder (``--data`` keeps the generated parquet for reruns):

1. Generates ``--rows`` rows x 10 columns as a folder of parquet files, one file per chunk of at
   most 1,000,000 rows, deterministically (numpy seed per chunk), so memory stays at one chunk:
   a binary label, two sensitive features (``race`` has missing values), five numeric features
   and two categorical ones. Every smaller size of the ladder is a prefix of the same files
   (hard links), so the data of 5M rows is the first five files of the 20M.
2. Trains a scikit-learn pipeline (one-hot categoricals, scaled numerics, logistic regression)
   on 100,000 rows and logs it with MLflow to a sqlite registry, with the training data logged as
   a Spark user logs it: ``mlflow.log_input(mlflow.data.from_spark(df, path=folder))``, tagged
   with the full hash that engine's ``govern.track`` would record (``register_all``). Label,
   positive label and sensitive features are in the policy. Two registered models per size, one
   per engine; ``--no-duplicate-check`` drops the baseline pack's duplicate-row check, a sort of
   every row on Spark and most of the Spark engine's time.
3. Runs ``govern audit`` as a child process, ``--engine spark --spark-master local[2]
   --spark-conf spark.driver.memory=2g`` on ``--rows``, and ``--engine pandas`` on the same data
   (under a safety cap, ``--cap``, default 12 GiB on its process tree, so that it cannot take the
   shared machine down), sampling every 0.2 s the resident memory (``VmRSS``, and each process's
   ``VmHWM``) and CPU time of the whole process tree: govern's Python process (the driver), its
   JVM, the sandboxed prediction child (a Python process, with its own JVM on Spark) and Spark's
   Python workers. Each audit runs in a fresh memory cgroup, which also gives its peak.
4. The ladder: the pandas engine under a memory budget (``--budget``, default 2 GiB) on the
   whole process tree, enforced by a cgroup v1 memory controller (``memory.limit_in_bytes`` and
   ``memory.memsw.limit_in_bytes``), for each size until it is killed or fails. Optionally the
   Spark engine at other sizes (``--spark-ladder``, JVM heap capped by ``spark.driver.memory``)
   and under the same whole-tree budget (``--spark-budgeted``). The cgroups are created below
   this process's own cgroup and removed afterwards; without a writable cgroup v1 memory
   controller (not root, cgroup v2, a container) the script says so and measures without one.

It prints a table and writes ``bench-spark.json`` under ``--out``. Run it on a quiet machine:
the load average is recorded next to every figure. 20M rows take minutes per audit on 2 cores.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchlib import GOVERN, child_env, header, loadavg, machine, setup_env, workdir

LABEL = "label"
SENSITIVE = ["sex", "race"]
NUMERIC = ["age", "income", "hours", "score", "tenure"]
CATEGORICAL = ["region", "education"]
FEATURES = NUMERIC + CATEGORICAL
CHUNK = 1_000_000
SEED = 20261201
MiB = 1024 * 1024

POLICY = """\
version: 1
models:
  - match: "*"
    packs: [baseline, four-fifths]
    integrity: {require: training-hash}
    label: label
    positive_label: 1
    sensitive_features: [sex, race]
    expectations:
      - type: expect_column_values_to_be_between
        kwargs: {column: age, min_value: 18, max_value: 90}
      - type: expect_column_values_to_be_in_set
        kwargs: {column: region, value_set: [n, ne, e, se, s, sw, w, nw]}
      - type: expect_column_mean_to_be_between
        kwargs: {column: hours, min_value: 30, max_value: 50}
    fairness:
      metrics: [selection_rate, true_positive_rate, false_positive_rate, accuracy_score]
"""
POLICY_NO_DUPLICATES = POLICY.replace(
    "packs: [baseline, four-fifths]", "packs: [four-fifths]"
).replace(
    "    expectations:\n",
    """    expectations:
      - type: expect_table_row_count_to_be_between
        kwargs: {min_value: 1}
      - type: expect_column_to_exist
        for_each_column: [$label, $sensitive_features]
        kwargs: {column: $column}
      - type: expect_column_values_to_not_be_null
        for_each_column: [$label, $sensitive_features]
        kwargs: {column: $column}
""",
)
"""The same checks without the baseline pack's duplicate-row check (``--no-duplicate-check``):
GX computes it on Spark as a window over all columns, a sort of every row, the audit's largest
single cost."""

"""The baseline pack (row count; label and both sensitive features exist and are not null, which
``race`` fails on purpose: it has missing values; fewer than 1 % duplicated rows over all ten
columns), four-fifths, and three expectations of the policy's own."""


# --- data ---------------------------------------------------------------------------------------


def chunk_table(index: int, rows: int) -> Any:
    """Chunk ``index`` of the data: its own generator seeded by (SEED, index), so any prefix of
    the chunks is the same data whatever the total size."""
    import numpy as np
    import pyarrow as pa

    rng = np.random.default_rng([SEED, index])
    sex = rng.choice(np.array(["F", "M"]), size=rows, p=[0.45, 0.55])
    race = rng.choice(np.array(["A", "B", "C", "D"]), size=rows, p=[0.15, 0.2, 0.25, 0.4])
    race_missing = rng.random(rows) < 0.03
    age = rng.integers(18, 91, size=rows).astype(np.int64)
    income = np.round(rng.lognormal(10.5, 0.6, size=rows), 2)
    hours = np.round(rng.normal(40.0, 8.0, size=rows), 1)
    score = rng.normal(0.0, 1.0, size=rows)
    tenure = rng.integers(0, 40, size=rows).astype(np.int64)
    region = rng.choice(np.array(["n", "ne", "e", "se", "s", "sw", "w", "nw"]), size=rows)
    education = rng.choice(
        np.array(["none", "school", "college", "bachelor", "master", "phd"]),
        size=rows,
        p=[0.05, 0.35, 0.2, 0.25, 0.12, 0.03],
    )
    male = (sex == "M").astype(np.float64)
    logit = (
        -1.2
        + 0.9 * score
        + 0.02 * (hours - 40.0)
        + 0.4 * (np.log(income) - 10.5)
        + 0.35 * male
        + 0.3 * np.isin(education, ["master", "phd"])
    )
    label = (rng.random(rows) < 1.0 / (1.0 + np.exp(-logit))).astype(np.int64)
    return pa.table(
        {
            LABEL: label,
            "sex": pa.array(sex, pa.string()),
            "race": pa.array(race, pa.string(), mask=race_missing),
            "age": age,
            "income": income,
            "hours": hours,
            "score": score,
            "tenure": tenure,
            "region": pa.array(region, pa.string()),
            "education": pa.array(education, pa.string()),
        }
    )


def chunk_sizes(total: int, chunk: int) -> list[int]:
    full, rest = divmod(total, chunk)
    return [chunk] * full + ([rest] if rest else [])


def generate(base: Path, total: int, chunk: int) -> float:
    """Write the chunks (skipping those already there from an earlier run); seconds taken."""
    import pyarrow.parquet as pq

    base.mkdir(parents=True, exist_ok=True)
    marker = base / ".spec.json"
    spec = {"seed": SEED, "chunk": chunk, "scheme": 1}
    if marker.exists() and json.loads(marker.read_text()) != spec:
        raise SystemExit(f"{base} holds data of another spec; use another --data folder")
    marker.write_text(json.dumps(spec))
    start = time.perf_counter()
    for i, rows in enumerate(chunk_sizes(total, chunk)):
        path = base / f"part-{i:05d}.parquet"
        if path.exists():
            continue
        tmp = path.with_name(f".{path.name}.tmp")
        pq.write_table(chunk_table(i, rows), tmp, compression="snappy")
        tmp.rename(path)
        print(f"   wrote {path.name} ({rows:,} rows)", flush=True)
    return time.perf_counter() - start


def dataset(base: Path, root: Path, rows: int, chunk: int) -> Path:
    """A folder of the first ``rows`` rows: hard links to the base chunks (copies if links fail)."""
    sizes = chunk_sizes(rows, chunk)
    if sizes and sizes[-1] != chunk and rows > chunk:
        raise SystemExit(f"{rows:,} rows is not a whole number of {chunk:,}-row chunks")
    folder = root / f"train-{rows}"
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    if len(sizes) == 1 and sizes[0] < chunk:
        import pyarrow.parquet as pq

        pq.write_table(chunk_table(0, rows), folder / "part-00000.parquet", compression="snappy")
        return folder
    for i in range(len(sizes)):
        src, dst = base / f"part-{i:05d}.parquet", folder / f"part-{i:05d}.parquet"
        try:
            os.link(src, dst)
        except OSError:
            shutil.copyfile(src, dst)
    return folder


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.glob("*.parquet"))


# --- registry -----------------------------------------------------------------------------------


def train_model(folder: Path) -> Any:
    """A real pipeline on the first 100,000 rows: one-hot categoricals, scaled numerics."""
    import pyarrow.parquet as pq
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    first = sorted(folder.glob("*.parquet"))[0]
    sample = pq.read_table(first).slice(0, 100_000).to_pandas()
    model = Pipeline(
        [
            (
                "prep",
                ColumnTransformer(
                    [
                        ("num", StandardScaler(), NUMERIC),
                        ("cat", OneHotEncoder(handle_unknown="ignore"), CATEGORICAL),
                    ]
                ),
            ),
            ("clf", LogisticRegression(max_iter=500)),
        ]
    )
    model.fit(sample[FEATURES], sample[LABEL])
    return model, sample[FEATURES].iloc[:1000]


def full_hashes(folder: Path) -> dict[str, str]:
    """The full hash each engine's ``govern.track`` records at training time: the Spark engine's
    manifest digest (a SHA-256 per file, hashed on the executors) and the pandas engine's
    streamed SHA-256 of the folder (``sha256_of``)."""
    import hashlib

    from govern.registry.datasets import sha256_of
    from govern.registry.spark_integrity import ManifestEntry, manifest_digest

    entries = []
    for path in sorted(folder.glob("*.parquet")):
        digest = hashlib.sha256()
        with path.open("rb") as fh:
            while block := fh.read(1 << 20):
                digest.update(block)
        entries.append(ManifestEntry(path.name, path.stat().st_size, digest.hexdigest()))
    return {"spark": manifest_digest(entries), "pandas": sha256_of(folder)}


def register_all(uri: str, folders: dict[int, Path]) -> dict[tuple[str, int], str]:
    """Per size, one training run and registered model per engine; ``(engine, rows) ->
    selector``. Both runs log the same folder with ``from_spark`` and the same model; they differ
    only in the full hash recorded as the ``govern.sha256`` tag of the dataset input: the one
    that engine's own ``govern.track.log_training_data`` would have recorded. (The pandas engine
    does not read Spark manifests: a version logged by ``govern.track`` from a Spark DataFrame
    proves its data only on the Spark engine.)"""
    import io
    import logging

    import mlflow
    import mlflow.sklearn
    from mlflow.data.spark_dataset import from_spark
    from mlflow.models import infer_signature
    from pyspark.sql import SparkSession

    from govern.registry.lineage import TAG_SHA256

    logging.getLogger("mlflow").setLevel(logging.ERROR)
    logging.getLogger("py4j").setLevel(logging.ERROR)
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    spark = (
        SparkSession.builder.master("local[1]")
        .appName("bench-training")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.memory", "512m")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    mlflow.set_experiment("training")
    model, features = train_model(next(iter(folders.values())))
    signature = infer_signature(features, model.predict(features))
    selectors = {}
    try:
        for rows, folder in folders.items():
            hashes = full_hashes(folder)
            for engine in ("spark", "pandas"):
                name = f"bench-{engine}-{rows}"
                quiet = io.StringIO()
                with (
                    mlflow.start_run(),
                    contextlib.redirect_stdout(quiet),
                    contextlib.redirect_stderr(quiet),
                ):
                    df = spark.read.parquet(str(folder))  # lazy: only the footers are read
                    data = from_spark(df, path=str(folder), targets=LABEL, name=f"train-{rows}")
                    mlflow.log_input(data, context="training", tags={TAG_SHA256: hashes[engine]})
                    # MLflow's dataset profile starts a full count through Python workers
                    # (countApprox) that goes on after its 5 s timeout: stop it, it is setup.
                    spark.sparkContext.cancelAllJobs()
                    mlflow.sklearn.log_model(
                        model,
                        name="model",
                        signature=signature,
                        registered_model_name=name,
                        pip_requirements=["scikit-learn"],
                        skops_trusted_types=["numpy.dtype"],
                    )
                selectors[(engine, rows)] = f"{name}/1"
    finally:
        spark.stop()
    return selectors


# --- measuring a process tree -------------------------------------------------------------------


def _status(pid: int) -> dict[str, int]:
    out = {}
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith(("VmRSS:", "VmHWM:", "PPid:")):
                    key, value = line.split(":", 1)
                    out[key] = int(value.split()[0])
    except OSError:
        return {}
    return out


def _cpu_ticks(pid: int) -> int:
    """User + system CPU of the process itself (not of its waited-for children), in ticks."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            stat = fh.read()
    except OSError:
        return 0
    fields = stat[stat.rindex(")") + 2 :].split()
    return int(fields[11]) + int(fields[12])


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _children_map() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as fh:
                stat = fh.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        kids.setdefault(ppid, []).append(int(entry.name))
    return kids


def role(pid: int, root: int, parent: int, cmd: str) -> str:
    """Which part of the audit a process is: the names the table reports."""
    if pid == root:
        return "driver"
    if "org.apache.spark.launcher.Main" in cmd:
        return "other"  # spark-submit's launcher: it prints the JVM's command line and exits
    java = "java" in cmd.split(" ", 1)[0] or "org.apache.spark" in cmd
    if java:
        return "jvm" if parent == root else "child_jvm"
    if "pyspark.daemon" in cmd or "pyspark.worker" in cmd or "pyspark/daemon" in cmd:
        return "workers"
    if "python" in cmd:
        return "child"  # the sandboxed prediction process (and its helpers)
    return "other"


ROLES = ("driver", "jvm", "child", "child_jvm", "workers", "other")


@dataclass
class Sampler:
    """Samples the tree under ``root`` every ``interval`` seconds in a thread."""

    root: int
    cgroup: Path | None = None
    interval: float = 0.2
    peak_tree: int = 0
    """Largest sum of VmRSS over the tree at one sample (KiB)."""
    peak_role: dict[str, int] = field(default_factory=dict)
    """Per role: largest sum of VmRSS at one sample (KiB)."""
    hwm: dict[int, tuple[str, int]] = field(default_factory=dict)
    """Per process: its role and the largest VmHWM seen (KiB): peaks between samples."""
    peak_cgroup_rss: int = 0
    samples: int = 0
    processes: set[int] = field(default_factory=set)
    cpu: dict[int, tuple[str, int]] = field(default_factory=dict)
    """Per process: its role and the largest CPU time seen (ticks)."""
    heaps: dict[str, str] = field(default_factory=dict)
    """Each JVM's heap cap as its command line gives it (``-Xmx2g``)."""

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._roles: dict[int, str] = {}

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def sample(self) -> None:
        kids = _children_map()
        tree, stack = [], [(self.root, 0)]
        while stack:
            pid, parent = stack.pop()
            tree.append((pid, parent))
            stack.extend((k, pid) for k in kids.get(pid, []))
        total = 0
        per_role: dict[str, int] = {}
        for pid, parent in tree:
            st = _status(pid)
            if "VmRSS" not in st:
                continue
            name = self._roles.get(pid)
            if name is None or name == "child":  # a fork becomes java/python after exec
                name = role(pid, self.root, parent, _cmdline(pid))
                self._roles[pid] = name
            if name in ("jvm", "child_jvm") and not self.heaps.get(name, "").startswith("-Xmx"):
                heap = [t for t in _cmdline(pid).split() if t.startswith("-Xmx")]
                self.heaps[name] = heap[-1] if heap else "no -Xmx (JVM default)"
            total += st["VmRSS"]
            per_role[name] = per_role.get(name, 0) + st["VmRSS"]
            self.cpu[pid] = (name, max(self.cpu.get(pid, (name, 0))[1], _cpu_ticks(pid)))
            prev = self.hwm.get(pid, (name, 0))[1]
            self.hwm[pid] = (name, max(prev, st.get("VmHWM", 0)))
            self.processes.add(pid)
        self.peak_tree = max(self.peak_tree, total)
        for name, value in per_role.items():
            self.peak_role[name] = max(self.peak_role.get(name, 0), value)
        if self.cgroup is not None:
            with contextlib.suppress(OSError, ValueError):
                stat = dict(
                    line.split() for line in (self.cgroup / "memory.stat").read_text().splitlines()
                )
                rss = int(stat.get("total_rss", 0)) + int(stat.get("total_mapped_file", 0))
                self.peak_cgroup_rss = max(self.peak_cgroup_rss, rss // 1024)
        self.samples += 1

    def figures(self) -> dict[str, Any]:
        hwm_by_role: dict[str, int] = {}
        for name, value in self.hwm.values():
            hwm_by_role[name] = max(hwm_by_role.get(name, 0), value)
        tick = os.sysconf("SC_CLK_TCK")
        cpu_by_role: dict[str, float] = {}
        for name, ticks in self.cpu.values():
            cpu_by_role[name] = cpu_by_role.get(name, 0.0) + ticks / tick
        return {
            "cpu_s": round(sum(cpu_by_role.values()), 1),
            "cpu_s_by_role": {k: round(v, 1) for k, v in cpu_by_role.items()},
            "peak_tree_mib": round(self.peak_tree / 1024),
            "peak_sampled_mib": {k: round(v / 1024) for k, v in self.peak_role.items()},
            "peak_hwm_mib": {k: round(v / 1024) for k, v in hwm_by_role.items()},
            "jvm_heap_caps": self.heaps,
            "processes": len(self.processes),
            "samples": self.samples,
        }


# --- cgroup v1 ------------------------------------------------------------------------------------


def own_memory_cgroup() -> Path | None:
    """This process's cgroup v1 memory folder, when there is one and it is writable."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if "memory" in controllers.split(","):
            folder = Path("/sys/fs/cgroup/memory") / path.lstrip("/")
            if folder.is_dir() and os.access(folder, os.W_OK):
                return folder
    return None


@contextlib.contextmanager
def memory_cgroup(limit: int | None) -> Iterator[Path | None]:
    """A fresh memory cgroup, capped at ``limit`` bytes (RAM, and RAM + swap where the kernel
    accounts swap) unless ``None`` (then it only measures), nested under this process's own and
    removed afterwards; ``None`` where there is no writable cgroup v1 memory controller."""
    parent = own_memory_cgroup()
    if parent is None:
        yield None
        return
    folder = parent / f"govern-bench-{os.getpid()}-{time.monotonic_ns()}"
    folder.mkdir()
    try:
        if limit:
            (folder / "memory.limit_in_bytes").write_text(str(limit))
            memsw = folder / "memory.memsw.limit_in_bytes"
            if memsw.exists():
                memsw.write_text(str(limit))
        yield folder
    finally:
        for _ in range(50):  # the tree must be gone before the folder can go
            try:
                folder.rmdir()
                break
            except OSError:
                with contextlib.suppress(OSError):
                    for pid in (folder / "cgroup.procs").read_text().split():
                        os.kill(int(pid), signal.SIGKILL)
                time.sleep(0.2)


def oom_kills(folder: Path | None) -> int:
    if folder is None:
        return 0
    with contextlib.suppress(OSError, ValueError):
        for line in (folder / "memory.oom_control").read_text().splitlines():
            if line.startswith("oom_kill "):
                return int(line.split()[1])
    return 0


# --- one audit ----------------------------------------------------------------------------------


@dataclass
class Run:
    engine: str
    rows: int
    budget_mib: int | None
    budget_covers: str
    wall_s: float
    exit_code: int
    outcome: str
    load_before: str
    load_after: str
    memory: dict[str, Any]
    cgroup_max_usage_mib: int | None = None
    cgroup_peak_rss_mib: int | None = None
    oom_kills: int = 0
    verdict: str | None = None
    checks: dict[str, str] = field(default_factory=dict)
    fairness: dict[str, Any] = field(default_factory=dict)
    stderr_tail: str = ""


OUTCOMES = {0: "passed", 1: "violations", 2: "usage error", 3: "could not audit", 4: "deadline"}


def audit(
    uri: str,
    policy: Path,
    selector: str,
    engine: str,
    rows: int,
    out: Path,
    *,
    budget: int | None,
    cap: int | None,
    spark_master: str,
    spark_conf: Sequence[str],
    timeout: float,
) -> Run:
    cmd = [
        str(GOVERN),
        "audit",
        selector,
        "--policy",
        str(policy),
        "--tracking-uri",
        uri,
        "--no-write",
        "--force",
        "--format",
        "json",
        "--engine",
        engine,
    ]
    if engine == "spark":
        cmd += ["--spark-master", spark_master]
        for item in spark_conf:
            cmd += ["--spark-conf", item]
    stem = out / f"{engine}-{rows}{'-budget' if budget else ''}"
    env = child_env(GOVERN_JOBS="1")
    load_before = loadavg()
    with memory_cgroup(budget or cap) as group, open(f"{stem}.json", "w") as so:
        with open(f"{stem}.stderr", "w") as se:
            # The shell joins the cgroup, then becomes govern: every child is born inside it.
            joined = f"echo $$ > {group / 'cgroup.procs'} && " if group else ""
            start = time.perf_counter()
            proc = subprocess.Popen(
                ["sh", "-c", joined + 'exec "$@"', "sh", *cmd],
                stdout=so,
                stderr=se,
                env=env,
                start_new_session=True,
            )
            sampler = Sampler(proc.pid, group)
            sampler.start()
            try:
                code = proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                code = proc.wait()
            wall = time.perf_counter() - start
            sampler.stop()
        max_usage = None
        kills = oom_kills(group)
        if group is not None:
            with contextlib.suppress(OSError, ValueError):
                max_usage = int((group / "memory.max_usage_in_bytes").read_text()) // MiB
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)  # any straggler of the audit's own tree
    text = Path(f"{stem}.json").read_text()
    err = Path(f"{stem}.stderr").read_text()
    verdict: str | None = None
    checks: dict[str, str] = {}
    fairness: dict[str, Any] = {}
    with contextlib.suppress(ValueError, KeyError, IndexError, TypeError):
        version = json.loads(text)["versions"][0]
        verdict = version.get("verdict")
        checks = {c["id"]: c["status"] for c in version["checks"]}
        fairness = version.get("fairness") or {}
    if code < 0:
        outcome = f"killed by signal {-code}" + (" (OOM)" if kills else "")
    elif kills:
        outcome = f"exit {code} after {kills} OOM kill(s) in the tree"
    else:
        outcome = f"exit {code} ({OUTCOMES.get(code, '?')})"
    return Run(
        engine=engine,
        rows=rows,
        budget_mib=budget // MiB if budget else None,
        budget_covers=(
            "whole process tree (cgroup v1 memory + memsw limit)"
            if group is not None and budget
            else (
                ("JVM heap (spark.driver.memory)" if engine == "spark" else "none")
                + (
                    f"; safety cap {cap // MiB} MiB on the tree"
                    if group is not None and cap
                    else ""
                )
            )
        ),
        wall_s=round(wall, 1),
        exit_code=code,
        outcome=outcome,
        load_before=load_before,
        load_after=loadavg(),
        memory=sampler.figures(),
        cgroup_max_usage_mib=max_usage,
        cgroup_peak_rss_mib=(round(sampler.peak_cgroup_rss / 1024) if group is not None else None),
        oom_kills=kills,
        verdict=verdict,
        checks=checks,
        fairness=fairness,
        stderr_tail=err.strip()[-600:] if code not in (0, 1) else "",
    )


def completed(run: Run) -> bool:
    """An audit that ran to a verdict: passed or violations. Exit 3 (could not audit) is not."""
    return run.exit_code in (0, 1) and run.oom_kills == 0


# --- report -------------------------------------------------------------------------------------


def row_of(run: Run) -> list[str]:
    m = run.memory
    hwm, sampled = m["peak_hwm_mib"], m["peak_sampled_mib"]
    child = hwm.get("child", 0) + hwm.get("child_jvm", 0)
    return [
        run.engine,
        f"{run.rows:,}",
        f"{run.budget_mib} MiB" if run.budget_mib and "tree" in run.budget_covers else "-",
        f"{run.wall_s:.1f}",
        f"{m.get('cpu_s', 0):.0f}",
        str(hwm.get("driver", 0)),
        str(hwm.get("jvm", 0) or "-"),
        str(sampled.get("workers", 0) or "-"),
        str(child or "-"),
        str(m["peak_tree_mib"]),
        str(run.cgroup_peak_rss_mib if run.cgroup_peak_rss_mib is not None else "-"),
        run.outcome,
        run.load_before,
    ]


COLUMNS = [
    "engine",
    "rows",
    "tree budget",
    "wall s",
    "CPU s",
    "driver (Python) MiB",
    "JVM MiB",
    "Spark Python workers MiB",
    "predict child MiB",
    "tree RSS sum MiB",
    "cgroup RSS MiB",
    "outcome",
    "load before",
]
"""CPU: user + system seconds of every process of the tree (sampled; up to 0.2 s of a process's
last moments can be missed). Memory: the driver and the JVM are each process's own peak
(``VmHWM``); the workers are the largest sum over Spark's Python worker processes at one sample;
the predict child is the sandboxed prediction process's peak plus, on Spark, its own JVM's; the
tree is the largest sum of ``VmRSS`` over every process at one sample (shared pages, such as
libraries mapped by several processes, count once per process, so it overstates); the cgroup
figure is the largest ``total_rss + total_mapped_file`` of the audit's cgroup at one sample
(each page once)."""


def table(runs: Sequence[Run]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(row_of(r)) + " |" for r in runs]
    return "\n".join(lines)


def parity(a: Run, b: Run) -> dict[str, Any]:
    """Where two completed audits of the same data disagree: check statuses, verdict."""
    ids = sorted(set(a.checks) | set(b.checks))
    differ = {
        i: (a.checks.get(i), b.checks.get(i)) for i in ids if a.checks.get(i) != b.checks.get(i)
    }
    left, right = dict(numbers(a.fairness)), dict(numbers(b.fairness))
    shared = set(left) & set(right)
    return {
        "rows": a.rows,
        "verdicts": [a.verdict, b.verdict],
        "checks_that_differ": differ,
        "fairness_numbers_compared": len(shared),
        "fairness_numbers_only_one_side": len(set(left) ^ set(right)),
        "fairness_max_abs_difference": max((abs(left[k] - right[k]) for k in shared), default=None),
    }


def numbers(value: Any, path: str = "") -> Iterator[tuple[str, float]]:
    """Every finite number in a JSON value, keyed by its path."""
    import math

    if isinstance(value, bool):
        return
    if isinstance(value, int | float):
        if math.isfinite(value):
            yield path, float(value)
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from numbers(v, f"{path}/{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from numbers(v, f"{path}/{i}")


def sizes(text: str) -> list[int]:
    out = []
    for part in text.split(","):
        part = part.strip().lower()
        if not part:
            continue
        scale = 1
        if part.endswith("m"):
            scale, part = 1_000_000, part[:-1]
        elif part.endswith("k"):
            scale, part = 1_000, part[:-1]
        out.append(int(float(part) * scale))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=lambda text: sizes(text)[0], default=20_000_000)
    parser.add_argument(
        "--ladder",
        default="1M,2M,5M,10M,20M",
        help="sizes for the pandas engine under --budget, smallest first ('' to skip)",
    )
    parser.add_argument(
        "--spark-ladder",
        default="",
        help="sizes for the Spark engine besides --rows (default: none)",
    )
    parser.add_argument(
        "--spark-budgeted",
        default="",
        help="sizes for the Spark engine under --budget on the whole tree, as the pandas ladder",
    )
    parser.add_argument("--budget", default="2g", help="memory budget of the ladder (2g, 1500m)")
    parser.add_argument(
        "--cap",
        default="12g",
        help="safety cap on the tree of the runs without a budget, so that an audit that needs "
        "more cannot take the machine down ('0' for none)",
    )
    parser.add_argument("--spark-master", default="local[2]")
    parser.add_argument(
        "--spark-conf", action="append", default=None, help="default: spark.driver.memory=2g"
    )
    parser.add_argument("--skip-full", action="store_true", help="only the ladder")
    parser.add_argument(
        "--no-unbudgeted-pandas",
        action="store_true",
        help="skip the pandas engine on --rows without a budget",
    )
    parser.add_argument("--timeout", type=float, default=3600.0, help="per audit, seconds")
    parser.add_argument("--data", type=Path, help="keep the generated parquet here for reruns")
    parser.add_argument("--out", type=Path, default=Path("bench-spark-out"))
    parser.add_argument(
        "--no-duplicate-check",
        action="store_true",
        help="the policy without the baseline pack's duplicate-row check (a sort on Spark)",
    )
    parser.add_argument(
        "--generate-only", action="store_true", help="write the data under --data and stop"
    )
    args = parser.parse_args()
    spark_conf = args.spark_conf or ["spark.driver.memory=2g"]
    budget_text = args.budget.lower()
    unit = {"g": 1024**3, "m": MiB}[budget_text[-1]]
    budget = int(float(budget_text[:-1]) * unit)
    cap_text = args.cap.lower()
    cap = (
        int(float(cap_text[:-1]) * {"g": 1024**3, "m": MiB}[cap_text[-1]])
        if cap_text not in ("0", "")
        else None
    )
    ladder = sizes(args.ladder)
    spark_ladder = sizes(args.spark_ladder)
    spark_budgeted = sizes(args.spark_budgeted)
    all_sizes = sorted({args.rows, *ladder, *spark_ladder, *spark_budgeted})
    chunk = min(CHUNK, min(all_sizes))

    setup_env()
    header(f"Spark engine vs pandas engine, {args.rows:,} rows x 10 columns")
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    print(f"   output: {out}", flush=True)
    group = own_memory_cgroup()
    print(
        f"   memory budget: {'cgroup v1 under ' + str(group) if group else 'NO writable cgroup'}",
        flush=True,
    )
    report: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "machine": machine(),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "spark_master": args.spark_master,
        "spark_conf": spark_conf,
        "budget_mib": budget // MiB,
        "safety_cap_mib": cap // MiB if cap else None,
        "runs": [],
    }
    runs: list[Run] = []

    def keep(run: Run) -> None:
        runs.append(run)
        report["runs"].append(asdict(run))
        (out / "bench-spark.json").write_text(json.dumps(report, indent=2))
        print("   " + " | ".join(row_of(run)), flush=True)
        if run.stderr_tail:
            print("     stderr: " + run.stderr_tail.replace("\n", "\n     "), flush=True)

    with workdir("spark") as root:
        base = (args.data.resolve() if args.data else root / "data") / "base"
        print(f"== generating {max(all_sizes):,} rows in {chunk:,}-row chunks under {base}")
        seconds = generate(base, max(all_sizes), chunk)
        if args.generate_only:
            print(f"   {seconds:.0f} s")
            return 0
        folders = {n: dataset(base, root / "sets", n, chunk) for n in all_sizes}
        report["data"] = {
            "generation_s": round(seconds, 1),
            "chunk_rows": chunk,
            "parquet_mib": {str(n): round(folder_bytes(f) / MiB) for n, f in folders.items()},
        }
        print(f"   {report['data']}", flush=True)
        uri = f"sqlite:///{root / 'mlflow.db'}"
        start = time.perf_counter()
        selectors = register_all(uri, folders)
        print(f"== registry: {len(selectors)} versions in {time.perf_counter() - start:.0f} s")
        policy = root / "govern.yaml"
        policy.write_text(POLICY_NO_DUPLICATES if args.no_duplicate_check else POLICY)
        report["policy"] = policy.read_text()

        def one(engine: str, rows: int, with_budget: bool) -> Run:
            print(
                f"== {engine} on {rows:,} rows"
                + (f" under a {budget // MiB} MiB tree budget" if with_budget else "")
                + f" (load {loadavg()})",
                flush=True,
            )
            run = audit(
                uri,
                policy,
                selectors[(engine, rows)],
                engine,
                rows,
                out,
                budget=budget if with_budget else None,
                cap=cap,
                spark_master=args.spark_master,
                spark_conf=spark_conf,
                timeout=args.timeout,
            )
            keep(run)
            return run

        if not args.skip_full:
            spark_full = one("spark", args.rows, False)
            if not args.no_unbudgeted_pandas:
                pandas_full = one("pandas", args.rows, False)
                if completed(spark_full) and completed(pandas_full):
                    report["parity"] = parity(spark_full, pandas_full)
        fits, first_fail = None, None
        if ladder:
            for rows in ladder:
                run = one("pandas", rows, True)
                if completed(run):
                    fits = rows
                else:
                    first_fail = rows
                    break
        for rows in spark_ladder:
            one("spark", rows, False)
        for rows in spark_budgeted:
            one("spark", rows, True)
        report["pandas_ladder"] = {
            "largest_completed": fits,
            "first_failed": first_fail,
            "budget_mib": budget // MiB,
            "budget_covers": runs[-1].budget_covers if ladder else None,
        }
    (out / "bench-spark.json").write_text(json.dumps(report, indent=2))
    print()
    print(table(runs))
    print()
    if ladder:
        print(
            f"pandas under {budget // MiB} MiB: largest completed {fits}, first failed {first_fail}"
        )
    if "parity" in report:
        print(f"parity at {args.rows:,} rows: {report['parity']}")
    print(f"figures: {out / 'bench-spark.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
