"""What govern does with a delivery: audit a new version, guard a protected alias.

Each handler is idempotent, because a delivery can be handled twice (its worker died after the
work and before the acknowledgement): a version that already has an audit record is not audited
again, and an alias is judged on where it points now, not on where the delivery said. An
unreachable registry is never a verdict: the delivery goes back in the queue (``RetryLater``).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from govern import __version__
from govern.config.policy import Policy
from govern.errors import GovernError, NotFoundError, NotVerified, RegistryUnavailable
from govern.events.queue import Event, Queue
from govern.model.record import RecordError
from govern.redact import scrub
from govern.registry.client import READY, Registry, VersionInfo, one_line

CREATED = "model_version.created"
ALIAS_CREATED = "model_version_alias.created"
HANDLED_EVENTS = (CREATED, ALIAS_CREATED)
OWN_TAG_PREFIX = "govern."
"""Tags govern writes itself: events about them are govern's own echo and never acted on."""


class RetryLater(GovernError):
    """The work could not be done now (the registry did not answer, the version is still being
    registered); the delivery stays queued and is tried again after a backoff."""

    def __init__(self, message: str, *, forever: bool) -> None:
        super().__init__(message)
        self.forever = forever


@dataclass(frozen=True)
class Settings:
    """Everything the handlers need besides the delivery."""

    policy: Policy
    tracking_uri: str
    signing_key: str | None = None
    env_manager: str = "local"


@dataclass(frozen=True)
class Handled:
    outcome: str
    """One line for the log: what govern did."""
    counter: str | None = None
    """The metric this counts towards (``audits_passed``, ``incidents``...), if any."""
    model: str | None = None
    version: str | None = None


def subject(payload: Mapping[str, Any]) -> tuple[str, str, str]:
    """(model, version, alias) of a delivery's data, empty where absent."""
    return (
        str(payload.get("name") or ""),
        str(payload.get("version") or ""),
        str(payload.get("alias") or ""),
    )


class Handlers:
    """The handlers, sharing one registry connection and the queue's alias memory (``queue``
    ``None``: no memory, as for ``govern reconcile`` without ``--state``)."""

    def __init__(
        self, settings: Settings, queue: Queue | None, registry: Registry | None = None
    ) -> None:
        self.settings = settings
        self.queue = queue
        self._registry = registry

    @property
    def registry(self) -> Registry:
        if self._registry is None:
            self._registry = Registry(self.settings.tracking_uri)
        return self._registry

    def handle(self, event: Event) -> Handled:
        try:
            if event.event == CREATED:
                return self.audit_created(event.payload)
            if event.event == ALIAS_CREATED:
                return self.guard_alias(event.payload)
        except RegistryUnavailable as exc:
            raise RetryLater(str(exc), forever=True) from exc
        model, version, _ = subject(event.payload)
        return Handled(f"ignored: govern does not act on {event.event}", None, model, version)

    # -- model_version.created ---------------------------------------------------------------

    def audit_created(self, payload: Mapping[str, Any]) -> Handled:
        from govern.pipeline.audit import audit
        from govern.registry.record import read_record

        model, version, _ = subject(payload)
        if not model or not version:
            return Handled("ignored: the delivery names no model version")
        registry = self.registry
        try:
            info = registry.version(model, version)
        except NotFoundError:
            return Handled("skipped: the version no longer exists", None, model, version)
        if info.status != READY:
            raise RetryLater(f"{info.ref} is {info.status or 'not ready'}", forever=False)
        try:
            if read_record(info.tags) is not None:
                return Handled("skipped: already audited", None, model, version)
        except RecordError:
            pass  # an unreadable record is no record: audit it
        run = audit(
            registry,
            self.settings.policy,
            [info],
            write=True,
            reuse=True,
            signing_key=self.settings.signing_key,
            env_manager=self.settings.env_manager,
        )
        result = run.versions[0]
        if result.verdict == "error":
            unreachable = run.error_kind == "retry"
            if not unreachable:
                try:
                    registry.ping()
                except RegistryUnavailable:
                    unreachable = True
                except GovernError:
                    pass
            if unreachable:
                raise RetryLater(f"{info.ref}: registry unreachable during the audit", forever=True)
        failing = result.failing_checks()
        why = f": {failing[0].summary}" if failing else ""
        return Handled(
            f"audited: {result.verdict}{why}",
            {"pass": "audits_passed", "fail": "audits_failed"}.get(result.verdict, "audits_error"),
            model,
            version,
        )

    # -- model_version_alias.created ---------------------------------------------------------

    def guard_alias(self, payload: Mapping[str, Any]) -> Handled:
        model, named, alias = subject(payload)
        policy = self.settings.policy
        if alias not in policy.protected_aliases:
            return Handled(f"ignored: alias '{alias}' is not protected", None, model, named)
        registry = self.registry
        try:
            current = registry.alias_target(model, alias)
        except NotFoundError:
            return Handled("skipped: the model no longer exists", None, model, named)
        if current is None:
            return Handled(f"skipped: alias '{alias}' is no longer set", None, model, named)
        # Judge where the alias points now: a later move may have happened since this delivery.
        info = registry.version(model, current)
        refusal = self.refusal(info)
        if refusal is None:
            if self.queue is not None:
                self.queue.accept_alias(model, alias, current)
            return Handled(f"allowed: alias '{alias}' on version {current}", None, model, current)
        previous = self.previous_target(model, alias, current)
        action = f"restored to version {previous}" if previous else "removed"
        # The incident is recorded before the alias is touched: if this process dies in
        # between, the retry finds the alias still wrong and acts (an incident twice, never
        # an alias left on an unaudited version without one).
        self.record_incident(info, alias, previous, refusal)
        if previous:
            registry.set_alias(registry.version(model, previous), alias)
        else:
            registry.call(
                f"removing alias '{alias}' of {model}",
                registry.client.delete_registered_model_alias,
                model,
                alias,
            )
        return Handled(
            f"incident: alias '{alias}' was on version {current} ({refusal}); {action}",
            "incidents",
            model,
            current,
        )

    def guard_all(self) -> list[Handled]:
        """Every protected alias of every model, judged as a delivery about it would be:
        the backstop for alias deliveries MLflow gave up on."""
        protected = self.settings.policy.protected_aliases
        if not protected:
            return []
        registry = self.registry
        done = []
        for model in registry.model_names():
            for alias, version in sorted(registry.aliases_reverse(model).items()):
                if alias in protected:
                    done.append(
                        self.guard_alias({"name": model, "alias": alias, "version": version})
                    )
        return done

    def refusal(self, info: VersionInfo) -> str | None:
        """``None`` when the version may carry a protected alias: a passing audit record that
        verifies (signed by a trusted auditor when the policy has a ``trust`` section) and the
        policy's required reviews of that audit; else why not, in one line."""
        from govern.pipeline.review import review_requirement
        from govern.pipeline.verify import judge, open_record, trusted_keys

        policy = self.settings.policy
        registry = self.registry
        trust = trusted_keys(policy)
        try:
            found = open_record(registry, info, trust)
        except NotVerified as exc:
            return f"its audit record does not verify: {exc}"
        if found is None:
            return "it has no audit record"
        record, opened = found
        outcome, _ = judge(opened, trust)
        if trust.checking and outcome != "verified":
            return f"its audit record is {outcome}, not signed by a trusted auditor"
        if record.status != "pass":
            return f"its audit verdict is {record.status}"
        if policy.review is not None:
            envelope = self._attestation(record.audit_run_id)
            missing = review_requirement(registry, policy, info, envelope)
            if missing:
                return missing
        return None

    def _attestation(self, run_id: str) -> dict[str, Any]:
        from govern.registry.record import ATTESTATION_ARTIFACT

        registry = self.registry
        path = registry.call(
            "downloading the audit attestation",
            registry.client.download_artifacts,
            run_id,
            ATTESTATION_ARTIFACT,
            None,
        )
        envelope: dict[str, Any] = json.loads(Path(path).read_text(encoding="utf-8"))
        return envelope

    def previous_target(self, model: str, alias: str, current: str) -> str | None:
        """Where the alias should go back to: the version govern last let it stay on, else the
        version govern's last signed promotion put it on; only if that version still passes
        the same test (else the alias is removed: a protected alias never points at an
        unverified version, and govern's own move cannot start a loop)."""
        from govern.pipeline.history import promotion_runs

        candidates: list[str] = []
        seen = self.queue.accepted_alias(model, alias) if self.queue is not None else None
        if seen and seen != current:
            candidates.append(seen)
        registry = self.registry
        for run in promotion_runs(registry, self.settings.policy.audit_experiment, model):
            tags = run.data.tags
            after = tags.get("govern.alias_after") or ""
            if tags.get("govern.promote_to") == alias and after and after != current:
                candidates.append(after)
                break
        for version in candidates:
            try:
                info = registry.version(model, version)
            except NotFoundError:
                continue
            if info.status == READY and self.refusal(info) is None:
                return version
        return None

    def record_incident(
        self, info: VersionInfo, alias: str, restore_to: str | None, reason: str
    ) -> None:
        from govern.attest.statement import build_incident_statement, envelope_digest, make_envelope
        from govern.pipeline.attestation import signer_for
        from govern.pipeline.version import utcnow
        from govern.registry.record import chain_head, read_record, record_incident

        try:
            record = read_record(info.tags)
        except RecordError:
            record = None
        audit_sha = record.attestation_sha256 if record else None
        head = chain_head(info.tags)
        predicate = {
            "model": info.model,
            "version": info.version,
            "alias": alias,
            "alias_was_on": info.version,
            "action": f"restored to version {restore_to}" if restore_to else "removed",
            "restored_to": restore_to,
            "reason": reason,
            "audit_attestation_sha256": audit_sha,
            "audit_run_id": record.audit_run_id if record else None,
            "detected_at": utcnow(),
            "govern_version": __version__,
            "previous_record": head["sha256"] if head else audit_sha,
        }
        statement = build_incident_statement(info.model, info.version, audit_sha, predicate)
        envelope = make_envelope(statement, signer_for(self.settings.signing_key))
        record_incident(
            self.registry,
            self.settings.policy.audit_experiment,
            info,
            envelope,
            envelope_digest(envelope),
            {"alias": alias, "action": str(predicate["action"]), "reason": reason},
        )


class EventLog:
    """One line per delivery, as text or JSON lines; every message scrubbed of secrets."""

    def __init__(self, fmt: str = "text", stream: Any = None) -> None:
        self.fmt = fmt
        self.logger = logging.getLogger("govern.serve")
        self.logger.propagate = False
        self.logger.setLevel(logging.INFO)
        if not self.logger.handlers:
            handler = logging.StreamHandler(stream)
            handler.setFormatter(logging.Formatter("%(message)s"))
            self.logger.addHandler(handler)
        self._lock = threading.Lock()

    def event(self, level: int = logging.INFO, **fields: Any) -> None:
        clean = {k: scrub(str(v)) if isinstance(v, str) else v for k, v in fields.items()}
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        if self.fmt == "json":
            line = json.dumps(
                {"time": stamp, "level": logging.getLevelName(level).lower(), **clean},
                sort_keys=False,
            )
        else:
            parts = [f"{k}={_text_value(v)}" for k, v in clean.items() if v not in (None, "")]
            line = f"{stamp} {logging.getLevelName(level)} " + " ".join(parts)
        with self._lock:
            self.logger.log(level, line)


def _text_value(value: Any) -> str:
    text = str(value)
    return json.dumps(text) if (" " in text or '"' in text or not text) else text


class Worker(threading.Thread):
    """Drains the queue in the background, so a delivery is answered at once and audited
    later; one delivery at a time, oldest first."""

    def __init__(
        self,
        queue: Queue,
        handle: Callable[[Event], Handled],
        log: EventLog,
        *,
        poll: float = 1.0,
    ) -> None:
        super().__init__(name="govern-worker", daemon=True)
        self.queue = queue
        self._handle = handle
        self.log = log
        self.poll = poll
        self.wake = threading.Event()
        self.stopping = threading.Event()
        self.busy_since: float | None = None

    def stop(self) -> None:
        self.stopping.set()
        self.wake.set()

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                event = self.queue.claim()
            except Exception as exc:  # the state disk went away: say so, keep trying
                self.log.event(logging.ERROR, outcome=f"queue error: {one_line(exc)}")
                self.stopping.wait(self.poll)
                continue
            if event is None:
                self.wake.wait(self.poll)
                self.wake.clear()
                continue
            self.process(event)

    def process(self, event: Event) -> None:
        model, version, alias = subject(event.payload)
        fields = {
            "delivery_id": event.delivery_id,
            "event": event.event,
            "model": model,
            "version": version,
            "alias": alias,
            "attempt": event.attempts + 1,
        }
        self.busy_since = time.monotonic()
        try:
            handled = self._handle(event)
        except RetryLater as exc:
            state = self.queue.fail(event.seq, str(exc), retry_forever=exc.forever)
            self.log.event(logging.WARNING, **fields, outcome=f"{state}: {exc}")
            return
        except Exception as exc:
            state = self.queue.fail(event.seq, one_line(exc), retry_forever=False)
            self.log.event(
                logging.ERROR,
                **fields,
                outcome=f"{state}: {type(exc).__name__}: {one_line(exc)}",
            )
            return
        finally:
            self.busy_since = None
        self.queue.ack(event.seq, handled.outcome, handled.counter)
        fields["version"] = handled.version or version
        self.log.event(logging.INFO, **fields, outcome=handled.outcome)
