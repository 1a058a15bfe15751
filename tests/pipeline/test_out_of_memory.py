"""Running out of memory on the pandas engine is one line that says what ran out and what to do,
an error (exit 3), never a pass. Each case runs out for real: a training set pyarrow cannot
allocate under a data-memory limit, a model that allocates past ``GOVERN_PREDICT_MEMORY``, and a
prediction process ended by SIGKILL from outside, as the kernel's out-of-memory killer ends one.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import threading
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

import cloudpickle
import mlflow
import numpy as np
import pandas as pd
import pytest
from helpers import LABEL, POSITIVE, audit_json, results_of, write_policy
from mlflow.models import infer_signature
from mlflow.pyfunc import PythonModel

from govern.pipeline import sandbox
from govern.track import log_training_data

cloudpickle.register_pickle_by_value(sys.modules[__name__])


class Hungry(PythonModel):
    """Asks for ``gib`` GiB and writes to all of it, as a model with a runaway buffer does."""

    def __init__(self, gib: float) -> None:
        self.gib = gib

    def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
        buffer = np.ones(int(self.gib * (1 << 30)) // 8)
        return np.full(len(model_input), POSITIVE if buffer[0] else "<=50K")


class Stalls(PythonModel):
    """Announces its working folder (the sandbox's private one, unique to this audit) in
    ``marker`` and waits: the test ends it with SIGKILL from outside. Its pid would not do: in
    its own PID namespace it is a small number that other sandboxed children share."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
        import pathlib

        pathlib.Path(self.marker).write_text(os.getcwd())
        time.sleep(120)
        return np.full(len(model_input), POSITIVE)


def _log(uri: str, name: str, data: pd.DataFrame, model: PythonModel, path: Path) -> None:
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    mlflow.set_experiment("training")
    features = data.drop(columns=[LABEL])
    with mlflow.start_run():
        log_training_data(
            data, path, label=LABEL, sensitive_features=["sex"], positive_label=POSITIVE
        )
        mlflow.pyfunc.log_model(
            name="model",
            python_model=model,
            signature=infer_signature(features, np.full(len(features), POSITIVE)),
            registered_model_name=name,
            pip_requirements=[f"{d}=={version(d)}" for d in ("mlflow", "cloudpickle", "numpy")],
        )


def _check(result: Any, id_: str) -> dict[str, Any]:
    [v] = results_of(result)["versions"]
    [check] = [c for c in v["checks"] if c["id"] == id_]
    return check


@pytest.fixture
def policy(tmp_path: Path) -> Path:
    return write_policy(tmp_path / "govern.yaml")


def test_a_model_over_the_memory_bound_is_an_out_of_memory_error(
    sqlite_uri, tmp_path, adult, policy, monkeypatch
):
    _log(sqlite_uri, "hungry", adult.head(200), Hungry(3.0), tmp_path / "d" / "t.parquet")
    monkeypatch.setenv(sandbox.MEMORY_VARIABLE, "1g")
    result = audit_json(sqlite_uri, "hungry/1", policy)
    assert result.exit_code == 3, result.output
    check = _check(result, "fairness.model")
    assert check["status"] == "error"
    summary = check["summary"]
    assert summary.startswith(
        "fairness not evaluated: model models:/hungry/1 ran out of memory predicting on 200 rows ("
    ), summary
    assert "Unable to allocate 3.00 GiB" in summary  # numpy's own words, from the child
    assert summary.endswith(
        "the prediction process may hold 1g (GOVERN_PREDICT_MEMORY); raise GOVERN_PREDICT_MEMORY "
        "if this machine has more"
    ), summary
    assert "\n" not in summary


def test_a_malformed_memory_bound_is_refused_not_ignored(
    sqlite_uri, tmp_path, adult, policy, monkeypatch
):
    _log(sqlite_uri, "bounded", adult.head(50), Hungry(0.0), tmp_path / "d" / "t.parquet")
    monkeypatch.setenv(sandbox.MEMORY_VARIABLE, "lots")
    result = audit_json(sqlite_uri, "bounded/1", policy)
    assert result.exit_code == 3, result.output
    check = _check(result, "fairness.model")
    assert check["summary"] == (
        "fairness not evaluated: GOVERN_PREDICT_MEMORY='lots': expected a size such as 512m or 8g"
    )


def _kill_when_ready(marker: Path, deadline: float, killed: list[int]) -> None:
    """SIGKILL this audit's prediction process from outside its namespace, as the kernel would:
    only the one working in the folder the model announced, never another test's child."""
    while time.monotonic() < deadline and not killed:
        time.sleep(0.2)
        if not (marker.exists() and marker.read_text()):
            continue
        folder = marker.read_text()
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
                cwd = os.readlink(f"/proc/{pid}/cwd")
            except OSError:
                continue
            if (
                cmd[0].endswith(b"python")
                and b"govern.pipeline.predict_child" in cmd[1:3]
                and cwd == folder
            ):
                os.kill(int(pid), signal.SIGKILL)
                killed.append(int(pid))


def test_a_prediction_killed_by_sigkill_is_reported_as_the_oom_killer(
    sqlite_uri, tmp_path, adult, policy, monkeypatch
):
    marker = tmp_path / "marker" / "pid"
    marker.parent.mkdir()
    marker.parent.chmod(0o777)
    _log(sqlite_uri, "killed", adult.head(80), Stalls(str(marker)), tmp_path / "d" / "t.parquet")
    monkeypatch.delenv(sandbox.MEMORY_VARIABLE, raising=False)
    killed: list[int] = []
    deadline = time.monotonic() + 100
    killer = threading.Thread(target=_kill_when_ready, args=(marker, deadline, killed))
    killer.start()
    result = audit_json(sqlite_uri, "killed/1", policy)
    killer.join()
    assert killed, "the prediction process was never found"
    assert result.exit_code == 3, result.output
    assert _check(result, "fairness.model")["summary"] == (
        "fairness not evaluated: model models:/killed/1 could not predict on 80 rows: the "
        "prediction process was killed by signal 9 (SIGKILL), which is how the kernel's "
        "out-of-memory killer ends a process: most likely the model ran out of memory; give "
        "the audit more memory, or set GOVERN_PREDICT_MEMORY (e.g. GOVERN_PREDICT_MEMORY=4g) "
        "below the memory this machine has, so that the model gets a MemoryError instead"
    )


def _huge_parquet(path: Path, gib: int) -> None:
    """A small file that is ``gib`` GiB of text once read: one repeated 64 KiB value,
    dictionary-encoded on disk and materialised by pandas."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    chunk = 1 << 14
    values = pa.DictionaryArray.from_arrays(
        pa.array(np.zeros(chunk, dtype="int32")), pa.array(["x" * (64 << 10)])
    )
    label = pa.array(np.zeros(chunk, dtype="int64"))
    table = pa.table({"note": values, "income": label})
    # Without the Arrow schema in the file, readers see plain text, not a dictionary.
    with pq.ParquetWriter(path, table.schema, use_dictionary=True, store_schema=False) as writer:
        for _ in range(gib):
            writer.write_table(table)


def test_training_data_too_big_for_memory_says_use_spark(sqlite_uri, tmp_path, adult):
    data = tmp_path / "d" / "train.parquet"
    _log(sqlite_uri, "big", adult.head(100), Hungry(0.0), data)
    _huge_parquet(data, 3)  # 3 GiB of text once read, a few MB on disk
    policy = write_policy(tmp_path / "govern.yaml")
    limit = 1536 << 20  # govern with mlflow, pandas and pyarrow loaded holds about 500 MB

    def bounded() -> None:
        resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))

    args = ["audit", "big/1", "--policy", str(policy), "--tracking-uri", sqlite_uri]
    proc = subprocess.run(
        [sys.executable, "-m", "govern", *args, "--format", "json", "--no-write"],
        cwd=tmp_path,
        env={**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"},
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=bounded,
    )
    assert proc.returncode == 3, proc.stderr
    [v] = json.loads(proc.stdout)["versions"]
    [check] = [c for c in v["checks"] if c["id"] == "lineage.load"]
    assert check["status"] == "error"
    assert check["summary"].startswith(f"the training data {data} does not fit in memory as a")
    assert check["summary"].endswith("); use --engine spark"), check["summary"]
    assert "alloc of size" in check["summary"]  # pyarrow's own words
