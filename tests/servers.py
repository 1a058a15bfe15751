"""Start and stop a real ``mlflow server`` subprocess on 127.0.0.1 (used by the conftests)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(
    root: Path,
    port: int | None = None,
    *,
    env: Mapping[str, str] | None = None,
    backend_store_uri: str | None = None,
    artifact_args: Sequence[str] | None = None,
) -> tuple[subprocess.Popen, str]:
    """Start ``mlflow server`` (sqlite backend, proxied artifacts) on 127.0.0.1 and wait for it.

    ``env`` is added to the server's environment (webhook settings, S3 credentials);
    ``backend_store_uri`` replaces the sqlite file under ``root`` (PostgreSQL) and
    ``artifact_args`` the local ``--artifacts-destination`` (S3, or direct client writes).
    """
    port = port or _free_port()
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", **(env or {})}
    backend = backend_store_uri or f"sqlite:///{root / 'mlflow.db'}"
    artifacts = (
        list(artifact_args)
        if artifact_args is not None
        else ["--artifacts-destination", str(root / "artifacts")]
    )
    log = (root / "server.log").open("ab")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            "--backend-store-uri",
            backend,
            *artifacts,
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
    try:
        os.killpg(proc.pid, signal.SIGKILL if kill else signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=20)
