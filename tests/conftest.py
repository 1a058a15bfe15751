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

import socket  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import urllib.request  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(autouse=True)
def _isolate_cwd(tmp_path, monkeypatch):
    """MLflow writes ./mlruns and ./mlflow.db relative to the working directory: keep it in tmp."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("GOVERN_POLICY", raising=False)


def start_server(
    root: Path, port: int | None = None, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen, str]:
    """Start ``mlflow server`` (sqlite backend, proxied artifacts) on 127.0.0.1 and wait for it.

    ``env`` is added to the server's environment (the webhook tests set MLflow's webhook
    variables there)."""
    port = port or _free_port()
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", **(env or {})}
    log = (root / "server.log").open("ab")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            "--backend-store-uri",
            f"sqlite:///{root / 'mlflow.db'}",
            "--artifacts-destination",
            str(root / "artifacts"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        cwd=root,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    log.close()
    uri = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while True:
        try:
            with urllib.request.urlopen(f"{uri}/health", timeout=2) as resp:
                if resp.status == 200:
                    return proc, uri
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            stop_server(proc)
            raise RuntimeError(
                "mlflow server did not start:\n" + (root / "server.log").read_text()[-3000:]
            )
        time.sleep(0.5)


def stop_server(proc: subprocess.Popen, *, kill: bool = False) -> None:
    """Stop the server and its workers (it runs in its own process group)."""
    import signal

    try:
        os.killpg(proc.pid, signal.SIGKILL if kill else signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=20)


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
