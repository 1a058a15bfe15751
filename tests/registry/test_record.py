"""The version's audit record in a real sqlite registry: one tag, never half-written.

A reader must never see a verdict beside another audit's run id, and a write that fails must
leave the previous complete record. The faults are real: the artifact store is made unwritable
by putting a file where the audit experiment's artifact folder was.
"""

from __future__ import annotations

import json
import shutil
import threading

import pytest
from mlflow.tracking import MlflowClient

from govern.model.record import AuditRecord, RecordError, parse_record
from govern.model.results import CheckResult, TrainingData, VersionResult
from govern.registry.client import Registry
from govern.registry.record import TAG_RECORD, read_record, record_audit

EXPERIMENT = "govern-audits"
POLICY_SHA = "a" * 64


def _version(uri: str, tmp_path) -> str:
    client = MlflowClient(uri, uri)
    client.create_registered_model("m")
    client.create_model_version("m", str(tmp_path / "model"), run_id=None)
    return "m"


def _result(status: str, proof: str = "pinned", pinned_at: str | None = None) -> VersionResult:
    data = TrainingData(
        name="train.parquet",
        source="/data/train.parquet",
        source_type="local",
        mlflow_digest="12345678",
        recomputed_digest="12345678",
        sha256="b" * 64,
        logged_sha256=None,
        rows=10,
        proof=proof,
        pinned={"sha256": "b" * 64, "pinned_at": pinned_at, "audit_run_id": "r0"}
        if pinned_at
        else {},
        digest_columns=("age", "income"),
    )
    return VersionResult(
        model="m",
        version="1",
        aliases=(),
        run_id=None,
        checks=(CheckResult("quality.x", "quality", status, f"it is {status}"),),  # type: ignore[arg-type]
        started_at="2026-12-01T10:00:00Z",
        finished_at="2026-12-01T10:00:05Z",
        training_data=data,
    )


def _record(registry: Registry, result: VersionResult) -> str:
    return record_audit(registry, EXPERIMENT, POLICY_SHA, result, "<html></html>", "{}")


@pytest.fixture
def registry(sqlite_uri, tmp_path) -> Registry:
    _version(sqlite_uri, tmp_path)
    MlflowClient(sqlite_uri, sqlite_uri).create_experiment(
        EXPERIMENT, artifact_location=(tmp_path / "artifacts").as_uri()
    )
    return Registry(sqlite_uri)


def test_one_tag_holds_the_whole_record(registry, sqlite_uri):
    run_id = _record(registry, _result("pass"))

    tags = MlflowClient(sqlite_uri, sqlite_uri).get_model_version("m", "1").tags
    assert [k for k in tags if k.startswith("govern.")] == [TAG_RECORD]
    record = read_record(tags)
    assert record == AuditRecord(
        status="pass",
        audited_at="2026-12-01T10:00:05Z",
        audit_run_id=run_id,
        policy_sha256=POLICY_SHA,
        proof="pinned",
        proof_detail="2026-12-01T10:00:05Z",  # this audit is the first: it pins now
        govern_version=record.govern_version if record else "",
    )
    run = MlflowClient(sqlite_uri, sqlite_uri).get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.tags["govern.verdict"] == "pass"


def test_the_proof_is_recorded_as_the_report_states_it(registry, sqlite_uri):
    _record(registry, _result("pass", pinned_at="2026-11-02T08:00:00Z"))
    tags = MlflowClient(sqlite_uri, sqlite_uri).get_model_version("m", "1").tags
    record = read_record(tags)
    assert record is not None
    assert record.proof_label == "pinned at the first audit on 2026-11-02T08:00:00Z"
    _record(registry, _result("pass", proof="mlflow-digest"))
    record = read_record(MlflowClient(sqlite_uri, sqlite_uri).get_model_version("m", "1").tags)
    assert record is not None
    assert record.proof_label == "MLflow digest only (columns: age, income)"


def test_a_failed_write_leaves_the_previous_record_and_marks_its_run_failed(
    registry, sqlite_uri, tmp_path
):
    first = _record(registry, _result("pass"))
    shutil.move(tmp_path / "artifacts", tmp_path / "moved")
    (tmp_path / "artifacts").write_text("not a folder")  # the evidence cannot be uploaded now

    with pytest.raises(Exception):  # noqa: B017, PT011 - whatever the store raises
        _record(registry, _result("fail"))

    client = MlflowClient(sqlite_uri, sqlite_uri)
    record = read_record(client.get_model_version("m", "1").tags)
    assert record is not None and (record.status, record.audit_run_id) == ("pass", first)
    runs = client.search_runs(
        [client.get_experiment_by_name(EXPERIMENT).experiment_id],
        order_by=["attributes.start_time DESC"],
    )
    assert [r.info.status for r in runs] == ["FAILED", "FINISHED"]
    assert runs[0].data.tags["govern.verdict"] == "fail"


def test_a_reader_never_sees_a_status_beside_another_audits_run(registry, sqlite_uri):
    client = MlflowClient(sqlite_uri, sqlite_uri)
    seen: list[tuple[str, str]] = []
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            record = read_record(client.get_model_version("m", "1").tags)
            if record is not None:
                seen.append((record.status, record.audit_run_id))

    reader = threading.Thread(target=read)
    reader.start()
    try:
        written = {_record(registry, _result(s)): s for s in ("pass", "fail") * 4}
    finally:
        stop.set()
        reader.join()
    assert seen  # the reader overlapped the writes
    for status, run_id in seen:
        assert written[run_id] == status


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("pass", "not JSON"),
        ("[]", "not a JSON object"),
        ('{"format": 2}', "record format 2, this govern reads 1"),
        ('{"format": 1, "status": "pass"}', "'audited_at' is missing or not text"),
    ],
)
def test_a_tag_that_is_not_a_record_is_refused(text, problem):
    with pytest.raises(RecordError, match=f"^{problem}$"):
        parse_record(text)


def test_an_unknown_status_is_refused():
    record = json.loads(_record_text("pass"))
    record["status"] = "passed"
    with pytest.raises(RecordError, match="unknown status 'passed'"):
        parse_record(json.dumps(record))


def _record_text(status: str) -> str:
    return AuditRecord(status, "t", "r", "p", None, None, "0.1.0").to_tag()
