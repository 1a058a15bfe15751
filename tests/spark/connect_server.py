"""A real Spark Connect server for the tests: pyspark's own ``SparkConnectServer`` started with
``spark-submit`` on ``local[2]``, bound to 127.0.0.1 on a free port.

The PyPI pyspark ships the server's jar (``jars/spark-connect_2.13-*.jar``) and ``bin/spark-submit``
but not ``sbin/start-connect-server.sh``, which only wraps this same ``spark-submit --class``
call. The server runs with a scrubbed environment: PATH, a fresh HOME and TMPDIR, JAVA_HOME when
set, and the workers' interpreter (``PYSPARK_PYTHON``, this venv's, which has pyarrow). Nothing of
the test process (no MLflow URI, no AWS or OpenAI keys) reaches it, so a model that finds a
credential on its executors can only have been sent one by the client.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

SERVER_CLASS = "org.apache.spark.sql.connect.service.SparkConnectServer"


@dataclass
class ConnectServer:
    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"sc://127.0.0.1:{self.port}"

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def spark_home() -> Path:
    import pyspark

    return Path(pyspark.__file__).resolve().parent


def server_jar_present() -> bool:
    return any((spark_home() / "jars").glob("spark-connect_*.jar"))


def scrubbed_env(root: Path) -> dict[str, str]:
    """What the server and its Python workers get: enough to run Java and Python, nothing else."""
    home = root / "home"
    tmp = root / "tmp"
    home.mkdir(parents=True, exist_ok=True)
    tmp.mkdir(parents=True, exist_ok=True)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "TMPDIR": str(tmp),
        "LANG": "C.UTF-8",
        "SPARK_HOME": str(spark_home()),
        "PYSPARK_PYTHON": sys.executable,
        "SPARK_LOCAL_IP": "127.0.0.1",
        "MLFLOW_DISABLE_TELEMETRY": "true",
    }
    if os.environ.get("JAVA_HOME"):
        env["JAVA_HOME"] = os.environ["JAVA_HOME"]
    return env


def start_connect_server(root: Path, *, timeout: float = 180.0) -> ConnectServer:
    """Start the server (its own process group) and wait until its gRPC port accepts."""
    root.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    scratch = root / "scratch"
    warehouse = root / "warehouse"
    scratch.mkdir(exist_ok=True)
    java_options = f"-Djava.io.tmpdir={root / 'tmp'} -Dderby.system.home={root / 'derby'}"
    conf = {
        "spark.connect.grpc.binding.address": "127.0.0.1",
        "spark.connect.grpc.binding.port": str(port),
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.shuffle.partitions": "2",
        "spark.default.parallelism": "2",
        "spark.sql.session.timeZone": "UTC",
        "spark.local.dir": str(scratch),
        "spark.sql.warehouse.dir": str(warehouse),
        "spark.driver.extraJavaOptions": java_options,
        "spark.driver.host": "127.0.0.1",
        "spark.driver.bindAddress": "127.0.0.1",
    }
    command = [
        str(spark_home() / "bin" / "spark-submit"),
        "--class",
        SERVER_CLASS,
        "--master",
        "local[2]",
        "--name",
        "govern-tests-connect",
    ]
    for key, value in conf.items():
        command += ["--conf", f"{key}={value}"]
    log = root / "connect-server.log"
    with log.open("ab") as out:
        proc = subprocess.Popen(
            command,
            cwd=root,
            env=scrubbed_env(root),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = ConnectServer(proc, port, log)
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return server
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            stop_connect_server(server)
            raise RuntimeError(f"the Spark Connect server did not start:\n{server.log_tail()}")
        time.sleep(0.5)


def stop_connect_server(server: ConnectServer) -> None:
    """Stop the server's JVM and its Python workers (all in its process group)."""
    try:
        os.killpg(server.proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        server.proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(server.proc.pid, signal.SIGKILL)
        server.proc.wait(timeout=30)
