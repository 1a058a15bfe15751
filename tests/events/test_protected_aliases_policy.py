"""The policy's protected_aliases key: declared, validated, rejected when malformed."""

from __future__ import annotations

import pytest
from helpers import POLICY

from govern.config.policy import load_policy
from govern.errors import PolicyError


def _load(tmp_path, extra: str):
    path = tmp_path / "govern.yaml"
    path.write_text(POLICY + extra)
    return load_policy(path)


def test_default_is_none(tmp_path):
    assert _load(tmp_path, "").protected_aliases == ()


def test_listed_aliases(tmp_path):
    assert _load(tmp_path, "protected_aliases: [production, champion]\n").protected_aliases == (
        "production",
        "champion",
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("production", "protected_aliases: expected a list of text, got text"),
        ("[latest]", "protected_aliases[0]: alias 'latest' is reserved by MLflow"),
        ("[v3]", "protected_aliases[0]: alias 'v3' is reserved by MLflow"),
        ("['a b']", "protected_aliases[0]: invalid alias 'a b'"),
        ("[prod, prod]", "protected_aliases[1]: 'prod' is listed twice"),
    ],
)
def test_malformed(tmp_path, value, message):
    with pytest.raises(PolicyError) as err:
        _load(tmp_path, f"protected_aliases: {value}\n")
    assert message in str(err.value)
