"""The waivers file: parsed strictly, every refusal one line naming the file and key path."""

from __future__ import annotations

import datetime as dt
import json
import textwrap
from pathlib import Path

import pytest
from helpers import POLICY, run_cli, write_policy

from govern.config.policy import load_policy
from govern.config.waivers import load_waivers, today_utc
from govern.errors import EXIT_USAGE, PolicyError

WAIVER = """\
  - id: W-2026-014
    model: "credit-*"
    versions: [3, 4]
    check: fairness.demographic_parity_ratio
    reason: "Mitigation retrain scheduled; business sign-off in RISK-1234"
    ticket: RISK-1234
    requested_by: alice@example.com
    approved_by: bob@example.com
    created: 2026-11-20
    expires: 2027-01-31
"""


def write_waivers(path: Path, *entries: str) -> Path:
    path.write_text("version: 1\nwaivers:\n" + "".join(entries))
    return path


def refused(path: Path, max_days: int = 90) -> str:
    with pytest.raises(PolicyError) as info:
        load_waivers(path, max_days)
    message = str(info.value)
    assert "\n" not in message and "Traceback" not in message
    assert info.value.exit_code == EXIT_USAGE
    assert message.startswith(f"{path}: waivers[0]"), message
    return message


def test_valid_file_loads_every_field(tmp_path):
    path = write_waivers(tmp_path / "waivers.yaml", WAIVER)

    loaded = load_waivers(path)

    (waiver,) = loaded.waivers
    assert waiver.id == "W-2026-014"
    assert waiver.versions == ("3", "4")
    assert waiver.created == dt.date(2026, 11, 20)
    assert waiver.expires == dt.date(2027, 1, 31)
    assert waiver.ticket == "RISK-1234"
    assert waiver.covers("credit-risk", "3") and not waiver.covers("credit-risk", "5")
    assert not waiver.covers("loan-risk", "3")
    assert len(loaded.sha256) == 64


def test_dates_as_quoted_text_and_a_signature_are_accepted(tmp_path):
    entry = (
        WAIVER.replace("2026-11-20", '"2026-11-20"')
        + "    signature: {reviewer: carol, value: abc}\n"
    )
    (waiver,) = load_waivers(write_waivers(tmp_path / "w.yaml", entry)).waivers
    assert waiver.created == dt.date(2026, 11, 20)
    assert waiver.signature == {"reviewer": "carol", "value": "abc"}


def test_self_approved_waiver_is_refused(tmp_path):
    entry = WAIVER.replace("approved_by: bob@example.com", "approved_by: ' Alice@Example.com '")
    message = refused(write_waivers(tmp_path / "w.yaml", entry))
    assert message.endswith(
        "waivers[0].approved_by: 'Alice@Example.com' also requested this waiver: it must be "
        "approved by someone else"
    )


def test_expiry_beyond_max_waiver_days_is_refused(tmp_path):
    entry = WAIVER.replace("expires: 2027-01-31", "expires: 2027-02-19")
    message = refused(write_waivers(tmp_path / "w.yaml", entry))
    assert message.endswith(
        "waivers[0].expires: 2027-02-19 is 91 days after created 2026-11-20; max_waiver_days "
        "allows at most 90"
    )


def test_expiry_before_creation_is_refused(tmp_path):
    entry = WAIVER.replace("expires: 2027-01-31", "expires: 2026-11-19")
    message = refused(write_waivers(tmp_path / "w.yaml", entry))
    assert message.endswith("waivers[0].expires: 2026-11-19 is before created 2026-11-20")


def test_missing_expires_is_refused(tmp_path):
    entry = WAIVER.replace("    expires: 2027-01-31\n", "")
    message = refused(write_waivers(tmp_path / "w.yaml", entry))
    assert message.endswith(
        "waivers[0]: missing 'expires' (every waiver ends: the last day it applies)"
    )


def test_a_date_that_is_not_a_date_is_refused(tmp_path):
    entry = WAIVER.replace("expires: 2027-01-31", "expires: next month")
    message = refused(write_waivers(tmp_path / "w.yaml", entry))
    assert message.endswith("waivers[0].expires: expected a date YYYY-MM-DD, got 'next month'")


@pytest.mark.parametrize("check", ["integrity.sha256", "lineage.dataset", "policy.match"])
def test_lineage_integrity_and_audit_checks_cannot_be_waived(tmp_path, check):
    entry = WAIVER.replace("check: fairness.demographic_parity_ratio", f"check: {check}")
    message = refused(write_waivers(tmp_path / "w.yaml", entry))
    assert f"waivers[0].check: '{check}' cannot be waived" in message
    assert "no one may waive 'this is not the training data'" in message


def test_unknown_key_is_refused(tmp_path):
    entry = WAIVER + "    approver: carol@example.com\n"
    message = refused(write_waivers(tmp_path / "w.yaml", entry))
    assert "waivers[0]: unknown key 'approver' (did you mean 'approved_by'?;" in message


def test_duplicate_id_is_refused(tmp_path):
    path = write_waivers(tmp_path / "w.yaml", WAIVER, WAIVER.replace("[3, 4]", "[5]"))
    with pytest.raises(PolicyError) as info:
        load_waivers(path)
    assert str(info.value) == (
        f"{path}: waivers[1].id: 'W-2026-014' is already the id of waivers[0]"
    )


def test_policy_names_the_waivers_file_and_its_limit(tmp_path):
    write_waivers(tmp_path / "w.yaml", WAIVER.replace("2027-01-31", "2027-03-01"))
    policy = write_policy(
        tmp_path / "govern.yaml", "max_waiver_days: 120\nwaivers: w.yaml\n" + POLICY
    )

    loaded = load_policy(policy)

    assert loaded.max_waiver_days == 120
    assert loaded.waivers is not None and loaded.waivers.path == str(tmp_path / "w.yaml")
    # the default limit refuses the same waiver: the policy's key is what allowed it
    with pytest.raises(PolicyError, match="max_waiver_days allows at most 90"):
        load_policy(write_policy(tmp_path / "strict.yaml", "waivers: w.yaml\n" + POLICY))


def test_option_overrides_the_policy_key(tmp_path):
    write_waivers(tmp_path / "other.yaml", WAIVER.replace("W-2026-014", "W-OTHER"))
    policy = write_policy(tmp_path / "govern.yaml", "waivers: missing.yaml\n" + POLICY)

    loaded = load_policy(policy, waivers=tmp_path / "other.yaml")

    assert loaded.waivers is not None
    assert [w.id for w in loaded.waivers.waivers] == ["W-OTHER"]


@pytest.mark.parametrize("value", [0, "90", 1.5, True])
def test_max_waiver_days_must_be_a_whole_number(tmp_path, value):
    policy = write_policy(tmp_path / "govern.yaml", f"max_waiver_days: {value!r}\n" + POLICY)
    with pytest.raises(PolicyError) as info:
        load_policy(policy)
    assert str(info.value).startswith(f"{policy}: max_waiver_days: expected a whole number >= 1")


def _dated(path: Path, *ids_and_days: tuple[str, int]) -> Path:
    """Waivers created today expiring in ``days`` (negative: created and expired in the past)."""
    today = today_utc()
    entries = []
    for waiver_id, days in ids_and_days:
        created = today if days >= 0 else today + dt.timedelta(days=days - 10)
        entries.append(
            textwrap.indent(
                textwrap.dedent(
                    f"""\
                    - id: {waiver_id}
                      model: credit-*
                      check: fairness.demographic_parity_ratio
                      reason: accepted
                      requested_by: alice
                      approved_by: bob
                      created: {created.isoformat()}
                      expires: {(today + dt.timedelta(days=days)).isoformat()}
                    """
                ),
                "  ",
            )
        )
    return write_waivers(path, *entries)


def test_list_exits_0_when_nothing_expires_within_the_horizon(tmp_path):
    path = _dated(tmp_path / "w.yaml", ("W-1", 60), ("W-2", 20))

    result = run_cli("waivers", "list", "--waivers", str(path), "--expiring", "14")

    assert result.exit_code == 0, result.output
    assert "W-1" in result.stdout and "active" in result.stdout
    assert "expires in 20 days" in result.stdout


def test_list_exits_1_when_a_waiver_expires_within_the_horizon(tmp_path):
    path = _dated(tmp_path / "w.yaml", ("W-1", 60), ("W-2", 10))

    result = run_cli("waivers", "list", "--waivers", str(path), "--expiring", "14")

    assert result.exit_code == 1, result.output
    assert "expires in 10 days" in result.stdout


def test_list_exits_1_when_a_waiver_has_expired(tmp_path):
    path = _dated(tmp_path / "w.yaml", ("W-1", 60), ("W-OLD", -1))

    result = run_cli("waivers", "list", "--waivers", str(path), "--format", "json")

    assert result.exit_code == 1, result.output
    rows = {r["id"]: r for r in json.loads(result.stdout)["waivers"]}
    expired_on = (today_utc() - dt.timedelta(days=1)).isoformat()
    assert rows["W-OLD"]["status"] == f"expired on {expired_on}"
    assert rows["W-OLD"]["expired"] is True and rows["W-1"]["status"] == "active"


def test_list_reads_the_policy_and_exits_2_on_a_bad_file(tmp_path):
    _dated(tmp_path / "w.yaml", ("W-1", 60))
    policy = write_policy(tmp_path / "govern.yaml", "waivers: w.yaml\n" + POLICY)
    ok = run_cli("waivers", "list", "--policy", str(policy))
    assert ok.exit_code == 0, ok.output
    assert "W-1" in ok.stdout

    (tmp_path / "w.yaml").write_text("version: 1\nwaivers: [{id: W-1}]\n")
    bad = run_cli("waivers", "list", "--policy", str(policy))
    assert bad.exit_code == 2
    assert f"govern: error: {tmp_path / 'w.yaml'}: waivers[0]: missing 'model'" in bad.stderr
