"""Test helpers that build real registries: real runs, real logged data, real models."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from govern.cli import main

LABEL = "income"
POSITIVE = ">50K"

POLICY = """\
version: 1
models:
  - match: "*"
    packs: [baseline, four-fifths]
    label: income
    positive_label: ">50K"
    sensitive_features: [sex]
    expectations:
      - type: expect_column_values_to_be_between
        kwargs: {column: age, min_value: 17, max_value: 90}
"""


def write_policy(path: Path, text: str = POLICY) -> Path:
    path.write_text(textwrap.dedent(text))
    return path


def register(
    uri: str,
    name: str,
    data: Any,
    model: Any,
    data_path: Path,
    *,
    track: bool = True,
    artifact: bool = False,
    extra_inputs: list[tuple[Any, str, str]] | None = None,
    log_data: bool = True,
) -> str:
    """Log ``data`` as the training input of a new run, log ``model``, register it.

    Returns the new version number. ``track=False`` logs the data with plain MLflow only.
    """
    import mlflow

    from govern.demo import log_model
    from govern.track import log_training_data

    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    mlflow.set_experiment("training")
    features = data.drop(columns=[LABEL])
    with mlflow.start_run():
        if log_data and track:
            log_training_data(
                data,
                data_path,
                label=LABEL,
                sensitive_features=["sex"],
                positive_label=POSITIVE,
                artifact=artifact,
            )
        elif log_data:
            data_path.parent.mkdir(parents=True, exist_ok=True)
            if data_path.suffix == ".csv":
                data.to_csv(data_path, index=False)
            else:
                data.to_parquet(data_path, index=False)
            ds = mlflow.data.from_pandas(data, source=str(data_path), name=data_path.name)
            mlflow.log_input(ds, context="training")
        for frame, path, context in extra_inputs or []:
            ds = mlflow.data.from_pandas(frame, source=str(path), name=Path(path).name)
            mlflow.log_input(ds, context=context)
        info = log_model(name, model, features)
    versions = mlflow.MlflowClient().search_model_versions(f"name = '{name}'")
    for v in versions:
        if v.model_id == info.model_id or v.source.endswith(info.model_id):
            return str(v.version)
    return str(max(int(v.version) for v in versions))


def run_cli(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def audit_json(uri: str, selector: str, policy: Path, *extra: str, write: bool = False) -> Result:
    """``govern audit SELECTOR --policy POLICY --tracking-uri URI --format json``, with
    ``--no-write`` unless ``write``, then ``extra``: the call most integration tests make."""
    args = ["audit", selector, "--policy", str(policy), "--tracking-uri", uri, "--format", "json"]
    return run_cli(*args, *(() if write else ("--no-write",)), *extra)


def results_of(result: Result) -> dict[str, Any]:
    return json.loads(result.stdout)


def log_slow_model(
    uri: str, name: str, data: Any, inner: Any, data_path: Path, seconds: float
) -> str:
    import mlflow
    from mlflow.models import infer_signature
    from mlflow.pyfunc import PythonModel

    from govern.demo import pinned_requirements
    from govern.track import log_training_data

    class Slow(PythonModel):
        def __init__(self, inner, seconds):  # noqa: ANN001
            self.inner = inner
            self.seconds = seconds

        def predict(self, context, model_input, params=None):  # noqa: ANN001
            import time

            time.sleep(self.seconds)
            return self.inner.predict_labels(model_input)

    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    mlflow.set_experiment("training")
    features = data.drop(columns=[LABEL])
    with mlflow.start_run():
        log_training_data(
            data, data_path, label=LABEL, sensitive_features=["sex"], positive_label=POSITIVE
        )
        mlflow.pyfunc.log_model(
            name="model",
            python_model=Slow(inner, seconds),
            signature=infer_signature(features, inner.predict_labels(features)),
            registered_model_name=name,
            pip_requirements=pinned_requirements(),
        )
    return "1"


def govern_subprocess(*args: str, cwd: Path, env: dict[str, str] | None = None, **kw: Any):
    import os
    import subprocess
    import sys

    return subprocess.Popen(
        [sys.executable, "-m", "govern", *args],
        cwd=cwd,
        env={**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kw,
    )


def recorded(tags: Mapping[str, str]) -> dict[str, Any]:
    """The version's ``govern.audit`` record as a dict; empty before its first audit."""
    text = tags.get("govern.audit")
    return json.loads(text) if text is not None else {}
