"""Credentials never reach output: URIs as shown in reports, and any text govern prints."""

from __future__ import annotations

import pytest

from govern import redact
from govern.redact import MASK, redact_uri, register_secret, register_uri_secrets, scrub

SECRET_ENV = (
    "MLFLOW_TRACKING_PASSWORD",
    "MLFLOW_TRACKING_TOKEN",
    "DATABRICKS_TOKEN",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AZURE_STORAGE_ACCESS_KEY",
    "AZURE_STORAGE_CONNECTION_STRING",
)


@pytest.fixture(autouse=True)
def _clean_secrets(monkeypatch):
    """Registered secrets are process-wide: give each test an empty set and no secret env vars."""
    monkeypatch.setattr(redact, "_REGISTERED", set())
    for name in redact._SECRET_ENV:
        monkeypatch.delenv(name, raising=False)


# --- redact_uri ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "shown"),
    [
        ("https://alice:hunter22@mlflow.example.com/api", "https://***@mlflow.example.com/api"),
        ("https://alice:hunter22@host:5000/x?y=1", "https://***@host:5000/x?y=1"),
        ("https://dapi0123456789@host/api", "https://***@host/api"),  # a bare token as userinfo
        ("https://:tok3n-only@host", "https://***@host"),
        ("https://alice@host/", "https://***@host/"),
        ("https://al:p%40ss%2Fw@host/x", "https://***@host/x"),  # percent-encoded password
        ("https://al:p@ss@host/x", "https://***@host/x"),  # a raw '@' in the password
        ("https://u:pw@[::1]:5000/path", "https://***@[::1]:5000/path"),  # IPv6 host
        ("https://u:pw@[2001:db8::7]/a", "https://***@[2001:db8::7]/a"),
        ("postgresql://mlflow:s3cret-pw@db:5432/mlflow", "postgresql://***@db:5432/mlflow"),
        ("databricks://profile:prefix@databricks", "databricks://***@databricks"),
    ],
)
def test_redact_uri_removes_userinfo_and_keeps_the_rest(uri, shown):
    assert redact_uri(uri) == shown


@pytest.mark.parametrize(
    "uri",
    [
        "https://mlflow.example.com:8443/api/2.0/mlflow",
        "http://127.0.0.1:5000",
        "https://[::1]:5000/a@b/c",  # '@' in the path is not userinfo
        "https://host/users/a@b.com/runs",
        "file:///tmp/me@laptop/mlruns",
        "sqlite:////tmp/x/mlflow.db",  # four slashes: an absolute path, must stay so
        "sqlite:///mlflow.db",
        "s3://bucket/path/to/train.parquet",
        "models:/credit@champion",
        "https://host/p?q=a%20b&keep=%2F&flag#frag",  # not re-encoded, nothing added
        "https://host/p?X-Amz-Date=20240101T000000Z&X-Amz-Expires=3600",
        "/local/path/train.parquet",
        "databricks",
    ],
)
def test_redact_uri_leaves_uris_without_secrets_exactly_as_they_are(uri):
    assert redact_uri(uri) == uri


@pytest.mark.parametrize(
    ("uri", "shown"),
    [
        ("https://host/api?token=abc123&x=1", "https://host/api?token=***&x=1"),
        ("https://host/api?x=1&password=pw", "https://host/api?x=1&password=***"),
        ("https://acct.blob.core.windows.net/c/b?sv=2022&sig=AbC%2Bd%3D", None),
        (
            "https://b.s3.amazonaws.com/k?X-Amz-Algorithm=AWS4&X-Amz-Credential=AKIA%2F2024"
            "&X-Amz-Signature=deadbeef&X-Amz-Security-Token=FwoG",
            "https://b.s3.amazonaws.com/k?X-Amz-Algorithm=AWS4&X-Amz-Credential=***"
            "&X-Amz-Signature=***&X-Amz-Security-Token=***",
        ),
        ("https://host/p?access_token=a1&api_key=k2&client_secret=s3", None),
        ("https://host/cb#access_token=abcd&state=1", "https://host/cb#access_token=***&state=1"),
        ("https://u:pw@host/p?token=t0k&page=2", "https://***@host/p?token=***&page=2"),
        ("https://host/p?TOKEN=abc", "https://host/p?TOKEN=***"),
        ("https://host/p?token=", "https://host/p?token="),  # nothing to hide
    ],
)
def test_redact_uri_masks_secret_query_values(uri, shown):
    if shown is None:
        shown = uri
        for secret in ("AbC%2Bd%3D", "a1", "k2", "s3"):
            shown = shown.replace(f"={secret}", f"={MASK}")
        assert shown != uri
    assert redact_uri(uri) == shown


def test_redact_uri_of_nothing():
    assert redact_uri(None) == ""
    assert redact_uri("") == ""


def test_redact_uri_of_an_unparseable_uri_still_masks():
    # '[' without ']' makes urllib raise; the credentials must still go
    assert redact_uri("http://bob:hunter22@[::1/x") == "http://***@[::1/x"


def test_redact_uri_masks_a_password_holding_spaces():
    assert redact_uri("https://al ice:p w@host/x") == "https://***@host/x"


def test_redact_uri_also_masks_known_secrets_elsewhere(monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "tok-abcdef")
    assert redact_uri("https://host/runs/tok-abcdef/x") == "https://host/runs/***/x"


# --- scrub ----------------------------------------------------------------------------------------


def test_scrub_masks_credentials_of_a_url_inside_an_exception_message():
    exc = ConnectionError(
        "HTTPSConnectionPool: Max retries exceeded with url https://alice:hunter22@host/api "
        "(Caused by NewConnectionError)"
    )
    out = scrub(str(exc))
    assert "hunter22" not in out and "alice" not in out
    assert out == (
        "HTTPSConnectionPool: Max retries exceeded with url https://***@host/api "
        "(Caused by NewConnectionError)"
    )


def test_scrub_masks_every_url_in_the_text():
    text = (
        "tried 'https://alice:hunter22@a.example/api', then http://bob:pw%2Fx@[::1]:80/x "
        "and ftp://tokenonly1234@h/; see https://docs.example/p?token=SECRET99&x=1."
    )
    assert scrub(text) == (
        "tried 'https://***@a.example/api', then http://***@[::1]:80/x "
        "and ftp://***@h/; see https://docs.example/p?token=***&x=1."
    )


def test_scrub_masks_a_password_containing_at_signs():
    out = scrub("GET http://u:p@ss@w0rd@host/x failed")
    assert out == "GET http://***@host/x failed"


def test_scrub_masks_secret_query_values_without_a_scheme():
    assert scrub("GET /api/2.0/x?run_id=1&token=abcd1234 -> 403") == (
        "GET /api/2.0/x?run_id=1&token=*** -> 403"
    )


def test_scrub_keeps_plain_text_and_urls_without_secrets():
    text = "model 'credit@champion' version 3 at https://host/a@b/c?x=1: mail me@example.com"
    assert scrub(text) == text


def test_scrub_masks_registered_uri_secrets_anywhere():
    register_uri_secrets("https://alice:hunter22@host/api?sig=s1gnature&x=1")
    out = scrub("401 for user alice (password hunter22), signature s1gnature rejected")
    assert out == "401 for user alice (password ***), signature *** rejected"


def test_scrub_masks_a_registered_bare_token():
    register_uri_secrets("https://dapi9876543210@host/")
    assert scrub("Bearer dapi9876543210 expired") == "Bearer *** expired"


def test_registered_percent_encoded_password_is_masked_in_both_forms():
    register_uri_secrets("https://alice:p%40ss%2Fword@host/")
    assert scrub("auth with p@ss/word failed") == "auth with *** failed"
    assert scrub("url had p%40ss%2Fword in it") == "url had *** in it"


def test_register_uri_secrets_ignores_nothing_and_bad_uris():
    register_uri_secrets(None)
    register_uri_secrets("")
    register_uri_secrets("http://bob:hunter22@[::1/x")  # unparseable by urllib, still registered
    assert scrub("hunter22") == MASK
    register_uri_secrets("https://host/api?x=1")  # nothing secret
    assert scrub("x=1 host api") == "x=1 host api"


def test_short_secrets_are_not_masked_in_free_text():
    # masking every 3-character string would garble messages; such values are still hidden in URLs
    register_secret("abc")
    register_uri_secrets("https://u:pw@host/")
    assert scrub("abc pw") == "abc pw"
    assert scrub("https://u:pw@host/") == "https://***@host/"


@pytest.mark.parametrize("name", ["MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN"])
def test_scrub_masks_mlflow_env_secrets(monkeypatch, name):
    monkeypatch.setenv(name, "s3cr3t-Value")
    out = scrub("request failed: header Authorization=Basic s3cr3t-Value; retry s3cr3t-Value")
    assert out == "request failed: header Authorization=Basic ***; retry ***"


@pytest.mark.parametrize("name", SECRET_ENV)
def test_every_secret_env_var_is_masked(monkeypatch, name):
    assert name in redact._SECRET_ENV
    monkeypatch.setenv(name, "Zq9-secret-Zq9")
    assert scrub("value=Zq9-secret-Zq9.") == "value=***."


def test_env_secret_is_masked_when_percent_encoded(monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "p@ss/word")
    assert scrub("https://host/?next=p%40ss%2Fword") == "https://host/?next=***"


def test_non_secret_env_vars_are_not_masked(monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "alice-admin")
    assert scrub("user alice-admin") == "user alice-admin"


def test_empty_env_secret_masks_nothing(monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "")
    assert scrub("nothing to hide") == "nothing to hide"


def test_longer_secret_is_masked_whole_when_it_contains_a_shorter_one(monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "abcd")
    register_secret("abcdefgh")
    assert scrub("x abcdefgh y") == "x *** y"


def test_extra_secrets():
    assert scrub("key K3y-1234 used", extra=("K3y-1234",)) == "key *** used"
    assert scrub("key K3y-1234 used", extra=("",)) == "key K3y-1234 used"
