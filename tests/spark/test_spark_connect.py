"""The Spark engine over Spark Connect, against a real Connect server (``connect_server``):
every data-side step gives what the classic local engine gives on the same registry version,
``govern.track`` logs Connect DataFrames, and prediction ships the model's files to the session
so the executors score with nothing of the client's environment.

The Connect side always runs in a subprocess (govern's CLI, or tests/spark/connect_jobs.py):
pyspark's Connect mode is process-global, and this process holds the classic session.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import results_of, run_cli, write_policy
from tests.spark.test_spark_audit import SCHEMA, _register, _rows

REPO = Path(__file__).resolve().parents[2]


def _env(server: Any, extra: dict[str, str] | None = None) -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
    return {
        **os.environ,
        "PYTHONPATH": path,
        "SPARK_REMOTE": server.url,
        "MLFLOW_DISABLE_TELEMETRY": "true",
        **(extra or {}),
    }


def _failed(server: Any, proc: subprocess.CompletedProcess[str]) -> str:
    return (
        f"exit {proc.returncode}\n--- stdout ---\n{proc.stdout[-3000:]}\n--- stderr ---\n"
        f"{proc.stderr[-4000:]}\n--- Spark Connect server log ---\n{server.log_tail()}"
    )


def _job(server: Any, tmp: Path, job: str, request: dict[str, Any], **env: str) -> Any:
    """Run one job of tests/spark/connect_jobs.py as a Connect client; its JSON answer."""
    path = tmp / f"{job}-request.json"
    path.write_text(json.dumps(request))
    proc = subprocess.run(
        [sys.executable, "-m", "tests.spark.connect_jobs", job, str(path)],
        cwd=tmp,
        env=_env(server, env),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, _failed(server, proc)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _govern(server: Any, tmp: Path, *args: str, remote: str | None = None) -> Any:
    env = _env(server)
    if remote is not None:
        env["SPARK_REMOTE"] = remote
    return subprocess.run(
        [sys.executable, "-m", "govern", *args],
        cwd=tmp,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


def _sorted_cells(records: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return sorted(tuple(sorted(r.items())) for r in records)


# --- prediction -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory, adult: Any, trained: Any) -> dict[str, Path]:
    """The demo's two models (a scikit-learn pipeline, a pyfunc with text labels), logged to a
    real sqlite registry and downloaded as govern downloads a registered model."""
    import mlflow
    from mlflow.artifacts import download_artifacts

    from govern.demo import log_model

    root = tmp_path_factory.mktemp("connect-models")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    mlflow.set_experiment("connect-predict")
    features = adult.drop(columns=["income"])
    out = {}
    for name, model in zip(("plain", "mitigated"), trained, strict=True):
        with mlflow.start_run():
            info = log_model(f"connect-{name}", model, features)
        out[name] = Path(
            download_artifacts(
                artifact_uri=info.model_uri, dst_path=str(root / name), tracking_uri=uri
            )
        )
    return out


SNOOP = textwrap.dedent(
    """
    import os

    import numpy as np
    import mlflow
    from mlflow.pyfunc import PythonModel

    WANTED = ("GOVERN_TEST_SECRET", "OPENAI_API_KEY", "AWS_SECRET_ACCESS_KEY")


    class Snoop(PythonModel):
        def predict(self, context, model_input, params=None):
            uri = os.environ.get("MLFLOW_TRACKING_URI", "") + mlflow.get_tracking_uri()
            leaked = any(k in os.environ for k in WANTED) or "registry.example" in uri
            return np.array([">50K" if leaked else "<=50K"] * len(model_input))


    mlflow.models.set_model(Snoop())
    """
)
SECRETS = {
    "GOVERN_TEST_SECRET": "s3cr3t",
    "OPENAI_API_KEY": "sk-not-a-real-key",
    "AWS_SECRET_ACCESS_KEY": "not-a-real-key",
    "MLFLOW_TRACKING_URI": "https://user:pw@registry.example",
}


def _snoop_model(tmp: Path, adult: Any) -> Path:
    import mlflow
    import numpy as np
    from mlflow.models import infer_signature

    features = adult.drop(columns=["income"]).head(5)
    code = tmp / "snoop.py"
    code.write_text(SNOOP)
    path = tmp / "snoop-model"
    mlflow.pyfunc.save_model(
        str(path),
        python_model=str(code),
        signature=infer_signature(features, np.array(["<=50K"] * 5)),
    )
    return path


def test_prediction_on_connect_equals_the_classic_path_and_sees_no_client_secret(
    spark: Any,
    connect_server: Any,
    models: dict[str, Path],
    adult: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``predict_cells_in_session`` on a Connect DataFrame: the model files are shipped to the
    session and loaded on the executors. The cells equal the classic local path's (MLflow's
    ``spark_udf``) for both demo models; a model that looks for the client's secrets on the
    executors finds none, although the client process holds them and the same model sees them
    there; a virtualenv environment manager is refused, saying why."""
    import mlflow

    from govern.pipeline.predict import model_inputs
    from govern.pipeline.spark_predict import predict_cells_in_session

    data = tmp_path / "adult.parquet"
    adult.to_parquet(data, index=False)
    sensitive = ["sex", "race"]
    snoop = _snoop_model(tmp_path, adult)
    tasks = []
    for name in ("plain", "mitigated"):
        features, _, _ = model_inputs(models[name], list(adult.columns), "income", name)
        tasks.append({"model_dir": str(models[name]), "features": features})
    tasks.append({"model_dir": str(snoop), "features": tasks[0]["features"]})
    tasks.append({**tasks[0], "env_manager": "virtualenv"})
    request = {"data": str(data), "label": "income", "sensitive": sensitive, "tasks": tasks}

    answers = _job(connect_server, tmp_path, "predict", request, **SECRETS)["answers"]

    sdf = spark.read.parquet(str(data))
    for task, answer in zip(tasks[:2], answers[:2], strict=True):
        assert "cells" in answer, answer
        classic = predict_cells_in_session(
            sdf, Path(task["model_dir"]), task["features"], "income", sensitive
        )
        expected = json.loads(classic.to_json(orient="records"))
        assert _sorted_cells(answer["cells"]) == _sorted_cells(expected)
        assert sum(c["_n"] for c in answer["cells"]) == len(adult)
        assert {c["_yhat"] for c in answer["cells"]} == {"<=50K", ">50K"}

    snooped = answers[2]["cells"]
    assert {c["_yhat"] for c in snooped} == {"<=50K"}, snooped
    assert sum(c["_n"] for c in snooped) == len(adult)
    for key, value in SECRETS.items():  # the control: where the secrets are, it finds them
        monkeypatch.setenv(key, value)
    features = adult.drop(columns=["income"]).head(5)
    assert set(mlflow.pyfunc.load_model(str(snoop)).predict(features)) == {">50K"}

    assert answers[3] == {
        "error": "--model-env-manager virtualenv cannot run the model over Spark Connect: the "
        "executors would have to build the model's environment, which MLflow supports on "
        "Databricks only; use --model-env-manager local with executors that have the model's "
        "dependencies"
    }


# --- the whole audit --------------------------------------------------------------------------

POLICY = """\
version: 1
models:
  - match: "*"
    packs: [baseline]
    label: income
    positive_label: ">50K"
    sensitive_features: [sex]
    fairness: {not_applicable: "prediction over Spark Connect is tested on its own"}
    expectations:
      - type: expect_column_values_to_be_between
        kwargs: {column: age, min_value: 17, max_value: 50}
      - type: expect_column_values_to_be_in_set
        kwargs: {column: sex, value_set: [F, M]}
      - type: expect_column_values_to_be_of_type
        kwargs: {column: hours, type_: float64}
"""


def _by_model(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f"{v['model']}/{v['version']}": v for v in result["versions"]}


def test_the_same_versions_audited_on_connect_and_on_local_spark_agree(
    spark: Any, connect_server: Any, server: str, tmp_path: Path
) -> None:
    """Training data logged from Connect DataFrames with govern.track (a parquet folder; a Delta
    table written twice, version 0 audited after version 1) and a parquet folder logged from
    the classic session with mlflow.data.from_spark, audited with ``--engine spark`` on the
    Connect server and on local[2]: the same verdicts, check ids and statuses, quality counts,
    manifest digests, row fingerprints and descriptions."""
    import mlflow
    from mlflow.data.spark_dataset import from_spark

    logs = [
        ["connect-folder", _rows(40), str(tmp_path / "folder"), "parquet"],
        ["connect-delta", _rows(30), str(tmp_path / "delta"), "delta"],
        ["connect-delta", _rows(12, shift=5), str(tmp_path / "delta"), "delta"],
    ]
    request = {"uri": server, "schema": SCHEMA, "logs": logs}
    tracked = _job(connect_server, tmp_path, "track", request)["versions"]
    assert len(tracked["connect-folder"]) == 1 and len(tracked["connect-delta"]) == 2

    classic_folder = tmp_path / "classic-folder"
    spark.createDataFrame(_rows(25, shift=2), SCHEMA).repartition(2).write.parquet(
        str(classic_folder)
    )

    def log() -> None:
        df = spark.read.parquet(str(classic_folder))
        mlflow.log_input(
            from_spark(df, path=str(classic_folder), targets="income"), context="training"
        )

    classic_version = _register(server, "classic-folder", log)
    selectors = [
        f"connect-folder/{tracked['connect-folder'][0]}",
        *(f"connect-delta/{v}" for v in tracked["connect-delta"]),
        f"classic-folder/{classic_version}",
    ]
    policy = write_policy(tmp_path / "govern.yaml", POLICY)
    args = [
        "audit",
        *selectors,
        "--policy",
        str(policy),
        "--tracking-uri",
        server,
        "--format",
        "json",
        "--no-write",
        "--engine",
        "spark",
    ]
    on_connect = _govern(connect_server, tmp_path, *args)
    local = run_cli(*args)
    # The tracked folder fails its age range (ages reach 59), the folder logged without a hash
    # is unproved (--no-write): exit 3 on both.
    assert on_connect.returncode == local.exit_code == 3, _failed(connect_server, on_connect)
    remote = _by_model(json.loads(on_connect.stdout))
    classic = _by_model(results_of(local))
    assert remote.keys() == classic.keys() == set(selectors)
    for ref in selectors:
        r, c = remote[ref], classic[ref]
        assert r["metadata"]["engine"] == c["metadata"]["engine"] == "spark", ref
        assert r["metadata"]["spark"]["remote"] == "Spark Connect"
        assert "remote" not in c["metadata"]["spark"]
        assert r["verdict"] == c["verdict"], ref
        statuses = {x["id"]: x["status"] for x in c["checks"]}
        assert {x["id"]: x["status"] for x in r["checks"]} == statuses, ref
        by_id = {x["id"]: x for x in r["checks"]}
        quality = [i for i in statuses if i.startswith("quality.")]
        assert len(quality) >= 6, ref
        for check in c["checks"]:
            if check["id"] in quality:
                got = by_id[check["id"]]
                assert got["observed"] == check["observed"], (ref, check["id"])
                assert got["details"]["result"] == check["details"]["result"], (ref, check["id"])
        assert r["training_data"] == c["training_data"], ref
        assert r["representation"] == c["representation"], ref

    folder = remote[selectors[0]]
    assert folder["training_data"]["files"] >= 1
    assert folder["training_data"]["sha256"] == folder["training_data"]["manifest_sha256"]
    checks = {x["id"]: x for x in folder["checks"]}
    assert checks["integrity.sha256"]["status"] == "pass"  # recorded by govern.track on Connect
    assert checks["integrity.row_fingerprint"]["status"] == "pass"
    age = checks["quality.expect_column_values_to_be_between.age"]
    assert age["status"] == "fail"
    assert age["details"]["result"]["unexpected_count"] == sum(1 for r in _rows(40) if r[0] > 50)
    first, second = (remote[s] for s in selectors[1:3])
    assert first["training_data"]["delta_version"] == 0
    assert first["training_data"]["rows"] == 30
    assert second["training_data"]["delta_version"] == 1
    assert second["training_data"]["rows"] == 12
    for version in (first, second):
        assert version["training_data"]["source_type"] == "delta_table"
        assert {x["id"]: x["status"] for x in version["checks"]}["integrity.sha256"] == "pass"
    unproved = {x["id"]: x for x in remote[selectors[3]]["checks"]}
    assert unproved["integrity.proof"]["status"] == "error"

    # An unreachable server is named at once (host and port, never the URL's token).
    from tests.servers import _free_port

    closed = f"sc://127.0.0.1:{_free_port()}/;token=sekrit-token"
    one = ["audit", selectors[0], *args[1 + len(selectors) :]]
    refused = _govern(connect_server, tmp_path, *one, remote=closed)
    assert refused.returncode == 3, refused.stderr
    version = json.loads(refused.stdout)["versions"][0]
    load = {x["id"]: x for x in version["checks"]}["lineage.load"]
    host = closed.split("/")[2]
    assert load["summary"].startswith(
        f"cannot reach the Spark Connect server at {host} (SPARK_REMOTE): "
    )
    assert "sekrit" not in refused.stdout + refused.stderr


# --- fairness over Connect through the CLI ------------------------------------------------------


def test_fairness_over_connect_needs_spark_predict_cluster_and_then_equals_the_sandbox(
    spark: Any, connect_server: Any, sqlite_uri: str, tmp_path: Path, adult: Any, trained: Any
) -> None:
    """The same version audited with ``--engine spark``: on local[2] with the sandboxed child;
    over Spark Connect by default (fairness is an error naming ``--spark-predict cluster``,
    exit 3, never a pass); over Spark Connect with ``--spark-predict cluster`` (the model shipped
    to the session and run on its executors): the sandbox's verdict, check statuses and fairness
    metrics to 1e-12, and the evidence says where the model ran."""
    import mlflow

    from tests.helpers import LABEL, POLICY, audit_json
    from tests.spark.test_spark_engine import _close, _parquet_folder, _register_model

    plain, _ = trained
    policy = write_policy(tmp_path / "govern.yaml", POLICY)
    folder = _parquet_folder(adult, tmp_path / "train")

    def log() -> None:
        mlflow.log_input(mlflow.data.from_pandas(adult, source=str(folder)), context="training")

    version = _register_model(sqlite_uri, "connect-fair", plain, adult.drop(columns=[LABEL]), log)
    ref = f"connect-fair/{version}"
    # The sandboxed audit on local[2] pins the data; the Connect audits prove the same pin.
    sandboxed = audit_json(sqlite_uri, ref, policy, "--engine", "spark", write=True)
    assert sandboxed.exit_code == 1, sandboxed.output
    local = results_of(sandboxed)["versions"][0]
    assert local["metadata"]["predicted_on"] == "sandboxed local Spark child"
    args = [
        "audit",
        ref,
        "--policy",
        str(policy),
        "--tracking-uri",
        sqlite_uri,
        "--format",
        "json",
        "--no-write",
        "--force",
        "--engine",
        "spark",
    ]

    default = _govern(connect_server, tmp_path, *args)
    assert default.returncode == 3, _failed(connect_server, default)
    refused = {c["id"]: c for c in json.loads(default.stdout)["versions"][0]["checks"]}
    assert refused["fairness.model"]["status"] == "error"
    assert "--spark-predict cluster" in refused["fairness.model"]["summary"]
    assert not any(i.startswith("fairness.") and c["status"] == "pass" for i, c in refused.items())

    opted = _govern(connect_server, tmp_path, *args, "--spark-predict", "cluster")
    assert opted.returncode == 1, _failed(connect_server, opted)
    remote = json.loads(opted.stdout)["versions"][0]
    assert remote["metadata"]["predicted_on"] == "executors of the Spark Connect cluster"
    assert remote["metadata"]["spark"]["predict"] == "cluster"
    assert remote["verdict"] == local["verdict"] == "fail"
    statuses = {c["id"]: c["status"] for c in local["checks"]}
    # The later audit also proves the row fingerprint the first one pinned.
    extra = {"integrity.row_fingerprint_pinned": "pass"}
    assert {c["id"]: c["status"] for c in remote["checks"]} == {**statuses, **extra}
    assert statuses["fairness.demographic_parity_ratio"] == "fail"
    _close(remote["fairness"], local["fairness"], "fairness")
    assert remote["fairness"]["groups"]
