"""MLflow's digest where an engine cannot recompute it (the Spark engine): said, never a proof."""

from __future__ import annotations

from govern.checks.integrity import integrity_checks, proof_of
from govern.model.results import TrainingData

WHY = "not applicable on Spark data (MLflow's Spark digest hashes the query plan)"


def _data(**kw) -> TrainingData:
    return TrainingData(
        name="train", source="/t", source_type="spark", mlflow_digest="abcd1234", **kw
    )


def _by_id(checks) -> dict:
    return {c.id: c for c in checks}


def test_the_digest_check_says_why_and_the_full_hash_decides() -> None:
    data = _data(sha256="a" * 64, rows=10)
    checks = _by_id(integrity_checks(data, digest_applies=True, digest_not_applicable=WHY))
    digest = checks["integrity.mlflow_digest"]
    assert digest.status == "pass"
    assert digest.summary.startswith(f"MLflow's digest is not applicable: {WHY}")
    assert digest.details == {"not_applicable": WHY}
    assert checks["integrity.pinned_sha256"].status == "pass"  # this audit pins it
    assert "integrity.proof" not in checks


def test_mlflow_digest_alone_is_never_enough_on_spark_data() -> None:
    data = _data(sha256="a" * 64, rows=10)
    assert proof_of(data, None, recorded=False) == "mlflow-digest"
    for require in ("mlflow-digest", "pinned", "training-hash"):
        checks = _by_id(
            integrity_checks(
                data,
                digest_applies=True,
                recorded=False,
                require=require,
                digest_not_applicable=WHY,
            )
        )
        proof = checks["integrity.proof"]
        assert proof.status == "error", require
        assert proof.summary.startswith("nothing proves 'train'")
        assert f"MLflow's digest cannot be checked ({WHY})" in proof.summary


def test_the_pandas_engine_is_unchanged_when_the_digest_applies() -> None:
    data = _data(sha256="a" * 64, rows=10, recomputed_digest="abcd1234")
    checks = _by_id(
        integrity_checks(data, digest_applies=True, recorded=False, require="mlflow-digest")
    )
    assert checks["integrity.mlflow_digest"].status == "pass"
    assert "integrity.proof" not in checks
