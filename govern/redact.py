"""Keep credentials out of everything govern prints, reports or records.

Tracking URIs may carry ``user:token@`` or ``?token=`` parts, and MLflow reads tokens and passwords
from the environment; any of them could surface in an exception message.
"""

from __future__ import annotations

import os
import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

_SECRET_ENV = (
    "MLFLOW_TRACKING_PASSWORD",
    "MLFLOW_TRACKING_TOKEN",
    "MLFLOW_TRACKING_CLIENT_CERT_PATH",
    "DATABRICKS_TOKEN",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AZURE_STORAGE_ACCESS_KEY",
    "AZURE_STORAGE_CONNECTION_STRING",
)
_SECRET_QUERY_KEYS = re.compile(
    r"(token|secret|password|passwd|pwd|key|signature|sig|credential|auth)", re.IGNORECASE
)
_USERINFO_RE = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/@\s]+)@")
MASK = "***"
_REGISTERED: set[str] = set()


def register_secret(value: str | None) -> None:
    """Remember a secret seen at start-up (the password of a tracking URI) so scrub masks it."""
    if value and len(value) >= 4:
        _REGISTERED.add(value)


def register_uri_secrets(uri: str | None) -> None:
    if not uri:
        return
    try:
        parts = urlsplit(uri)
    except ValueError:
        return
    register_secret(parts.password)
    if parts.username and parts.password is None:
        register_secret(parts.username)  # a bare token as userinfo
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if _SECRET_QUERY_KEYS.search(key):
            register_secret(value)


def redact_uri(uri: str | None) -> str:
    """Remove userinfo and secret-looking query values from a URI."""
    if not uri:
        return ""
    try:
        parts = urlsplit(uri)
    except ValueError:
        return scrub(uri)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{MASK}@{netloc.rpartition('@')[2]}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode(
            [(k, MASK if _SECRET_QUERY_KEYS.search(k) else v) for k, v in pairs], safe="*"
        )
    return scrub(urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment)))


def scrub(text: str, *, extra: tuple[str, ...] = ()) -> str:
    """Mask credentials embedded in URLs and the values of secret environment variables."""
    out = _USERINFO_RE.sub(lambda m: f"{m.group('scheme')}{MASK}@", text)
    secrets = [os.environ.get(name, "") for name in _SECRET_ENV] + list(extra) + list(_REGISTERED)
    for secret in secrets:
        if secret and len(secret) >= 4:
            out = out.replace(secret, MASK)
    return out
