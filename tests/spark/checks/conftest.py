"""The real datasets the engine-parity tests audit twice. The local Spark session is the one of
tests/spark/conftest.py: one session per test run, so every test gets its settings (among them the
workers' interpreter, which a second session created first would not have).

pyspark is optional (``govern[spark]``): without it these tests skip, unless
``GOVERN_REQUIRE_SPARK`` is set (CI sets it), where its absence is a failure. The shared Adult and
COMPAS data are outside the repository (``../shared/data``): absent, their tests skip unless
``GOVERN_REQUIRE_SHARED`` is set.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[3]
SHARED_DATA = REPO.parent / "shared" / "data"
ADULT_COLUMNS = [
    "age",
    "workclass",
    "fnlwgt",
    "education",
    "education-num",
    "marital-status",
    "occupation",
    "relationship",
    "race",
    "sex",
    "capital-gain",
    "capital-loss",
    "hours-per-week",
    "native-country",
    "income",
]


def require_spark() -> None:
    if importlib.util.find_spec("pyspark") is None:
        if os.environ.get("GOVERN_REQUIRE_SPARK"):
            pytest.fail("pyspark is required (GOVERN_REQUIRE_SPARK is set) but not installed")
        pytest.skip("pyspark is not installed (pip install 'govern[spark]')")


def shared_file(relative: str) -> Path:
    path = SHARED_DATA / relative
    if not path.is_file():
        if os.environ.get("GOVERN_REQUIRE_SHARED"):
            pytest.fail(f"{path} is required (GOVERN_REQUIRE_SHARED is set) but absent")
        pytest.skip(f"shared dataset {path} not found (only on CI and dev machines)")
    return path


def _as_parquet(frame: Any, folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.parquet"
    frame.to_parquet(path, index=False)
    return path


@pytest.fixture(scope="session")
def parquet_data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Name -> a parquet file both engines read: the packaged Adult sample (always), a generated
    set with missing sensitive values (always), and the shared Adult and COMPAS data (when
    present: the tests that need them skip otherwise)."""
    import numpy as np
    import pandas as pd

    from govern.resources import adult_sample_path

    folder = tmp_path_factory.mktemp("parity-data")
    out = {"adult_sample": _as_parquet(pd.read_csv(adult_sample_path()), folder, "adult_sample")}

    rng = np.random.default_rng(12)
    n = 5_000
    sex = rng.choice(np.array(["F", "M", None], dtype=object), n, p=[0.45, 0.5, 0.05])
    group = rng.choice([1.0, 2.0, 3.0, np.nan], n, p=[0.5, 0.3, 0.15, 0.05])
    score = rng.normal(size=n) + (sex == "M") * 0.4
    generated = pd.DataFrame(
        {
            "sex": pd.Series(sex, dtype="str"),
            "group": group,
            "age": rng.integers(18, 80, n),
            "score": np.where(rng.random(n) < 0.02, np.nan, score),
            "flag": rng.random(n) < 0.3,
            "label": (score + rng.normal(scale=0.8, size=n) > 0.2).astype("int64"),
            "predicted": (score > 0.1).astype("int64"),
        }
    )
    out["generated"] = _as_parquet(generated, folder, "generated")

    adult_path = SHARED_DATA / "adult" / "adult.data"
    if adult_path.is_file():
        adult = pd.read_csv(
            adult_path, header=None, names=ADULT_COLUMNS, skipinitialspace=True, na_values="?"
        )
        out["adult"] = _as_parquet(adult, folder, "adult")
    compas_path = SHARED_DATA / "compas" / "compas-scores-two-years.csv"
    if compas_path.is_file():
        compas = pd.read_csv(compas_path)
        # The tool's own screening as the prediction: "Medium" or "High" risk.
        compas["predicted"] = compas["score_text"].isin(["Medium", "High"]).astype("int64")
        out["compas"] = _as_parquet(compas, folder, "compas")
    return out


def dataset(parquet_data: dict[str, Path], name: str) -> Path:
    """The parquet file of ``name``, or the skip/fail rule for shared data that is absent."""
    if name not in parquet_data:
        shared_file("adult/adult.data" if name == "adult" else "compas/compas-scores-two-years.csv")
    return parquet_data[name]


@pytest.fixture(scope="session")
def load(spark: Any, parquet_data: dict[str, Path]) -> Any:
    """``load(name)`` -> (pandas frame, Spark frame) of the same parquet file, each read the way
    its engine reads it (``registry.datasets.read_table``; ``spark.read.parquet``)."""
    from govern.registry.datasets import read_table

    def read(name: str) -> tuple[Any, Any]:
        path = dataset(parquet_data, name)
        return read_table(path), spark.read.parquet(str(path))

    return read
