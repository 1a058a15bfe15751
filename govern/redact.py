"""Keep credentials out of everything govern prints, reports or records.

Tracking URIs may carry ``user:token@`` or ``?token=`` parts, and MLflow reads tokens and passwords
from the environment; any of them could surface in an exception message.

URIs are masked as text, never parsed and rebuilt: ``urlunsplit`` would turn
``sqlite:////tmp/mlflow.db`` into ``sqlite://tmp/mlflow.db`` and re-encode the query, and a report
must show a URI exactly as given, minus its secrets.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from urllib.parse import quote, unquote, unquote_plus

_SECRET_ENV = (
    "MLFLOW_TRACKING_PASSWORD",
    "MLFLOW_TRACKING_TOKEN",
    "MLFLOW_TRACKING_CLIENT_CERT_PATH",
    "DATABRICKS_TOKEN",
    "DATABRICKS_CLIENT_SECRET",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AZURE_STORAGE_ACCESS_KEY",
    "AZURE_STORAGE_CONNECTION_STRING",
    "AZURE_CLIENT_SECRET",
)
_SECRET_QUERY_KEYS = re.compile(
    r"(token|secret|password|passwd|pwd|key|signature|sig|credential|auth|session|jwt)",
    re.IGNORECASE,
)
_SCHEME = r"[A-Za-z][A-Za-z0-9+.-]*://"
# Userinfo runs to the last '@' before the path, query or fragment: a password may hold an '@'.
_USERINFO_RE = re.compile(rf"(?P<scheme>{_SCHEME})(?P<userinfo>[^/?#\s]*)@")
# In a single URI the authority may even hold spaces; in free text whitespace ends a URL.
_URI_USERINFO_RE = re.compile(rf"^(?P<scheme>{_SCHEME})(?P<userinfo>[^/?#]*)@")
# ``?key=value``, ``&key=value`` (also ``;`` and ``#`` separators) anywhere in text.
_PARAM_RE = re.compile(r"(?P<sep>[?&;#])(?P<key>[^=&;#?\s]+)=(?P<value>[^&#\s'\"<>]*)")
MASK = "***"
_MIN_SECRET = 4
"""Shorter values are not masked in free text: masking every "abc" would garble messages."""
_REGISTERED: set[str] = set()


def register_secret(value: str | None) -> None:
    """Remember a secret seen at start-up (the password of a tracking URI) so scrub masks it."""
    if value and len(value) >= _MIN_SECRET:
        _REGISTERED.add(value)


def register_uri_secrets(uri: str | None) -> None:
    """Remember the password (or bare token) and secret query values of a URI."""
    if not uri:
        return
    match = _URI_USERINFO_RE.match(uri)
    if match:
        user, colon, password = match.group("userinfo").partition(":")
        register_secret(password if colon else user)  # no ':' means a bare token as userinfo
    for param in _PARAM_RE.finditer(uri):
        if _is_secret_key(param.group("key")):
            register_secret(param.group("value"))


_SECRET_NAME = re.compile(r"(TOKEN|SECRET|PASSWORD|PASSWD|KEY|CREDENTIAL|AUTH)", re.IGNORECASE)
_MIN_SECRET_ENV = 8
"""Values of secret-looking variables shorter than this are not searched for in what govern
sends elsewhere: a flag such as ``true`` would match everything."""


def secret_values(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """What must never leave govern's process (value -> where it came from): the values of the
    credential variables MLflow and the clouds read, of any variable whose name looks secret
    (``*_API_KEY``, ``*TOKEN*``, ...), and the secrets registered from URIs. For checking a
    payload before it is sent (a pickled UDF bound for a cluster), not for masking text."""
    env = os.environ if environ is None else environ
    found = {
        value: name
        for name, value in env.items()
        if (name in _SECRET_ENV or _SECRET_NAME.search(name)) and len(value) >= _MIN_SECRET_ENV
    }
    for value in _REGISTERED:
        found.setdefault(value, "a secret of the tracking URI")
    return found


def redact_uri(uri: str | None) -> str:
    """Remove userinfo and secret-looking query values from a URI; keep everything else as is."""
    if not uri:
        return ""
    return scrub(_URI_USERINFO_RE.sub(lambda m: f"{m.group('scheme')}{MASK}@", uri, count=1))


def scrub(text: str, *, extra: tuple[str, ...] = ()) -> str:
    """Mask credentials embedded in URLs and the values of secret environment variables."""
    out = _USERINFO_RE.sub(lambda m: f"{m.group('scheme')}{MASK}@", text)
    out = _PARAM_RE.sub(_mask_param, out)
    secrets = [os.environ.get(name, "") for name in _SECRET_ENV] + list(extra) + list(_REGISTERED)
    # Longest first, so a secret that contains another is not left half-masked.
    for secret in sorted(_variants(secrets), key=len, reverse=True):
        out = out.replace(secret, MASK)
    return out


def _is_secret_key(key: str) -> bool:
    return bool(_SECRET_QUERY_KEYS.search(unquote_plus(key)))


def _mask_param(match: re.Match[str]) -> str:
    if not match.group("value") or not _is_secret_key(match.group("key")):
        return match.group(0)
    return f"{match.group('sep')}{match.group('key')}={MASK}"


def _variants(secrets: list[str]) -> set[str]:
    """Each secret as written, percent-decoded and percent-encoded: a URI holds one form, the
    message of the library that used it may show another."""
    out: set[str] = set()
    for secret in secrets:
        if not secret:
            continue
        for form in (secret, unquote(secret), unquote_plus(secret), quote(secret, safe="")):
            if len(form) >= _MIN_SECRET:
                out.add(form)
    return out
