"""Signed waivers: with trusted reviewers in the policy, each waiver carries the signature of
the reviewer named as its approver, over every field, or the policy is refused (exit 2)."""

from __future__ import annotations

import datetime as dt

import pytest
from helpers import run_cli, write_policy

from govern.attest.keys import generate_keypair
from govern.config.policy import load_policy
from govern.errors import PolicyError
from govern.pipeline.waivers import check_waiver_signatures

EXPIRES = (dt.date.today() + dt.timedelta(days=30)).isoformat()
CREATED = dt.date.today().isoformat()
WAIVERS = f"""\
version: 1
# Approved in the risk committee of {CREATED}.
waivers:
  - id: W-1
    model: "credit-*"
    check: fairness.demographic_parity_ratio
    reason: "Retrain scheduled"   # RISK-1
    requested_by: alice@example.com
    approved_by: bob@example.com
    created: {CREATED}
    expires: {EXPIRES}

  - model: "loan-*"
    id: W-2
    check: quality.expect_column_values_to_not_be_null.age
    reason: "Upstream fix due"
    requested_by: alice@example.com
    approved_by: bob@example.com
    created: {CREATED}
    expires: {EXPIRES}
"""


@pytest.fixture
def setup(tmp_path):
    bob = generate_keypair(tmp_path / "bob")
    mallory = generate_keypair(tmp_path / "mallory")
    waivers = tmp_path / "waivers.yaml"
    waivers.write_text(WAIVERS)
    policy = write_policy(tmp_path / "govern.yaml")
    policy.write_text(
        policy.read_text()
        + "waivers: waivers.yaml\n"
        + f"trust:\n  reviewers:\n    - {{id: Bob@example.com, key: {bob.public}, "
        "roles: [validator]}\n"
    )
    return policy, waivers, bob, mallory


def _sign(waivers, waiver_id, key):
    return run_cli("waivers", "sign", str(waivers), "--id", waiver_id, "--signing-key", str(key))


def test_unsigned_waivers_are_refused_where_reviewers_are_trusted(setup):
    policy, *_ = setup
    with pytest.raises(PolicyError) as info:
        check_waiver_signatures(load_policy(policy))
    assert str(info.value).endswith(
        "waiver 'W-1': no approver's signature (sign it with govern waivers sign)"
    )
    listed = run_cli("waivers", "list", "--policy", str(policy))
    assert listed.exit_code == 2 and "no approver's signature" in listed.stderr


def test_signing_keeps_the_file_as_written_and_verifies(setup):
    policy, waivers, bob, _ = setup
    for waiver_id in ("W-1", "W-2"):
        result = _sign(waivers, waiver_id, bob.private)
        assert result.exit_code == 0, result.output
    text = waivers.read_text()
    assert "# Approved in the risk committee" in text and "# RISK-1" in text  # comments kept
    assert text.count("signature: {keyid: ") == 2
    check_waiver_signatures(load_policy(policy))  # no error: both verify
    assert run_cli("waivers", "list", "--policy", str(policy)).exit_code == 0
    # Signing again replaces the signature line rather than adding a second one.
    assert _sign(waivers, "W-1", bob.private).exit_code == 0
    assert waivers.read_text().count("signature: {keyid: ") == 2


def test_an_edit_after_signing_or_another_signer_is_refused(setup):
    policy, waivers, bob, mallory = setup
    assert _sign(waivers, "W-1", bob.private).exit_code == 0
    assert _sign(waivers, "W-2", bob.private).exit_code == 0
    waivers.write_text(waivers.read_text().replace("Retrain scheduled", "Retrain, maybe"))
    with pytest.raises(PolicyError, match="waiver 'W-1': the signature does not verify"):
        check_waiver_signatures(load_policy(policy))

    waivers.write_text(WAIVERS)
    assert _sign(waivers, "W-1", mallory.private).exit_code == 0  # mallory is not bob
    assert _sign(waivers, "W-2", bob.private).exit_code == 0
    with pytest.raises(PolicyError, match="waiver 'W-1': the signature does not verify"):
        check_waiver_signatures(load_policy(policy))


def test_an_approver_who_is_not_a_trusted_reviewer_is_refused(setup):
    policy, waivers, bob, _ = setup
    waivers.write_text(WAIVERS.replace("approved_by: bob@example.com", "approved_by: eve@x.org"))
    with pytest.raises(PolicyError, match="approver 'eve@x.org' is not a trusted reviewer"):
        check_waiver_signatures(load_policy(policy))


def test_signing_an_unknown_waiver_names_the_ids(setup):
    _, waivers, bob, _ = setup
    result = _sign(waivers, "W-9", bob.private)
    assert result.exit_code == 2
    assert f"waivers {waivers}: no waiver with id 'W-9' (ids: W-1, W-2)" in result.stderr
