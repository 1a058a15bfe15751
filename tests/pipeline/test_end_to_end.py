"""End to end against a real MLflow tracking server and real sqlite registries."""

from __future__ import annotations

import json
import uuid

import numpy as np
import pandas as pd
import pytest
from helpers import (
    LABEL,
    POSITIVE,
    audit_json,
    recorded,
    register,
    results_of,
    run_cli,
    write_policy,
)
from mlflow.tracking import MlflowClient


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_gate_pass_moves_alias_and_records_the_audit(server, tmp_path, adult, trained):
    plain, mitigated = trained
    name = _name("credit")
    version = register(
        server, name, adult, mitigated, tmp_path / "d" / "train.parquet", artifact=True
    )
    policy = write_policy(tmp_path / "govern.yaml")

    result = run_cli(
        "gate",
        f"{name}/{version}",
        "--promote-to",
        "production",
        "--policy",
        str(policy),
        "--tracking-uri",
        server,
    )

    assert result.exit_code == 0, result.output
    client = MlflowClient(server, server)
    assert client.get_model_version_by_alias(name, "production").version == version
    mv = client.get_model_version(name, version)
    assert recorded(mv.tags)["status"] == "pass"
    assert recorded(mv.tags)["policy_sha256"]
    audit_run = client.get_run(recorded(mv.tags)["audit_run_id"])
    assert audit_run.data.tags["govern.verdict"] == "pass"
    assert audit_run.data.tags["govern.alias_after"] == version
    assert audit_run.data.tags["govern.alias_before"] == ""
    artifacts = {a.path for a in client.list_artifacts(audit_run.info.run_id)}
    assert {"report.html", "results.json"} <= artifacts
    assert "moved from no version (unset) to version" in result.stderr
    # the training run is never modified by an audit
    training_run = client.get_run(mv.run_id)
    assert not any(k.startswith("govern.") for k in training_run.data.tags)


def test_gate_fail_leaves_alias_where_it_was(server, tmp_path, adult, trained):
    plain, mitigated = trained
    name = _name("credit")
    good = register(server, name, adult, mitigated, tmp_path / "a" / "train.parquet", artifact=True)
    bad = register(server, name, adult, plain, tmp_path / "b" / "train.parquet", artifact=True)
    client = MlflowClient(server, server)
    client.set_registered_model_alias(name, "production", good)
    policy = write_policy(tmp_path / "govern.yaml")

    result = run_cli(
        "gate",
        f"models:/{name}/{bad}",
        "--promote-to",
        "production",
        "--policy",
        str(policy),
        "--tracking-uri",
        server,
        "--format",
        "json",
    )

    assert result.exit_code == 1, result.output
    assert client.get_model_version_by_alias(name, "production").version == good
    data = results_of(result)
    checks = {c["id"]: c for c in data["versions"][0]["checks"]}
    assert checks["fairness.demographic_parity_ratio"]["status"] == "fail"
    assert checks["fairness.demographic_parity_ratio"]["observed"] < 0.8
    assert recorded(client.get_model_version(name, bad).tags)["status"] == "fail"
    assert f"stays on version {good}" in result.stderr


def test_audit_all_writes_reports_index_and_results(server, tmp_path, adult, trained):
    plain, mitigated = trained
    name = _name("nightly")
    register(server, name, adult, mitigated, tmp_path / "a" / "train.parquet", artifact=True)
    register(server, name, adult, plain, tmp_path / "b" / "train.parquet", artifact=True)
    policy = write_policy(tmp_path / "govern.yaml")
    out = tmp_path / "reports"

    result = run_cli(
        "audit",
        name,
        "--policy",
        str(policy),
        "--tracking-uri",
        server,
        "--out",
        str(out),
        "--no-write",
    )

    assert result.exit_code == 1, result.output
    data = json.loads((out / "results.json").read_text())
    assert data["verdict"] == "fail"
    assert [v["verdict"] for v in data["versions"]] == ["pass", "fail"]
    for v in data["versions"]:
        assert (out / v["report"]).is_file()
    assert (out / "index.html").is_file()
    # --no-write leaves the registry untouched
    client = MlflowClient(server, server)
    assert "govern.audit" not in client.get_model_version(name, "1").tags


def test_results_json_contract(sqlite_uri, tmp_path, adult, trained):
    _, mitigated = trained
    name = _name("contract")
    register(sqlite_uri, name, adult, mitigated, tmp_path / "d" / "train.csv")
    policy = write_policy(tmp_path / "govern.yaml")

    result = audit_json(sqlite_uri, name, policy)

    assert result.exit_code == 0, result.output
    data = results_of(result)
    assert {
        "schema_version",
        "govern_version",
        "started_at",
        "finished_at",
        "policy_sha256",
        "verdict",
        "versions",
    } <= set(data)
    import hashlib

    assert data["policy_sha256"] == hashlib.sha256(policy.read_bytes()).hexdigest()
    assert data["started_at"].endswith("Z") and data["finished_at"].endswith("Z")
    v = data["versions"][0]
    assert {
        "model",
        "version",
        "aliases",
        "run_id",
        "verdict",
        "report",
        "training_data",
        "checks",
        "fairness",
    } <= set(v)
    assert {"name", "source", "mlflow_digest", "sha256", "rows", "columns"} <= set(
        v["training_data"]
    )
    assert v["training_data"]["rows"] == len(adult)
    kinds = {c["kind"] for c in v["checks"]}
    assert {"lineage", "integrity", "quality", "fairness"} <= kinds
    for c in v["checks"]:
        assert {"id", "kind", "status", "summary", "observed", "threshold", "details"} <= set(c)
        if c["kind"] == "quality":
            assert {"expectation_type", "kwargs", "result"} <= set(c["details"])
    assert {"sensitive_features", "groups", "disparities"} <= set(v["fairness"])
    for g in v["fairness"]["groups"]:
        assert {"group", "count", "metrics"} <= set(g)
    assert set(v["fairness"]["disparities"]) == {"demographic_parity_ratio"}


def test_audit_numbers_equal_fairlearn_on_the_models_predictions(
    sqlite_uri, tmp_path, adult, trained
):
    from fairlearn.metrics import (
        MetricFrame,
        demographic_parity_ratio,
        false_positive_rate,
        selection_rate,
        true_positive_rate,
    )

    plain, _ = trained
    name = _name("oracle")
    register(sqlite_uri, name, adult, plain, tmp_path / "d" / "train.parquet")
    policy = write_policy(tmp_path / "govern.yaml")

    data = results_of(audit_json(sqlite_uri, name, policy))

    y_true = (adult[LABEL] == POSITIVE).to_numpy()
    y_pred = plain.predict(adult.drop(columns=[LABEL])) == POSITIVE
    frame = MetricFrame(
        metrics={
            "selection_rate": selection_rate,
            "true_positive_rate": true_positive_rate,
            "false_positive_rate": false_positive_rate,
        },
        y_true=y_true,
        y_pred=y_pred,
        sensitive_features=adult["sex"],
    )
    fairness = data["versions"][0]["fairness"]
    for group in fairness["groups"]:
        sex = group["group"]["sex"]
        assert group["count"] == int((adult["sex"] == sex).sum())
        for metric, value in group["metrics"].items():
            if metric in frame.by_group.columns:
                assert value == pytest.approx(frame.by_group.loc[sex, metric], rel=1e-9)
    expected = demographic_parity_ratio(y_true, y_pred, sensitive_features=adult["sex"])
    assert fairness["disparities"]["demographic_parity_ratio"] == pytest.approx(expected)


def test_change_after_row_10000_is_caught(sqlite_uri, tmp_path, adult, trained):
    """MLflow's digest hashes the first 10,000 rows only; govern's full SHA-256 sees the rest."""
    from govern.registry.datasets import mlflow_digest

    _, mitigated = trained
    big = pd.concat([adult, adult], ignore_index=True)  # 12,000 real rows
    name = _name("tamper")
    path = tmp_path / "d" / "train.parquet"
    register(sqlite_uri, name, big, mitigated, path)
    logged_digest = mlflow_digest(pd.read_parquet(path))
    tampered = pd.read_parquet(path)
    tampered.loc[11_000, "age"] = int(tampered.loc[11_000, "age"]) + 1
    tampered.to_parquet(path, index=False)
    assert mlflow_digest(pd.read_parquet(path)) == logged_digest  # MLflow cannot see it
    policy = write_policy(
        tmp_path / "govern.yaml",
        """\
        version: 1
        models:
          - match: "*"
            packs: [baseline, four-fifths]
            label: income
            positive_label: ">50K"
            sensitive_features: [sex]
        """,
    )

    result = audit_json(sqlite_uri, name, policy, write=True)

    assert result.exit_code == 1, result.output
    checks = {c["id"]: c for c in results_of(result)["versions"][0]["checks"]}
    assert checks["integrity.mlflow_digest"]["status"] == "pass"
    assert checks["integrity.sha256"]["status"] == "fail"
    assert "changed after the model was trained" in checks["integrity.sha256"]["summary"]
    tags = MlflowClient(sqlite_uri, sqlite_uri).get_model_version(name, "1").tags
    assert recorded(tags)["status"] == "fail"


def test_data_changed_before_its_first_audit_cannot_be_verified_for_plain_mlflow_runs(
    sqlite_uri, tmp_path, adult, trained
):
    """Plain MLflow, no full hash anywhere, and the file already differs from what was logged:
    MLflow's digest differs, and nothing can tell changed data from a changed digest code. That
    is "cannot verify" (an error), never a pass and never a mere fail."""
    _, mitigated = trained
    name = _name("plain-mlflow")
    path = tmp_path / "d" / "train.parquet"
    register(sqlite_uri, name, adult, mitigated, path, track=False)
    tampered = pd.read_parquet(path)
    tampered.loc[5, "age"] = 99
    tampered.to_parquet(path, index=False)
    policy = write_policy(tmp_path / "govern.yaml")

    result = audit_json(sqlite_uri, name, policy, write=True)

    assert result.exit_code == 3, result.output
    checks = {c["id"]: c for c in results_of(result)["versions"][0]["checks"]}
    assert checks["integrity.mlflow_digest"]["status"] == "error"
    assert checks["integrity.mlflow_digest"]["summary"].startswith("cannot verify: ")
    assert "integrity.sha256" not in checks  # nothing recorded at training to compare with
    assert checks["integrity.pinned_sha256"]["status"] == "pass"  # this first audit pins it


def test_missing_data_file_fails_closed_without_a_pass_tag(sqlite_uri, tmp_path, adult, trained):
    _, mitigated = trained
    name = _name("gone")
    path = tmp_path / "d" / "train.parquet"
    register(sqlite_uri, name, adult, mitigated, path)
    path.unlink()
    policy = write_policy(tmp_path / "govern.yaml")

    result = run_cli(
        "gate",
        f"{name}/1",
        "--promote-to",
        "production",
        "--policy",
        str(policy),
        "--tracking-uri",
        sqlite_uri,
    )

    assert result.exit_code == 3, result.output
    assert "does not exist" in result.output
    client = MlflowClient(sqlite_uri, sqlite_uri)
    assert recorded(client.get_model_version(name, "1").tags).get("status") == "error"
    assert "production" not in client.get_registered_model(name).aliases


def test_unknown_expectation_type_exits_2_before_touching_the_registry(tmp_path):
    policy = write_policy(
        tmp_path / "govern.yaml",
        """\
        version: 1
        models:
          - match: "*"
            expectations:
              - type: expect_column_values_to_be_betwen
                kwargs: {column: age, min_value: 0}
        """,
    )

    result = run_cli(
        "audit",
        "--all",
        "--policy",
        str(policy),
        "--tracking-uri",
        f"sqlite:///{tmp_path / 'nowhere.db'}",
    )

    assert result.exit_code == 2, result.output
    assert "expect_column_values_to_be_betwen" in result.stderr
    assert "did you mean 'expect_column_values_to_be_between'" in result.stderr
    assert "Traceback" not in result.output
    assert not (tmp_path / "nowhere.db").exists()


def test_model_with_more_versions_than_a_page(server, tmp_path, adult, trained):
    from govern.registry.client import Registry

    _, mitigated = trained
    name = _name("paged")
    small = adult.head(400)
    for i in range(5):
        register(server, name, small, mitigated, tmp_path / str(i) / "train.parquet", artifact=True)
    registry = Registry(server, page_size=2)
    versions = registry.versions(name)
    assert [v.version for v in versions] == ["1", "2", "3", "4", "5"]
    assert name in registry.model_names()


def test_scan_shows_lineage_and_status(sqlite_uri, tmp_path, adult, trained):
    _, mitigated = trained
    name = _name("scan")
    register(sqlite_uri, name, adult, mitigated, tmp_path / "d" / "train.parquet")
    MlflowClient(sqlite_uri, sqlite_uri).set_registered_model_alias(name, "champion", "1")

    result = run_cli("scan", "--all", "--tracking-uri", sqlite_uri, "--format", "json")

    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    row = next(r for r in rows if r["model"] == name)
    assert row["aliases"] == ["champion"]
    assert row["training_data"]["name"] == "train.parquet"
    assert row["training_data"]["source"].endswith("train.parquet")
    assert len(row["training_data"]["mlflow_digest"]) == 8
    assert row["governance"] is None
    table = run_cli("scan", name, "--tracking-uri", sqlite_uri)
    assert table.exit_code == 0
    assert "never audited" in table.stdout and "champion" in table.stdout


def test_selector_forms_resolve_to_the_same_version(sqlite_uri, tmp_path, adult, trained):
    _, mitigated = trained
    name = _name("sel")
    register(sqlite_uri, name, adult, mitigated, tmp_path / "d" / "train.parquet")
    MlflowClient(sqlite_uri, sqlite_uri).set_registered_model_alias(name, "champion", "1")
    for sel in (
        name,
        f"{name}/1",
        f"{name}@champion",
        f"models:/{name}/1",
        f"models:/{name}@champion",
    ):
        result = run_cli("scan", sel, "--tracking-uri", sqlite_uri, "--format", "json")
        assert result.exit_code == 0, (sel, result.output)
        assert [(r["model"], r["version"]) for r in json.loads(result.stdout)] == [(name, "1")]
    missing = run_cli("scan", f"{name}@nope", "--tracking-uri", sqlite_uri)
    assert missing.exit_code == 2
    assert f"alias 'nope' of model '{name}'" in missing.stderr


@pytest.mark.parametrize("alias", ["latest", "v3", "V12"])
def test_reserved_alias_is_refused_up_front(alias):
    result = run_cli("gate", "m/1", "--promote-to", alias)
    assert result.exit_code == 2
    assert "reserved" in result.stderr


def test_no_training_input_and_non_training_inputs(sqlite_uri, tmp_path, adult, trained):
    _, mitigated = trained
    name = _name("nolineage")
    register(sqlite_uri, name, adult, mitigated, tmp_path / "d" / "x.parquet", log_data=False)
    register(
        sqlite_uri,
        name,
        adult,
        mitigated,
        tmp_path / "d" / "x.parquet",
        log_data=False,
        extra_inputs=[(adult.head(50), tmp_path / "eval.parquet", "evaluation")],
    )
    policy = write_policy(tmp_path / "govern.yaml")

    result = audit_json(sqlite_uri, name, policy)

    assert result.exit_code == 3, result.output
    v1, v2 = results_of(result)["versions"]
    assert v1["verdict"] == v2["verdict"] == "error"
    assert "no dataset input with context 'training'" in v1["checks"][0]["summary"]
    assert "eval.parquet (evaluation)" in v2["checks"][0]["summary"]


def test_two_training_datasets_need_a_choice_in_the_policy(sqlite_uri, tmp_path, adult, trained):
    _, mitigated = trained
    name = _name("twodata")
    other = tmp_path / "other.parquet"
    adult.head(100).to_parquet(other)
    register(
        sqlite_uri,
        name,
        adult,
        mitigated,
        tmp_path / "d" / "train.parquet",
        extra_inputs=[(adult.head(100), other, "training")],
    )
    policy = write_policy(tmp_path / "govern.yaml")

    result = audit_json(sqlite_uri, name, policy)
    assert result.exit_code == 3
    summary = results_of(result)["versions"][0]["checks"][0]["summary"]
    assert "2 training datasets" in summary and "'train.parquet'" in summary
    assert "'other.parquet'" in summary

    chosen = write_policy(
        tmp_path / "chosen.yaml",
        """\
        version: 1
        models:
          - match: "*"
            dataset: train.parquet
            packs: [baseline, four-fifths]
        """,
    )
    result = audit_json(sqlite_uri, name, chosen)
    assert result.exit_code == 0, result.output
    assert results_of(result)["versions"][0]["training_data"]["name"] == "train.parquet"


def test_unmatched_model_fails_closed(sqlite_uri, tmp_path, adult, trained):
    _, mitigated = trained
    name = _name("orphan")
    register(sqlite_uri, name, adult, mitigated, tmp_path / "d" / "train.parquet")
    policy = write_policy(
        tmp_path / "govern.yaml",
        """\
        version: 1
        models:
          - match: "credit-*"
            packs: [baseline, four-fifths]
        """,
    )

    result = audit_json(sqlite_uri, name, policy)

    assert result.exit_code == 1
    v = results_of(result)["versions"][0]
    assert v["verdict"] == "fail"
    assert v["checks"][0]["id"] == "policy.match"


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            lambda df: df.assign(income=np.where(df.index % 3 == 0, "unknown", df["income"])),
            "3 classes",
        ),
        (
            lambda df: df.assign(income=(df["income"] == ">50K").astype(int)),
            "positive label '>50K' does not occur",
        ),
    ],
    ids=["three-classes", "numeric-label-vs-string-positive"],
)
def test_label_problems_fail_closed(sqlite_uri, tmp_path, adult, trained, mutate, expected):
    _, mitigated = trained
    name = _name("label")
    register(
        sqlite_uri, name, mutate(adult.copy()), mitigated, tmp_path / "d" / "t.parquet", track=False
    )
    policy = write_policy(tmp_path / "govern.yaml")

    result = audit_json(sqlite_uri, name, policy)

    assert result.exit_code == 3, result.output
    checks = {c["id"]: c for c in results_of(result)["versions"][0]["checks"]}
    assert checks["fairness.label"]["status"] == "error"
    assert expected in checks["fairness.label"]["summary"]


def test_no_load_model_fails_closed(sqlite_uri, tmp_path, adult, trained):
    _, mitigated = trained
    name = _name("noload")
    register(sqlite_uri, name, adult, mitigated, tmp_path / "d" / "train.parquet")
    policy = write_policy(tmp_path / "govern.yaml")

    result = run_cli(
        "audit",
        name,
        "--policy",
        str(policy),
        "--tracking-uri",
        sqlite_uri,
        "--format",
        "json",
        "--no-write",
        "--no-load-model",
    )

    assert result.exit_code == 3
    checks = {c["id"]: c for c in results_of(result)["versions"][0]["checks"]}
    assert checks["fairness.model"]["status"] == "error"


def test_missing_sqlite_registry_is_an_error_not_an_empty_pass(tmp_path):
    result = run_cli("scan", "--all", "--tracking-uri", f"sqlite:///{tmp_path / 'typo.db'}")
    assert result.exit_code == 3
    assert "no registry database" in result.stderr
    assert not (tmp_path / "typo.db").exists()


def test_empty_registry_is_not_a_pass(sqlite_uri, tmp_path):
    policy = write_policy(tmp_path / "govern.yaml")
    result = run_cli("audit", "--all", "--policy", str(policy), "--tracking-uri", sqlite_uri)
    assert result.exit_code == 3
    assert "no registered models" in result.stderr


def test_unreachable_server_is_exit_4_with_one_line(tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = run_cli(
        "scan",
        "--all",
        "--tracking-uri",
        f"http://user:s3cr3t-token@127.0.0.1:{port}",
        env={"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "3"},
    )
    assert result.exit_code == 4
    assert "s3cr3t-token" not in result.output
    assert "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) == 1


def test_fairness_not_applicable_is_stated_not_computed(sqlite_uri, tmp_path, adult, trained):
    """An entry that says fairness does not apply gets no fairness checks, and every output
    carries its reason, so the reviewer sees a decision rather than a silent gap."""
    _, mitigated = trained
    name = _name("not-applicable")
    register(sqlite_uri, name, adult, mitigated, tmp_path / "d" / "train.parquet")
    reason = "a capacity forecast: no decision about a person is made"
    policy = write_policy(
        tmp_path / "govern.yaml",
        f"""\
        version: 1
        models:
          - match: "*"
            packs: [baseline]
            fairness: {{not_applicable: "{reason}"}}
        """,
    )

    out = tmp_path / "out"
    result = audit_json(sqlite_uri, name, policy, "--out", str(out))

    assert result.exit_code == 0, result.output
    v = results_of(result)["versions"][0]
    assert v["fairness"] is None
    assert not [c for c in v["checks"] if c["kind"] == "fairness"]
    assert v["metadata"]["fairness_not_applicable"] == reason
    (report,) = (out / "reports").glob("*.html")
    html = report.read_text(encoding="utf-8")
    assert (
        '<strong>Not applicable</strong>, as the policy states: <span dir="auto" '
        f'class="wrap">{reason}</span>'
    ) in html
