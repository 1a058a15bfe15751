"""A real Spark standalone cluster (one master, one worker) from the pip pyspark, on 127.0.0.1.

The master and the worker get a scrubbed environment (the interpreter, Java, PATH and a HOME
in a temporary folder, nothing else), so what an executor sees is what the cluster gave it
plus what the driver sent: exactly what the cluster-prediction tests must observe. Both run
in their own process groups and are killed with them.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tests.servers import _free_port


@dataclass(frozen=True)
class Cluster:
    master: str
    """``spark://127.0.0.1:PORT``."""
    home: Path
    """The HOME the worker and its executors run with."""


def java_home() -> str | None:
    given = os.environ.get("JAVA_HOME")
    if given:
        return given
    java = shutil.which("java")
    return str(Path(java).resolve().parents[1]) if java else None


def _environment(root: Path, java: str) -> dict[str, str]:
    import pyspark

    return {
        "PATH": os.pathsep.join([str(Path(java) / "bin"), "/usr/bin", "/bin"]),
        "HOME": str(root / "home"),
        "JAVA_HOME": java,
        "SPARK_HOME": str(Path(pyspark.__file__).parent),
        "PYSPARK_PYTHON": sys.executable,
        "SPARK_LOCAL_IP": "127.0.0.1",
        "SPARK_LOCAL_DIRS": str(root / "scratch"),
        "SPARK_LOG_DIR": str(root / "logs"),
        "TMPDIR": str(root / "tmp"),
    }


def _start(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            cmd,
            env=env,
            cwd=env["HOME"],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=20)


def _wait_for(log: Path, text: str, procs: list[subprocess.Popen[bytes]], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if log.exists() and text in log.read_text(errors="replace"):
            return
        if any(p.poll() is not None for p in procs):
            break
        time.sleep(0.5)
    raise RuntimeError(f"Spark standalone did not start ({text!r}):\n" + log.read_text()[-3000:])


def start_cluster(root: Path, java: str) -> tuple[Cluster, list[subprocess.Popen[bytes]]]:
    """Start the master, then one worker (2 cores, 1 GiB); return once the worker registered."""
    for sub in ("home", "scratch", "logs", "tmp", "work"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    env = _environment(root, java)
    spark_class = str(Path(env["SPARK_HOME"]) / "bin" / "spark-class")
    port = _free_port()
    master = f"spark://127.0.0.1:{port}"
    procs: list[subprocess.Popen[bytes]] = []
    try:
        procs.append(
            _start(
                [
                    spark_class,
                    "org.apache.spark.deploy.master.Master",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--webui-port",
                    "0",
                ],
                env,
                root / "master.log",
            )
        )
        _wait_for(root / "master.log", "I have been elected leader", procs, 120)
        procs.append(
            _start(
                [
                    spark_class,
                    "org.apache.spark.deploy.worker.Worker",
                    master,
                    "--host",
                    "127.0.0.1",
                    "--cores",
                    "2",
                    "--memory",
                    "1g",
                    "--work-dir",
                    str(root / "work"),
                    "--webui-port",
                    "0",
                ],
                env,
                root / "worker.log",
            )
        )
        _wait_for(root / "worker.log", "Successfully registered with master", procs, 120)
    except BaseException:
        stop_cluster(procs)
        raise
    return Cluster(master, root / "home"), procs


def stop_cluster(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in reversed(procs):
        _stop(proc)
