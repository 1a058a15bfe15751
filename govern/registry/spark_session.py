"""The one SparkSession an audit uses, built from ``--spark-master``, ``SPARK_REMOTE`` and
``--spark-conf``.

One session per process: starting a JVM costs seconds and a local one holds the cores, so every
version of a run shares it. Nothing here downloads anything: Spark resolves
``spark.jars.packages`` from Maven at start-up, which cannot happen on air-gapped machines, so
govern never sets it (a user who sets it with ``--spark-conf`` asked for it).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from govern.errors import UsageError
from govern.redact import redact_uri

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

DEFAULT_MASTER = "local[*]"
ENGINES = ("auto", "pandas", "spark")
"""``auto``: Spark for ``spark`` and ``delta_table`` sources, pandas for everything else."""
SPARK_SOURCE_TYPES = ("spark", "delta_table")
PREDICT_MODES = ("sandbox", "cluster")
"""Where the Spark engine runs the model for fairness (``--spark-predict``). ``sandbox``: a local
Spark child with no credential (local masters only); ``cluster``: ``spark_udf`` in the audit's own
session, so on the cluster's executors, a trust domain govern cannot scrub (non-local only)."""
INSTALL_HINT = "pip install 'govern[spark]'"

_DEFAULT_CONF = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.log.level": "ERROR",
    "spark.sql.session.timeZone": "UTC",
    # Arrow moves the small results (counts, manifests) and the predictions' batches.
    "spark.sql.execution.arrow.pyspark.enabled": "true",
}
"""What govern sets unless the user's ``--spark-conf`` says otherwise: no UI port opened by an
audit, no progress bars in a CI log, and one time zone so that timestamps hash alike
everywhere."""


@dataclass(frozen=True)
class SparkSettings:
    """Where and how to run Spark; the same for every version of a run."""

    master: str = DEFAULT_MASTER
    conf: Mapping[str, str] = field(default_factory=dict)
    remote: str | None = None
    """A Spark Connect URL (``sc://host:port``), from ``SPARK_REMOTE``; then ``master`` is not
    used: the cluster has its own."""
    predict: str = "sandbox"
    """``PREDICT_MODES``: where the model runs for fairness; ``cluster`` is an explicit opt-in."""

    @property
    def local(self) -> bool:
        """Whether the session these settings make runs its executors on this machine, in
        govern's own process tree (``local``, ``local[4]``, ``local-cluster[...]``)."""
        return not self.remote and self.master.startswith("local")

    def describe(self) -> dict[str, Any]:
        """What the results record about the engine: never a conf value (it may hold a secret),
        and the master without its userinfo."""
        where = {"remote": "Spark Connect"} if self.remote else {"master": redact_uri(self.master)}
        return {**where, "conf_keys": sorted(self.conf), "predict": self.predict}


def parse_conf(items: Iterable[str]) -> dict[str, str]:
    """``KEY=VALUE`` pairs from ``--spark-conf``; a malformed one is a usage error naming it."""
    conf: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(
                f"--spark-conf '{item}': expected KEY=VALUE (spark.executor.memory=4g)"
            )
        conf[key.strip()] = value
    return conf


def settings(
    master: str | None = None,
    conf: Iterable[str] = (),
    environ: Mapping[str, str] | None = None,
    predict: str = "sandbox",
) -> SparkSettings:
    """The run's Spark settings; ``SPARK_REMOTE`` (Spark Connect) wins over a master.

    ``predict="cluster"`` with a local master is a usage error: the model would then run in
    govern's own process tree, with its credentials, which is what the sandbox is for."""
    env = os.environ if environ is None else environ
    remote = env.get("SPARK_REMOTE") or None
    if predict not in PREDICT_MODES:
        raise UsageError(f"--spark-predict '{predict}': expected one of {', '.join(PREDICT_MODES)}")
    made = SparkSettings(
        master=master or DEFAULT_MASTER, conf=parse_conf(conf), remote=remote, predict=predict
    )
    if predict == "cluster" and made.local:
        raise UsageError(
            f"--spark-predict cluster needs a cluster (--spark-master spark://..., yarn, k8s://... "
            f"or $SPARK_REMOTE): with master {made.master} the model would run in govern's own "
            "process tree, with its credentials; use the default --spark-predict sandbox"
        )
    return made


def require_pyspark(why: str) -> None:
    """A usage error naming the extra to install when ``why`` needs pyspark and it is absent."""
    import importlib.util

    if importlib.util.find_spec("pyspark") is None:
        raise UsageError(f"{why} needs pyspark, which is not installed: {INSTALL_HINT}")


_LOCK = threading.Lock()
_SESSION: list[Any] = []


def get_session(spark: SparkSettings) -> SparkSession:
    """The process's session: made once from ``spark``; later calls return the same one.

    A session some other code already started in this process (a notebook's, a test's) is used
    as it is: Spark allows one per JVM, and replacing it would break its owner.
    """
    require_pyspark("the Spark engine")
    from pyspark.sql import SparkSession

    with _LOCK:
        if _SESSION:
            return _SESSION[0]
        active = SparkSession.getActiveSession()
        if active is not None:
            _SESSION.append(active)
            return active
        builder: Any = SparkSession.builder.appName("govern")
        if spark.remote:
            reachable(spark.remote)
            builder = builder.remote(spark.remote)
        else:
            builder = builder.master(spark.master)
        conf = dict(_DEFAULT_CONF)
        if spark.master.startswith("local") and not spark.remote:
            # Local executors run this Python (the one with pyarrow), not the first python3 on
            # PATH: pyspark takes the workers' interpreter from PYSPARK_PYTHON only.
            import sys

            os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        for key, value in {**conf, **spark.conf}.items():
            builder = builder.config(key, value)
        session = builder.getOrCreate()
        if not spark.remote:
            session.sparkContext.setLogLevel("ERROR")
        _SESSION.append(session)
        return session


CONNECT_PROBE_SECONDS = 10.0
"""How long the first TCP connection to a Spark Connect server may take. The Connect client
itself retries an unreachable server for more than ten minutes before it gives up; an audit
should say at once that the server is not there."""


def connect_endpoint(url: str) -> tuple[str, int]:
    """Host and port of a Spark Connect URL (``sc://host:port/;param=value``); never the
    parameters, which may hold a token."""
    from urllib.parse import urlsplit

    if not url.startswith("sc://"):
        raise UsageError("SPARK_REMOTE: expected a Spark Connect URL, sc://host:port")
    netloc = urlsplit(url.split(";", 1)[0]).netloc
    host, _, port = netloc.rpartition(":") if ":" in netloc else (netloc, "", "15002")
    try:
        number = int(port)
    except ValueError:
        raise UsageError(f"SPARK_REMOTE: port {port!r} is not a number") from None
    if not host:
        raise UsageError("SPARK_REMOTE: the URL names no host (sc://host:port)")
    return host.strip("[]"), number


def reachable(url: str, seconds: float = CONNECT_PROBE_SECONDS) -> None:
    """A ``DataError`` naming host and port when nothing answers there within ``seconds``."""
    import socket

    from govern.errors import DataError

    host, port = connect_endpoint(url)
    try:
        with socket.create_connection((host, port), timeout=seconds):
            return
    except OSError as exc:
        reason = exc.strerror or str(exc) or type(exc).__name__
        raise DataError(
            f"cannot reach the Spark Connect server at {host}:{port} (SPARK_REMOTE): {reason}"
        ) from None


def is_connect(session: Any) -> bool:
    """Spark Connect sessions have no SparkContext (no RDDs): some steps take another route."""
    return type(session).__module__.startswith("pyspark.sql.connect")


def has_delta_jars(session: Any) -> bool:
    """Whether Delta Lake's Spark data source is on the classpath (then ``format("delta")``)."""
    if is_connect(session):
        return _conf_says_delta(session)
    try:
        jvm = session.sparkContext._jvm
        jvm.java.lang.Class.forName("org.apache.spark.sql.delta.sources.DeltaDataSource")
        return True
    except Exception:
        return False


def _conf_says_delta(session: Any) -> bool:
    """Over Spark Connect the classpath is the server's; its catalog setting says Delta."""
    try:
        catalog = str(session.conf.get("spark.sql.catalog.spark_catalog", ""))
    except Exception:
        return False
    return "delta" in catalog.lower()


_JVM_OUT_OF_MEMORY = ("java.lang.OutOfMemoryError", "org.apache.arrow.memory.OutOfMemoryException")
"""What a JVM that ran out of memory says (the heap, GC overhead, direct buffers; Arrow's
off-heap allocator), anywhere in a Py4J error's text."""
_GATEWAY_LOST = (
    "Answer from Java side is empty",
    "Error while sending or receiving",
    "Connection refused",
    "Error while receiving",
)
"""What Py4J says when the JVM behind the session is gone."""
SPARK_OOM_EXIT = 52
"""The exit code of a Spark JVM that ended on an OutOfMemoryError (``SparkExitCode.OOM``)."""


def out_of_memory(exc: BaseException) -> str | None:
    """The JVM's own words (``java.lang.OutOfMemoryError: Java heap space``) when ``exc`` says
    a Spark JVM ran out of memory; None for every other error, which must keep its message."""
    for line in str(exc).splitlines():
        for marker in _JVM_OUT_OF_MEMORY:
            at = line.find(marker)
            if at >= 0:  # Scala's MatchError wraps it as "... (of class ...)"
                return line[at:].split(" (of class ", 1)[0].strip()[:200]
    return None


def gateway_lost(exc: BaseException) -> bool:
    """Whether ``exc`` is Py4J finding the session's JVM gone (killed, or exited on an error)."""
    if isinstance(exc, ConnectionError):
        return True
    text = str(exc)
    return type(exc).__name__ == "Py4JNetworkError" or any(m in text for m in _GATEWAY_LOST)


def jvm_exit_code(session: Any) -> int | None:
    """The exit code of a classic session's JVM if it has ended (pyspark keeps the process it
    launched), else None: alive, or not known (Spark Connect, a JVM started elsewhere)."""
    try:
        proc = session.sparkContext._gateway.proc
        return None if proc is None else proc.poll()
    except Exception:
        return None
