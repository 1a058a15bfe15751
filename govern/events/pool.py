"""Where ``govern serve`` runs its audits: warm worker processes, one per worker thread.

The worker threads claim deliveries and talk to the registry; the audit itself runs in a process,
because an audit is not safe to run twice at once in one process: matplotlib's ``rc_context`` and
``warnings.catch_warnings`` (charts, fairness) change process-wide state and restore it on exit,
so two overlapping audits would draw with each other's settings and leave the wrong filters
behind; the one GX context per process is serialised behind a lock (``checks.quality``); the
``--timeout`` shield (``runner.shielded``) is a process global; and the CPU-bound parts (GX,
fairlearn's bootstrap, drawing, hashing) would share one core under the GIL. Processes come from
the same preloaded forkserver as ``govern audit --jobs`` (``runner.worker_context``), so each
starts with mlflow, GX and fairlearn imported.

A worker process watches ``govern serve`` itself (a pidfd) and exits when it is gone: after a
``kill -9`` of the server alone, no audit carries on behind the restarted server's back.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from govern.events.worker import AuditOutcome, Settings
    from govern.registry.client import VersionInfo


class AuditPool:
    """``size`` warm processes auditing one version each at a time; rebuilt if one dies."""

    def __init__(self, settings: Settings, size: int) -> None:
        self.settings = settings
        self.size = size
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None

    def _executor(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                from govern.pipeline.runner import worker_context

                self._pool = ProcessPoolExecutor(
                    max_workers=self.size,
                    mp_context=worker_context(),
                    initializer=_init_process,
                    initargs=(self.settings, os.getpid()),
                )
            return self._pool

    def warm(self) -> None:
        """Start the forkserver's imports now, while the server waits for its first delivery."""
        from govern.pipeline.runner import warm_workers

        warm_workers()

    def audit(self, info: VersionInfo) -> AuditOutcome:
        """Audit ``info`` in a worker process, as ``pipeline.audit`` would here.

        A worker process that died (killed, out of memory) breaks the whole pool: it is rebuilt
        for the next delivery, and this one is retried later, never counted as audited.
        """
        from govern.events.worker import RetryLater

        pool = self._executor()
        try:
            return pool.submit(_audit_in_process, info).result()
        except BrokenProcessPool as exc:
            with self._lock:
                if self._pool is pool:
                    self._pool = None
                    pool.shutdown(wait=False, cancel_futures=True)
            raise RetryLater(
                f"{info.ref}: the audit's worker process died ({exc})", forever=False
            ) from exc

    def close(self) -> None:
        """End the processes now: an audit in progress stays claimed in the queue and is
        claimed again at the next start (the handlers are idempotent)."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is None:
            return
        for process in list(getattr(pool, "_processes", {}).values()):
            process.kill()
        pool.shutdown(wait=True, cancel_futures=True)
        from govern.pipeline.runner import stop_forkserver

        stop_forkserver()


_PROCESS: dict[str, Any] = {}


def _init_process(settings: Settings, server_pid: int) -> None:
    """Once per worker process: stdout to stderr (a model's ``print`` goes to the log), MLflow
    quiet, one registry connection, and the watch on the server."""
    import sys

    from govern.registry.client import Registry, quiet_mlflow

    os.dup2(2, 1)
    sys.stdout = sys.stderr
    quiet_mlflow()
    _watch_server(server_pid)
    _PROCESS.update(settings=settings, registry=Registry(settings.tracking_uri))


def _watch_server(server_pid: int) -> None:
    """Exit at once when ``govern serve`` is gone. The worker's parent is the forkserver, which
    itself waits for every worker to exit, so neither would notice the server's death."""
    import select

    try:
        fd = os.pidfd_open(server_pid)
    except (AttributeError, OSError):  # not Linux 5.3+, or the server already went
        if not _alive(server_pid):
            os._exit(1)
        return

    def watch() -> None:
        select.select([fd], [], [])
        os._exit(1)

    threading.Thread(target=watch, name="govern-serve-watch", daemon=True).start()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _audit_in_process(info: VersionInfo) -> AuditOutcome:
    from govern.pipeline.audit import audit

    settings: Settings = _PROCESS["settings"]
    run = audit(
        _PROCESS["registry"],
        settings.policy,
        [info],
        write=True,
        reuse=True,
        signing_key=settings.signing_key,
        env_manager=settings.env_manager,
    )
    return run.versions[0], run.error_kind
