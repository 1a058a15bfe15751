"""``govern audit`` and ``govern gate`` with ``--engine spark``, end to end with real models: real
verdicts, the pandas engine's results on the same version, and what Spark cannot run refused.

Each audit with a model starts a local Spark in the sandboxed prediction child (20-40 s), so
the tests are few and each proves several things.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from tests.helpers import LABEL, POLICY, POSITIVE, audit_json, results_of, run_cli, write_policy
from tests.spark.test_spark_audit import SCHEMA, _register, _rows


def _checks(version: dict) -> dict[str, dict]:
    return {c["id"]: c for c in version["checks"]}


def _close(a: Any, b: Any, path: str = "") -> None:
    """Equal to 1e-12 for floats (NaN equal to NaN), exactly for everything else."""
    if isinstance(a, float) and isinstance(b, float):
        assert (math.isnan(a) and math.isnan(b)) or abs(a - b) <= 1e-12, (path, a, b)
    elif isinstance(a, dict) and isinstance(b, dict):
        assert a.keys() == b.keys(), path
        for key in a:
            _close(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, list) and isinstance(b, list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _close(x, y, f"{path}[{i}]")
    else:
        assert a == b, (path, a, b)


def _parquet_folder(frame: Any, folder: Path) -> Path:
    """``frame`` as a folder of two parquet files, the way a Spark job leaves its output."""
    folder.mkdir(parents=True)
    half = len(frame) // 2
    frame.iloc[:half].to_parquet(folder / "part-00000.parquet", index=False)
    frame.iloc[half:].to_parquet(folder / "part-00001.parquet", index=False)
    return folder


def _register_model(uri: str, name: str, model: Any, features: Any, log_data: Any) -> str:
    """One run: the data logged by ``log_data()``, ``model`` logged as the demo logs it."""
    import mlflow

    from govern.demo import log_model

    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    mlflow.set_experiment("training")
    with mlflow.start_run():
        log_data()
        info = log_model(name, model, features)
    for v in mlflow.MlflowClient().search_model_versions(f"name = '{name}'"):
        if v.model_id == info.model_id or v.source.endswith(info.model_id):
            return str(v.version)
    raise AssertionError("the model version was not registered")


def _gate(uri: str, ref: str, policy: Path) -> Any:
    return run_cli(
        "gate",
        ref,
        "--promote-to",
        "production",
        "--engine",
        "spark",
        "--policy",
        str(policy),
        "--tracking-uri",
        uri,
        "--format",
        "json",
    )


def test_gate_on_spark_promotes_a_fair_version_and_not_an_unfair_one(
    spark, sqlite_uri, tmp_path, adult, trained
):
    """A parquet folder logged with mlflow.data.from_spark and a fair model passes and is
    promoted; a Delta table logged with govern.track and an unfair model fails, and the alias
    stays where it was."""
    import mlflow
    from mlflow.data.spark_dataset import from_spark

    from govern.track import log_training_data

    plain, mitigated = trained
    policy = write_policy(tmp_path / "govern.yaml", POLICY)
    features = adult.drop(columns=[LABEL])
    folder = _parquet_folder(adult, tmp_path / "train")

    def log_folder() -> None:
        df = spark.read.parquet(str(folder))
        mlflow.log_input(from_spark(df, path=str(folder), targets=LABEL), context="training")

    def log_delta() -> None:
        log_training_data(
            spark.read.parquet(str(folder)),
            tmp_path / "delta",
            label=LABEL,
            sensitive_features=["sex"],
            positive_label=POSITIVE,
            format="delta",
        )

    fair = _register_model(sqlite_uri, "income", mitigated, features, log_folder)
    unfair = _register_model(sqlite_uri, "income", plain, features, log_delta)

    passed = _gate(sqlite_uri, f"income/{fair}", policy)
    assert passed.exit_code == 0, passed.output
    version = results_of(passed)["versions"][0]
    assert version["verdict"] == "pass"
    assert version["metadata"]["engine"] == "spark"
    checks = _checks(version)
    assert checks["fairness.demographic_parity_ratio"]["status"] == "pass"
    assert checks["quality.expect_column_values_to_be_between.age"]["status"] == "pass"
    assert checks["integrity.pinned_sha256"]["status"] == "pass"
    assert version["fairness"]["data"]["in_sample"] is True
    assert sum(g["count"] for g in version["fairness"]["groups"]) == len(adult)
    client = mlflow.MlflowClient(sqlite_uri, sqlite_uri)
    assert str(client.get_model_version_by_alias("income", "production").version) == fair

    failed = _gate(sqlite_uri, f"income/{unfair}", policy)
    assert failed.exit_code == 1, failed.output
    version = results_of(failed)["versions"][0]
    assert version["verdict"] == "fail"
    assert version["training_data"]["source_type"] == "delta_table"
    assert version["training_data"]["proof"] == "training-hash"
    bad = {c["id"] for c in version["checks"] if c["status"] != "pass"}
    assert bad == {"fairness.demographic_parity_ratio"}, bad
    assert str(client.get_model_version_by_alias("income", "production").version) == fair


def test_the_same_version_audited_by_both_engines_gets_the_same_results(
    spark, sqlite_uri, tmp_path, adult, trained
):
    """A local parquet folder both engines read, the same version, audited once with each:
    the same verdict, check ids and statuses, quality counts and fairness metrics."""
    import mlflow

    plain, _ = trained
    policy = write_policy(tmp_path / "govern.yaml", POLICY)
    folder = _parquet_folder(adult, tmp_path / "train")

    def log() -> None:
        frame = adult.copy()
        mlflow.log_input(mlflow.data.from_pandas(frame, source=str(folder)), context="training")

    version = _register_model(sqlite_uri, "parity", plain, adult.drop(columns=[LABEL]), log)
    ref = f"parity/{version}"
    # The pandas audit pins the data; the Spark audit proves the same pin.
    by_pandas = audit_json(sqlite_uri, ref, policy, "--engine", "pandas", write=True)
    by_spark = audit_json(sqlite_uri, ref, policy, "--engine", "spark", "--force")
    assert by_pandas.exit_code == by_spark.exit_code == 1, by_spark.output
    p, s = results_of(by_pandas)["versions"][0], results_of(by_spark)["versions"][0]
    assert (p["metadata"]["engine"], s["metadata"]["engine"]) == ("pandas", "spark")
    assert p["verdict"] == s["verdict"] == "fail"
    statuses = {c["id"]: c["status"] for c in p["checks"]}
    assert {c["id"]: c["status"] for c in s["checks"]} == statuses
    assert statuses["fairness.demographic_parity_ratio"] == "fail"
    pc, sc = _checks(p), _checks(s)
    quality = [i for i in statuses if i.startswith("quality.")]
    assert len(quality) >= 5  # the baseline pack's and the policy's own
    for id_ in quality:
        assert sc[id_]["observed"] == pc[id_]["observed"], id_
        for key in ("element_count", "unexpected_count", "missing_count"):
            assert sc[id_]["details"]["result"].get(key) == pc[id_]["details"]["result"].get(key)
    _close(s["fairness"], p["fairness"], "fairness")
    assert s["fairness"]["groups"]
    for key in ("rows", "columns", "missing", "label_balance", "sha256"):
        assert s["training_data"][key] == p["training_data"][key], key
    assert s["representation"] == p["representation"]


SPARK_CANNOT = """\
version: 1
models:
  - match: "*"
    label: income
    positive_label: ">50K"
    fairness: {not_applicable: "quality only"}
    expectations:
      - type: expect_column_values_to_be_between
        kwargs: {column: age, min_value: 17, max_value: 40}
      - type: expect_column_values_to_match_like_pattern
        kwargs: {column: sex, like_pattern: "F%"}
"""


def test_a_violated_expectation_fails_and_what_spark_cannot_run_is_refused(
    spark, sqlite_uri, tmp_path
):
    import mlflow
    from mlflow.data.spark_dataset import from_spark

    folder = tmp_path / "train"
    rows = _rows(40)
    spark.createDataFrame(rows, SCHEMA).repartition(2).write.parquet(str(folder))

    def log() -> None:
        df = spark.read.parquet(str(folder))
        mlflow.log_input(from_spark(df, path=str(folder), targets="income"), context="training")

    ref = f"ages/{_register(sqlite_uri, 'ages', log)}"
    text = SPARK_CANNOT.replace(
        "      - type: expect_column_values_to_match_like_pattern\n"
        '        kwargs: {column: sex, like_pattern: "F%"}\n',
        "",
    )
    ages = write_policy(tmp_path / "ages.yaml", text)
    violated = audit_json(sqlite_uri, ref, ages, write=True)  # pins the data: proof 'pinned'
    assert violated.exit_code == 1, violated.output
    version = results_of(violated)["versions"][0]
    assert version["metadata"]["engine"] == "spark"
    check = _checks(version)["quality.expect_column_values_to_be_between.age"]
    assert check["status"] == "fail"
    assert check["details"]["result"]["unexpected_count"] == sum(1 for r in rows if r[0] > 40)

    cannot = write_policy(tmp_path / "cannot.yaml", SPARK_CANNOT)
    # Known up front: a policy error before anything is audited.
    refused = audit_json(sqlite_uri, ref, cannot, "--engine", "spark")
    assert refused.exit_code == 2, refused.output
    assert (
        "--engine spark: Great Expectations cannot run these expectations on Spark: policy "
        "entry '*': expect_column_values_to_match_like_pattern" in refused.output
    )
    # Chosen per version (auto): the version gets an error check naming it, never a pass.
    chosen = audit_json(sqlite_uri, ref, cannot)
    assert chosen.exit_code == 3, chosen.output
    run = _checks(results_of(chosen)["versions"][0])["quality.run"]
    assert run["status"] == "error"
    assert "expect_column_values_to_match_like_pattern" in run["summary"]
    assert run["summary"].startswith("policy error: Great Expectations cannot run")


def test_mlflow_digest_alone_never_proves_spark_data(spark, sqlite_uri, tmp_path):
    """``integrity.require: mlflow-digest`` with nothing but MLflow's digest: on Spark that
    digest hashes the query plan, so nothing proves the rows and the audit says so."""
    import mlflow
    from mlflow.data.spark_dataset import from_spark

    folder = tmp_path / "train"
    spark.createDataFrame(_rows(20), SCHEMA).write.parquet(str(folder))

    def log() -> None:
        df = spark.read.parquet(str(folder))
        mlflow.log_input(from_spark(df, path=str(folder), targets="income"), context="training")

    ref = f"weak/{_register(sqlite_uri, 'weak', log)}"
    text = """\
version: 1
models:
  - match: "*"
    label: income
    fairness: {not_applicable: "integrity only"}
    integrity: {require: mlflow-digest}
    expectations:
      - type: expect_column_values_to_be_between
        kwargs: {column: age, min_value: 17, max_value: 90}
"""
    policy = write_policy(tmp_path / "weak.yaml", text)
    result = audit_json(sqlite_uri, ref, policy)  # --no-write: nothing is pinned
    assert result.exit_code == 3, result.output
    checks = _checks(results_of(result)["versions"][0])
    assert checks["integrity.proof"]["status"] == "error"
    assert checks["integrity.proof"]["summary"].startswith("nothing proves '")
    assert (
        "MLflow's digest cannot be checked (not applicable on Spark data"
        in (checks["integrity.proof"]["summary"])
    )
    assert checks["integrity.mlflow_digest"]["status"] == "pass"
    assert checks["integrity.mlflow_digest"]["details"]["not_applicable"]
