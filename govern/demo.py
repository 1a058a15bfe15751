"""``govern demo``: a real registry, real models and a real audit, built in a minute.

Two classifiers are trained on the bundled UCI Adult sample to predict income > 50K. The plain one
selects men about three times as often as women and fails the four-fifths rule. The mitigated one
applies per-group decision thresholds (post-processing in the spirit of Hardt et al. 2016) so both
groups are selected at the same rate, and passes. Both are logged with ``govern.track`` and
registered in a sqlite registry, exactly as a team would do it.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from govern.errors import UsageError

MARKER = ".govern-demo"
LABEL = "income"
POSITIVE = ">50K"
NEGATIVE = "<=50K"
SENSITIVE = ["sex"]
MODELS = ("adult-income-plain", "adult-income-mitigated")

POLICY = """\
# govern policy for the demo models: written by `govern demo`.
version: 1
models:
  - match: "adult-income-*"
    packs: [baseline, four-fifths]
    label: income
    positive_label: ">50K"
    sensitive_features: [sex]
    expectations:
      - type: expect_column_values_to_be_between
        kwargs: {column: age, min_value: 17, max_value: 90}
      - type: expect_column_values_to_be_between
        kwargs: {column: hours-per-week, min_value: 1, max_value: 99}
      - type: expect_column_values_to_be_in_set
        kwargs: {column: income, value_set: ["<=50K", ">50K"]}
      - type: expect_column_values_to_not_be_null
        kwargs: {column: education}
    fairness:
      min_group_size: 30
      metrics: [selection_rate, true_positive_rate, false_positive_rate, accuracy_score]
"""


class GroupThresholdModel:
    """A fitted pipeline plus one decision threshold per group of a sensitive feature.

    Defined as a plain class wrapped by ``mlflow.pyfunc.PythonModel`` at log time so that this
    module stays importable without mlflow.
    """

    def __init__(self, pipeline: Any, feature: str, thresholds: dict[str, float]):
        self.pipeline = pipeline
        self.feature = feature
        self.thresholds = thresholds

    def predict_labels(self, frame: Any) -> Any:
        import numpy as np

        proba = self.pipeline.predict_proba(frame)[:, list(self.pipeline.classes_).index(POSITIVE)]
        cut = frame[self.feature].astype(str).map(self.thresholds).fillna(0.5).to_numpy()
        return np.where(proba >= cut, POSITIVE, NEGATIVE)


def _pyfunc_wrapper(model: GroupThresholdModel) -> Any:
    from mlflow.pyfunc import PythonModel

    class MitigatedIncomeModel(PythonModel):
        def __init__(self, inner: GroupThresholdModel):
            self.inner = inner

        def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
            # Left unannotated: MLflow reads type hints on predict as a schema.
            return self.inner.predict_labels(model_input)

    return MitigatedIncomeModel(model)


def _pipeline(frame: Any) -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numeric = [c for c in frame.columns if frame[c].dtype.kind in "if"]
    categorical = [c for c in frame.columns if c not in numeric]
    pre = ColumnTransformer(
        [
            ("num", StandardScaler(), numeric),
            (
                "cat",
                make_pipeline(
                    SimpleImputer(strategy="constant", fill_value="missing"),
                    OneHotEncoder(handle_unknown="ignore"),
                ),
                categorical,
            ),
        ]
    )
    return Pipeline([("pre", pre), ("clf", LogisticRegression(max_iter=1000))])


def train_models(data: Any) -> tuple[Any, GroupThresholdModel]:
    """Fit the plain pipeline and derive the mitigated model from it.

    The mitigated model selects each group at the plain model's overall selection rate, by
    choosing per-group thresholds on the predicted probability.
    """
    import pandas as pd

    features = data.drop(columns=[LABEL])
    pipeline = _pipeline(features).fit(features, data[LABEL])
    proba = pipeline.predict_proba(features)[:, list(pipeline.classes_).index(POSITIVE)]
    target_rate = float((pipeline.predict(features) == POSITIVE).mean())
    thresholds = {
        str(group): float(pd.Series(proba[idx]).quantile(1 - target_rate))
        for group, idx in data.groupby("sex").indices.items()
    }
    return pipeline, GroupThresholdModel(pipeline, "sex", thresholds)


def pinned_requirements() -> list[str]:
    """The model's pip requirements, pinned to what is installed here.

    Giving them saves MLflow from inferring them (it loads the model in a subprocess: about 5 s
    per model) and records exactly the versions the model was fitted with.
    """
    from importlib.metadata import version

    return [
        f"{dist}=={version(dist)}"
        for dist in ("mlflow", "scikit-learn", "pandas", "numpy", "cloudpickle")
    ]


def log_model(name: str, model: Any, features: Any, *, register: bool = True) -> Any:
    """Log the plain pipeline (sklearn) or the mitigated model (pyfunc) to the active run."""
    import mlflow
    from mlflow.models import infer_signature

    registered = name if register else None
    requirements = pinned_requirements()
    if isinstance(model, GroupThresholdModel):
        signature = infer_signature(features, model.predict_labels(features))
        return mlflow.pyfunc.log_model(
            name="model",
            python_model=_pyfunc_wrapper(model),
            signature=signature,
            registered_model_name=registered,
            pip_requirements=requirements,
        )
    signature = infer_signature(features, model.predict(features))
    return mlflow.sklearn.log_model(
        model,
        name="model",
        signature=signature,
        registered_model_name=registered,
        skops_trusted_types=["numpy.dtype"],
        pip_requirements=requirements,
    )


def _prepare(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file, not a folder")
    if out.exists() and any(out.iterdir()):
        if not (out / MARKER).exists():
            raise UsageError(
                f"--out {out} is not empty and was not made by govern demo; choose another folder"
            )
        for child in out.iterdir():
            if child.is_dir():
                shutil.rmtree(child)
            else:
                child.unlink()
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("made by govern demo; safe to delete\n")


def run_demo(out: Path, *, progress: Callable[[str], None] | None = None) -> Path:
    """Build the demo registry in ``out``, audit it, and return the path of ``index.html``."""
    say = progress or (lambda _msg: None)
    out = Path(out).resolve()
    _prepare(out)
    from govern.registry.client import quiet_mlflow

    quiet_mlflow()
    import logging

    import mlflow

    logging.getLogger("mlflow").setLevel(logging.ERROR)
    import pandas as pd

    from govern.resources import adult_sample_path
    from govern.track import log_training_data

    uri = f"sqlite:///{out / 'mlflow.db'}"
    data = pd.read_csv(adult_sample_path())
    features = data.drop(columns=[LABEL])
    say(f"demo: training two models on {len(data):,} rows of UCI Adult")
    pipeline, mitigated = train_models(data)

    previous_uri = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        client = mlflow.MlflowClient(uri, uri)
        experiment = client.create_experiment(
            "adult-income", artifact_location=(out / "artifacts").as_uri()
        )
        for name in MODELS:
            say(f"demo: logging and registering {name}")
            with mlflow.start_run(experiment_id=experiment, run_name=name):
                log_training_data(
                    data,
                    out / "data" / "adult-train.parquet",
                    label=LABEL,
                    sensitive_features=SENSITIVE,
                    positive_label=POSITIVE,
                    name="adult-train",
                    artifact=True,
                )
                log_model(name, pipeline if name == MODELS[0] else mitigated, features)
    finally:
        mlflow.set_tracking_uri(previous_uri)

    (out / "govern.yaml").write_text(POLICY)
    from govern.config.policy import load_policy
    from govern.pipeline.audit import audit_and_write
    from govern.registry.client import Registry
    from govern.render.outputs import OutputRequest

    registry = Registry(uri)
    policy = load_policy(out / "govern.yaml")
    versions = registry.resolve([], all_models=True)
    run = audit_and_write(
        registry,
        policy,
        versions,
        OutputRequest(out=out / "reports"),
        progress=lambda msg, transient: say(msg),
    )
    for v in run.versions:
        say(f"demo: {v.ref}: {v.verdict.upper()}")
    return out / "reports" / "index.html"
