"""Failure cases: every broken registry state ends as ``error`` or ``fail``, never as ``pass``.

Each test builds the broken state for real: real MLflow runs and registered versions, real files
cut, emptied or replaced on disk, real pyfunc models that raise or return the wrong thing, an
MLmodel file edited to need a flavour that is not installed, registry rows in a state the client
API cannot produce (a version still pending, a version without a run id) written with SQL into a
real MLflow database. Nothing govern talks to is mocked. Each test then runs the CLI and asserts the
exit code, the version's verdict, the check that caught the problem and that its summary names the
file, column, group, model or run.

Registries are byte copies of one freshly migrated MLflow sqlite database (creating one costs
seconds; copying it costs milliseconds), and models are small pyfunc classes logged with pinned
requirements so MLflow does not spend seconds inferring them.
"""

from __future__ import annotations

import base64
import json
import shutil
import sqlite3
import sys
import uuid
from collections.abc import Iterator, Mapping
from contextlib import closing
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import cloudpickle
import mlflow
import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import Result
from helpers import (
    LABEL,
    POLICY,
    POSITIVE,
    audit_json,
    recorded,
    results_of,
    run_cli,
    write_policy,
)
from mlflow.pyfunc import PythonModel
from mlflow.tracking import MlflowClient

from govern.errors import DataError
from govern.track import log_training_data

NEGATIVE = "<=50K"
EXIT_FAIL = 1
EXIT_ERROR = 3

# --------------------------------------------------------------------------- real models


# The model classes below are pickled with their code, as a model logged from a notebook is: the
# prediction child that loads them cannot import this test module.
cloudpickle.register_pickle_by_value(sys.modules[__name__])


class EducationRule(PythonModel):
    """A real, deterministic classifier: ``>50K`` for 13 or more years of education."""

    def __init__(self, column: str = "education-num", cut: int = 13):
        self.column = column
        self.cut = cut

    def labels(self, frame: pd.DataFrame) -> np.ndarray:
        return np.where(frame[self.column].to_numpy() >= self.cut, POSITIVE, NEGATIVE)

    # predict is left unannotated: MLflow reads type hints on predict as an input schema.
    def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
        return self.labels(model_input)


class RaisingModel(EducationRule):
    """predict fails the way a model with a dead feature store or a bad input cast does."""

    def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
        raise RuntimeError("feature store unreachable\nsecond line of the model's own traceback")


class ShortModel(EducationRule):
    """Drops the last row's prediction."""

    def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
        return self.labels(model_input)[:-1]


class ScoreModel(EducationRule):
    """Returns P(>50K) instead of a class label."""

    def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
        years = model_input[self.column].to_numpy(dtype=float)
        return 1.0 / (1.0 + np.exp(-(years - self.cut)))


class ProbaMatrixModel(EducationRule):
    """Returns predict_proba's two columns, one per class."""

    def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
        p = ScoreModel.predict(self, context, model_input)
        return np.column_stack([1.0 - p, p])


# --------------------------------------------------------------------------- registry helpers


@pytest.fixture(scope="module")
def _template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One freshly migrated MLflow sqlite database, copied for every test."""
    folder = tmp_path_factory.mktemp("template-registry")
    db = folder / "mlflow.db"
    uri = f"sqlite:///{db}"
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(folder)  # MLflow roots the Default experiment's artifacts in the cwd
        MlflowClient(uri, uri).search_experiments()
    return db


@pytest.fixture
def uri(tmp_path: Path, _template_db: Path) -> str:
    """A fresh, empty sqlite registry (a copy of the migrated template), artifacts in tmp_path."""
    folder = tmp_path / "registry"
    folder.mkdir()
    shutil.copyfile(_template_db, folder / "mlflow.db")
    return f"sqlite:///{folder / 'mlflow.db'}"


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _db(uri: str) -> Path:
    assert uri.startswith("sqlite:///")
    return Path(uri[len("sqlite:///") :])


def _sql(uri: str, statement: str, *params: Any) -> int:
    """Write a registry row the MLflow client cannot produce; returns the rows changed."""
    with closing(sqlite3.connect(_db(uri))) as db, db:
        changed = db.execute(statement, params).rowcount
    return int(changed)


def _register(
    uri: str,
    name: str,
    data: pd.DataFrame,
    model: PythonModel,
    data_path: Path,
    *,
    label: str = LABEL,
    sensitive: tuple[str, ...] = ("sex",),
) -> tuple[str, str, str]:
    """Log ``data`` as the training input of a new run, log ``model``, register it.

    Returns (version, run id, logged model id).
    """
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    mlflow.set_experiment("training")
    with mlflow.start_run() as run:
        log_training_data(data, data_path, label=label, sensitive_features=list(sensitive))
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=model,
            registered_model_name=name,
            pip_requirements=["mlflow"],
        )
    client = MlflowClient(uri, uri)
    quote = '"' if "'" in name else "'"
    versions = client.search_model_versions(f"name = {quote}{name}{quote}")
    version = next(v.version for v in versions if v.source.endswith(info.model_id))
    return str(version), run.info.run_id, info.model_id


def _register_input(
    uri: str,
    name: str,
    frame: pd.DataFrame,
    source: Path,
    *,
    context: str = "training",
    evaluation: tuple[pd.DataFrame, Path] | None = None,
) -> None:
    """A run whose training input is ``frame`` with ``source`` as its path, as plain MLflow
    logs it (``context`` as the user wrote it; optionally an ``eval`` input too); the file at
    ``source`` is whatever the caller put there."""
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    mlflow.set_experiment("training")
    with mlflow.start_run():
        ds = mlflow.data.from_pandas(frame, source=str(source), name=source.name)
        mlflow.log_input(ds, context=context)
        if evaluation is not None:
            held_out, held_out_source = evaluation
            mlflow.log_input(
                mlflow.data.from_pandas(
                    held_out, source=str(held_out_source), name=held_out_source.name
                ),
                context="eval",
            )
        mlflow.pyfunc.log_model(
            name="model",
            python_model=EducationRule(),
            registered_model_name=name,
            pip_requirements=["mlflow"],
        )


def _policy(tmp_path: Path) -> Path:
    """helpers.POLICY: baseline and four-fifths, label income, positive '>50K', sensitive sex."""
    return write_policy(tmp_path / "govern.yaml", POLICY)


def _policy_entry(tmp_path: Path, **entry: Any) -> Path:
    """A one-entry policy from keyword arguments, written as UTF-8 YAML."""
    body = {"match": "*", "label": LABEL, "positive_label": POSITIVE, "sensitive_features": ["sex"]}
    body.update(entry)
    path = tmp_path / f"policy-{uuid.uuid4().hex[:6]}.yaml"
    text = yaml.safe_dump({"version": 1, "models": [body]}, allow_unicode=True, sort_keys=False)
    path.write_bytes(text.encode("utf-8"))
    return path


def _audit(uri: str, selector: str, policy: Path, *extra: str) -> Result:
    """``--no-write`` unless the test passes options of its own."""
    return audit_json(uri, selector, policy, *extra, write=bool(extra))


def _version(result: Result, code: int) -> dict[str, Any]:
    """The single audited version, after the invariants every failure case shares."""
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    assert "internal error" not in result.output
    data = results_of(result)
    assert len(data["versions"]) == 1
    version = data["versions"][0]
    expected = {EXIT_FAIL: "fail", EXIT_ERROR: "error"}[code]
    assert data["verdict"] == version["verdict"] == expected
    assert not any(c["id"] == "audit.internal" for c in version["checks"])
    for check in version["checks"]:
        assert "\n" not in check["summary"], check
    return version


def _checks(version: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["id"]: c for c in version["checks"]}


def _status(version: Mapping[str, Any], check_id: str) -> str:
    return str(_checks(version)[check_id]["status"])


def _passed(version: Mapping[str, Any]) -> set[str]:
    return {c["id"] for c in version["checks"] if c["status"] == "pass"}


def _stderr_lines(result: Result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.strip()]


# --------------------------------------------------------------------------- lineage and data


def test_json_source_is_an_unsupported_format(uri, tmp_path, adult):
    name = _name("json")
    frame = adult.head(100)
    source = tmp_path / "d" / "train.json"
    source.parent.mkdir()
    frame.to_json(source, orient="records")
    _register_input(uri, name, frame, source)

    result = _audit(uri, name, _policy(tmp_path))

    v = _version(result, EXIT_ERROR)
    load = _checks(v)["lineage.load"]
    assert load["status"] == "error"
    assert "unsupported format .json" in load["summary"]
    assert str(source) in load["summary"]
    assert _passed(v) == {"lineage.training_data"}  # found, but nothing about it is vouched for
    assert v["training_data"] is None


def _cut_in_half(path: Path) -> None:
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])


def _not_parquet(path: Path) -> None:
    path.write_text("age,sex,income\n39,Male,<=50K\n", encoding="utf-8")


@pytest.mark.parametrize("damage", [_cut_in_half, _not_parquet], ids=["truncated", "not-parquet"])
def test_unreadable_parquet_is_a_load_error(uri, tmp_path, adult, damage):
    name = _name("parquet")
    path = tmp_path / "d" / "train.parquet"
    _register(uri, name, adult.head(300), EducationRule(), path)
    damage(path)

    result = _audit(uri, name, _policy(tmp_path))

    v = _version(result, EXIT_ERROR)
    load = _checks(v)["lineage.load"]
    assert load["status"] == "error"
    assert "cannot read as parquet" in load["summary"]
    assert str(path) in load["summary"]
    assert _passed(v) == {"lineage.training_data"}
    assert f"{name}/1: ERROR" in result.stderr


def test_empty_csv_file_is_a_load_error(uri, tmp_path, adult):
    name = _name("emptycsv")
    path = tmp_path / "d" / "train.csv"
    _register(uri, name, adult.head(200), EducationRule(), path)
    path.write_bytes(b"")

    result = _audit(uri, name, _policy(tmp_path))

    v = _version(result, EXIT_ERROR)
    load = _checks(v)["lineage.load"]
    assert load["status"] == "error"
    assert "the file is empty" in load["summary"] and str(path) in load["summary"]
    assert _passed(v) == {"lineage.training_data"}


@pytest.mark.parametrize("suffix", [".csv", ".parquet"], ids=["header-only-csv", "0-row-parquet"])
def test_table_without_rows_is_never_a_pass(uri, tmp_path, adult, suffix):
    name = _name("norows")
    path = tmp_path / "d" / f"train{suffix}"
    frame = adult.head(200)
    _register(uri, name, frame, EducationRule(), path)
    if suffix == ".csv":
        path.write_text(",".join(frame.columns) + "\n", encoding="utf-8")
    else:
        frame.head(0).to_parquet(path, index=False)

    result = _audit(uri, name, _policy(tmp_path))

    v = _version(result, EXIT_ERROR)
    checks = _checks(v)
    assert v["training_data"]["rows"] == 0
    assert v["training_data"]["columns"] == list(frame.columns)
    assert checks["lineage.rows"]["status"] == "error"
    assert "no rows" in checks["lineage.rows"]["summary"]
    # every row-based check says so instead of passing on nothing
    assert checks["quality.expect_table_row_count_to_be_between"]["status"] == "fail"
    assert checks["fairness.run"]["status"] == "error"
    assert "no rows" in checks["fairness.run"]["summary"]
    # the file changed after training, and both digests say so (MLflow's digest of a table
    # without rows is recomputed too: pandas 3 string columns once made MLflow's code raise)
    assert checks["integrity.sha256"]["status"] == "fail"
    assert checks["integrity.mlflow_digest"]["status"] == "fail"
    passed = _passed(v)
    assert "lineage.rows" not in passed
    assert not any(c.startswith(("fairness.", "integrity.")) for c in passed)
    for check_id in passed:
        if check_id.startswith("quality."):
            # an expectation over no values may hold vacuously, but must say there was nothing
            assert (
                "no rows" in checks[check_id]["summary"] or "exists" in checks[check_id]["summary"]
            ), checks[check_id]


def test_all_missing_column_is_reported_truthfully(uri, tmp_path, adult):
    name = _name("allnan")
    frame = adult.head(400).copy()
    frame["workclass"] = None
    frame["capital-gain"] = np.nan
    _register(uri, name, frame, EducationRule(), tmp_path / "d" / "train.parquet")
    policy = _policy_entry(
        tmp_path,
        packs=["baseline", "four-fifths"],
        expectations=[
            {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "workclass"}},
            {
                "type": "expect_column_values_to_be_in_set",
                "kwargs": {"column": "workclass", "value_set": ["Private", "State-gov"]},
            },
            {
                "type": "expect_column_values_to_be_between",
                "kwargs": {"column": "capital-gain", "min_value": 0, "max_value": 99999},
            },
        ],
    )

    result = _audit(uri, name, policy)

    v = _version(result, EXIT_FAIL)  # the audit completes: failures, no errors
    checks = _checks(v)
    assert v["training_data"]["missing"]["workclass"] == 400
    assert v["training_data"]["missing"]["capital-gain"] == 400
    not_null = checks["quality.expect_column_values_to_not_be_null.workclass"]
    assert not_null["status"] == "fail"
    assert not_null["details"]["result"]["unexpected_count"] == 400
    for check_id in (
        "quality.expect_column_values_to_be_in_set.workclass",
        "quality.expect_column_values_to_be_between.capital-gain",
    ):
        # GX skips missing values, so these hold vacuously; whatever the status, the summary must
        # say that no value was checked rather than read as a clean result
        assert "all 400 values are missing" in checks[check_id]["summary"], checks[check_id]
    # the rest of the audit still ran on the real data
    assert checks["integrity.sha256"]["status"] == "pass"
    assert checks["fairness.min_group_size"]["status"] == "pass"


def test_label_column_missing_from_the_data(uri, tmp_path, adult):
    name = _name("nolabel")
    _register(uri, name, adult.head(200), EducationRule(), tmp_path / "d" / "train.parquet")
    policy = _policy_entry(tmp_path, label="salary", packs=["baseline", "four-fifths"])

    result = _audit(uri, name, policy)

    v = _version(result, EXIT_ERROR)
    checks = _checks(v)
    assert checks["fairness.label"]["status"] == "error"
    assert (
        "label column 'salary' is not in the training data" in checks["fairness.label"]["summary"]
    )
    assert checks["quality.expect_column_to_exist.salary"]["status"] == "fail"
    assert checks["quality.expect_column_values_to_not_be_null.salary"]["status"] == "error"
    assert "'salary'" in checks["quality.expect_column_values_to_not_be_null.salary"]["summary"]
    assert not any("salary" in c for c in _passed(v))
    assert v["fairness"] is None


@pytest.mark.parametrize("how", ["deleted", "purged"])
def test_deleted_training_run_is_a_lineage_error(uri, tmp_path, adult, how):
    name = _name("norun")
    _, run_id, _ = _register(
        uri, name, adult.head(200), EducationRule(), tmp_path / "d" / "train.parquet"
    )
    client = MlflowClient(uri, uri)
    client.delete_run(run_id)
    if how == "purged":
        from click.testing import CliRunner
        from mlflow.cli import gc

        gc_result = CliRunner().invoke(gc, ["--backend-store-uri", uri, "--run-ids", run_id])
        assert gc_result.exit_code == 0, gc_result.output

    result = _audit(uri, name, _policy(tmp_path))

    v = _version(result, EXIT_ERROR)
    [check] = v["checks"]
    assert check["id"] == "lineage.training_data" and check["status"] == "error"
    assert run_id in check["summary"]
    assert ("was deleted" if how == "deleted" else "no longer exists") in check["summary"]
    assert f"{name}/1" in check["summary"]

    scan = run_cli("scan", name, "--tracking-uri", uri, "--format", "json")
    assert scan.exit_code == 0, scan.output
    [row] = json.loads(scan.stdout)
    assert row["training_data"] is None and run_id in row["lineage_error"]


def test_logged_model_version_without_run_id_resolves_the_source_run(uri, tmp_path, adult, trained):
    """MLflow 3 fills a version's run id from its logged model; older clients and other
    registries leave it empty, and lineage must then go through the logged model."""
    from govern.demo import log_model

    _, mitigated = trained
    name = _name("logged")
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    mlflow.set_experiment("training")
    with mlflow.start_run() as run:
        log_training_data(
            adult,
            tmp_path / "d" / "train.parquet",
            label=LABEL,
            sensitive_features=["sex"],
            positive_label=POSITIVE,
        )
        info = log_model(name, mitigated, adult.drop(columns=[LABEL]), register=False)
    client = MlflowClient(uri, uri)
    client.create_registered_model(name)
    mv = client.create_model_version(
        name, source=f"models:/{info.model_id}", run_id=None, model_id=info.model_id
    )
    assert _sql(uri, "UPDATE model_versions SET run_id = NULL WHERE name = ?", name) == 1
    stored = client.get_model_version(name, mv.version)
    assert not stored.run_id and stored.source == f"models:/{info.model_id}"

    result = _audit(uri, name, _policy(tmp_path))

    assert result.exit_code == 0, result.output
    v = results_of(result)["versions"][0]
    assert v["verdict"] == "pass"
    assert v["run_id"] == run.info.run_id
    lineage = _checks(v)["lineage.training_data"]
    assert lineage["status"] == "pass" and run.info.run_id in lineage["summary"]


def test_logged_model_without_a_source_run_is_a_lineage_error(uri, tmp_path):
    name = _name("orphan-model")
    mlflow.set_tracking_uri(uri)  # MLflow resolves the logged model through the global URI
    mlflow.set_registry_uri(uri)
    client = MlflowClient(uri, uri)
    experiment = client.create_experiment("models", artifact_location=(tmp_path / "a").as_uri())
    logged = client.create_logged_model(experiment)
    client.create_registered_model(name)
    client.create_model_version(
        name, source=f"models:/{logged.model_id}", run_id=None, model_id=logged.model_id
    )

    result = _audit(uri, name, _policy(tmp_path))

    v = _version(result, EXIT_ERROR)
    [check] = v["checks"]
    assert check["id"] == "lineage.training_data" and check["status"] == "error"
    assert f"{name}/1: no training run is recorded" in check["summary"]


@pytest.mark.parametrize("status", ["PENDING_REGISTRATION", "FAILED_REGISTRATION"])
def test_version_not_ready_is_never_audited(uri, tmp_path, adult, status):
    name = _name("pending")
    _register(uri, name, adult.head(200), EducationRule(), tmp_path / "d" / "train.parquet")
    changed = _sql(uri, "UPDATE model_versions SET status = ? WHERE name = ?", status, name)
    assert changed == 1
    assert MlflowClient(uri, uri).get_model_version(name, "1").status == status

    result = run_cli(
        "gate",
        f"{name}/1",
        "--promote-to",
        "production",
        "--policy",
        str(_policy(tmp_path)),
        "--tracking-uri",
        uri,
        "--format",
        "json",
    )

    v = _version(result, EXIT_ERROR)
    [check] = v["checks"]
    assert check["id"] == "lineage.version_status" and check["status"] == "error"
    assert status in check["summary"] and "not READY" in check["summary"]
    client = MlflowClient(uri, uri)
    assert "production" not in client.get_registered_model(name).aliases
    assert recorded(client.get_model_version(name, "1").tags).get("status") == "error"


# --------------------------------------------------------------------------- fairness


def test_sensitive_feature_absent_from_the_data(uri, tmp_path, adult):
    name = _name("nosens")
    _register(uri, name, adult.head(200), EducationRule(), tmp_path / "d" / "train.parquet")
    policy = _policy_entry(
        tmp_path, sensitive_features=["gender"], packs=["baseline", "four-fifths"]
    )

    result = _audit(uri, name, policy)

    v = _version(result, EXIT_ERROR)
    checks = _checks(v)
    sens = checks["fairness.sensitive_features"]
    assert sens["status"] == "error"
    assert "not in the training data: gender" in sens["summary"]
    assert checks["quality.expect_column_to_exist.gender"]["status"] == "fail"
    assert not any(c.startswith("fairness.") for c in _passed(v))


def test_missing_sensitive_values_fail_with_their_count(uri, tmp_path, adult):
    name = _name("nansens")
    frame = adult.head(400).copy()
    frame.loc[frame.index[:35], "sex"] = None
    _register(uri, name, frame, EducationRule(), tmp_path / "d" / "train.parquet")

    result = _audit(uri, name, _policy(tmp_path))

    v = _version(result, EXIT_FAIL)
    checks = _checks(v)
    missing = checks["fairness.sensitive_missing.sex"]
    assert missing["status"] == "fail"
    assert missing["observed"] == 35
    assert "'sex' is missing in 35 of 400 rows" in missing["summary"]
    assert checks["quality.expect_column_values_to_not_be_null.sex"]["status"] == "fail"
    groups = {g["group"]["sex"]: g["count"] for g in v["fairness"]["groups"]}
    assert groups["(missing)"] == 35  # reported as a group, never dropped
    assert sum(groups.values()) == 400


def test_group_of_one_row_fails_min_group_size(uri, tmp_path, adult):
    name = _name("tiny")
    frame = adult.head(300).copy()
    frame.loc[frame.index[7], "sex"] = "Intersex"
    _register(uri, name, frame, EducationRule(), tmp_path / "d" / "train.parquet")

    result = _audit(uri, name, _policy(tmp_path))

    v = _version(result, EXIT_FAIL)
    check = _checks(v)["fairness.min_group_size"]
    assert check["status"] == "fail"
    assert check["observed"] == 1
    assert "sex=Intersex (1)" in check["summary"]
    [tiny] = [g for g in v["fairness"]["groups"] if g["group"]["sex"] == "Intersex"]
    assert "below_min_group_size" in tiny["flags"]


def test_group_without_positive_labels_makes_equalized_odds_an_error(uri, tmp_path, adult):
    name = _name("nopos")
    frame = adult.head(600).copy()
    frame.loc[frame["sex"] == "Female", LABEL] = NEGATIVE
    _register(uri, name, frame, EducationRule(), tmp_path / "d" / "train.parquet")
    policy = _policy_entry(tmp_path, packs=["equalized-odds", "baseline"])

    result = _audit(uri, name, policy)

    v = _version(result, EXIT_ERROR)
    check = _checks(v)["fairness.equalized_odds_difference"]
    assert check["status"] == "error"
    assert check["observed"] is None
    assert "true_positive_rate is undefined for sex=Female (no positive labels)" in check["summary"]
    [female] = [g for g in v["fairness"]["groups"] if g["group"]["sex"] == "Female"]
    assert female["positives"] == 0
    assert female["metrics"]["true_positive_rate"] is None  # not 0.0
    assert "no_positive_labels" in female["flags"]
    assert v["fairness"]["disparities"]["equalized_odds_difference"] is None


def test_single_group_cannot_pass_a_disparity(uri, tmp_path, adult):
    name = _name("onegroup")
    frame = adult[adult["sex"] == "Male"].head(300)
    _register(uri, name, frame, EducationRule(), tmp_path / "d" / "train.parquet")

    result = _audit(uri, name, _policy(tmp_path))

    v = _version(result, EXIT_ERROR)
    check = _checks(v)["fairness.demographic_parity_ratio"]
    assert check["status"] == "error"
    assert "only one group in 'sex'" in check["summary"]
    assert [g["group"] for g in v["fairness"]["groups"]] == [{"sex": "Male"}]


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        (ShortModel(), "the model returned 199 predictions for 200 rows"),
        (ScoreModel(), "predict must return class labels, not scores"),
        (ProbaMatrixModel(), "the model returned an array of shape (200, 2)"),
    ],
    ids=["wrong-length", "scores", "probability-matrix"],
)
def test_unusable_predictions_are_a_model_error(uri, tmp_path, adult, model, expected):
    name = _name("preds")
    _register(uri, name, adult.head(200), model, tmp_path / "d" / "train.parquet")

    result = _audit(uri, name, _policy(tmp_path))

    v = _version(result, EXIT_ERROR)
    check = _checks(v)["fairness.model"]
    assert check["status"] == "error"
    assert expected in check["summary"]
    assert v["fairness"] is None
    assert not any(c.startswith("fairness.") for c in _passed(v))
    assert v["metadata"]["model_artifact_sha256"]  # hashed before it was loaded and run


def test_model_whose_predict_raises(uri, tmp_path, adult):
    name = _name("raises")
    _register(uri, name, adult.head(200), RaisingModel(), tmp_path / "d" / "train.parquet")

    result = _audit(uri, name, _policy(tmp_path))

    v = _version(result, EXIT_ERROR)
    check = _checks(v)["fairness.model"]
    assert check["status"] == "error"
    assert "could not predict" in check["summary"]
    assert "feature store unreachable" in check["summary"]
    assert "second line" not in result.output
    [line] = [ln for ln in _stderr_lines(result) if "feature store unreachable" in ln]
    assert f"{name}/1: ERROR" in line  # the one stderr line names the model version
    assert not any(c.startswith("fairness.") for c in _passed(v))


def _mlmodel_of(uri: str, model_id: str) -> Path:
    location = MlflowClient(uri, uri).get_logged_model(model_id).artifact_location
    path = Path(location.removeprefix("file://")) / "MLmodel"
    assert path.is_file(), path
    return path


XGBOOST_FLAVOUR = {
    "xgb_version": "2.1.0",
    "data": "model.xgb",
    "model_class": "xgboost.sklearn.XGBClassifier",
    "model_format": "xgb",
    "code": None,
}


@pytest.mark.parametrize(
    ("loader", "flavour", "missing"),
    [
        ("govern_tests_no_such_flavour", None, "govern_tests_no_such_flavour"),
        ("mlflow.xgboost", ("xgboost", XGBOOST_FLAVOUR), "xgboost"),
    ],
    ids=["unknown-loader-module", "xgboost-flavour-without-xgboost"],
)
def test_model_whose_flavour_cannot_be_imported(uri, tmp_path, adult, loader, flavour, missing):
    """The MLmodel file is edited in the artifact store, as a model logged on a machine with
    another library (here xgboost, absent from this environment) would have it."""
    import importlib.util

    if importlib.util.find_spec(missing) is not None:
        pytest.skip(f"{missing} is installed here")
    name = _name("flavour")
    _, _, model_id = _register(
        uri, name, adult.head(200), EducationRule(), tmp_path / "d" / "train.parquet"
    )
    mlmodel = _mlmodel_of(uri, model_id)
    spec = yaml.safe_load(mlmodel.read_text(encoding="utf-8"))
    spec["flavors"]["python_function"]["loader_module"] = loader
    if flavour is not None:
        key, conf = flavour
        spec["flavors"]["python_function"]["data"] = conf["data"]
        spec["flavors"][key] = conf
        (mlmodel.parent / conf["data"]).write_bytes(b"{}")
    mlmodel.write_text(yaml.safe_dump(spec), encoding="utf-8")

    result = _audit(uri, name, _policy(tmp_path))

    v = _version(result, EXIT_ERROR)
    check = _checks(v)["fairness.model"]
    assert check["status"] == "error"
    assert f"cannot load model models:/{name}/1: No module named '{missing}'" in check["summary"]
    assert not any(c.startswith("fairness.") for c in _passed(v))
    assert v["metadata"]["model_artifact_sha256"]
    [line] = [ln for ln in _stderr_lines(result) if "No module named" in ln]
    assert f"{name}/1: ERROR" in line
    # the data checks that do not need the model still ran
    assert _status(v, "integrity.sha256") == "pass"


# --------------------------------------------------------------------------- integrity


def test_data_replaced_with_other_data_of_the_same_shape(uri, tmp_path, adult):
    name = _name("swapped")
    path = tmp_path / "d" / "train.parquet"
    _register(uri, name, adult.head(400), EducationRule(), path)
    other = adult.iloc[400:800].reset_index(drop=True)
    other.to_parquet(path, index=False)
    assert pd.read_parquet(path).shape == adult.head(400).shape

    result = _audit(uri, name, _policy(tmp_path))

    v = _version(result, EXIT_FAIL)
    checks = _checks(v)
    digest = checks["integrity.mlflow_digest"]
    assert digest["status"] == "fail"
    assert digest["observed"] != digest["threshold"]
    assert "not the data the model was trained on" in digest["summary"]
    assert checks["integrity.sha256"]["status"] == "fail"
    assert v["training_data"]["rows"] == 400


def test_tampered_sha256_tag_fails(uri, tmp_path, adult):
    name = _name("tag")
    path = tmp_path / "d" / "train.parquet"
    _register(uri, name, adult.head(300), EducationRule(), path)
    forged = "0" * 64
    assert _sql(uri, "UPDATE input_tags SET value = ? WHERE name = 'govern.sha256'", forged) == 1

    result = _audit(uri, name, _policy(tmp_path))

    v = _version(result, EXIT_FAIL)
    checks = _checks(v)
    sha = checks["integrity.sha256"]
    assert sha["status"] == "fail"
    assert sha["threshold"] == forged and sha["observed"] != forged
    assert "differs from the one recorded at training" in sha["summary"]
    assert checks["integrity.mlflow_digest"]["status"] == "pass"  # MLflow's own digest agrees
    assert v["training_data"]["logged_sha256"] == forged


# ------------------------------------------------------------------------ hostile and foreign text


class _Page(HTMLParser):
    """Every element, attribute and text node of a page."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.texts: list[str] = []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))

    def handle_data(self, data: str) -> None:
        self.texts.append(data)

    @property
    def text(self) -> str:
        return "".join(self.texts)

    def attributes(self) -> Iterator[tuple[str, str, str | None]]:
        for tag, attrs in self.tags:
            for key, value in attrs:
                yield tag, key, value


SVG_IMAGE = "data:image/svg+xml;base64,"
CSP = "Content-Security-Policy"


def _assert_inert(page: _Page, *, nested: bool = False) -> None:
    """No script element, no event-handler attribute, no script or remote URL anywhere; charts are
    ``<img>`` SVG data URIs (inert as images, and checked the same way inside)."""
    tags = {tag for tag, _ in page.tags}
    assert not tags & {"script", "iframe", "object", "embed", "form", "base", "foreignobject"}
    if not nested:
        assert "svg" not in tags  # inline SVG would run its scripts; charts must be <img>
    for tag, key, value in page.attributes():
        assert not key.lower().startswith("on"), (tag, key, value)
        text = (value or "").strip().lower()
        if key.startswith("xmlns"):
            continue  # an XML namespace name, never fetched
        assert not text.startswith(("javascript:", "vbscript:", "http:", "https:", "//")), value
        if key == "src":
            assert tag == "img" and (value or "").startswith(SVG_IMAGE), (tag, value)
            svg = base64.b64decode((value or "")[len(SVG_IMAGE) :]).decode("utf-8")
            _assert_inert(_Page(svg), nested=True)
        elif text.startswith("data:"):
            raise AssertionError((tag, key, value))


def test_non_ascii_rtl_and_emoji_names_complete_and_write_utf8(server, tmp_path, adult):
    """Against the real server: names travel through REST URLs, tags and artifact paths."""
    name = f"מודל-🚀-модель-{uuid.uuid4().hex[:6]}"
    sex, label, age, edu = "géneró-性别", "доход-💰", "âge-🎂", "تعليم-📚"
    values = {"Male": "ذكر ♂", "Female": "נקבה 👩🏽‍💻"}
    frame = adult.head(400).rename(
        columns={"sex": sex, LABEL: label, "age": age, "education-num": edu}
    )
    frame[sex] = frame[sex].map(values)
    _register(
        server,
        name,
        frame,
        EducationRule(column=edu),
        tmp_path / "données" / "entraînement-📊.parquet",
        label=label,
        sensitive=(sex,),
    )
    policy = _policy_entry(
        tmp_path,
        label=label,
        sensitive_features=[sex],
        packs=["baseline", "four-fifths"],
        expectations=[
            {
                "type": "expect_column_values_to_be_between",
                "kwargs": {"column": age, "min_value": 17, "max_value": 90},
            }
        ],
    )
    out = tmp_path / "rapports-📁"

    result = run_cli(
        "audit",
        name,
        "--policy",
        str(policy),
        "--tracking-uri",
        server,
        "--format",
        "json",
        "--out",
        str(out),
    )

    assert "Traceback" not in result.output
    assert result.exit_code == 1, result.output  # the four-fifths rule fails on this data
    raw = (out / "results.json").read_bytes()
    data = json.loads(raw.decode("utf-8"))  # valid UTF-8, strict JSON
    assert data == results_of(result)
    [v] = data["versions"]
    assert v["verdict"] == "fail"
    assert not [c for c in v["checks"] if c["status"] == "error"]
    assert v["model"] == name
    assert name.encode("utf-8") in raw  # written as text, not as \u escapes
    assert v["training_data"]["label"] == label
    assert set(v["training_data"]["columns"]) >= {sex, label, age, edu}
    assert {g["group"][sex] for g in v["fairness"]["groups"]} == set(values.values())
    checks = _checks(v)
    assert checks[f"quality.expect_column_values_to_be_between.{age}"]["status"] == "pass"
    assert checks["integrity.sha256"]["status"] == "pass"
    report = out / v["report"]
    assert report.is_file() and report.name.isascii()
    page = _Page(report.read_text(encoding="utf-8"))
    assert name in page.text and values["Female"] in page.text and sex in page.text
    assert name in _Page((out / "index.html").read_text(encoding="utf-8")).text
    # the verdict was recorded on the version, through the server, under the unicode name
    client = MlflowClient(server, server)
    assert recorded(client.get_model_version(name, "1").tags)["status"] == v["verdict"]


def test_html_payloads_stay_inert_in_reports_and_unchanged_in_results(uri, tmp_path, adult):
    name = _name("xss")
    description = "<script>alert('desc')</script><a href=\"javascript:alert(1)\" onclick=x()>a</a>"
    tag_value = "\"><svg onload=alert('tag')>"
    column = "<img src=x onerror=alert('col')>"
    values = {"Male": "<script>alert('m')</script>", "Female": '"><img src=x onerror=alert(2)>'}
    frame = adult.head(400).rename(columns={"workclass": column})
    frame["sex"] = frame["sex"].map(values)
    _register(uri, name, frame, EducationRule(), tmp_path / "d" / "train.parquet")
    client = MlflowClient(uri, uri)
    client.update_model_version(name, "1", description=description)
    client.set_model_version_tag(name, "1", "note", tag_value)
    policy = _policy_entry(
        tmp_path,
        packs=["baseline", "four-fifths"],
        expectations=[
            {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": column}}
        ],
    )
    out = tmp_path / "out"

    result = _audit(uri, name, policy, "--no-write", "--out", str(out))

    assert "Traceback" not in result.output
    assert result.exit_code == 1, result.output  # the renamed column has missing values
    data = json.loads((out / "results.json").read_text(encoding="utf-8"))
    [v] = data["versions"]
    assert not [c for c in v["checks"] if c["status"] == "error"]
    # unchanged in the evidence
    assert v["description"] == description
    assert v["metadata"]["tags"]["note"] == tag_value
    assert column in v["training_data"]["columns"]
    assert {g["group"]["sex"] for g in v["fairness"]["groups"]} == set(values.values())
    assert _checks(v)[f"quality.expect_column_values_to_not_be_null.{column}"]["status"] in (
        "pass",
        "fail",
    )
    # inert in every page, yet shown to the reader as text
    report = _Page((out / v["report"]).read_text(encoding="utf-8"))
    index = _Page((out / "index.html").read_text(encoding="utf-8"))
    for page in (report, index):
        _assert_inert(page)
        csp = [dict(a) for t, a in page.tags if t == "meta" and ("http-equiv", CSP) in a]
        assert csp and "default-src 'none'" in (csp[0]["content"] or "")
    for payload in (description, tag_value, column, *values.values()):
        assert payload in report.text, payload


# --------------------------------------------------------------------------- govern.track arguments


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"label": "salary"}, DataError, "label column 'salary' is not in the DataFrame"),
        (
            {"sensitive_features": ["sex", "gender"]},
            DataError,
            "sensitive feature(s) not in the DataFrame: 'gender'",
        ),
        ({"sensitive_features": "sex"}, TypeError, "not the string 'sex' (write ['sex'])"),
        ({"path": "train.json"}, DataError, "cannot write training data as .json"),
        ({"path": "train"}, DataError, "cannot write training data as (none)"),
    ],
    ids=["label", "sensitive", "sensitive-as-string", "json-suffix", "no-suffix"],
)
def test_log_training_data_argument_errors(uri, tmp_path, adult, kwargs, error, message):
    args: dict[str, Any] = {"label": LABEL, "sensitive_features": ["sex"], **kwargs}
    path = tmp_path / "data" / args.pop("path", "train.parquet")
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("training")
    with mlflow.start_run() as run:
        with pytest.raises(error) as caught:
            log_training_data(adult.head(20), path, **args)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)
    assert not path.parent.exists()  # nothing written
    assert not MlflowClient(uri, uri).get_run(run.info.run_id).inputs.dataset_inputs


@pytest.mark.parametrize("suffix", [".csv.gz", ".csv.bz2", ".csv.xz"])
def test_compressed_csv_is_written_compressed_and_audits(uri, tmp_path, adult, suffix):
    """pandas infers compression from the temporary file's name; it must follow the real one."""
    name = _name("compressed")
    path = tmp_path / "d" / f"train{suffix}"
    frame = adult.head(300)
    _register(uri, name, frame, EducationRule(), path)
    magic = {".csv.gz": b"\x1f\x8b", ".csv.bz2": b"BZh", ".csv.xz": b"\xfd7zXZ"}[suffix]
    assert path.read_bytes().startswith(magic)
    assert pd.read_csv(path).equals(frame.reset_index(drop=True))

    result = _audit(uri, name, _policy(tmp_path))

    v = results_of(result)["versions"][0]
    assert result.exit_code == 1, result.output  # the four-fifths rule fails on this data
    assert _status(v, "integrity.sha256") == "pass"
    assert _status(v, "integrity.mlflow_digest") == "pass"
    assert v["training_data"]["rows"] == 300


def test_same_data_writes_the_same_bytes(tmp_path, adult, uri):
    """The recorded SHA-256 depends only on the data, not on when or through which temp file."""
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("training")
    digests = []
    for _ in range(2):
        with mlflow.start_run():
            ds = log_training_data(
                adult.head(50), tmp_path / "t.csv.gz", label=LABEL, sensitive_features=["sex"]
            )
        digests.append(ds.digest)
    from govern.registry.datasets import sha256_of

    first = sha256_of(tmp_path / "t.csv.gz")
    with mlflow.start_run():
        log_training_data(
            adult.head(50), tmp_path / "t.csv.gz", label=LABEL, sensitive_features=["sex"]
        )
    assert sha256_of(tmp_path / "t.csv.gz") == first
    assert digests[0] == digests[1]


class ChattyModel(EducationRule):
    """Prints to stdout, through Python and straight to file descriptor 1."""

    def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
        import os

        print("model says hello")
        os.write(1, b"raw bytes on fd 1\n")
        return self.labels(model_input)


def test_a_printing_model_cannot_corrupt_json_in_worker_processes(uri, tmp_path, adult):
    """Model code prints in its own child process, whose output goes to the child's own log:
    with --jobs 2 the JSON on stdout still parses, and nothing the model wrote reaches it."""
    from helpers import govern_subprocess

    name = _name("chatty")
    for i in range(3):
        _register(uri, name, adult.head(400), ChattyModel(), tmp_path / f"d{i}.parquet")
    proc = govern_subprocess(
        "audit",
        name,
        "--policy",
        str(_policy(tmp_path)),
        "--tracking-uri",
        uri,
        "--format",
        "json",
        "--no-write",
        "--jobs",
        "2",
        cwd=tmp_path,
        # The model is pickled by reference to this module: make it importable in the workers.
        env={"PYTHONPATH": f"{Path(__file__).parent}:{Path(__file__).parents[1]}"},
    )
    out, err = proc.communicate(timeout=600)
    data = json.loads(out)
    assert [v["version"] for v in data["versions"]] == ["1", "2", "3"]
    assert all(v["verdict"] != "error" for v in data["versions"]), err
    assert "model says hello" not in out and "raw bytes on fd 1" not in out
    assert "auditing 3 versions with 2 processes" in err


def test_no_positive_label_anywhere_is_an_error_never_an_assumed_1(uri, tmp_path, adult):
    """Plain MLflow, labels {0, 1}, a policy that names no positive label: govern must not
    pick 1 (0 may be the favourable outcome)."""
    name = _name("nopositive")
    frame = adult.head(400).assign(income=lambda d: (d["income"] == POSITIVE).astype(int))
    source = tmp_path / "d" / "train.parquet"
    source.parent.mkdir()
    frame.to_parquet(source, index=False)
    _register_input(uri, name, frame, source)
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "version: 1\nmodels:\n  - match: '*'\n    packs: [baseline, four-fifths]\n"
        f"    label: {LABEL}\n    sensitive_features: [sex]\n"
    )

    v = _version(_audit(uri, name, policy), EXIT_ERROR)

    check = _checks(v)["fairness.positive_label"]
    assert check["status"] == "error"
    assert "positive_label" in check["summary"] and "policy entry '*'" in check["summary"]
    assert v["training_data"]["positive_label"] is None
    assert v["fairness"] is None
    assert "fairness.demographic_parity_ratio" not in _checks(v)


def _train_eval_run(uri: str, tmp_path: Path, adult: pd.DataFrame, prefix: str) -> str:
    """A plain-MLflow run logging 400 rows as 'train' and 200 other rows as 'eval'."""
    name = _name(prefix)
    train, held_out = adult.head(400), adult.iloc[400:600].reset_index(drop=True)
    folder = tmp_path / "d"
    folder.mkdir()
    train.to_parquet(folder / "train.parquet", index=False)
    held_out.to_parquet(folder / "eval.parquet", index=False)
    _register_input(
        uri,
        name,
        train,
        folder / "train.parquet",
        context="train",
        evaluation=(held_out, folder / "eval.parquet"),
    )
    return name


def test_train_and_eval_contexts_as_mlflow_users_write_them(uri, tmp_path, adult):
    """No govern.track: the run logs 'train' and 'eval' inputs by hand. 'train' is the training
    data; fairness is measured on the held-out 'eval' data, which gets its own lineage and
    integrity checks; quality and representation stay on the training data."""
    name = _train_eval_run(uri, tmp_path, adult, "traineval")

    # Recorded, as a nightly run is: the first recorded audit pins both datasets' hashes.
    v = _version(audit_json(uri, name, _policy(tmp_path), write=True), EXIT_FAIL)

    lineage = _checks(v)["lineage.training_data"]
    assert lineage["status"] == "pass"
    assert "'train' input of run" in lineage["summary"]
    assert lineage["details"]["other_inputs"] == ["eval.parquet (eval)"]
    assert v["training_data"]["rows"] == 400
    assert _status(v, "integrity.mlflow_digest") == "pass"
    assert "'eval' input of run" in _checks(v)["lineage.evaluation_data"]["summary"]
    assert _status(v, "integrity.evaluation.mlflow_digest") == "pass"
    assert _status(v, "integrity.evaluation.pinned_sha256") == "pass"
    assert v["training_data"]["proof"] == v["evaluation_data"]["proof"] == "pinned"
    assert v["evaluation_data"]["rows"] == 200
    assert v["evaluation_data"]["label"] == LABEL
    assert sum(v["evaluation_data"]["label_balance"].values()) == 200
    data = v["fairness"]["data"]
    assert data["context"] == "eval" and data["name"] == "eval.parquet"
    assert data["rows"] == v["fairness"]["rows"] == 200
    assert data["in_sample"] is False
    assert data["sha256"] == v["evaluation_data"]["sha256"]
    assert sum(g["count"] for g in v["representation"][0]["groups"]) == 400


def test_fairness_on_training_data_when_the_policy_asks_is_marked_in_sample(uri, tmp_path, adult):
    name = _train_eval_run(uri, tmp_path, adult, "insample")
    policy = _policy_entry(
        tmp_path,
        packs=["baseline", "four-fifths"],
        fairness={"data": "training"},
        integrity={"require": "mlflow-digest"},  # a dry run: nothing is pinned
    )

    v = _version(_audit(uri, name, policy), EXIT_FAIL)

    assert v["fairness"]["data"]["in_sample"] is True
    assert v["fairness"]["data"]["context"] == "train"
    assert v["fairness"]["rows"] == 400


def test_fairness_on_evaluation_data_without_any_is_an_error(uri, tmp_path, adult):
    name = _name("noeval")
    source = tmp_path / "d" / "train.parquet"
    source.parent.mkdir()
    adult.head(300).to_parquet(source, index=False)
    _register_input(uri, name, adult.head(300), source)
    policy = _policy_entry(
        tmp_path, packs=["baseline", "four-fifths"], fairness={"data": "evaluation"}
    )

    v = _version(_audit(uri, name, policy), EXIT_ERROR)

    summary = _checks(v)["fairness.data"]["summary"]
    assert "asks for it on evaluation data" in summary and "logged none" in summary
    assert v["fairness"] is None


def test_only_eval_data_is_not_training_data(uri, tmp_path, adult):
    name = _name("evalonly")
    source = tmp_path / "d" / "eval.parquet"
    source.parent.mkdir()
    adult.head(300).to_parquet(source, index=False)
    _register_input(uri, name, adult.head(300), source, context="eval")

    v = _version(_audit(uri, name, _policy(tmp_path)), EXIT_ERROR)

    summary = _checks(v)["lineage.training_data"]["summary"]
    assert "no dataset input with context 'training' or 'train'" in summary
    assert "eval.parquet (eval)" in summary


def test_autologged_data_is_named_with_why_and_how_to_log_it(uri, tmp_path, adult):
    """mlflow.sklearn.autolog() logs the training frame as a 'code' source: MLflow keeps no copy,
    so govern cannot reload it and must say so, and how to fix it, instead of guessing."""
    from sklearn.linear_model import LogisticRegression

    name = _name("autolog")
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    mlflow.set_experiment("training")
    mlflow.sklearn.autolog(log_datasets=True, silent=True)
    try:
        with mlflow.start_run():
            frame = adult.head(300)
            LogisticRegression(max_iter=200).fit(
                frame[["age", "education-num", "hours-per-week"]], frame[LABEL]
            )
    finally:
        mlflow.sklearn.autolog(disable=True)
    logged = mlflow.last_logged_model()
    assert logged is not None
    mlflow.register_model(f"models:/{logged.model_id}", name)

    v = _version(_audit(uri, name, _policy(tmp_path)), EXIT_ERROR)

    assert "'train' input of run" in _checks(v)["lineage.training_data"]["summary"]
    load = _checks(v)["lineage.load"]
    assert load["status"] == "error"
    assert "(source type 'code') cannot be reloaded" in load["summary"]
    assert "govern.track.log_training_data" in load["summary"]
    assert "mlflow.log_input" in load["summary"]


# --------------------------------------------------------------------------- trust on first use


def _big_plain_run(uri: str, tmp_path: Path, adult: pd.DataFrame) -> tuple[str, Path]:
    """12,000 rows logged with plain MLflow: MLflow's digest sees only the first 10,000."""
    name = _name("big")
    frame = pd.concat([adult, adult], ignore_index=True)
    assert len(frame) == 12_000
    source = tmp_path / "d" / "train.parquet"
    source.parent.mkdir()
    frame.to_parquet(source, index=False)
    _register_input(uri, name, frame, source)
    return name, source


def test_data_changed_after_row_10000_between_two_audits_fails(uri, tmp_path, adult):
    name, source = _big_plain_run(uri, tmp_path, adult)
    policy = _policy(tmp_path)
    first = _version(audit_json(uri, name, policy, write=True), EXIT_FAIL)
    assert first["training_data"]["proof"] == "pinned"
    assert _status(first, "integrity.pinned_sha256") == "pass"

    changed = pd.read_parquet(source)
    changed.loc[11_000, "age"] = 77  # beyond MLflow's 10,000-row digest
    changed.to_parquet(source, index=False)
    second = _version(audit_json(uri, name, policy, write=True), EXIT_FAIL)

    assert _status(second, "integrity.mlflow_digest") == "pass"  # blind past row 10,000
    pinned = _checks(second)["integrity.pinned_sha256"]
    assert pinned["status"] == "fail"
    assert first["training_data"]["sha256"] in pinned["summary"]
    assert second["training_data"]["sha256"] in pinned["summary"]
    assert second["training_data"]["pinned"]["pinned_at"] in pinned["summary"]
    assert second["started_at"] in pinned["summary"]
    assert "changed after it was first audited" in pinned["summary"]
    # The pin stays the earliest record: a third audit still compares with the first.
    third = _version(audit_json(uri, name, policy, write=True), EXIT_FAIL)
    assert third["training_data"]["pinned"]["sha256"] == first["training_data"]["sha256"]
    assert _status(third, "integrity.pinned_sha256") == "fail"


def test_a_different_digest_with_a_matching_full_hash_is_a_note(uri, tmp_path, adult):
    """MLflow may change its digest code: with the pinned hash matching, that is not a failure."""
    name, _ = _big_plain_run(uri, tmp_path, adult)
    policy = _policy(tmp_path)
    _version(audit_json(uri, name, policy, write=True), EXIT_FAIL)
    assert _sql(uri, "UPDATE datasets SET digest = 'deadbeef'") >= 1

    v = _version(audit_json(uri, name, policy, write=True), EXIT_FAIL)

    digest = _checks(v)["integrity.mlflow_digest"]
    assert digest["status"] == "pass"
    assert digest["summary"].startswith("note: ")
    assert "the full SHA-256 matches" in digest["summary"]
    assert _status(v, "integrity.pinned_sha256") == "pass"


def test_a_dry_run_of_never_audited_plain_data_has_only_mlflow_s_digest(uri, tmp_path, adult):
    """--no-write pins nothing: by default (require: pinned) that proof is not enough."""
    name, _ = _big_plain_run(uri, tmp_path, adult)

    v = _version(_audit(uri, name, _policy(tmp_path)), EXIT_ERROR)

    assert v["training_data"]["proof"] == "mlflow-digest"
    proof = _checks(v)["integrity.proof"]
    assert proof["status"] == "error"
    assert "requires proof 'pinned'" in proof["summary"]
    assert "not recorded (--no-write)" in _checks(v)["integrity.pinned_sha256"]["summary"]
    columns = _checks(v)["integrity.mlflow_digest"]["details"]["columns"]
    assert "age" in columns and "sex" in columns


def test_require_training_hash_refuses_data_logged_without_govern_track(uri, tmp_path, adult):
    name, _ = _big_plain_run(uri, tmp_path, adult)
    policy = _policy_entry(
        tmp_path, packs=["baseline", "four-fifths"], integrity={"require": "training-hash"}
    )

    v = _version(audit_json(uri, name, policy, write=True), EXIT_ERROR)

    summary = _checks(v)["integrity.proof"]["summary"]
    assert "requires proof 'training-hash'" in summary and "'pinned'" in summary
    assert "govern.track.log_training_data" in summary


# --------------------------------------------------------------------------- model environment


def _register_sklearn(
    uri: str, tmp_path: Path, adult: pd.DataFrame, requirements: list[str]
) -> str:
    """A plain MLflow sklearn model declaring ``requirements`` (as if pickled elsewhere)."""
    from sklearn.linear_model import LogisticRegression

    name = _name("env")
    frame = adult.head(400)
    columns = ["age", "education-num", "hours-per-week"]
    model = LogisticRegression(max_iter=300).fit(frame[columns], frame[LABEL])
    source = tmp_path / "d" / "train.parquet"
    source.parent.mkdir()
    frame.to_parquet(source, index=False)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    mlflow.set_experiment("training")
    with mlflow.start_run():
        ds = mlflow.data.from_pandas(frame, source=str(source), name="train.parquet")
        mlflow.log_input(ds, context="train")
        mlflow.sklearn.log_model(
            model,
            name="model",
            input_example=frame[columns].head(2),
            registered_model_name=name,
            pip_requirements=requirements,
            skops_trusted_types=["numpy.dtype"],
        )
    return name


def test_a_model_declaring_another_minor_release_is_a_visible_warning(uri, tmp_path, adult):
    name = _register_sklearn(uri, tmp_path, adult, ["scikit-learn==1.5.0", "mlflow"])
    policy = _policy_entry(tmp_path, packs=["baseline", "four-fifths"])

    v = _version(audit_json(uri, name, policy, write=True), EXIT_FAIL)  # four-fifths fails

    env = _checks(v)["model.environment"]
    assert env["status"] == "pass"
    assert env["summary"].startswith("warning: ")
    assert "scikit-learn 1.5.0 declared" in env["summary"] and "(minor)" in env["summary"]
    rows = {r["name"]: r for r in v["metadata"]["model_requirements"]}
    assert rows["scikit-learn"]["declared"] == "1.5.0"
    assert rows["scikit-learn"]["difference"] == "minor"


def test_model_env_strict_fails_on_a_minor_release_difference(uri, tmp_path, adult):
    name = _register_sklearn(uri, tmp_path, adult, ["scikit-learn==1.5.0"])
    policy = _policy_entry(tmp_path, packs=["baseline", "four-fifths"], model_env="strict")

    v = _version(audit_json(uri, name, policy, write=True), EXIT_FAIL)

    env = _checks(v)["model.environment"]
    assert env["status"] == "fail"
    assert "model_env: strict" in env["summary"]


def test_logged_evaluation_data_that_cannot_be_read_is_an_error_even_for_in_sample_fairness(
    uri, tmp_path, adult
):
    name = _train_eval_run(uri, tmp_path, adult, "evalgone")
    (tmp_path / "d" / "eval.parquet").unlink()
    policy = _policy_entry(
        tmp_path,
        packs=["baseline", "four-fifths"],
        fairness={"data": "training"},
        integrity={"require": "mlflow-digest"},
    )

    v = _version(_audit(uri, name, policy), EXIT_ERROR)

    check = _checks(v)["lineage.evaluation_data"]
    assert check["status"] == "error"
    assert "evaluation data 'eval.parquet'" in check["summary"]
    assert "does not exist" in check["summary"]
    assert v["fairness"]["data"]["in_sample"] is True  # fairness still ran, on training data
