"""The policy's ``review`` section: real policy files and key files, each rejection by its line."""

from __future__ import annotations

import pytest
from helpers import POLICY

from govern.config.policy import load_policy
from govern.config.review import RequiredReview
from govern.errors import PolicyError


def _policy(tmp_path, tail: str):
    (tmp_path / "carol.pub").write_text("not parsed on load\n")
    path = tmp_path / "govern.yaml"
    path.write_text(POLICY + tail)
    return path


REVIEWERS = (
    "trust:\n  reviewers:\n    - {id: carol@example.com, key: carol.pub, roles: [validator]}\n"
)


def test_required_sign_offs_are_read(tmp_path):
    policy = load_policy(
        _policy(tmp_path, REVIEWERS + "review:\n  required: [{role: validator}]\n")
    )
    assert policy.review is not None
    assert policy.review.required == (RequiredReview("validator", 1),)


@pytest.mark.parametrize(
    ("tail", "message"),
    [
        (
            "review:\n  required: [{role: validator}]\n",
            "review: requires trust.reviewers (whose keys may sign reviews)",
        ),
        (
            REVIEWERS + "review:\n  required: [{role: risk}]\n",
            "review.required[0].role: 1 'risk' review(s) required but no reviewer in "
            "trust.reviewers holds the role",
        ),
        (
            REVIEWERS + "review:\n  required: [{role: validator, count: 2}]\n",
            "review.required[0].role: 2 'validator' review(s) required but only "
            "carol@example.com holds the role",
        ),
        (
            REVIEWERS + "review:\n  required: [{role: validator, count: 0}]\n",
            "review.required[0].count: expected a whole number of at least 1, got 0",
        ),
        (
            REVIEWERS + "review:\n  required: []\n",
            "review.required: expected a non-empty list of {role, count}, got an empty list",
        ),
        (
            REVIEWERS + "review:\n  needed: [{role: validator}]\n",
            "review: unknown key 'needed' (allowed: required)",
        ),
    ],
)
def test_a_bad_review_section_is_one_line_naming_file_and_key(tmp_path, tail, message):
    path = _policy(tmp_path, tail)
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    assert str(caught.value) == f"{path}: {message}"
