"""Prediction on Spark: a real MLflow model scored by ``spark_udf`` in the sandboxed child gives
the same fairness as the pandas engine's prediction child, and the model cannot see govern's
environment."""

from __future__ import annotations

import math
import textwrap
from pathlib import Path
from typing import Any

import pytest

from govern.checks.fairness import evaluate_fairness
from govern.model.specs import FairnessSpec, Threshold

SPEC = FairnessSpec(
    thresholds={
        "demographic_parity_difference": Threshold(max=0.1),
        "equalized_odds_ratio": Threshold(min=0.5),
    },
    min_group_size=30,
)


def _close(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or abs(a - b) <= 1e-12
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory, adult: Any) -> Path:
    """A scikit-learn pipeline fitted on the Adult sample, logged with MLflow (as the demo logs
    its models) to a real sqlite registry, downloaded as govern downloads a registered model."""
    import mlflow
    from mlflow.artifacts import download_artifacts
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    from govern.demo import log_model

    features = adult.drop(columns=["income"])
    numeric = [c for c in features.columns if features[c].dtype.kind in "if"]
    categorical = [c for c in features.columns if c not in numeric]
    pre = ColumnTransformer(
        [
            ("num", StandardScaler(), numeric),
            ("cat", OneHotEncoder(handle_unknown="ignore"), categorical),
        ]
    )
    pipeline = Pipeline([("pre", pre), ("clf", LogisticRegression(max_iter=500))])
    pipeline.fit(features, adult["income"])

    root = tmp_path_factory.mktemp("registry")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    mlflow.set_experiment("spark-parity")
    with mlflow.start_run():
        info = log_model("adult-spark", pipeline, features)
    path = download_artifacts(
        artifact_uri=info.model_uri, dst_path=str(root / "model"), tracking_uri=uri
    )
    return Path(path)


def test_prediction_and_fairness_match_the_pandas_engine(load: Any, model_dir: Path) -> None:
    from govern.checks.spark_fairness import label_problem_on_spark
    from govern.pipeline.predict import predict
    from govern.pipeline.spark_predict import fairness_of_model

    df, sdf = load("adult_sample")
    sensitive = ("sex", "race")
    uri = "models:/adult-spark/1"
    on_pandas = predict(model_dir, df, "income", uri)
    expected, expected_checks = evaluate_fairness(
        df["income"], on_pandas.labels, df[list(sensitive)], SPEC, positive_label=">50K"
    )
    assert label_problem_on_spark(sdf, "income", ">50K") is None
    got, checks, on_spark = fairness_of_model(
        sdf, model_dir, "income", sensitive, SPEC, uri, positive_label=">50K"
    )
    assert on_spark.signature_inputs == on_pandas.signature_inputs
    assert on_spark.rows == len(df)
    assert _close(got.to_dict(), expected.to_dict())
    assert [c.to_dict() for c in checks] == [c.to_dict() for c in expected_checks]
    # Only cells came back: a few per group, never a row per row.
    assert len(on_spark.cells) < 100 < len(df)


SNOOP = textwrap.dedent(
    """
    import os

    import numpy as np
    import mlflow
    from mlflow.pyfunc import PythonModel

    WANTED = ("GOVERN_TEST_SECRET", "AWS_SECRET_ACCESS_KEY")


    class Snoop(PythonModel):
        def predict(self, context, model_input, params=None):
            # spark_udf sets the tracking URI in its workers: the child's own default, which
            # must not be govern's.
            uri = os.environ.get("MLFLOW_TRACKING_URI", "")
            leaked = any(k in os.environ for k in WANTED) or "registry.example" in uri
            return np.array([">50K" if leaked else "<=50K"] * len(model_input))


    mlflow.models.set_model(Snoop())
    """
)


def test_the_model_sees_no_credential(
    load: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A model that looks for credentials in its environment finds none on the Spark path,
    although govern's own process holds them (and the same model finds them there)."""
    import mlflow
    import numpy as np
    from mlflow.models import infer_signature

    from govern.pipeline.spark_predict import predict_cells

    df, sdf = load("adult_sample")
    features = df.drop(columns=["income"]).head(5)
    code = tmp_path / "snoop.py"
    code.write_text(SNOOP)
    path = tmp_path / "snoop-model"
    mlflow.pyfunc.save_model(
        str(path),
        python_model=str(code),
        signature=infer_signature(features, np.array(["<=50K"] * 5)),
    )
    monkeypatch.setenv("GOVERN_TEST_SECRET", "s3cr3t")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-a-real-key")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "https://user:pw@registry.example")
    assert set(mlflow.pyfunc.load_model(str(path)).predict(features)) == {">50K"}

    cells = predict_cells(sdf, path, "income", ("sex",), "models:/snoop/1").cells
    assert set(cells["_yhat"]) == {"<=50K"}
    assert int(cells["_n"].sum()) == len(df)


def test_forged_cells_are_refused(load: Any) -> None:
    """The child answers for predictions only: cells whose groups or labels do not add up to
    govern's own count are refused."""
    from govern.checks.spark_describe import column, small_frame
    from govern.errors import DataError
    from govern.pipeline.spark_predict import _check_against

    df, sdf = load("adult_sample")
    own = small_frame(sdf.groupBy(column("sex").alias("_s0"), column("income").alias("_y")).count())
    honest = own.rename(columns={"count": "_n"}).assign(_yhat="<=50K")[["_s0", "_y", "_yhat", "_n"]]
    _check_against(honest, own, 1)
    forged = honest.copy()
    forged.loc[0, "_n"] -= 1
    forged.loc[1, "_n"] += 1
    with pytest.raises(DataError, match="do not match the data"):
        _check_against(forged, own, 1)
