"""Where the Spark engine ran the model is evidence: in the reuse fingerprint and in every output
that names the engine (no Spark needed: the results and the fingerprint are plain data)."""

from __future__ import annotations

import pytest

from govern.errors import UsageError
from govern.model.results import AuditRun, CheckResult, VersionResult
from govern.pipeline.fingerprint import fingerprint
from govern.registry.client import VersionInfo
from govern.registry.spark_session import settings
from govern.render.formats import render_run


def _print(**kw: str) -> str | None:
    info = VersionInfo("m", "1", (), "r1", "models:/m/1", "READY")
    return fingerprint(
        info,
        model_sha256="a" * 64,
        data_sha256="b" * 64,
        policy_digest="c" * 64,
        libraries={"pyspark": "4.1.4"},
        engine="spark",
        **kw,
    )


def test_a_cluster_prediction_is_never_reused_for_a_sandboxed_one() -> None:
    assert _print(spark_predict="sandbox") == _print()  # older fingerprints stay valid
    assert _print(spark_predict="cluster") != _print(spark_predict="sandbox")


def _run(metadata: dict) -> AuditRun:
    check = CheckResult("fairness.demographic_parity_ratio", "fairness", "pass", "fair")
    version = VersionResult(
        "m",
        "1",
        (),
        "r1",
        (check,),
        "2026-01-01T00:00:00Z",
        "2026-01-01T00:01:00Z",
        metadata=metadata,
    )
    return AuditRun(
        govern_version="0",
        started_at="2026-01-01T00:00:00Z",
        finished_at="2026-01-01T00:01:00Z",
        policy_sha256="ab" * 32,
        policy_path="govern.yaml",
        tracking_uri="sqlite:///x.db",
        versions=(version,),
    )


CLUSTER = {
    "engine": "spark",
    "spark": {"master": "spark://h:7077", "conf_keys": [], "predict": "cluster"},
    "predicted_on": "executors of spark://h:7077",
}
SANDBOX = {
    "engine": "spark",
    "spark": {"master": "local[*]", "conf_keys": [], "predict": "sandbox"},
    "predicted_on": "sandboxed local Spark child",
}


def test_the_table_and_markdown_say_the_model_ran_on_the_cluster() -> None:
    table = render_run(_run(CLUSTER), "table").splitlines()
    assert "spark (model on cluster)" in table[1]
    assert "| spark \\(model on cluster\\) |" in render_run(_run(CLUSTER), "markdown")
    sandboxed = render_run(_run(SANDBOX), "table").splitlines()
    assert sandboxed[1].split()[:4] == ["m", "1", "PASS", "spark"]
    assert "cluster" not in render_run(_run(SANDBOX), "markdown")


def test_the_master_is_recorded_without_its_credentials() -> None:
    made = settings("spark://user:s3cret-pw@h:7077", predict="cluster", environ={})
    assert made.describe() == {
        "master": "spark://***@h:7077",
        "conf_keys": [],
        "predict": "cluster",
    }


@pytest.mark.parametrize("master", [None, "local[2]", "local-cluster[2,1,1024]"])
def test_cluster_prediction_on_a_local_master_is_refused(master: str | None) -> None:
    with pytest.raises(UsageError, match="--spark-predict cluster needs a cluster"):
        settings(master, predict="cluster", environ={})
    assert settings(master, predict="cluster", environ={"SPARK_REMOTE": "sc://h:15002"}).remote
