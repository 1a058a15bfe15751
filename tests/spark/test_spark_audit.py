"""``govern audit --engine spark`` end to end against a real sqlite registry, with models and
data logged the way users log them: mlflow.data.from_spark + mlflow.log_input, and govern.track.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import audit_json, results_of, run_cli, write_policy

POLICY = """\
version: 1
models:
  - match: "*"
    label: income
    positive_label: ">50K"
    fairness: {not_applicable: "a test of data reading; fairness is tested on its own"}
    expectations:
      - type: expect_column_values_to_be_between
        kwargs: {column: age, min_value: 17, max_value: 90}
"""

SCHEMA = "age long, sex string, hours double, income string"


def _rows(n: int, shift: int = 0) -> list[tuple]:
    return [
        (
            20 + (i + shift) % 50,
            "F" if i % 3 else "M",
            float(30 + i % 20),
            ">50K" if i % 4 == 0 else "<=50K",
        )
        for i in range(n)
    ]


def _register(uri: str, name: str, log_data) -> str:
    """One run: the data logged by ``log_data()``, a small sklearn model, registered."""
    import mlflow
    import pandas as pd
    from sklearn.dummy import DummyClassifier

    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    mlflow.set_experiment("training")
    features = pd.DataFrame({"age": [30, 40], "hours": [40.0, 50.0]})
    model = DummyClassifier(strategy="most_frequent").fit(features, ["<=50K", ">50K"])
    with mlflow.start_run():
        log_data()
        info = mlflow.sklearn.log_model(model, name="model", registered_model_name=name)
    versions = mlflow.MlflowClient().search_model_versions(f"name = '{name}'")
    for v in versions:
        if v.model_id == info.model_id or v.source.endswith(info.model_id):
            return str(v.version)
    return str(max(int(v.version) for v in versions))


def _checks(version: dict) -> dict[str, dict]:
    return {c["id"]: c for c in version["checks"]}


def _audited(result, engine: str = "spark") -> dict:
    version = results_of(result)["versions"][0]
    assert version["metadata"]["engine"] == engine
    return version


def _assert_read_and_proved(version: dict, rows: int, first_audit: bool = True) -> None:
    checks = _checks(version)
    assert checks["lineage.training_data"]["status"] == "pass"
    assert version["training_data"]["rows"] == rows
    assert version["training_data"]["manifest_sha256"]
    assert len(version["training_data"]["row_fingerprint"]) == 32
    assert sum(version["training_data"]["label_balance"].values()) == rows  # described on Spark
    assert version["training_data"]["missing"]["age"] == 0
    # The policy's expectation ran with GX's Spark data source: every age is within 17..90.
    quality = checks["quality.expect_column_values_to_be_between.age"]
    assert quality["status"] == "pass", quality["summary"]
    assert quality["details"]["result"]["unexpected_count"] == 0
    assert quality["details"]["result"]["element_count"] == rows
    digest = checks["integrity.mlflow_digest"]
    assert digest["status"] == "pass"
    assert digest["summary"].startswith("MLflow's digest is not applicable: not ")
    assert "fairness.run" not in checks  # not_applicable in the policy: recorded, not checked
    assert version["metadata"]["fairness_not_applicable"]


@pytest.fixture
def policy(tmp_path) -> Path:
    return write_policy(tmp_path / "govern.yaml", POLICY)


def test_a_spark_path_source_is_read_and_pinned(spark, sqlite_uri, tmp_path, policy):
    import mlflow
    from mlflow.data.spark_dataset import from_spark

    folder = tmp_path / "train"
    spark.createDataFrame(_rows(40), SCHEMA).repartition(2).write.parquet(str(folder))

    def log() -> None:
        df = spark.read.parquet(str(folder))
        mlflow.log_input(from_spark(df, path=str(folder), targets="income"), context="training")

    version = _register(sqlite_uri, "spark-path", log)
    result = audit_json(sqlite_uri, f"spark-path/{version}", policy, write=True)
    assert result.exit_code == 0, result.output
    audited = _audited(result)
    _assert_read_and_proved(audited, 40)
    assert audited["training_data"]["source_type"] == "spark"
    assert audited["training_data"]["files"] == 2
    assert _checks(audited)["integrity.pinned_sha256"]["status"] == "pass"
    assert audited["training_data"]["sha256"] == audited["training_data"]["manifest_sha256"]
    # The second audit compares with the pin, files and rows alike.
    again = _audited(audit_json(sqlite_uri, f"spark-path/{version}", policy, "--force"))
    assert _checks(again)["integrity.pinned_sha256"]["status"] == "pass"
    assert _checks(again)["integrity.row_fingerprint_pinned"]["status"] == "pass"
    # A file added after the pin is seen (the snapshot is every data file in the folder).
    spark.createDataFrame(_rows(20, shift=1), SCHEMA).coalesce(1).write.parquet(
        str(tmp_path / "other")
    )
    extra = next((tmp_path / "other").glob("*.parquet"))
    (folder / "part-99999-added.snappy.parquet").write_bytes(extra.read_bytes())
    changed = _audited(audit_json(sqlite_uri, f"spark-path/{version}", policy, "--force"))
    assert _checks(changed)["integrity.pinned_sha256"]["status"] == "fail"
    assert changed["training_data"]["rows"] == 60


def test_govern_track_delta_version_0_is_audited_after_version_1(
    spark, sqlite_uri, tmp_path, policy
):
    from govern.track import log_training_data

    table = tmp_path / "delta"
    first = spark.createDataFrame(_rows(30), SCHEMA)
    second = spark.createDataFrame(_rows(12, shift=5), SCHEMA)

    def log(df):
        return lambda: log_training_data(
            df,
            table,
            label="income",
            sensitive_features=["sex"],
            positive_label=">50K",
            format="delta",
            partition_by=["sex"],
        )

    v1 = _register(sqlite_uri, "delta-model", log(first))
    v2 = _register(sqlite_uri, "delta-model", log(second))
    audited = _audited(audit_json(sqlite_uri, f"delta-model/{v1}", policy))
    _assert_read_and_proved(audited, 30)
    assert audited["training_data"]["delta_version"] == 0
    assert audited["training_data"]["source_type"] == "delta_table"
    assert set(audited["training_data"]["columns"]) == {"age", "sex", "hours", "income"}
    checks = _checks(audited)
    assert checks["integrity.sha256"]["status"] == "pass"  # govern.track's manifest digest
    assert checks["integrity.row_fingerprint"]["status"] == "pass"
    assert audited["training_data"]["proof"] == "training-hash"
    later = _audited(audit_json(sqlite_uri, f"delta-model/{v2}", policy))
    assert later["training_data"]["delta_version"] == 1
    assert later["training_data"]["rows"] == 12
    assert _checks(later)["integrity.sha256"]["status"] == "pass"


def test_a_delta_source_mlflow_recorded_without_a_version_cannot_be_audited(
    spark, sqlite_uri, tmp_path, policy
):
    import mlflow
    from deltalake import write_deltalake
    from mlflow.data.spark_dataset import from_spark

    table = tmp_path / "delta"
    write_deltalake(str(table), spark.createDataFrame(_rows(10), SCHEMA).toArrow())

    def log() -> None:  # version 0, no Delta jars: MLflow records no version
        df = spark.createDataFrame(_rows(10), SCHEMA)
        mlflow.log_input(from_spark(df, path=str(table)), context="training")

    version = _register(sqlite_uri, "bare-delta", log)
    result = audit_json(sqlite_uri, f"bare-delta/{version}", policy)
    assert result.exit_code == 3
    audited = _audited(result)
    load = _checks(audited)["lineage.load"]
    assert load["status"] == "error"
    assert "cannot reproduce: no Delta version recorded" in load["summary"]
    # With auto the Delta source goes to Spark too; with pandas it is refused, saying why.
    pandas = results_of(
        audit_json(sqlite_uri, f"bare-delta/{version}", policy, "--engine", "pandas")
    )
    assert (
        "is a Delta table: the Spark engine reads it"
        in _checks(pandas["versions"][0])["lineage.load"]["summary"]
    )


def test_a_local_parquet_folder_logged_from_pandas_is_read_on_spark(
    spark, sqlite_uri, tmp_path, policy
):
    import mlflow

    folder = tmp_path / "folder"
    spark.createDataFrame(_rows(25), SCHEMA).write.partitionBy("sex").parquet(str(folder))

    def log() -> None:
        import pandas as pd

        frame = pd.read_parquet(folder)
        mlflow.log_input(mlflow.data.from_pandas(frame, source=str(folder)), context="training")

    version = _register(sqlite_uri, "folder-model", log)
    by_pandas = _audited(
        audit_json(sqlite_uri, f"folder-model/{version}", policy, write=True), "pandas"
    )
    by_spark = _audited(
        audit_json(sqlite_uri, f"folder-model/{version}", policy, "--engine", "spark")
    )
    assert by_spark["training_data"]["rows"] == by_pandas["training_data"]["rows"] == 25
    assert set(by_spark["training_data"]["columns"]) == set(by_pandas["training_data"]["columns"])
    for key in ("missing", "label_balance"):
        assert by_spark["training_data"][key] == by_pandas["training_data"][key]
    # The pin was made by the pandas engine (its streamed folder hash); Spark proves the same.
    pinned = _checks(by_spark)["integrity.pinned_sha256"]
    assert pinned["status"] == "pass", pinned["summary"]
    assert by_spark["training_data"]["sha256"] == by_pandas["training_data"]["sha256"]


def test_a_malformed_spark_conf_is_a_usage_error_naming_it(tmp_path, policy):
    result = run_cli(
        "audit",
        "m/1",
        "--policy",
        str(policy),
        "--tracking-uri",
        "sqlite:///x.db",
        "--spark-conf",
        "spark.executor.memory",
    )
    assert result.exit_code == 2
    assert "--spark-conf 'spark.executor.memory': expected KEY=VALUE" in result.output
