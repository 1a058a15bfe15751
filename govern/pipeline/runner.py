"""One run loop for every way of auditing many versions: in this process, or spread over workers.

The loop owns what must not differ between the two: progress lines, the stop rules (a registry
that stopped answering, the ``--timeout`` deadline) and the promise that every version ends with a
result, in input order. An executor only decides where a version is audited.

Workers start warm: they are forked from a forkserver that imported the heavy libraries once
(mlflow, Great Expectations, fairlearn, scikit-learn), and the parent audits versions too instead
of waiting, so ``--jobs 2`` on two cores uses both while the forkserver is still importing.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from govern.errors import GovernError, RegistryUnavailable
from govern.model.results import CheckKind, VersionResult
from govern.registry.client import Registry, VersionInfo, one_line
from govern.registry.spark_session import SparkSettings

Progress = Callable[[str, bool], None]
"""Receives a message and whether it is transient (a "now auditing" status a terminal may
overwrite and a log may drop) or a line to keep."""

AuditOne = Callable[[VersionInfo], VersionResult]
AuditInWorker = Callable[[VersionInfo, "float | None"], VersionResult]
"""Runs in a worker process: the version, and the run's deadline (``time.monotonic()``, one
clock for every process of the machine) at which the worker stops itself."""

GRACE = 30.0
"""Seconds a stopped run waits for workers to finish writing a record before ending them."""

PRELOAD = (
    "govern.pipeline.audit",
    "govern.checks.quality",
    "govern.checks.fairness",
    "govern.checks.representation",
    "govern.render.html",
    "govern.render.charts",
    "mlflow.pyfunc",
    "mlflow.sklearn",
    "great_expectations",
    "fairlearn.metrics",
    "sklearn.metrics",
    "matplotlib.figure",
    "matplotlib.backends.backend_agg",
)
"""Imported once in the forkserver, so every worker forked from it starts with them loaded."""


def _worker_context() -> Any:
    import multiprocessing

    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(list(PRELOAD))
    return ctx


def warm_workers() -> None:
    """Start the forkserver and its imports now, in the background, so they overlap with this
    process reading the policy and listing the registry instead of delaying the first worker."""
    import multiprocessing.forkserver

    _worker_context()
    multiprocessing.forkserver.ensure_running()


class DeadlineExceeded(BaseException):
    """Raised by the --timeout alarm; a BaseException so no ``except Exception`` swallows it."""


@dataclass(frozen=True)
class AuditOptions:
    """How each version is audited; the same for every version of a run."""

    write: bool = True
    load_model: bool = True
    templates: Path | None = None
    reuse: bool = False
    signing_key: str | None = None
    """Path of the private key that signs each version's attestation; ``None``: unsigned."""
    env_manager: str = "local"
    """Where the model predicts: ``local`` or an MLflow environment manager (``virtualenv``,
    ``uv``); see ``govern.pipeline.sandbox``."""
    engine: str = "auto"
    """The data engine: ``auto`` (Spark for Spark and Delta sources), ``pandas`` or ``spark``."""
    spark: SparkSettings | None = None
    """Where Spark runs (master, Spark Connect, conf), when an audit uses it."""


def not_audited(
    info: VersionInfo, kind: CheckKind, reason: str, *, retry: bool = False
) -> VersionResult:
    """A version the run could not reach: an error with the reason, never silently absent.

    ``retry`` marks a reason that running again later may remove (the registry stopped
    answering, the deadline passed): the run then exits 4 rather than 3.
    """
    from govern.pipeline.version import check, error_result

    reason_check = check(
        "audit.not_audited", kind, "error", f"not audited: {reason}", details={"retry": retry}
    )
    return error_result(info, reason_check)


_SHIELD = {"depth": 0, "deferred": False}


@contextlib.contextmanager
def shielded() -> Iterator[None]:
    """Let the ``--timeout`` alarm wait until this block is done.

    Writing an audit record (the run, its artifacts, the version's tags) must end complete or
    not start: an alarm in the middle would leave a RUNNING audit run beside mixed tags. An
    alarm that fires inside the block is deferred; the run loop stops at the next version.
    """
    _SHIELD["depth"] += 1
    try:
        yield
    finally:
        _SHIELD["depth"] -= 1


def _deadline_passed(deadline: float | None) -> bool:
    deferred = bool(_SHIELD["deferred"])
    _SHIELD["deferred"] = False
    return deferred or (deadline is not None and time.monotonic() >= deadline)


@contextlib.contextmanager
def interrupt_at(deadline: float | None) -> Iterator[None]:
    """Interrupt whatever runs in this process (a hung registry call, a slow model) at
    ``deadline`` (``time.monotonic()``), except inside ``shielded`` blocks.

    Uses SIGALRM, so it works in the main thread of a Unix process (the CLI); elsewhere the
    deadline is still checked between versions.
    """
    usable = (
        deadline is not None
        and hasattr(signal, "setitimer")
        and threading.current_thread() is threading.main_thread()
    )
    if not usable:
        if deadline is not None and time.monotonic() >= deadline:
            raise DeadlineExceeded()
        yield
        return

    def alarm(signum: int, frame: Any) -> None:
        if _SHIELD["depth"]:
            _SHIELD["deferred"] = True  # the record being written finishes first
            return
        raise DeadlineExceeded()

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, max(float(deadline or 0) - time.monotonic(), 0.001))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class Executor(Protocol):
    """Where versions are audited. ``run`` yields ``(index, result)`` as each finishes; when the
    deadline passes it records the version it interrupted (if any) in ``interrupted`` and raises
    ``DeadlineExceeded``."""

    interrupted: int | None

    def run(
        self, versions: Sequence[VersionInfo], deadline: float | None
    ) -> Iterator[tuple[int, VersionResult]]: ...

    def close(self, *, terminate: bool) -> None: ...


class SerialExecutor:
    """Every version in this process, one after another."""

    def __init__(self, audit_one: AuditOne, progress: Progress | None = None) -> None:
        self.audit_one = audit_one
        self.progress = progress
        self.interrupted: int | None = None

    def run(
        self, versions: Sequence[VersionInfo], deadline: float | None
    ) -> Iterator[tuple[int, VersionResult]]:
        total = len(versions)
        for i, info in enumerate(versions):
            if _deadline_passed(deadline):
                raise DeadlineExceeded()
            if self.progress:
                self.progress(f"[{i + 1}/{total}] auditing {info.ref}", True)
            self.interrupted = i
            with interrupt_at(deadline):
                result = self.audit_one(info)
            self.interrupted = None
            yield i, result

    def close(self, *, terminate: bool) -> None:
        return None


class PoolExecutor:
    """``jobs - 1`` worker processes forked from a preloaded forkserver, plus this process.

    Processes come from a forkserver, never from a fork of this process: a fork would copy the
    parent's open database and HTTP connections into every worker. This process audits a version
    itself whenever every worker is busy, so no core waits while the forkserver imports.
    """

    def __init__(
        self,
        jobs: int,
        audit_one: AuditOne,
        worker: AuditInWorker,
        initializer: Callable[..., None],
        initargs: tuple[Any, ...],
    ) -> None:
        """``audit_one`` audits in this process; ``worker`` (a module-level function, so it can
        be sent to a process) audits in a worker after ``initializer(*initargs)`` ran there."""
        from concurrent.futures import ProcessPoolExecutor

        ctx = _worker_context()
        self.workers = max(jobs - 1, 1)
        self.pool = ProcessPoolExecutor(
            max_workers=self.workers, mp_context=ctx, initializer=initializer, initargs=initargs
        )
        self.audit_one = audit_one
        self.worker = worker
        self.interrupted: int | None = None
        self.running: list[Any] = []

    def run(
        self, versions: Sequence[VersionInfo], deadline: float | None
    ) -> Iterator[tuple[int, VersionResult]]:
        from concurrent.futures import FIRST_COMPLETED, Future, wait

        pending = list(range(len(versions)))
        running: dict[Future[VersionResult], int] = {}
        while pending or running:
            while pending and len(running) < self.workers:
                i = pending.pop(0)
                running[self.pool.submit(self.worker, versions[i], deadline)] = i
            done = [f for f in running if f.done()]
            if not done and pending:
                # Every worker is busy: audit the next version here rather than wait.
                i = pending.pop(0)
                self.interrupted = i
                with interrupt_at(deadline):
                    result = self.audit_one(versions[i])
                self.interrupted = None
                yield i, result
                continue
            if not done:
                timeout = None if deadline is None else max(deadline - time.monotonic(), 0)
                finished, _ = wait(running, timeout=timeout, return_when=FIRST_COMPLETED)
                if not finished:
                    self.running = list(running)
                    raise DeadlineExceeded()
                done = list(finished)
            for future in done:
                i = running.pop(future)
                try:
                    result = future.result()
                except DeadlineExceeded:  # the worker's own alarm interrupted this version
                    self.interrupted = i
                    self.running = list(running)
                    raise
                except Exception as exc:  # a worker crashed: that version is an error
                    result = not_audited(versions[i], "internal", f"worker failed: {one_line(exc)}")
                yield i, result
            if _deadline_passed(deadline) and (pending or running):
                self.running = list(running)
                raise DeadlineExceeded()

    def close(self, *, terminate: bool) -> None:
        """Shut the pool down; on a stop, give running workers ``GRACE`` seconds first.

        Each worker stops itself at the deadline (its own alarm), except while it writes a
        record; terminating it at once could cut that write in half.
        """
        if terminate:
            from concurrent.futures import wait

            if self.running:
                wait(self.running, timeout=GRACE)
            for process in list(getattr(self.pool, "_processes", {}).values()):
                process.terminate()
        self.pool.shutdown(wait=True, cancel_futures=True)
        _stop_forkserver()


def _stop_forkserver() -> None:
    """End the forkserver once the pool is shut down.

    Left alone it outlives the run by seconds: at exit it tears down mlflow, GX and the rest
    module by module, and meanwhile holds the command's stdout and stderr open, so a CI step
    reading them waits. It has no state worth a clean exit, so it is killed and reaped.
    """
    from multiprocessing import forkserver

    server = getattr(forkserver, "_forkserver", None)
    pid = getattr(server, "_forkserver_pid", None)
    if server is None or not pid:
        return
    with contextlib.suppress(OSError):
        os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(OSError, AttributeError):
        server._stop()  # closes its pipe, reaps it, removes its socket


def run_versions(
    versions: Sequence[VersionInfo],
    executor: Executor,
    registry: Registry,
    *,
    progress: Progress | None = None,
    timeout: float | None = None,
) -> list[VersionResult]:
    """Audit every version through ``executor``; every version ends with a result, in order.

    When a version ends in error the registry is pinged; if it is gone, the remaining versions
    are reported as not audited at once instead of each waiting out its own retries. With
    ``timeout`` (seconds for the whole run) the version in progress is interrupted and the rest
    are reported as not audited.
    """
    total = len(versions)
    deadline = time.monotonic() + timeout if timeout else None
    results: dict[int, VersionResult] = {}
    stop: tuple[CheckKind, str, bool] | None = None
    try:
        for i, result in executor.run(versions, deadline):
            results[i] = result
            if progress:
                bad = result.failing_checks()
                why = f": {bad[0].summary}" if bad else ""
                progress(
                    f"[{len(results)}/{total}] {versions[i].ref}: {result.verdict_label}{why}",
                    False,
                )
            if result.verdict == "error":
                try:
                    registry.ping()
                except GovernError as exc:
                    retry = isinstance(exc, RegistryUnavailable)
                    stop = ("registry", f"registry unreachable ({exc})", retry)
                    break
    except DeadlineExceeded:
        stop = ("internal", f"--timeout of {timeout:g} s reached", True)
        if executor.interrupted is not None and executor.interrupted not in results:
            results[executor.interrupted] = not_audited(
                versions[executor.interrupted],
                "internal",
                f"--timeout of {timeout:g} s reached during this version",
                retry=True,
            )
    finally:
        executor.close(terminate=stop is not None)
    if stop is not None:
        remaining = [v for i, v in enumerate(versions) if i not in results]
        if progress and remaining:
            progress(
                f"stopping: {stop[1]}; {len(remaining)} version(s) not audited: "
                + ", ".join(v.ref for v in remaining[:20])
                + (" ..." if len(remaining) > 20 else ""),
                False,
            )
        for i, info in enumerate(versions):
            if i not in results:
                results[i] = not_audited(info, stop[0], stop[1], retry=stop[2])
    return [results[i] for i in range(total)]
