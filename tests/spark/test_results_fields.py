"""The Spark engine's fields of TrainingData survive results.json (no Spark needed)."""

from __future__ import annotations

import json

from govern.model.results import TrainingData


def test_spark_fields_round_trip_through_json():
    data = TrainingData(
        name="train",
        source="/t",
        source_type="delta_table",
        mlflow_digest="d",
        sha256="a" * 64,
        manifest_sha256="a" * 64,
        files=3,
        row_fingerprint="0123456789abcdef" * 2,
        logged_row_fingerprint="f" * 32,
        delta_version=0,
    )
    again = TrainingData.from_dict(json.loads(json.dumps(data.to_dict())))
    assert again == data
    assert again.delta_version == 0


def test_results_without_the_spark_fields_still_load():
    old = {"name": "t", "source": "/t", "source_type": "local", "mlflow_digest": "d"}
    data = TrainingData.from_dict(old)
    assert (data.manifest_sha256, data.files, data.row_fingerprint, data.delta_version) == (
        None,
        None,
        None,
        None,
    )
