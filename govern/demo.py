"""``govern demo``: a real registry, real models and a real audit, built in a minute.

Two classifiers are trained on 70% of the bundled UCI Adult sample to predict income > 50K; the
other 30% is held out and logged as evaluation data, so fairness is measured on rows the models
never saw. The plain one (a logistic regression that also reads ``sex``) selects men about three
times as often as women and fails the four-fifths rule. The mitigated one is trained with
fairlearn's ``ExponentiatedGradient`` under a demographic-parity constraint and never reads
``sex`` when it predicts (the sensitive feature is used only while fitting, to enforce the
constraint), and passes. Both are logged with ``govern.track`` and registered in a sqlite
registry, exactly as a team would do it.
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


SPLIT_SEED = 20261201
HELD_OUT = 0.3


class FairModel:
    """A preprocessing step and a fairlearn ``ExponentiatedGradient`` mitigator.

    Defined as a plain class wrapped by ``mlflow.pyfunc.PythonModel`` at log time so that this
    module stays importable without mlflow. It predicts from ``features`` only, which exclude the
    sensitive feature: a model that needs ``sex`` to decide would be disparate treatment.
    """

    def __init__(self, preprocess: Any, mitigator: Any, features: list[str]):
        self.preprocess = preprocess
        self.mitigator = mitigator
        self.features = features

    def predict_labels(self, frame: Any) -> Any:
        import numpy as np

        matrix = self.preprocess.transform(frame[self.features])
        chosen = self.mitigator.predict(matrix, random_state=0)  # reproducible randomisation
        return np.where(np.asarray(chosen) == 1, POSITIVE, NEGATIVE)


def _pyfunc_wrapper(model: FairModel) -> Any:
    from mlflow.pyfunc import PythonModel

    class MitigatedIncomeModel(PythonModel):
        def __init__(self, inner: FairModel):
            self.inner = inner

        def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
            # Left unannotated: MLflow reads type hints on predict as a schema.
            return self.inner.predict_labels(model_input)

    return MitigatedIncomeModel(model)


def _preprocessor(frame: Any, *, dense: bool = False) -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numeric = [c for c in frame.columns if frame[c].dtype.kind in "if"]
    categorical = [c for c in frame.columns if c not in numeric]
    return ColumnTransformer(
        [
            ("num", StandardScaler(), numeric),
            (
                "cat",
                make_pipeline(
                    SimpleImputer(strategy="constant", fill_value="missing"),
                    OneHotEncoder(handle_unknown="ignore", sparse_output=not dense),
                ),
                categorical,
            ),
        ]
    )


def _pipeline(frame: Any) -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    return Pipeline([("pre", _preprocessor(frame)), ("clf", LogisticRegression(max_iter=1000))])


def split(data: Any) -> tuple[Any, Any]:
    """Training and held-out rows, stratified on the label; indexes reset, as files have them."""
    from sklearn.model_selection import train_test_split

    train, held_out = train_test_split(
        data, test_size=HELD_OUT, random_state=SPLIT_SEED, stratify=data[LABEL]
    )
    return train.reset_index(drop=True), held_out.reset_index(drop=True)


def train_models(data: Any) -> tuple[Any, FairModel]:
    """Fit the plain pipeline, and the mitigated model without the sensitive feature as input.

    ``ExponentiatedGradient`` (Agarwal et al. 2018) fits a randomised mixture of classifiers
    whose selection rates differ across the groups of ``sex`` by at most 0.01 on these rows;
    ``sex`` is given to it only as the group to balance, never as a feature.
    """
    from fairlearn.reductions import DemographicParity, ExponentiatedGradient
    from sklearn.linear_model import LogisticRegression

    features = data.drop(columns=[LABEL])
    pipeline = _pipeline(features).fit(features, data[LABEL])
    inputs = [c for c in features.columns if c not in SENSITIVE]
    preprocess = _preprocessor(features[inputs], dense=True).fit(features[inputs])
    mitigator = ExponentiatedGradient(
        LogisticRegression(max_iter=1000), DemographicParity(difference_bound=0.01)
    )
    mitigator.fit(
        preprocess.transform(features[inputs]),
        (data[LABEL] == POSITIVE).astype(int),
        sensitive_features=data[SENSITIVE[0]],
    )
    return pipeline, FairModel(preprocess, mitigator, inputs)


def pinned_requirements() -> list[str]:
    """The model's pip requirements, pinned to what is installed here.

    Giving them saves MLflow from inferring them (it loads the model in a subprocess: about 5 s
    per model) and records exactly the versions the model was fitted with.
    """
    from importlib.metadata import version

    return [
        f"{dist}=={version(dist)}"
        for dist in ("mlflow", "scikit-learn", "pandas", "numpy", "cloudpickle", "fairlearn")
    ]


def log_model(name: str, model: Any, features: Any, *, register: bool = True) -> Any:
    """Log the plain pipeline (sklearn) or the mitigated model (pyfunc) to the active run."""
    import mlflow
    from mlflow.models import infer_signature

    registered = name if register else None
    requirements = pinned_requirements()
    if isinstance(model, FairModel):
        inputs = features[model.features]  # the model is never given the sensitive feature
        signature = infer_signature(inputs, model.predict_labels(features))
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
    from govern.track import log_evaluation_data, log_training_data

    uri = f"sqlite:///{out / 'mlflow.db'}"
    train, held_out = split(pd.read_csv(adult_sample_path()))
    features = train.drop(columns=[LABEL])
    say(
        f"demo: training two models on {len(train):,} rows of UCI Adult "
        f"({len(held_out):,} more held out for the fairness checks)"
    )
    pipeline, mitigated = train_models(train)

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
                    train,
                    out / "data" / "adult-train.parquet",
                    label=LABEL,
                    sensitive_features=SENSITIVE,
                    positive_label=POSITIVE,
                    name="adult-train",
                    artifact=True,
                )
                log_evaluation_data(
                    held_out,
                    out / "data" / "adult-heldout.parquet",
                    label=LABEL,
                    name="adult-heldout",
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
