"""The ASGI app ``govern serve`` runs: receive MLflow's deliveries, answer at once, queue them.

A delivery is answered within a second whatever the work behind it: it is checked (size,
signature, freshness, JSON), committed to the queue, and answered 200; the audit runs later in
the worker thread. Nothing is queued before the signature verifies, and the signature is
checked over the raw bytes received.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from govern.events import signature
from govern.events.queue import Queue
from govern.events.worker import (
    ALIAS_CREATED,
    CREATED,
    OWN_TAG_PREFIX,
    EventLog,
    Handlers,
    Settings,
    Worker,
)

MAX_BODY = 1024 * 1024
"""Bytes: MLflow's payloads are a few hundred; anything near this is not MLflow."""


class _TooLarge(Exception):
    pass


@dataclass
class Counters:
    """Per-process counts of what never reaches the queue (rejections, ignored events):
    kept in memory, so a flood of forged requests writes nothing to disk."""

    rejected: dict[str, int] = field(default_factory=dict)
    ignored: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reject(self, reason: str) -> None:
        with self.lock:
            self.rejected[reason] = self.rejected.get(reason, 0) + 1

    def ignore(self) -> None:
        with self.lock:
            self.ignored += 1


async def _body(request: Request) -> bytes:
    """The raw body, refused as soon as it is known to be over ``MAX_BODY`` (from
    Content-Length before reading anything, else while streaming)."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > MAX_BODY:
                raise _TooLarge
        except ValueError:
            pass
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _kind(message: Mapping[str, Any]) -> str | None:
    entity, action = message.get("entity"), message.get("action")
    if not isinstance(entity, str) or not isinstance(action, str):
        return None
    return f"{entity}.{action}"


def create_app(
    settings: Settings,
    state_dir: Path,
    secret: str,
    log: EventLog,
    *,
    max_backoff: float | None = None,
    start_worker: bool = True,
) -> Starlette:
    """The app, with its queue in ``state_dir`` and a worker started with it (``lifespan``).

    The caller holds the state folder's lock (``queue.state_lock``): the work a dead process
    had claimed is claimed again here.
    """
    queue = Queue(state_dir, **({"max_backoff": max_backoff} if max_backoff else {}))
    handlers = Handlers(settings, queue)
    worker = Worker(queue, handlers.handle, log)
    counters = Counters()
    protected = set(settings.policy.protected_aliases)

    def reject(status: int, reason: str, message: str, delivery_id: str | None) -> Response:
        counters.reject(reason)
        log.event(
            logging.WARNING,
            delivery_id=delivery_id,
            outcome=f"rejected {status}: {message}",
        )
        return JSONResponse({"error": message}, status_code=status)

    async def webhook(request: Request) -> Response:
        delivery_id = request.headers.get(signature.DELIVERY_ID_HEADER)
        # Logged as sent only when it could be MLflow's (a UUID): never an attacker's essay.
        shown_id = (
            delivery_id
            if delivery_id
            and delivery_id.isprintable()
            and len(delivery_id) <= signature.MAX_DELIVERY_ID
            else None
        )
        try:
            body = await _body(request)
        except _TooLarge:
            return reject(413, "too_large", f"body over {MAX_BODY} bytes", shown_id)
        refused = signature.verify(secret, request.headers, body)
        if refused is not None:
            return reject(401, refused.reason, refused.message, shown_id)
        assert delivery_id is not None  # verify() refuses a delivery without one
        try:
            message = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return reject(400, "malformed_json", "the body is not JSON", delivery_id)
        if not isinstance(message, dict) or not isinstance(message.get("data"), dict):
            return reject(400, "malformed_json", "expected {entity, action, data}", delivery_id)
        kind = _kind(message)
        data: dict[str, Any] = message["data"]
        why = None
        if kind is None:
            return reject(400, "malformed_json", "the body names no entity and action", delivery_id)
        if kind.startswith("model_version_tag.") and str(data.get("key", "")).startswith(
            OWN_TAG_PREFIX
        ):
            why = "govern's own tag write"
        elif kind == ALIAS_CREATED and data.get("alias") not in protected:
            why = f"alias '{data.get('alias')}' is not protected"
        elif kind not in (CREATED, ALIAS_CREATED):
            why = "not an event govern acts on"
        if why is not None:
            counters.ignore()
            log.event(
                delivery_id=delivery_id,
                event=kind,
                model=str(data.get("name") or ""),
                version=str(data.get("version") or ""),
                outcome=f"ignored: {why}",
            )
            return Response(status_code=204)
        done = await run_in_threadpool(queue.enqueue, delivery_id, kind, data)
        if done.queued:
            worker.wake.set()
        log.event(
            delivery_id=delivery_id,
            event=kind,
            model=str(data.get("name") or ""),
            version=str(data.get("version") or ""),
            alias=str(data.get("alias") or ""),
            outcome="queued" if done.queued else "duplicate: already received, not queued again",
        )
        return JSONResponse({"status": "queued" if done.queued else "duplicate"})

    async def healthz(request: Request) -> Response:
        stats = await run_in_threadpool(queue.stats)
        alive = worker.is_alive() or not start_worker
        return JSONResponse(
            {"status": "ok" if alive else "worker stopped", "queue": stats["states"]},
            status_code=200 if alive else 503,
        )

    async def metrics(request: Request) -> Response:
        stats = await run_in_threadpool(queue.stats)
        return PlainTextResponse(
            render_metrics(stats, counters, worker),
            media_type="text/plain; version=0.0.4; charset=utf-8",
        )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        reclaimed = queue.reclaim()
        if reclaimed:
            log.event(outcome=f"reclaimed {reclaimed} delivery(ies) a stopped server had claimed")
        if start_worker:
            worker.start()
        try:
            yield
        finally:
            worker.stop()
            if start_worker:
                # An audit in progress is not interrupted: its delivery stays claimed and is
                # claimed again by the next start (the handlers are idempotent).
                worker.join(timeout=5)
            if not worker.is_alive():
                queue.close()

    app = Starlette(
        routes=[
            Route("/webhook", webhook, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
    app.state.queue = queue
    app.state.worker = worker
    return app


def render_metrics(stats: Mapping[str, Any], counters: Counters, worker: Worker) -> str:
    """Prometheus text exposition format, version 0.0.4."""
    lines: list[str] = []

    def metric(name: str, kind: str, help_text: str, samples: list[tuple[str, float]]) -> None:
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} {kind}")
        for labels, value in samples:
            shown = int(value) if float(value).is_integer() else value
            lines.append(f"{name}{labels} {shown}")

    states = stats["states"]
    c = stats["counters"]
    metric(
        "govern_queue_depth",
        "gauge",
        "Deliveries waiting (queued) or being handled (claimed).",
        [('{state="queued"}', states["queued"]), ('{state="claimed"}', states["claimed"])],
    )
    metric(
        "govern_queue_dead",
        "gauge",
        "Deliveries set aside after repeated failures (not an unreachable registry).",
        [("", states["dead"])],
    )
    metric(
        "govern_audits_total",
        "counter",
        "Audits govern serve ran, by verdict.",
        [
            ('{verdict="pass"}', c.get("audits_passed", 0)),
            ('{verdict="fail"}', c.get("audits_failed", 0)),
            ('{verdict="error"}', c.get("audits_error", 0)),
        ],
    )
    metric(
        "govern_incidents_total",
        "counter",
        "Protected aliases found on a version without a verified passing audit.",
        [("", c.get("incidents", 0))],
    )
    metric(
        "govern_deliveries_total",
        "counter",
        "Signed deliveries received, by what became of them.",
        [
            ('{result="queued"}', c.get("accepted", 0)),
            ('{result="duplicate"}', c.get("duplicates", 0)),
            ('{result="ignored"}', counters.ignored),
        ],
    )
    with counters.lock:
        rejected = sorted(counters.rejected.items())
    metric(
        "govern_deliveries_rejected_total",
        "counter",
        "Deliveries refused, by reason (since this process started).",
        [(f'{{reason="{reason}"}}', n) for reason, n in rejected],
    )
    metric(
        "govern_retries_total",
        "counter",
        "Handlings that failed and were queued again after a backoff.",
        [("", c.get("retries", 0))],
    )
    for name, key, help_text in (
        (
            "govern_last_event_timestamp_seconds",
            "last_event_at",
            "When the newest delivery was received (Unix time).",
        ),
        (
            "govern_last_processed_event_timestamp_seconds",
            "last_processed_at",
            "When the newest delivery handled to the end was received (Unix time).",
        ),
    ):
        if stats.get(key) is not None:
            metric(name, "gauge", help_text, [("", float(stats[key]))])
    busy = worker.busy_since
    metric(
        "govern_worker_busy",
        "gauge",
        "1 while the worker handles a delivery.",
        [("", 1 if busy is not None else 0)],
    )
    return "\n".join(lines) + "\n"


def serve(
    settings: Settings,
    state_dir: Path,
    secret: str,
    *,
    host: str,
    port: int,
    log_format: str = "text",
    max_backoff: float | None = None,
) -> None:
    """Run the app under uvicorn until interrupted, holding the state folder's lock."""
    import uvicorn

    from govern.events.queue import state_lock

    log = EventLog(log_format)
    with state_lock(state_dir):
        app = create_app(settings, state_dir, secret, log, max_backoff=max_backoff)
        log.event(outcome=f"listening on http://{host}:{port}/webhook")
        uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
