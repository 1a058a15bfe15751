"""govern's MLflow registry webhook: install (create or update, then test), list, remove.

MLflow delivers webhooks only from ``mlflow server`` with a SQL backend, and the server decides
what it accepts: the URL's scheme (``MLFLOW_WEBHOOK_ALLOWED_SCHEMES``, https only by default),
whether the URL may resolve to a private address (``MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS``), and how
it stores the signing secret (encrypted with ``MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY``; without
it every server process makes its own random key, so a restart or a second worker can no longer
read the stored secrets and the whole webhook API answers HTTP 500). Each of these surfaces as a
terse MLflow error; this module turns each into one line that names the setting to change.

govern marks the webhooks it manages by their description, so ``list`` and ``remove`` never
touch a webhook someone else installed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from govern.errors import (
    GovernError,
    NotFoundError,
    UsageError,
    WebhookRefused,
    WebhookUndelivered,
)
from govern.redact import register_secret, scrub
from govern.registry.client import Registry, is_unreachable

T = TypeVar("T")

EVENTS: tuple[str, ...] = (
    "registered_model.created",
    "model_version.created",
    "model_version_tag.set",
    "model_version_tag.deleted",
    "model_version_alias.created",
    "model_version_alias.deleted",
)
"""The registry events govern acts on (the entity/action pairs of mlflow.entities.webhook)."""
TEST_EVENT = "registered_model.created"
"""MLflow's test delivery sends an example payload (model ``example_model``): this event asks
govern serve for no audit, so testing a webhook never queues work for a model that does not
exist."""
DEFAULT_NAME = "govern"
MANAGED = "Managed by govern (govern webhook install)"
"""The description that marks a webhook as govern's."""
MIN_SECRET_LENGTH = 16
"""The secret is the only thing that tells govern serve a delivery came from MLflow."""
_PAGE = 100


@dataclass(frozen=True)
class WebhookInfo:
    """One webhook as the server lists it (never with its secret)."""

    webhook_id: str
    name: str
    url: str
    events: tuple[str, ...]
    status: str
    managed: bool
    """Installed by govern (its description carries the marker)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "id": self.webhook_id,
            "url": self.url,
            "events": list(self.events),
            "status": self.status,
        }


@dataclass(frozen=True)
class Probe:
    """What MLflow's test delivery to the webhook's URL came back with."""

    event: str
    success: bool
    status: int | None
    """The receiver's HTTP status; None when no answer came (refused, timed out, blocked)."""
    error: str | None
    """MLflow's error for a delivery that got no answer, secrets scrubbed."""


@dataclass(frozen=True)
class InstallResult:
    webhook: WebhookInfo
    action: str
    """``created`` or ``updated``."""
    probe: Probe | None
    """None when the test delivery was not asked for."""


# -- MLflow's refusals, in words that name the setting -------------------------------------

_SCHEME_RE = re.compile(r"Invalid webhook URL scheme: '([^']*)'\. Allowed schemes are: ([^.]*)\.")
_PRIVATE_RE = re.compile(r"non-public IP address\. '([^']*)' resolves to ([^\s.'\"]+(?:\.\d+)*)")
_PEER_RE = re.compile(r"Webhook connection blocked: (\S+) is not a public IP address")
_RESOLVE_RE = re.compile(r"Cannot resolve Webhook URL hostname '([^']*)'")
_NAME_RE = re.compile(r"Webhook name .* is invalid\..*?characters long[^.]*\.", re.S)
_HTTP_500_RE = re.compile(r"/mlflow/webhooks\S*.*?too many 500 error responses", re.S)


def _scheme_refused(scheme: str, allowed: str) -> str:
    return (
        f"the MLflow server refuses webhook URLs with scheme '{scheme}' (it allows: {allowed}): "
        "give an https URL, or start the server with MLFLOW_WEBHOOK_ALLOWED_SCHEMES=https,"
        f"{scheme or 'http'} (test setups only)"
    )


def _private_refused(where: str) -> str:
    return (
        f"the MLflow server refuses webhook URLs that resolve to a private address ({where}): "
        "give a public address, or start the server with MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS=true "
        "when govern serve runs on the same host or network"
    )


KEY_MISSING = (
    "the MLflow server fails on its webhook API (HTTP 500) while the rest of the registry "
    "answers: it cannot decrypt the stored webhook secrets, which happens when it runs without "
    "MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY (each process then makes its own random key, lost at "
    "a restart and different in every worker) or with a different key than when they were "
    "stored; set one key on every server process (see docs/deploy.md)"
)


def refusal(text: str) -> str | None:
    """govern's one-line reason for an MLflow webhook error, or None when it is not one of
    the server's configured refusals."""
    if m := _SCHEME_RE.search(text):
        return _scheme_refused(m.group(1), m.group(2).strip())
    if m := _PRIVATE_RE.search(text):
        return _private_refused(f"{m.group(1)} is {m.group(2)}")
    if m := _PEER_RE.search(text):
        return _private_refused(m.group(1))
    if m := _RESOLVE_RE.search(text):
        return (
            f"the MLflow server cannot resolve the webhook URL's host '{m.group(1)}': give a "
            "host name the server can resolve"
        )
    if m := _NAME_RE.search(text):
        return " ".join(m.group(0).split())
    return None


def _call(registry: Registry, what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """One webhook API call; MLflow's refusals become WebhookRefused, the rest registry errors."""
    try:
        return fn(*args, **kwargs)
    except Exception as exc:
        text = str(exc)
        reason = refusal(text)
        if reason is not None:
            raise WebhookRefused(reason) from exc
        internal = getattr(exc, "error_code", "") == "INTERNAL_ERROR"
        if _HTTP_500_RE.search(text) or (internal and not is_unreachable(exc)):
            # A 500 from the webhook API alone (the registry answers) is the encryption key.
            registry.ping()
            raise WebhookRefused(KEY_MISSING) from exc
        raise registry.error_for(what, exc) from exc


def _require_server(registry: Registry) -> None:
    if not registry.uri.startswith(("http://", "https://")):
        raise UsageError(
            f"webhooks are delivered only by 'mlflow server': --tracking-uri must be the "
            f"server's http(s) URL, not {registry.display_uri}"
        )


def _info(hook: Any) -> WebhookInfo:
    return WebhookInfo(
        webhook_id=str(hook.webhook_id),
        name=str(hook.name),
        url=str(hook.url),
        events=tuple(sorted(str(e) for e in hook.events)),
        status=str(hook.status),
        managed=(hook.description or "").startswith(MANAGED),
    )


def all_webhooks(registry: Registry) -> list[WebhookInfo]:
    """Every webhook on the server, across every page (govern's and others')."""
    _require_server(registry)
    found: list[WebhookInfo] = []
    token: str | None = None
    seen: set[str] = set()
    while True:
        page = _call(
            registry,
            "listing webhooks",
            registry.client.list_webhooks,
            max_results=_PAGE,
            page_token=token,
        )
        found.extend(_info(h) for h in page)
        token = getattr(page, "token", None)
        if not token:
            return found
        if token in seen:
            raise registry.error_for("listing webhooks", RuntimeError("page token repeats"))
        seen.add(token)


def list_webhooks(registry: Registry) -> list[WebhookInfo]:
    """govern's webhooks, by name then id."""
    return sorted(
        (h for h in all_webhooks(registry) if h.managed), key=lambda h: (h.name, h.webhook_id)
    )


def check_secret(secret: str | None) -> str:
    if not secret:
        raise UsageError(
            "no webhook secret: pass --secret or set GOVERN_WEBHOOK_SECRET (govern serve "
            "rejects unsigned deliveries)"
        )
    register_secret(secret)
    if len(secret) < MIN_SECRET_LENGTH:
        raise UsageError(
            f"the webhook secret is shorter than {MIN_SECRET_LENGTH} characters: use a random "
            "one, e.g. from 'python -c \"import secrets; print(secrets.token_urlsafe(32))\"'"
        )
    return secret


def install_webhook(
    registry: Registry,
    *,
    url: str,
    secret: str | None,
    name: str = DEFAULT_NAME,
    probe: bool = True,
) -> InstallResult:
    """Create govern's webhook, or update the one of the same name (URL, events, secret,
    status), then let MLflow send it a test delivery. Running it twice changes nothing."""
    secret = check_secret(secret)
    existing = [h for h in all_webhooks(registry) if h.name == name]
    foreign = [h for h in existing if not h.managed]
    if foreign:
        raise UsageError(
            f"a webhook named '{name}' ({foreign[0].webhook_id}) exists and govern did not "
            "install it: pass another --name"
        )
    description = f"{MANAGED}: audits on registry events"
    if existing:
        hook = _call(
            registry,
            f"updating webhook '{name}'",
            registry.client.update_webhook,
            existing[0].webhook_id,
            name=name,
            description=description,
            url=url,
            events=list(EVENTS),
            secret=secret,
            status="ACTIVE",
        )
        action = "updated"
    else:
        hook = _call(
            registry,
            f"creating webhook '{name}'",
            registry.client.create_webhook,
            name=name,
            url=url,
            events=list(EVENTS),
            description=description,
            secret=secret,
            status="ACTIVE",
        )
        action = "created"
    info = _info(hook)
    outcome = probe_webhook(registry, info) if probe else None
    return InstallResult(webhook=info, action=action, probe=outcome)


def probe_webhook(registry: Registry, hook: WebhookInfo) -> Probe:
    """Ask the MLflow server to send its example payload to the webhook's URL, signed."""
    result = _call(
        registry,
        f"testing webhook '{hook.name}'",
        registry.client.test_webhook,
        hook.webhook_id,
        TEST_EVENT,
    )
    error = result.error_message
    return Probe(
        event=TEST_EVENT,
        success=bool(result.success),
        status=int(result.response_status) if result.response_status else None,
        error=scrub(error) if error else None,
    )


_DELIVERY_CAUSES = (
    ("Connection refused", "connection refused"),
    ("timed out", "timed out"),
    ("Timeout", "timed out"),
    ("Name or service not known", "host name not found"),
    ("Temporary failure in name resolution", "host name not found"),
    ("Connection reset", "the connection was reset"),
    ("RemoteDisconnected", "the receiver closed the connection"),
)


def probe_failure(hook: WebhookInfo, outcome: Probe) -> GovernError | None:
    """The error a failed test delivery means, or None when it arrived and was accepted."""
    if outcome.success:
        return None
    where = f"MLflow's test delivery to {hook.url}"
    if outcome.status in (401, 403):
        return WebhookRefused(
            f"{where} was refused with HTTP {outcome.status}: the receiver does not accept the "
            "signature (is govern serve running with the same secret?)"
        )
    if outcome.status is not None and outcome.status < 500 and outcome.status != 429:
        return WebhookRefused(
            f"{where} was answered with HTTP {outcome.status}: is the URL govern serve's "
            "webhook endpoint?"
        )
    if outcome.status is not None:
        return WebhookUndelivered(f"{where} failed: the receiver answered HTTP {outcome.status}")
    text = outcome.error or ""
    reason = refusal(text)
    if reason is not None:
        return WebhookRefused(reason)
    cause = next((say for needle, say in _DELIVERY_CAUSES if needle in text), None)
    if cause is None:
        cause = " ".join(text.split())[:200] or "no answer"
    return WebhookUndelivered(
        f"{where} failed: {cause} (the webhook is installed; start govern serve where the "
        "MLflow server can reach it, then run install again to test)"
    )


def remove_webhooks(registry: Registry, name_or_id: str = DEFAULT_NAME) -> list[WebhookInfo]:
    """Delete govern's webhooks with this name or id; never one govern did not install."""
    matches = [h for h in all_webhooks(registry) if name_or_id in (h.name, h.webhook_id)]
    if not matches:
        raise NotFoundError(f"webhook '{name_or_id}': not found")
    foreign = [h for h in matches if not h.managed]
    if foreign:
        raise UsageError(
            f"webhook '{name_or_id}' ({foreign[0].webhook_id}) was not installed by govern: "
            "govern removes only its own webhooks"
        )
    for hook in matches:
        _call(
            registry,
            f"removing webhook '{hook.name}'",
            registry.client.delete_webhook,
            hook.webhook_id,
        )
    return matches


def describe(hooks: Sequence[WebhookInfo]) -> list[dict[str, Any]]:
    """Rows for ``govern webhook list``."""
    return [h.to_dict() for h in hooks]
