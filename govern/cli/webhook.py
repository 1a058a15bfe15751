"""``govern webhook``: install, list and remove govern's MLflow registry webhook (issue 11)."""

from __future__ import annotations

import click

from govern.cli.common import _out, _registry, handle_errors
from govern.cli.options import format_option, tracking_option
from govern.redact import scrub


@click.group("webhook")
def webhook_group() -> None:
    """Install, list and remove govern's MLflow registry webhook.

    The webhook makes 'mlflow server' (SQL backend) tell govern serve when a version is
    created, tagged or aliased, so audits follow the registry instead of waiting for the night.

    \b
    Examples:
      export GOVERN_WEBHOOK_SECRET=$(cat /etc/govern/webhook-secret)
      govern webhook install --url https://govern.internal:8686/webhook \\
          --tracking-uri https://mlflow.internal
      govern webhook list --tracking-uri https://mlflow.internal
    """


@webhook_group.command("install")
@click.option(
    "--url", required=True, metavar="URL", help="Where MLflow delivers: govern serve's endpoint."
)
@click.option(
    "--secret",
    envvar="GOVERN_WEBHOOK_SECRET",
    metavar="S",
    help="The HMAC secret MLflow signs deliveries with and govern serve checks (at least 16 "
    "characters). Default: $GOVERN_WEBHOOK_SECRET, which keeps it out of the process list.",
)
@click.option(
    "--name",
    default="govern",
    show_default=True,
    metavar="NAME",
    help="The webhook's name; install updates the webhook of that name if it exists.",
)
@click.option("--no-test", "no_test", is_flag=True, help="Skip MLflow's test delivery to the URL.")
@tracking_option
@handle_errors
def webhook_install(
    url: str, secret: str | None, name: str, no_test: bool, tracking_uri: str | None
) -> None:
    """Create govern's webhook on the MLflow server, or update it, then test it.

    Subscribes to registered_model.created, model_version.created, model_version_tag.set and
    .deleted, model_version_alias.created and .deleted. Running it again updates the URL,
    events and secret in place. MLflow then sends a signed test delivery
    (registered_model.created) to the URL: exit 0 when the receiver accepted it, 2 when the
    server refuses the webhook (URL scheme, private address, no encryption key) or the receiver
    refuses the signature, 4 when the receiver could not be reached. The secret is never shown.

    \b
    Example:
      GOVERN_WEBHOOK_SECRET=... govern webhook install \\
          --url https://govern.internal:8686/webhook --tracking-uri https://mlflow.internal
    """
    from govern.registry.webhooks import check_secret, install_webhook, probe_failure

    check_secret(secret)
    result = install_webhook(
        _registry(tracking_uri), url=url, secret=secret, name=name, probe=not no_test
    )
    hook = result.webhook
    _out(
        scrub(
            f"{result.action} webhook '{hook.name}' ({hook.webhook_id}) -> {hook.url} "
            f"for {len(hook.events)} events"
        )
    )
    if result.probe is None:
        return
    probe = result.probe
    failure = probe_failure(hook, probe)
    if failure is not None:
        raise failure
    _out(f"test delivery ({probe.event}) accepted: HTTP {probe.status}")


@webhook_group.command("list")
@format_option(["table", "json"], "Print a table or JSON.")
@tracking_option
@handle_errors
def webhook_list(fmt: str, tracking_uri: str | None) -> None:
    """List govern's webhooks on the MLflow server: name, id, URL, events, status.

    Webhooks that govern did not install are not shown. Secrets are never shown.

    \b
    Example:
      govern webhook list --tracking-uri https://mlflow.internal --format json
    """
    from govern.registry.webhooks import describe, list_webhooks
    from govern.render.formats import render_webhooks

    _out(scrub(render_webhooks(describe(list_webhooks(_registry(tracking_uri))), fmt)))


@webhook_group.command("remove")
@click.argument("name_or_id", default="govern", metavar="[NAME|ID]")
@tracking_option
@handle_errors
def webhook_remove(name_or_id: str, tracking_uri: str | None) -> None:
    """Delete govern's webhook (by name, default 'govern', or by id).

    Only webhooks govern installed are removed; another webhook of that name is refused (2).

    \b
    Example:
      govern webhook remove govern --tracking-uri https://mlflow.internal
    """
    from govern.registry.webhooks import remove_webhooks

    for hook in remove_webhooks(_registry(tracking_uri), name_or_id):
        _out(scrub(f"removed webhook '{hook.name}' ({hook.webhook_id})"))
