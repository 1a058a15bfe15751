"""Shared fixtures: a real MLflow tracking server, real sqlite registries, real models.

Nothing here replaces MLflow, Great Expectations or fairlearn; the server is ``mlflow server`` in a
subprocess on 127.0.0.1, started once per test session.
"""

from __future__ import annotations

import os

os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
os.environ["GX_ANALYTICS_ENABLED"] = "false"
os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")
os.environ.pop("MLFLOW_TRACKING_URI", None)
os.environ.pop("GOVERN_POLICY", None)
# One process per audit unless a test asks for --jobs: spawning workers costs seconds each.
os.environ["GOVERN_JOBS"] = "1"

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

# The server helpers live in servers.py so that tests/integration/conftest.py can import them
# (a conftest cannot import another conftest by name); re-exported for `from conftest import`.
from servers import _free_port, start_server, stop_server  # noqa: E402, F401

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(autouse=True)
def _isolate_cwd(tmp_path, monkeypatch):
    """MLflow writes ./mlruns and ./mlflow.db relative to the working directory: keep it in tmp."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("GOVERN_POLICY", raising=False)


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    """A real ``mlflow server`` shared by the session."""
    proc, uri = start_server(tmp_path_factory.mktemp("mlflow-server"))
    yield uri
    stop_server(proc)


@pytest.fixture
def sqlite_uri(tmp_path):
    """A fresh local sqlite registry with MLflow's tables created."""
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'registry' / 'mlflow.db'}"
    (tmp_path / "registry").mkdir()
    MlflowClient(uri, uri).search_experiments()
    return uri


@pytest.fixture(scope="session")
def adult():
    """The UCI Adult sample shipped in the package: real data that is always present."""
    import pandas as pd

    from govern.resources import adult_sample_path

    return pd.read_csv(adult_sample_path())


@pytest.fixture(scope="session")
def trained(adult):
    """(plain pipeline, mitigated model) fitted once per session on the Adult sample."""
    from govern.demo import train_models

    return train_models(adult)


@pytest.fixture(scope="session")
def full_adult_path():
    path = SHARED_DATA / "adult" / "adult.data"
    if not path.is_file():
        pytest.skip(f"UCI Adult training split not found at {path} (only in CI and dev machines)")
    return path


INTEGRATION = Path(__file__).resolve().parent / "integration"


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """tests/integration (PostgreSQL, S3, `make test-integration`) runs only when named on the
    command line: `pytest` and `make test` leave it out."""
    if collection_path != INTEGRATION:
        return None
    for arg in config.args:
        path = Path(arg.split("::")[0]).resolve()
        if path == INTEGRATION or INTEGRATION in path.parents:
            return None
    return True
