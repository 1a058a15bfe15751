"""Nightly audits: incremental reuse, parallel workers, narrowing, JUnit, Markdown, progress."""

from __future__ import annotations

import importlib.metadata
import json
import uuid
import xml.etree.ElementTree as ET

import pandas as pd
import pytest
from helpers import audit_json, register, results_of, run_cli, write_policy
from mlflow.tracking import MlflowClient


@pytest.fixture
def nightly(sqlite_uri, tmp_path, adult, trained):
    """Two models, three versions, real data files: a small registry to audit nightly."""
    plain, mitigated = trained
    tag = uuid.uuid4().hex[:6]
    a, b = f"alpha-{tag}", f"beta-{tag}"
    paths = {}
    # Distinct data per version: MLflow shares one dataset record between runs that log the
    # same name and digest, so identical data would point every version at the first file.
    for rows, (name, model, key) in zip(
        (1500, 1450, 1400),
        ((a, mitigated, "a1"), (a, plain, "a2"), (b, mitigated, "b1")),
        strict=True,
    ):
        paths[key] = tmp_path / key / "train.parquet"
        register(sqlite_uri, name, adult.head(rows), model, paths[key])
    MlflowClient(sqlite_uri, sqlite_uri).set_registered_model_alias(a, "champion", "1")
    policy = write_policy(tmp_path / "govern.yaml")
    return {"uri": sqlite_uri, "a": a, "b": b, "paths": paths, "policy": policy}


def _audit(env, *extra):
    """Every version, written to the registry unless ``extra`` says ``--no-write``."""
    return audit_json(env["uri"], "--all", env["policy"], *extra, write=True)


def _audit_runs(uri):
    client = MlflowClient(uri, uri)
    exp = client.get_experiment_by_name("govern-audits")
    return client.search_runs([exp.experiment_id]) if exp else []


def _by_ref(data):
    return {(v["model"], v["version"]): v for v in data["versions"]}


def test_unchanged_versions_are_reused_and_changes_invalidate_exactly_them(nightly, monkeypatch):
    first = _audit(nightly)
    assert first.exit_code == 1, first.output
    first_data = _by_ref(results_of(first))
    runs_after_first = len(_audit_runs(nightly["uri"]))
    assert runs_after_first == 3
    assert all("reused_from" not in v["metadata"] for v in first_data.values())

    second = _audit(nightly)
    assert second.exit_code == 1
    second_data = _by_ref(results_of(second))
    for ref, v in second_data.items():
        reused = v["metadata"]["reused_from"]
        assert reused["audit_run_id"] == first_data[ref]["metadata"]["audit_run_id"]
        assert reused["audited_at"] == first_data[ref]["finished_at"]
        assert v["verdict"] == first_data[ref]["verdict"]
        assert v["checks"] == first_data[ref]["checks"]
    assert len(_audit_runs(nightly["uri"])) == runs_after_first  # nothing new recorded

    # The data of one version changes: only that version is recomputed.
    path = nightly["paths"]["b1"]
    frame = pd.read_parquet(path)
    frame.loc[len(frame) - 1, "age"] = 18
    frame.to_parquet(path, index=False)
    third = _by_ref(results_of(_audit(nightly)))
    b1 = third[(nightly["b"], "1")]
    assert "reused_from" not in b1["metadata"]
    assert {c["id"]: c["status"] for c in b1["checks"]}["integrity.sha256"] == "fail"
    assert all("reused_from" in v["metadata"] for ref, v in third.items() if ref[0] != nightly["b"])

    # A policy change (even a comment) invalidates every version.
    nightly["policy"].write_text(nightly["policy"].read_text() + "# reviewed\n")
    fourth = _by_ref(results_of(_audit(nightly)))
    assert all("reused_from" not in v["metadata"] for v in fourth.values())

    # So does a new govern version.
    monkeypatch.setattr("govern.pipeline.fingerprint.__version__", "99.0.0")
    fifth = _by_ref(results_of(_audit(nightly)))
    assert all("reused_from" not in v["metadata"] for v in fifth.values())

    # --force recomputes what would otherwise be reused.
    monkeypatch.undo()
    sixth = _by_ref(results_of(_audit(nightly)))
    assert all("reused_from" not in v["metadata"] for v in sixth.values())  # version changed back
    seventh = _by_ref(results_of(_audit(nightly)))
    assert all("reused_from" in v["metadata"] for v in seventh.values())
    forced = _by_ref(results_of(_audit(nightly, "--force")))
    assert all("reused_from" not in v["metadata"] for v in forced.values())


def test_errors_are_never_reused(nightly):
    nightly["paths"]["b1"].unlink()
    first = _audit(nightly)
    assert first.exit_code == 3
    second = _by_ref(results_of(_audit(nightly)))
    b1 = second[(nightly["b"], "1")]
    assert b1["verdict"] == "error"
    assert "reused_from" not in b1["metadata"]


@pytest.mark.slow
def test_jobs_2_gives_the_same_results_as_jobs_1(nightly):
    one = results_of(_audit(nightly, "--no-write", "--jobs", "1"))
    two = _audit(nightly, "--no-write", "--jobs", "2")
    assert two.exit_code == 1, two.output
    two = results_of(two)
    assert [(v["model"], v["version"]) for v in one["versions"]] == [
        (v["model"], v["version"]) for v in two["versions"]
    ]
    for v1, v2 in zip(one["versions"], two["versions"], strict=True):
        assert v1["verdict"] == v2["verdict"]
        assert v1["checks"] == v2["checks"]
        assert v1["fairness"] == v2["fairness"]
        assert v1["training_data"] == v2["training_data"]
    assert one["verdict"] == two["verdict"] == "fail"


def test_latest_and_aliased_only_narrow_the_selection(nightly):
    latest = results_of(_audit(nightly, "--no-write", "--latest", "1"))
    assert sorted((v["model"], v["version"]) for v in latest["versions"]) == sorted(
        [(nightly["a"], "2"), (nightly["b"], "1")]
    )
    aliased = results_of(_audit(nightly, "--no-write", "--aliased-only"))
    assert [(v["model"], v["version"]) for v in aliased["versions"]] == [(nightly["a"], "1")]
    assert aliased["versions"][0]["aliases"] == ["champion"]


def test_junit_has_one_suite_per_version_and_one_case_per_check(nightly, tmp_path):
    junit = tmp_path / "out" / "junit.xml"
    result = _audit(nightly, "--no-write", "--junit", str(junit))
    data = results_of(result)
    root = ET.parse(junit).getroot()
    assert root.tag == "testsuites"
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == [
        f"{v['model']}/{v['version']}" for v in data["versions"]
    ]
    for suite, version in zip(suites, data["versions"], strict=True):
        cases = suite.findall("testcase")
        assert [c.get("name") for c in cases] == [c["id"] for c in version["checks"]]
        for case, check in zip(cases, version["checks"], strict=True):
            failure, error = case.find("failure"), case.find("error")
            assert (failure is not None) == (check["status"] == "fail")
            assert (error is not None) == (check["status"] == "error")
            if failure is not None:
                assert failure.get("message") == check["summary"]
    assert int(root.get("failures")) == sum(
        c["status"] == "fail" for v in data["versions"] for c in v["checks"]
    )


def test_markdown_summary_on_stdout(nightly):
    result = run_cli(
        "audit",
        "--all",
        "--policy",
        str(nightly["policy"]),
        "--tracking-uri",
        nightly["uri"],
        "--format",
        "markdown",
        "--no-write",
    )
    assert result.exit_code == 1
    text = result.stdout
    assert "|" in text and "FAIL" in text.upper()
    assert nightly["a"] in text and nightly["b"] in text
    assert "demographic\\_parity\\_ratio" in text  # Markdown-escaped
    assert not text.lstrip().startswith("{")


def test_progress_is_one_line_per_version_when_not_a_terminal(nightly):
    result = _audit(nightly, "--no-write")
    lines = [ln for ln in result.stderr.splitlines() if ln.startswith("[")]
    assert len(lines) == 3
    assert all("auditing" not in ln for ln in lines)
    assert lines[0].startswith("[1/3] ") and lines[-1].startswith("[3/3] ")
    json.loads(result.stdout)  # stdout stays pure JSON


def test_an_edited_pack_or_a_new_library_release_is_never_a_stale_pass(nightly, monkeypatch):
    """The policy file is unchanged, but a pack it names by path now makes a version fail; and
    a library that computes the checks changed version: neither may reuse the old result."""
    pack = nightly["policy"].parent / "team-pack.yaml"
    pack.write_text(
        "expectations:\n"
        "  - type: expect_column_values_to_be_between\n"
        "    kwargs: {column: age, min_value: 0, max_value: 200}\n"
    )
    text = (
        nightly["policy"]
        .read_text()
        .replace(
            "packs: [baseline, four-fifths]", "packs: [baseline, four-fifths, ./team-pack.yaml]"
        )
    )
    assert "team-pack.yaml" in text
    nightly["policy"].write_text(text)
    first = _by_ref(results_of(_audit(nightly)))
    a1 = (nightly["a"], "1")
    assert first[a1]["verdict"] == "pass"
    assert _by_ref(results_of(_audit(nightly)))[a1]["metadata"]["reused_from"]

    # The team tightens its pack: every adult in the data is now out of range.
    pack.write_text(pack.read_text().replace("max_value: 200", "max_value: 16"))
    edited = _by_ref(results_of(_audit(nightly)))
    assert "reused_from" not in edited[a1]["metadata"]
    assert edited[a1]["verdict"] == "fail"
    checks = {c["id"]: c for c in edited[a1]["checks"]}
    # Packs come first, so the team pack's check has the plain id, the policy's own gets #2.
    assert checks["quality.expect_column_values_to_be_between.age"]["status"] == "fail"
    assert checks["quality.expect_column_values_to_be_between.age#2"]["status"] == "pass"

    assert _by_ref(results_of(_audit(nightly)))[a1]["metadata"]["reused_from"]
    real = importlib.metadata.version

    def newer_fairlearn(dist: str) -> str:
        return "99.0" if dist == "fairlearn" else real(dist)

    monkeypatch.setattr("govern.pipeline.fingerprint.importlib_metadata.version", newer_fairlearn)
    upgraded = _by_ref(results_of(_audit(nightly)))
    assert all("reused_from" not in v["metadata"] for v in upgraded.values())
