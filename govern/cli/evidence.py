"""The signed-evidence commands: review a version, make keys, verify evidence, walk history."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from govern.cli.common import _optional_policy, _out, _registry, _say, _selectors, handle_errors
from govern.cli.options import format_option, policy_option, tracking_option
from govern.errors import EXIT_PASS, EXIT_VIOLATION, UsageError


@click.command("review")
@click.argument("selector", metavar="SELECTOR")
@click.option("--approve", "decision", flag_value="approve", help="Sign off the version.")
@click.option("--reject", "decision", flag_value="reject", help="Record that it must not ship.")
@click.option(
    "--role",
    required=True,
    metavar="ROLE",
    help="The role you review in (one of your roles in the policy's trust.reviewers).",
)
@click.option("--note", metavar="TEXT", help="Rationale or conditions, signed with the review.")
@click.option(
    "--signing-key",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="GOVERN_REVIEW_KEY",
    required=True,
    metavar="FILE",
    help="Your Ed25519 private key (govern keygen); default $GOVERN_REVIEW_KEY. Its public key "
    "must be listed under trust.reviewers: the key, not a name, says who reviews.",
)
@policy_option
@tracking_option
@handle_errors
def review_cmd(
    selector: str,
    decision: str | None,
    role: str,
    note: str | None,
    signing_key: Path,
    policy_path: Path | None,
    tracking_uri: str | None,
) -> None:
    """Sign off (or reject) one version's latest verified audit, as a trusted reviewer.

    The review is an in-toto statement signed with your key, bound to the model files, data
    and policy the audit attested, and recorded as a run in the audit experiment plus the
    version tag govern.review.ROLE. You cannot review a version you registered or trained, and
    you can approve only an audit that passed. The policy's review.required makes gate
    --promote-to wait for the approvals.

    \b
    Exit codes: 0 recorded, 1 refused (audit not verified, or approving
                a failed audit), 2 usage or policy error (key not a
                reviewer's, role not held, reviewer is the model's author).

    \b
    Examples:
      govern review credit-risk/7 --approve --role validator --signing-key ~/keys/me.key
      govern review credit-risk@candidate --reject --role risk --note "drift on age"
    """
    from govern.config.policy import load_policy
    from govern.config.selectors import parse_selector
    from govern.pipeline.review import review_version

    if decision is None:
        raise UsageError("say --approve or --reject")
    sel = parse_selector(selector)
    if not sel.single:
        raise UsageError(
            f"review signs off exactly one version: use {sel.name}/VERSION or "
            f"{sel.name}@ALIAS, not '{selector}'"
        )
    policy = load_policy(policy_path)
    from govern.attest.keys import load_signer

    load_signer(signing_key)  # a bad key costs nothing (exit 2)
    registry = _registry(tracking_uri)
    (info,) = registry.resolve([sel])
    outcome = review_version(
        registry,
        policy,
        info,
        decision=decision,
        role=role,
        note=note,
        signing_key=str(signing_key),
    )
    _out(json.dumps(outcome.to_dict(), indent=2))
    _say(f"{outcome.ref}: {outcome.decision} as {outcome.role} by {outcome.reviewer} recorded")


@click.command("keygen")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Folder for govern-signing.key (mode 0600) and govern-signing.pub.",
)
@handle_errors
def keygen_cmd(out: Path) -> None:
    """Make an Ed25519 key pair for signing audits and reviews.

    The private key is written with mode 0600 and is never printed; give its path to
    --signing-key or $GOVERN_SIGNING_KEY. List the public key under the policy's
    trust.auditors (or trust.reviewers) so its signatures count.

    \b
    Example:
      govern keygen --out ~/.config/govern/keys
    """
    from govern.attest.keys import generate_keypair

    pair = generate_keypair(out)
    _say(f"private key: {pair.private} (keep it secret; mode 0600)")
    _out(f"{pair.public}\t{pair.keyid}")


@click.command("verify")
@click.argument("targets", nargs=-1, required=True, metavar="RESULTS.json|ATTESTATION|SELECTOR...")
@policy_option
@click.option(
    "--key",
    "keys",
    multiple=True,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    metavar="PUB",
    help="Trust this public key too (repeatable); signatures are then required.",
)
@format_option(["table", "json"], "Print a table or JSON.")
@tracking_option
@handle_errors
def verify_cmd(
    targets: tuple[str, ...],
    policy_path: Path | None,
    keys: tuple[Path, ...],
    fmt: str,
    tracking_uri: str | None,
) -> None:
    """Check signed evidence: results.json files, attestation envelopes, or registry records.

    A results.json must match, version by version, the statements signed for it (offline). A
    review envelope (govern review) must be signed by a key in trust.reviewers or --key. For
    a SELECTOR (NAME, NAME/3, NAME@alias), each version's recorded status must be backed by a
    valid attestation of its audit run, and that attestation must still cover the model files in
    the registry and the data at its source (both are downloaded and re-hashed). Signatures must
    come from a key in the policy's trust.auditors or --key; without either they are not
    checked, and unsigned evidence is reported as unsigned.

    \b
    Exit codes: 0 verified (or unsigned where no signature is required),
                1 not verified (edited, forged, unsigned where required),
                2 usage error.

    \b
    Examples:
      govern verify reports/results.json --policy govern.yaml
      govern verify reports/attestations/*.intoto.json --key auditor.pub
    """
    from govern.pipeline.verify import (
        Verification,
        is_results_file,
        read_json,
        trusted_keys,
        verify_envelope_file,
        verify_record,
        verify_results,
    )

    policy = _optional_policy(policy_path)
    trust = trusted_keys(policy, keys)
    found: list[Verification] = []
    selectors = []
    for target in targets:
        path = Path(target)
        if not path.is_file():
            if target.endswith(".json"):
                raise UsageError(f"{target}: no such file")
            selectors.append(target)
            continue
        data = read_json(path)
        if is_results_file(data):
            found.extend(verify_results(data, trust))
        else:
            found.append(verify_envelope_file(path, trust))
    if selectors:
        from govern.config.policy import DEFAULT_AUDIT_EXPERIMENT
        from govern.pipeline.history import reviewer_keys, walk_chain

        registry = _registry(tracking_uri)
        experiment = policy.audit_experiment if policy else DEFAULT_AUDIT_EXPERIMENT
        reviewers = reviewer_keys(policy)
        for info in registry.resolve(_selectors(tuple(selectors))):
            checked = verify_record(registry, info, trust, policy=policy, rehash=True)
            if checked is None:
                found.append(Verification(info.ref, "not-verified", "never audited"))
                continue
            chain = walk_chain(registry, experiment, info, trust, reviewers)
            if checked.ok and not chain.intact:
                checked = Verification(
                    info.ref, "not-verified", "chain: " + "; ".join(chain.problems), checked.keyid
                )
            found.append(checked)
    if fmt == "json":
        _out(json.dumps([v.to_dict() for v in found], indent=2))
    else:
        from govern.render.table import render_table

        _out(
            render_table(
                ["SUBJECT", "OUTCOME", "KEY", "PROBLEM"],
                [
                    [
                        v.subject,
                        v.outcome.upper() if not v.ok else v.outcome,
                        (v.keyid or "-")[:16],
                        v.problem or "-",
                    ]
                    for v in found
                ],
            )
        )
    sys.exit(EXIT_PASS if all(v.ok for v in found) else EXIT_VIOLATION)


@click.command("history")
@click.argument("selectors", nargs=-1, required=True, metavar="SELECTOR...")
@policy_option
@format_option(["table", "json"], "Print a table or JSON.")
@tracking_option
@handle_errors
def history_cmd(
    selectors: tuple[str, ...], policy_path: Path | None, fmt: str, tracking_uri: str | None
) -> None:
    """Print each version's chain of signed records, and who moved its aliases.

    Every govern record of a version (audit, promotion, review) names the one before it by
    digest; the chain is walked back from the newest, and a record that was edited, is missing,
    is not in the chain, or is unsigned where the policy requires signatures is named. Each
    alias on the version is matched with the govern promotion that put it there; one that no
    govern gate moved is an ungoverned promotion.

    \b
    Exit codes: 0 every chain intact and every alias governed, 1 otherwise,
                2 usage error, 3 and 4 as for the other commands.

    \b
    Example:
      govern history credit-risk@production --policy govern.yaml
    """
    from govern.config.policy import DEFAULT_AUDIT_EXPERIMENT
    from govern.pipeline.history import reviewer_keys, walk_chain
    from govern.pipeline.verify import trusted_keys

    policy = _optional_policy(policy_path)
    trust, reviewers = trusted_keys(policy), reviewer_keys(policy)
    experiment = policy.audit_experiment if policy else DEFAULT_AUDIT_EXPERIMENT
    registry = _registry(tracking_uri)
    chains = [
        walk_chain(registry, experiment, info, trust, reviewers)
        for info in registry.resolve(_selectors(selectors))
    ]
    if fmt == "json":
        _out(json.dumps([c.to_dict() for c in chains], indent=2))
    else:
        from govern.render.table import render_table

        blocks = []
        for chain in chains:
            rows = [
                [r.at or "-", r.kind, r.summary, (r.keyid or "unsigned")[:16], r.problem or "ok"]
                for r in chain.records
            ]
            rows.extend(
                ["-", "alias", f"'{m['alias']}'", "-", m["problem"] or "moved by govern"]
                for m in chain.aliases
            )
            text = f"{chain.ref}: {'chain intact' if chain.intact else 'CHAIN BROKEN'}\n"
            text += render_table(["AT", "KIND", "RECORD", "KEY", "STATUS"], rows)
            text += "".join(f"\n  ! {p}" for p in chain.problems)
            blocks.append(text)
        _out("\n\n".join(blocks))
    ungoverned = any(not m["governed"] for c in chains for m in c.aliases)
    sys.exit(EXIT_PASS if all(c.intact for c in chains) and not ungoverned else EXIT_VIOLATION)
