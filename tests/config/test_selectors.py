"""Model selectors and aliases as typed on the command line."""

from __future__ import annotations

import pytest

from govern.config.selectors import Selector, parse_selector, validate_alias
from govern.errors import EXIT_USAGE, UsageError


@pytest.mark.parametrize(
    ("text", "name", "version", "alias"),
    [
        ("credit", "credit", None, None),
        ("credit/3", "credit", "3", None),
        ("credit/03", "credit", "3", None),
        ("credit/12345", "credit", "12345", None),
        ("credit@champion", "credit", None, "champion"),
        ("credit@champion_2", "credit", None, "champion_2"),
        ("credit@blue-green", "credit", None, "blue-green"),
        ("models:/credit/3", "credit", "3", None),
        ("models:/credit@champion", "credit", None, "champion"),
        # MLflow allows '@' in names: a version after '/' makes the whole rest the name ...
        ("a@b/3", "a@b", "3", None),
        ("models:/a@b/3", "a@b", "3", None),
        # ... and an alias is split off at the last '@'.
        ("a@b@prod", "a@b", None, "prod"),
        ("credit model v2/1", "credit model v2", "1", None),
        ("  credit/3\n", "credit", "3", None),
        ("credit.v2_final-1", "credit.v2_final-1", None, None),
    ],
)
def test_accepted_forms(text, name, version, alias):
    selector = parse_selector(text)
    assert selector == Selector(name=name, version=version, alias=alias)
    assert selector.single is (version is not None or alias is not None)


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("credit", "credit"),
        ("credit/007", "credit/7"),
        ("models:/credit/3", "credit/3"),
        ("models:/credit@champion", "credit@champion"),
        ("a@b/3", "a@b/3"),
    ],
)
def test_str_is_the_canonical_short_form(text, shown):
    assert str(parse_selector(text)) == shown
    # and the short form reads back as the same selector
    assert parse_selector(shown) == parse_selector(text)


def rejected(text: str) -> str:
    with pytest.raises(UsageError) as info:
        parse_selector(text)
    assert info.value.exit_code == EXIT_USAGE
    return str(info.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "credit/x",
            "invalid model selector 'credit/x': expected NAME, NAME/VERSION or NAME@ALIAS",
        ),
        (
            "credit/0",
            "invalid model selector 'credit/0': expected NAME, NAME/VERSION or NAME@ALIAS",
        ),
        ("credit/00", "invalid model selector 'credit/00': expected NAME"),
        ("credit/-1", "invalid model selector 'credit/-1': expected NAME"),
        ("credit/+1", "invalid model selector 'credit/+1': expected NAME"),
        ("credit/1.0", "invalid model selector 'credit/1.0': expected NAME"),
        ("credit/", "invalid model selector 'credit/': expected NAME"),
        ("credit/ 1", "invalid model selector 'credit/ 1': expected NAME"),
        # str.isdigit() is true for these, but they are not version numbers
        ("credit/\u00b2", "invalid model selector 'credit/\u00b2': expected NAME"),
        ("credit/\uff13", "invalid model selector 'credit/\uff13': expected NAME"),
        ("/3", "invalid model selector '/3': expected NAME"),
        ("a/b/3", "invalid model selector 'a/b/3': expected NAME, NAME/VERSION or NAME@ALIAS"),
        ("models:/a/b/3", "invalid model selector 'models:/a/b/3': expected NAME"),
        ("models:/ /3", "invalid model selector 'models:/ /3': expected NAME"),
        ("models:/", "empty model selector 'models:/'"),
        ("", "empty model selector ''"),
        ("   ", "empty model selector '   '"),
        (
            "models:/credit",
            "invalid model URI 'models:/credit': expected models:/NAME/VERSION or @ALIAS",
        ),
        (
            "credit@bad alias",
            "invalid model selector 'credit@bad alias': an alias is letters, digits, '_' and '-'",
        ),
        ("credit@", "invalid model selector 'credit@': an alias is letters, digits"),
        ("@champion", "invalid model selector '@champion': an alias is letters, digits"),
        ("credit@champ!on", "invalid model selector 'credit@champ!on': an alias is letters"),
        ("credit@prod\n", None),  # stripped: accepted (checked below)
        ("a:b", "invalid model selector 'a:b': model names cannot contain ':'"),
        ("a:b/3", "invalid model selector 'a:b/3': model names cannot contain ':'"),
        ("a:b@prod", "invalid model selector 'a:b@prod': model names cannot contain ':'"),
        ("models:a/3", "invalid model selector 'models:a/3': model names cannot contain ':'"),
        ("runs:/abc/model", "invalid model selector 'runs:/abc/model': expected NAME"),
        (
            "credit@latest",
            "invalid model selector 'credit@latest': alias 'latest' is reserved by MLflow and "
            "never set",
        ),
        (
            "credit@v3",
            "invalid model selector 'credit@v3': alias 'v3' is reserved by MLflow and never set; "
            "for version 3 write credit/3",
        ),
        ("credit@V12", "alias 'V12' is reserved by MLflow and never set; for version 12 write "),
    ],
)
def test_rejected_forms(text, expected):
    if expected is None:
        assert parse_selector(text) == Selector("credit", alias="prod")
        return
    assert expected in rejected(text)


@pytest.mark.parametrize("alias", ["production", "champion_2", "blue-green", "A", "v", "v1a"])
def test_validate_alias_accepts(alias):
    assert validate_alias(alias) == alias


@pytest.mark.parametrize("alias", ["latest", "LATEST", "Latest", "v3", "V12", "v0", "v007"])
def test_validate_alias_rejects_reserved(alias):
    with pytest.raises(UsageError) as info:
        validate_alias(alias)
    assert str(info.value) == (
        f"alias '{alias}' is reserved by MLflow ('latest' and 'v<number>' cannot be set)"
    )
    assert info.value.exit_code == EXIT_USAGE


@pytest.mark.parametrize(
    ("alias", "shown"),
    [
        ("bad alias", "'bad alias'"),
        ("prod/1", "'prod/1'"),
        ("prod@x", "'prod@x'"),
        ("caf\u00e9", "'caf\u00e9'"),
        ("prod\n", "'prod\\n'"),
        ("", "''"),
    ],
)
def test_validate_alias_rejects_bad_characters(alias, shown):
    with pytest.raises(UsageError) as info:
        validate_alias(alias)
    assert str(info.value) == f"invalid alias {shown}: use letters, digits, '_' and '-'"
    assert "\n" not in str(info.value)


def test_validate_alias_length_is_mlflows():
    assert validate_alias("a" * 255) == "a" * 255
    with pytest.raises(UsageError, match="longer than 255 characters"):
        validate_alias("a" * 256)


def test_selector_single():
    assert not Selector("credit").single
    assert Selector("credit", version="1").single
    assert Selector("credit", alias="prod").single
