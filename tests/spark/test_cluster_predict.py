"""``--spark-predict cluster``: fairness predicted with ``spark_udf`` on a real Spark standalone
cluster's executors, by explicit opt-in, with nothing of govern's environment shipped to them.

The cluster audits run ``govern`` in a subprocess (its driver, bound to 127.0.0.1): the pytest
process already holds the classic local session of tests/spark/conftest.py. The sandboxed
reference audit of the same version runs in-process on that ``local[2]`` session.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import LABEL, POLICY, audit_json, results_of, run_cli, write_policy
from tests.spark.standalone import Cluster
from tests.spark.test_spark_engine import _checks, _close, _parquet_folder

SENTINELS = {
    "OPENAI_API_KEY": "sk-govern-sentinel-openai-0123456789",
    "MLFLOW_TRACKING_TOKEN": "govern-sentinel-tracking-token-0123456789",
    "AWS_SECRET_ACCESS_KEY": "govern-sentinel-aws-secret-0123456789",
}
"""Secrets in govern's environment that no executor may see."""


def _recording(inner: Any, folder: str) -> Any:
    """A pyfunc model predicting as ``inner`` that writes the environment it runs in to
    ``folder`` (one file per call): what the model could read is what the test reads. Defined
    in a function so that cloudpickle stores the class by value (executors cannot import the
    tests)."""
    from mlflow.pyfunc import PythonModel

    class Recording(PythonModel):
        def __init__(self, inner: Any, folder: str):
            self.inner = inner
            self.folder = folder

        def predict(self, context: Any, model_input: Any, params: Any = None) -> Any:
            import json
            import os
            import uuid

            path = os.path.join(self.folder, f"{os.getpid()}-{uuid.uuid4().hex}.json")
            with open(path, "w", encoding="utf-8") as fh:
                json.dump({"environ": dict(os.environ), "pid": os.getpid()}, fh)
            return self.inner.predict(model_input)

    return Recording(inner, folder)


def _register(uri: str, name: str, model: Any, features: Any, folder: Path) -> str:
    import mlflow
    from mlflow.models import infer_signature

    from govern.demo import pinned_requirements

    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    mlflow.set_experiment("training")
    with mlflow.start_run():
        frame = __import__("pandas").read_parquet(folder)
        mlflow.log_input(mlflow.data.from_pandas(frame, source=str(folder)), context="training")
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=model,
            signature=infer_signature(features, model.inner.predict(features)),
            registered_model_name=name,
            pip_requirements=pinned_requirements(),
        )
    for v in mlflow.MlflowClient().search_model_versions(f"name = '{name}'"):
        if v.model_id == info.model_id or v.source.endswith(info.model_id):
            return str(v.version)
    raise AssertionError("the model version was not registered")


def _govern(cluster: Cluster, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``govern audit`` in a subprocess whose Spark driver uses ``cluster``, with the secret
    sentinels in its environment."""
    env = {
        **os.environ,
        **SENTINELS,
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "PYSPARK_PYTHON": sys.executable,  # the executors' interpreter, named by the driver
        "SPARK_LOCAL_IP": "127.0.0.1",
    }
    env.pop("SPARK_REMOTE", None)
    command = [
        sys.executable,
        "-m",
        "govern",
        "audit",
        *args,
        "--engine",
        "spark",
        "--spark-master",
        cluster.master,
        "--spark-conf",
        "spark.driver.host=127.0.0.1",
        "--spark-conf",
        "spark.driver.bindAddress=127.0.0.1",
        "--spark-conf",
        "spark.executor.memory=512m",
        "--spark-conf",
        "spark.sql.shuffle.partitions=2",
        "--spark-conf",
        f"spark.local.dir={cwd / 'scratch'}",
        "--format",
        "json",
    ]
    return subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=900, check=False
    )


def _records(folder: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]


def test_cluster_prediction_equals_the_sandbox_and_ships_no_secret(
    spark, standalone, sqlite_uri, tmp_path, adult, trained
):
    """The same version: sandboxed on local[2], then on the standalone cluster's executors with
    --spark-predict cluster. Same verdict, fairness equal to 1e-12, the evidence says where the
    model ran, the fingerprints differ, and the model on the executors saw none of govern's
    secrets nor its tracking URI."""
    plain, _ = trained
    policy = write_policy(tmp_path / "govern.yaml", POLICY)
    folder = _parquet_folder(adult, tmp_path / "train")
    records = tmp_path / "records"
    records.mkdir()
    features = adult.drop(columns=[LABEL])
    version = _register(sqlite_uri, "income", _recording(plain, str(records)), features, folder)
    ref = f"income/{version}"

    # Recorded (pins the data); the cluster audit must not reuse it: another fingerprint.
    sandboxed = audit_json(sqlite_uri, ref, policy, "--engine", "spark", write=True)
    assert sandboxed.exit_code == 1, sandboxed.output
    s = results_of(sandboxed)["versions"][0]
    assert s["metadata"]["predicted_on"] == "sandboxed local Spark child"
    assert s["metadata"]["spark"]["predict"] == "sandbox"
    for path in records.glob("*.json"):
        path.unlink()

    (tmp_path / "run").mkdir()
    out = tmp_path / "run" / "out"
    done = _govern(
        standalone,
        tmp_path / "run",
        ref,
        "--policy",
        str(policy),
        "--tracking-uri",
        sqlite_uri,
        "--no-write",
        "--spark-predict",
        "cluster",
        "--out",
        str(out),
    )
    assert done.returncode == 1, done.stderr[-3000:]
    c = json.loads(done.stdout)["versions"][0]
    assert c["verdict"] == s["verdict"] == "fail"
    statuses = {x["id"]: x["status"] for x in c["checks"]}
    # The one difference: the second audit also compares the row fingerprint the first pinned.
    assert statuses.pop("integrity.row_fingerprint_pinned") == "pass"
    assert statuses == {x["id"]: x["status"] for x in s["checks"]}
    assert _checks(c)["fairness.demographic_parity_ratio"]["status"] == "fail"
    _close(c["fairness"], s["fairness"], "fairness")
    assert sum(g["count"] for g in c["fairness"]["groups"]) == len(adult)
    # The evidence: metadata, results.json, the report and the reuse fingerprint.
    assert c["metadata"]["predicted_on"] == f"executors of {standalone.master}"
    assert c["metadata"]["spark"]["predict"] == "cluster"
    assert c["metadata"]["spark"]["master"] == standalone.master
    assert c["metadata"]["fingerprint"] != s["metadata"]["fingerprint"]
    assert "reused_from" not in c["metadata"]
    assert _checks(c)["integrity.pinned_sha256"]["status"] == "pass"
    written = json.loads((out / "results.json").read_text())["versions"][0]
    assert written["metadata"]["predicted_on"] == c["metadata"]["predicted_on"]
    report = _report(out)
    assert f"executors of {standalone.master} (--spark-predict cluster" in report
    assert "the executors' own Python (local)" in report
    assert r"| spark \(model on cluster\) |" in (out / "summary.md").read_text()

    # The model ran on the executors (the worker's HOME), once per task at least ...
    seen = _records(records)
    assert seen, "the model never ran on the executors"
    assert {r["environ"].get("HOME") for r in seen} == {str(standalone.home)}
    # ... and saw none of govern's secrets, and not govern's tracking URI.
    for record in seen:
        environ = record["environ"]
        text = json.dumps(environ)
        for name, value in SENTINELS.items():
            assert value not in text, name
        assert sqlite_uri not in text
        assert environ.get("MLFLOW_TRACKING_URI") == (
            "file:///nonexistent/govern-gives-the-model-no-tracking-server"
        )


def _report(out: Path) -> str:
    """The version's HTML report as text (tags stripped by the standard library's parser)."""
    from html.parser import HTMLParser

    pages = list((out / "reports").glob("*.html"))
    assert len(pages) == 1, pages

    class Text(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.parts: list[str] = []

        def handle_data(self, data: str) -> None:
            self.parts.append(data)

    parser = Text()
    parser.feed(pages[0].read_text(encoding="utf-8"))
    return "".join(parser.parts)


def test_on_a_cluster_the_default_sandbox_is_an_error_naming_the_option(
    spark, standalone, sqlite_uri, tmp_path, adult, trained
):
    plain, _ = trained
    policy = write_policy(tmp_path / "govern.yaml", POLICY)
    folder = _parquet_folder(adult, tmp_path / "train")
    records = tmp_path / "records"
    records.mkdir()
    features = adult.drop(columns=[LABEL])
    version = _register(sqlite_uri, "income", _recording(plain, str(records)), features, folder)
    (tmp_path / "run").mkdir()
    done = _govern(
        standalone,
        tmp_path / "run",
        f"income/{version}",
        "--policy",
        str(policy),
        "--tracking-uri",
        sqlite_uri,
        "--no-write",
    )
    assert done.returncode == 3, done.stderr[-3000:]
    audited = json.loads(done.stdout)["versions"][0]
    assert audited["verdict"] == "error"
    model = _checks(audited)["fairness.model"]
    assert model["status"] == "error"
    assert model["summary"] == (
        "fairness not evaluated: the model would run "
        f"on the cluster's executors (executors of {standalone.master}), outside govern's "
        "sandbox, with whatever they can reach; --spark-predict cluster allows that (recorded "
        "in the results), the default --spark-predict sandbox predicts only on a local master"
    )
    fairness = [c for c in audited["checks"] if c["id"].startswith("fairness.")]
    assert [c["status"] for c in fairness] == ["error"]
    assert "predicted_on" not in audited["metadata"]
    assert audited["metadata"]["spark"]["predict"] == "sandbox"
    assert _records(records) == []  # the model never ran


@pytest.mark.parametrize(
    ("args", "env"),
    [
        (("--spark-predict", "cluster"), {}),
        (("--spark-master", "local[2]", "--spark-predict", "cluster"), {}),
        (("--spark-master", "local-cluster[2,1,1024]"), {"GOVERN_SPARK_PREDICT": "cluster"}),
    ],
)
def test_cluster_prediction_on_a_local_master_is_a_usage_error(
    spark_installed, tmp_path, args, env
):
    policy = write_policy(tmp_path / "govern.yaml", POLICY)
    result = run_cli(
        "audit",
        "income/1",
        "--policy",
        str(policy),
        "--tracking-uri",
        f"sqlite:///{tmp_path / 'none.db'}",
        "--engine",
        "spark",
        *args,
        env={"SPARK_REMOTE": "", **env},
    )
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("govern: error: --spark-predict cluster needs a cluster (")
    assert "the model would run in govern's own process tree, with its credentials" in lines[0]


def test_cluster_prediction_needs_the_spark_engine(tmp_path):
    policy = write_policy(tmp_path / "govern.yaml", POLICY)
    result = run_cli(
        "gate",
        "income/1",
        "--policy",
        str(policy),
        "--tracking-uri",
        f"sqlite:///{tmp_path / 'none.db'}",
        "--engine",
        "pandas",
        "--spark-predict",
        "cluster",
    )
    assert result.exit_code == 2, result.output
    assert "--spark-predict need --engine spark or auto" in result.output


def _udf_capturing(secret: str) -> Any:
    """A stand-in for MLflow's UDF: a wrapper whose ``func`` closes over what ``spark_udf``
    captures, plus ``other``, a capture govern does not know about."""
    mlflow_home = None
    openai_env_vars = {"OPENAI_API_KEY": secret}
    mlflow_testing = None
    tracking_uri = "http://user:pw-0123456789@registry.example"
    other: list[str] = []

    def udf(batch: Any) -> Any:
        return (mlflow_home, openai_env_vars, mlflow_testing, tracking_uri, other, batch)

    def wrapper(*columns: Any) -> Any:
        return udf(columns)

    wrapper.func = udf  # type: ignore[attr-defined]
    wrapper.returnType = "string"  # type: ignore[attr-defined]
    return wrapper, other


def test_the_udf_is_cleared_of_what_mlflow_captures(spark_installed, monkeypatch):
    from govern.pipeline.spark_predict import NO_TRACKING_URI, without_secrets

    monkeypatch.setenv("OPENAI_API_KEY", SENTINELS["OPENAI_API_KEY"])
    wrapper, _ = _udf_capturing(SENTINELS["OPENAI_API_KEY"])
    assert without_secrets(wrapper) is wrapper
    captured = dict(zip(wrapper.func.__code__.co_freevars, wrapper.func.__closure__, strict=True))
    assert captured["openai_env_vars"].cell_contents == {}
    assert captured["tracking_uri"].cell_contents == NO_TRACKING_URI


def test_a_secret_left_in_the_udf_refuses_it_without_showing_it(spark_installed, monkeypatch):
    from govern.errors import DataError
    from govern.pipeline.spark_predict import without_secrets

    monkeypatch.setenv("MY_SERVICE_TOKEN", "govern-sentinel-unknown-capture-42")
    wrapper, other = _udf_capturing("irrelevant")
    other.append("govern-sentinel-unknown-capture-42")  # a capture MLflow might add one day
    with pytest.raises(DataError) as caught:
        without_secrets(wrapper)
    assert str(caught.value) == (
        "refusing to run the model on the cluster: the Spark UDF MLflow built would carry a "
        "secret of govern's process to the executors (MY_SERVICE_TOKEN)"
    )
    with pytest.raises(DataError, match="returned an unexpected object"):
        without_secrets(lambda *columns: None)


def test_mlflow_spark_udf_still_captures_what_govern_clears(spark_installed):
    """The names govern replaces are the free variables of MLflow's inner UDF function; if an
    MLflow upgrade renames them the pickled-bytes check still refuses a leak, but this says
    why first."""
    import mlflow.pyfunc

    from govern.pipeline.spark_predict import _CAPTURED

    inner = [
        c
        for c in mlflow.pyfunc.spark_udf.__code__.co_consts
        if getattr(c, "co_name", None) == "udf"
    ]
    assert len(inner) == 1
    assert set(_CAPTURED) <= set(inner[0].co_freevars)


def test_the_cli_offers_every_prediction_place():
    from govern.cli.options import SPARK_PREDICT
    from govern.registry.spark_session import PREDICT_MODES

    assert SPARK_PREDICT == list(PREDICT_MODES)
