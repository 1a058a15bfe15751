"""The event commands: ``govern serve`` receives MLflow's webhooks and ``govern reconcile``
catches up on what it missed (issue 11)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from govern.cli.common import (
    _checked_key,
    _emit,
    _exit_code,
    _outputs,
    _Progress,
    _registry,
    _say,
    handle_errors,
)
from govern.cli.options import (
    MODEL_ENV_MANAGERS,
    RUN_FORMATS,
    format_option,
    policy_option,
    signing_key_option,
    tracking_option,
)
from govern.errors import EXIT_PASS, EXIT_VIOLATION, UsageError

if TYPE_CHECKING:
    from govern.config.policy import Policy
    from govern.registry.client import Registry


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=8765,
    show_default=True,
    help="Port to listen on; MLflow's webhook URL is http(s)://HOST:PORT/webhook.",
)
@policy_option
@tracking_option
@click.option(
    "--state",
    "state_dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    metavar="DIR",
    help="Folder for the persistent queue (sqlite): deliveries survive a restart or a crash. "
    "One govern serve per folder.",
)
@click.option(
    "--secret",
    envvar="GOVERN_WEBHOOK_SECRET",
    metavar="S",
    help="The webhook's secret, as given to MLflow; default $GOVERN_WEBHOOK_SECRET (prefer the "
    "variable: an option shows in the process list). Required.",
)
@signing_key_option
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="One line per delivery on stderr, as text or as JSON lines.",
)
@click.option(
    "--max-backoff",
    type=click.FloatRange(min=1),
    default=300,
    show_default=True,
    metavar="SECONDS",
    help="Longest wait between two tries of a delivery that could not be handled (registry "
    "unreachable: retried until it answers).",
)
@click.option(
    "--model-env-manager",
    type=click.Choice(MODEL_ENV_MANAGERS),
    default="local",
    show_default=True,
    envvar="GOVERN_MODEL_ENV_MANAGER",
    help="Where the model predicts during an audit (as for govern audit).",
)
@handle_errors
def serve_cmd(
    host: str,
    port: int,
    policy_path: Path | None,
    tracking_uri: str | None,
    state_dir: Path,
    secret: str | None,
    signing_key: Path | None,
    log_format: str,
    max_backoff: float,
    model_env_manager: str,
) -> None:
    """Receive MLflow's registry webhooks and audit as the registry changes.

    Each signed delivery is queued in --state and answered at once; a worker then audits each
    new version (model_version.created) and records the result as govern audit does, and checks
    every move of an alias listed in the policy's protected_aliases: an alias put on a version
    without a verified passing audit (and the required reviews) is moved back to its previous
    version, or removed, and an incident is recorded in the version's history. GET /healthz and
    GET /metrics (Prometheus) serve operations. Point MLflow at it with govern webhook install.

    \b
    Example:
      GOVERN_WEBHOOK_SECRET=... govern serve --port 8765 --state /var/lib/govern \\
          --policy govern.yaml --tracking-uri http://mlflow:5000 --signing-key auditor.key
    """
    from govern.config.policy import load_policy
    from govern.events.app import serve
    from govern.events.worker import Settings
    from govern.redact import register_secret
    from govern.registry.client import default_tracking_uri, quiet_mlflow

    if not secret:
        raise UsageError(
            "no webhook secret: set $GOVERN_WEBHOOK_SECRET (or --secret) to the secret MLflow "
            "signs deliveries with"
        )
    register_secret(secret)
    policy = load_policy(policy_path)
    key = _checked_key(signing_key)
    quiet_mlflow()
    settings = Settings(policy, tracking_uri or default_tracking_uri(), key, model_env_manager)
    serve(
        settings,
        state_dir,
        secret,
        host=host,
        port=port,
        log_format=log_format,
        max_backoff=max_backoff,
    )


@click.command("reconcile")
@click.option(
    "--since",
    metavar="DURATION",
    help="Also look this far back (24h, 7d, 30m). Default: from the last event govern serve "
    "processed (with --state), else 24h.",
)
@click.option(
    "--state",
    "state_dir",
    type=click.Path(file_okay=False, path_type=Path),
    metavar="DIR",
    help="govern serve's state folder: the window starts at the last event it processed.",
)
@signing_key_option
@format_option(RUN_FORMATS, "What to print on stdout about the versions audited.")
@policy_option
@tracking_option
@handle_errors
def reconcile_cmd(
    since: str | None,
    state_dir: Path | None,
    signing_key: Path | None,
    fmt: str,
    policy_path: Path | None,
    tracking_uri: str | None,
) -> None:
    """Audit every version created or aliased since the last processed event with no audit.

    The backstop for webhook deliveries MLflow gave up on (it retries a few times and keeps no
    queue). Every version an alias points at is in scope too, since MLflow records no time for
    an alias move. Then every alias in the policy's protected_aliases is judged as govern serve
    would: one on a version without a verified passing audit is moved back or removed, with an
    incident. Exit codes as govern audit (1 also when an alias had to be moved); 0 when there
    was nothing to do.

    \b
    Examples:
      govern reconcile --state /var/lib/govern --policy govern.yaml
      govern reconcile --since 7d --tracking-uri http://mlflow:5000
    """
    from govern.config.policy import load_policy
    from govern.events.queue import last_processed_at
    from govern.events.reconcile import parse_duration, select, window_start
    from govern.pipeline.audit import audit_and_write

    since_seconds = parse_duration(since) if since is not None else None
    policy = load_policy(policy_path)
    key = _checked_key(signing_key)
    registry = _registry(tracking_uri)
    last = last_processed_at(state_dir) if state_dir is not None else None
    start, source = window_start(last, since_seconds)
    selection = select(registry, start, source)
    from datetime import UTC, datetime

    shown = datetime.fromtimestamp(start, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    if not selection.to_audit:
        _say(
            f"nothing to audit: {selection.checked} version(s) created since {shown} "
            f"({source}) or aliased, all with an audit record"
        )
        sys.exit(max(EXIT_PASS, _guard_aliases(registry, policy, key, state_dir)))
    _say(
        f"reconciling {len(selection.to_audit)} version(s) without an audit record, of "
        f"{selection.checked} created since {shown} ({source}) or aliased: "
        + ", ".join(v.ref for v in selection.to_audit[:20])
        + (" ..." if len(selection.to_audit) > 20 else "")
    )
    run = audit_and_write(
        registry,
        policy,
        list(selection.to_audit),
        _outputs(None, None, None, False, "A4"),
        write=True,
        reuse=True,
        progress=_Progress(),
        signing_key=key,
    )
    _emit(run, fmt)
    code = _exit_code(run)
    guarded = _guard_aliases(registry, policy, key, state_dir)
    sys.exit(code if code != EXIT_PASS else guarded)


def _guard_aliases(
    registry: Registry, policy: Policy, key: str | None, state_dir: Path | None
) -> int:
    """Judge every protected alias as govern serve would (after the audits, so a version just
    audited is judged on its audit); 1 when one had to be moved back or removed."""
    if not policy.protected_aliases:
        return EXIT_PASS
    from govern.events.queue import Queue
    from govern.events.worker import Handlers, Settings

    queue = Queue(state_dir) if state_dir is not None else None
    try:
        handlers = Handlers(Settings(policy, registry.uri, key), queue, registry)
        outcomes = handlers.guard_all()
    finally:
        if queue is not None:
            queue.close()
    incidents = [h for h in outcomes if h.counter == "incidents"]
    for handled in outcomes:
        _say(f"{handled.model}: {handled.outcome}")
    return EXIT_VIOLATION if incidents else EXIT_PASS
