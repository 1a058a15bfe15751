"""Running out of memory on the Spark engine is one line naming what ran out and the setting
that gives it more, an error (exit 3), never a pass. Both run out for real: govern's own Spark
driver given a small heap and rows it cannot hold, and the prediction's Spark JVM given a small
heap (``GOVERN_PREDICT_MEMORY``) and a model whose predictions exceed it.

Each starts a JVM of its own (govern's in a ``govern audit`` process, the prediction child's),
which takes 15 to 25 s on a busy machine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cloudpickle
import numpy as np
import pytest

from govern.errors import OutOfMemory
from govern.pipeline import sandbox
from tests.helpers import write_policy

cloudpickle.register_pickle_by_value(sys.modules[__name__])

POLICY = """\
version: 1
models:
  - match: "*"
    label: income
    positive_label: ">50K"
    fairness: {not_applicable: "a test of running out of memory"}
    expectations:
      - type: expect_column_values_to_not_be_null
        kwargs: {column: income}
"""


def _wide_parquet(folder: Path, rows: int, mib: int) -> None:
    """``rows`` text values of ``mib`` MiB each, in one row group: a few KB on disk (zstd),
    ``rows * mib`` MiB for a reader that must hold the row group."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True)
    big = "a" * (mib << 20)
    table = pa.table(
        {
            "note": [big + str(i) for i in range(rows)],
            "income": [">50K" if i % 2 else "<=50K" for i in range(rows)],
        }
    )
    pq.write_table(table, folder / "part-0.parquet", compression="zstd", row_group_size=rows)


def test_govern_spark_driver_out_of_memory_names_spark_driver_memory(spark, sqlite_uri, tmp_path):
    import mlflow
    from mlflow.data.spark_dataset import from_spark
    from sklearn.dummy import DummyClassifier

    folder = tmp_path / "wide"
    _wide_parquet(folder, 40, 8)  # 320 MiB in one row group, against a 96 MiB heap
    mlflow.set_tracking_uri(sqlite_uri)
    mlflow.set_registry_uri(sqlite_uri)
    mlflow.set_experiment("training")
    with mlflow.start_run():
        df = spark.read.parquet(str(folder))
        mlflow.log_input(from_spark(df, path=str(folder), targets="income"), context="training")
        model = DummyClassifier().fit(np.zeros((2, 1)), ["<=50K", ">50K"])
        mlflow.sklearn.log_model(model, name="model", registered_model_name="wide")
    policy = write_policy(tmp_path / "govern.yaml", POLICY)
    args = ["audit", "wide/1", "--policy", str(policy), "--tracking-uri", sqlite_uri]
    spark_args = [
        "--engine",
        "spark",
        "--spark-master",
        "local[1]",
        "--spark-conf",
        "spark.driver.memory=96m",
        # Spark refuses a heap under 450 MiB unless told the machine has more; the test wants
        # the small heap itself, to run out in seconds on small data.
        "--spark-conf",
        f"spark.testing.memory={512 << 20}",
    ]
    proc = subprocess.run(
        [sys.executable, "-m", "govern", *args, *spark_args, "--format", "json", "--no-write"],
        cwd=tmp_path,
        env={**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 3, proc.stderr[-3000:]
    [v] = json.loads(proc.stdout)["versions"]
    errors = [c for c in v["checks"] if c["status"] == "error"]
    assert errors, v["checks"]
    summary = errors[0]["summary"]
    assert summary.startswith(
        "govern's Spark driver ran out of memory (java.lang.OutOfMemoryError: Java heap space) "
        "while "
    ), summary
    assert "while measuring the training data 'dataset'" in summary, summary
    assert summary.endswith("give it more with --spark-conf spark.driver.memory=8g (now 96m)"), (
        summary
    )
    assert not [c for c in v["checks"] if c["status"] == "pass" and c["kind"] == "quality"]


class Verbose:
    """A model whose every prediction is a 4 MiB text (a class label followed by padding), as
    a model that returns its explanation with each label would."""

    def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
        pad = "-" * (4 << 20)
        return [f">50K{pad}{i}" for i in range(len(model_input))]


def test_prediction_spark_jvm_out_of_memory_names_govern_predict_memory(
    spark, tmp_path, monkeypatch
):
    import mlflow
    import pandas as pd
    from mlflow.pyfunc import PythonModel

    from govern.pipeline.spark_predict import predict_cells

    class Model(Verbose, PythonModel):
        pass

    model_dir = tmp_path / "model"
    mlflow.pyfunc.save_model(str(model_dir), python_model=Model())
    rows = 300  # 1.2 GiB of predictions in one Arrow batch, against a 512 MiB heap
    frame = pd.DataFrame(
        {"x": np.arange(rows), "sex": ["F", "M"] * (rows // 2), "income": ["<=50K"] * rows}
    )
    sdf = spark.createDataFrame(frame).coalesce(1)
    monkeypatch.setenv(sandbox.MEMORY_VARIABLE, "512m")
    with pytest.raises(OutOfMemory) as caught:
        predict_cells(sdf, model_dir, "income", ["sex"], "models:/verbose/1", master="local[1]")
    message = str(caught.value)
    assert message.startswith(
        "model models:/verbose/1 ran out of memory while predicting: the prediction's Spark JVM "
        "ran out of heap ("
    ), message
    assert message.endswith("raise its heap with GOVERN_PREDICT_MEMORY=8g (now 512m)"), message
    assert "\n" not in message
