"""A local Spark for the Spark engine's tests: ``local[2]``, two shuffle partitions, no UI, a
warehouse in a temporary folder. One session for the whole test session (a JVM takes seconds).

The tests skip when pyspark or Java is absent, unless ``GOVERN_REQUIRE_SPARK=1`` (``make
test-spark`` and CI set it): then an absent Spark is a failure, never a silent skip.

``connect_server`` is a real Spark Connect server (tests/spark/connect_server.py), started once
per test session in its own process with a scrubbed environment. The tests never open a Connect
session in this process (pyspark keeps process-global Connect state next to the classic session
above): they run govern, or a small script, in a subprocess with ``SPARK_REMOTE`` set.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys

import pytest

from tests.spark.connect_server import (
    server_jar_present,
    start_connect_server,
    stop_connect_server,
)

STRICT = os.environ.get("GOVERN_REQUIRE_SPARK") == "1"


def _absent() -> str | None:
    if importlib.util.find_spec("pyspark") is None:
        return "pyspark is not installed (pip install 'govern[spark]')"
    if importlib.util.find_spec("deltalake") is None:
        return "deltalake is not installed (pip install 'govern[spark]')"
    if not os.environ.get("JAVA_HOME") and shutil.which("java") is None:
        return "Java is not installed (Spark needs Java 17)"
    return None


@pytest.fixture(scope="session")
def spark_installed() -> None:
    """pyspark, deltalake and Java present, without starting a session; same skip rule."""
    reason = _absent()
    if reason is not None:
        if STRICT:
            pytest.fail(f"{reason} (GOVERN_REQUIRE_SPARK=1)")
        pytest.skip(reason)


@pytest.fixture(scope="session")
def spark(tmp_path_factory, spark_installed):
    from pyspark.sql import SparkSession

    # The workers must run this interpreter (with pyarrow), not the first python3 on PATH.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    warehouse = tmp_path_factory.mktemp("spark-warehouse")
    session = (
        SparkSession.builder.master("local[2]")
        .appName("govern-tests")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.default.parallelism", "2")
        .config("spark.local.dir", str(warehouse / "scratch"))
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.warehouse.dir", str(warehouse))
        .config("spark.driver.extraJavaOptions", f"-Dderby.system.home={warehouse}")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def standalone(tmp_path_factory, spark_installed):
    """A real Spark standalone cluster on 127.0.0.1 (one master, one worker with 2 cores and
    1 GiB), started with a scrubbed environment (tests/spark/standalone.py); same skip rule."""
    from tests.spark.standalone import java_home, start_cluster, stop_cluster

    java = java_home()
    if java is None:
        reason = "JAVA_HOME cannot be found for the standalone cluster"
        if STRICT:
            pytest.fail(f"{reason} (GOVERN_REQUIRE_SPARK=1)")
        pytest.skip(reason)
    cluster, procs = start_cluster(tmp_path_factory.mktemp("spark-standalone"), java)
    yield cluster
    stop_cluster(procs)


@pytest.fixture(scope="session")
def connect_server(tmp_path_factory):
    """A Spark Connect server on 127.0.0.1 (``local[2]``), shared by the session."""
    reason = _absent()
    if reason is None and importlib.util.find_spec("grpc") is None:
        reason = "the Spark Connect client (grpcio) is not installed (pip install 'govern[spark]')"
    if reason is None and not server_jar_present():
        reason = "pyspark ships no Spark Connect server jar (jars/spark-connect_*.jar)"
    if reason is not None:
        if STRICT:
            pytest.fail(f"{reason} (GOVERN_REQUIRE_SPARK=1)")
        pytest.skip(reason)
    server = start_connect_server(tmp_path_factory.mktemp("spark-connect"))
    yield server
    stop_connect_server(server)
