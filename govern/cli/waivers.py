"""``govern waivers``: list waivers with their expiry, and sign one as its approver."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from govern.cli.common import _out, _say, handle_errors
from govern.cli.options import format_option
from govern.errors import EXIT_PASS, EXIT_VIOLATION


@click.group("waivers")
def waivers_group() -> None:
    """Inspect the waivers file: approved, expiring exceptions to failed checks.

    \b
    Examples:
      govern waivers list --policy govern.yaml
      govern waivers list --waivers waivers.yaml --expiring 14
    """


@waivers_group.command("list")
@click.option(
    "--waivers",
    "waivers_path",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="Waivers file. Default: the one the policy's 'waivers' key names.",
)
@click.option(
    "--policy",
    "policy_path",
    envvar="GOVERN_POLICY",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Policy file, for its 'waivers' and 'max_waiver_days'. Default: $GOVERN_POLICY, then "
    "./govern.yaml; without one, --waivers is checked against the default of 90 days.",
)
@click.option(
    "--expiring",
    type=click.IntRange(min=0),
    metavar="DAYS",
    help="Exit 1 when a waiver expires within DAYS days (or has expired).",
)
@format_option(["table", "json"], "Output format on stdout.")
@handle_errors
def waivers_list(
    waivers_path: Path | None, policy_path: Path | None, expiring: int | None, fmt: str
) -> None:
    """List waivers with their status: active, expired, or expires in N days (UTC).

    Exits 1 when a waiver has expired or, with --expiring, expires within DAYS days; 0
    otherwise; 2 when the file is invalid. Nothing is audited and the registry is not read.

    \b
    Examples:
      govern waivers list --policy govern.yaml --expiring 14
      govern waivers list --waivers waivers.yaml --format json
    """
    from govern.config.waivers import load_waivers, status_rows, today_utc
    from govern.errors import UsageError
    from govern.render.formats import render_waivers

    waivers = None
    if policy_path is not None or waivers_path is None:
        from govern.config.policy import default_policy_path, load_policy

        if policy_path is not None or default_policy_path().is_file():
            from govern.pipeline.waivers import check_waiver_signatures

            policy = load_policy(policy_path, waivers=waivers_path)
            check_waiver_signatures(policy)
            waivers = policy.waivers
            if waivers is None:
                raise UsageError("the policy names no waivers file: pass --waivers FILE")
    if waivers is None:
        if waivers_path is None:
            raise UsageError("no waivers file: pass --waivers FILE or --policy FILE")
        waivers = load_waivers(waivers_path)
    today = today_utc()
    _out(render_waivers(waivers.path, status_rows(waivers, today), fmt))
    horizon = expiring if expiring is not None else -1
    due = [w for w in waivers.waivers if (w.expires - today).days <= horizon or w.expired(today)]
    sys.exit(EXIT_VIOLATION if due else EXIT_PASS)


@waivers_group.command("sign")
@click.argument("waivers_file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--id", "waiver_id", required=True, metavar="ID", help="The waiver to sign.")
@click.option(
    "--signing-key",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="GOVERN_SIGNING_KEY",
    required=True,
    metavar="FILE",
    help="The approver's Ed25519 private key (from govern keygen); default $GOVERN_SIGNING_KEY.",
)
@handle_errors
def waivers_sign(waivers_file: Path, waiver_id: str, signing_key: Path) -> None:
    """Sign one waiver as its approver: adds a signature line to it in the file.

    The signature covers every field of the waiver (check, versions, reason, dates, requester
    and approver), so any later edit breaks it. When the policy lists trust.reviewers, every
    waiver must be signed by the key of the reviewer named in its approved_by, or the policy is
    refused (exit 2). The file is otherwise left as written.

    \b
    Example:
      govern waivers sign waivers.yaml --id W-2026-014 --signing-key ~/.govern/bob.key
    """
    from govern.pipeline.waivers import sign_waiver_in_file

    keyid = sign_waiver_in_file(waivers_file, waiver_id, str(signing_key))
    _say(f"waiver '{waiver_id}' in {waivers_file} signed by key {keyid[:16]}")
