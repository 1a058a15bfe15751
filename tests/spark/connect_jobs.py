"""What the Connect tests run in a Spark Connect client process of its own:
``python -m tests.spark.connect_jobs JOB REQUEST.json`` with ``SPARK_REMOTE`` set.

pyspark keeps process-global "Connect mode" state, so a Connect session never shares a process
with the classic session of tests/spark/conftest.py. Each job prints one JSON line, its answer,
as the last line of stdout.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any


def _session() -> Any:
    from pyspark.sql import SparkSession

    return SparkSession.builder.remote(os.environ["SPARK_REMOTE"]).getOrCreate()


def predict(request: dict[str, Any]) -> dict[str, Any]:
    """``predict_cells_in_session`` on a Connect DataFrame for each model of the request; an
    error is answered as its message."""
    from govern.errors import GovernError
    from govern.pipeline.spark_predict import predict_cells_in_session

    spark = _session()
    sdf = spark.read.parquet(request["data"])
    answers = []
    for task in request["tasks"]:
        try:
            cells = predict_cells_in_session(
                sdf,
                Path(task["model_dir"]),
                task["features"],
                request["label"],
                request["sensitive"],
                env_manager=task.get("env_manager", "local"),
            )
        except GovernError as exc:
            answers.append({"error": str(exc)})
            continue
        answers.append({"cells": json.loads(cells.to_json(orient="records"))})
    return {"answers": answers}


def track(request: dict[str, Any]) -> dict[str, Any]:
    """Training data logged from Connect DataFrames with ``govern.track``: a parquet folder, then
    a Delta table written twice; one registered model version per run."""
    import mlflow
    import pandas as pd
    from sklearn.dummy import DummyClassifier

    from govern.track import log_training_data

    spark = _session()
    mlflow.set_tracking_uri(request["uri"])
    mlflow.set_registry_uri(request["uri"])
    mlflow.set_experiment("connect-training")
    schema = request["schema"]
    features = pd.DataFrame({"age": [30, 40], "hours": [40.0, 50.0]})
    model = DummyClassifier(strategy="most_frequent").fit(features, ["<=50K", ">50K"])
    versions: dict[str, list[str]] = {}
    for name, rows, path, fmt in request["logs"]:
        df = spark.createDataFrame([tuple(r) for r in rows], schema)
        with mlflow.start_run():
            log_training_data(
                df,
                path,
                label="income",
                sensitive_features=["sex"],
                positive_label=">50K",
                format=fmt,
                partition_by=["sex"] if fmt == "delta" else (),
            )
            info = mlflow.sklearn.log_model(model, name="model", registered_model_name=name)
        client = mlflow.MlflowClient()
        for v in client.search_model_versions(f"name = '{name}'"):
            if v.model_id == info.model_id or v.source.endswith(info.model_id):
                versions.setdefault(name, []).append(str(v.version))
    return {"versions": versions}


JOBS = {"predict": predict, "track": track}


def main(argv: list[str]) -> int:
    job, request = argv[0], json.loads(Path(argv[1]).read_text())
    print(json.dumps(JOBS[job](request)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
