"""MLflow's webhook signature, checked exactly as the installed MLflow computes it.

MLflow (``mlflow/webhooks/delivery.py``) signs ``"{delivery_id}.{timestamp}.{body}"`` with
HMAC-SHA256 under the webhook's secret and sends ``v1,<base64 digest>`` in
``X-MLflow-Signature``, the Unix time in seconds in ``X-MLflow-Timestamp`` and a UUID in
``X-MLflow-Delivery-Id``. The digest is taken over the raw body as received: parsing and
re-serialising the JSON first would change the bytes and verify nothing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Mapping
from dataclasses import dataclass

SIGNATURE_HEADER = "X-MLflow-Signature"
TIMESTAMP_HEADER = "X-MLflow-Timestamp"
DELIVERY_ID_HEADER = "X-MLflow-Delivery-Id"
SIGNATURE_VERSION = "v1"
MAX_AGE_SECONDS = 300
"""A delivery older than this is refused: a captured request cannot be replayed later."""
MAX_SKEW_SECONDS = 300
"""Nor one dated further ahead than this (a clock that far ahead is a forged timestamp)."""
MAX_DELIVERY_ID = 200


@dataclass(frozen=True)
class Rejection:
    """Why a delivery was refused: ``reason`` is a short label for metrics, ``message`` the
    one line logged and returned (never the secret, the signature or the body)."""

    reason: str
    message: str


def sign(secret: str, delivery_id: str, timestamp: str, body: bytes) -> str:
    """The header value MLflow would send for this delivery (for tests and ``--self-test``)."""
    digest = hmac.new(
        secret.encode("utf-8"), f"{delivery_id}.{timestamp}.".encode() + body, hashlib.sha256
    ).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode('ascii')}"


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        value = headers.get(name.lower())
    return value


def verify(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: float | None = None,
) -> Rejection | None:
    """``None`` when the delivery is signed with ``secret`` and fresh; else why not.

    Every candidate signature is compared in constant time (``hmac.compare_digest``); the
    header may carry several space-separated ``v1,...`` values, as Standard Webhooks allows
    during a secret rotation.
    """
    delivery_id = _header(headers, DELIVERY_ID_HEADER)
    timestamp = _header(headers, TIMESTAMP_HEADER)
    signature = _header(headers, SIGNATURE_HEADER)
    if not delivery_id or not timestamp or not signature:
        missing = [
            name
            for name, value in (
                (DELIVERY_ID_HEADER, delivery_id),
                (TIMESTAMP_HEADER, timestamp),
                (SIGNATURE_HEADER, signature),
            )
            if not value
        ]
        return Rejection("missing_signature", f"missing header(s): {', '.join(missing)}")
    if len(delivery_id) > MAX_DELIVERY_ID or not delivery_id.isprintable():
        return Rejection("bad_delivery_id", "malformed delivery id")
    try:
        sent = int(timestamp)
    except ValueError:
        return Rejection("bad_timestamp", "the timestamp is not Unix seconds")
    expected = sign(secret, delivery_id, timestamp, body).encode("ascii")
    matched = False
    for candidate in signature.split():
        # compare_digest on every candidate, not stopping at the first match
        matched |= hmac.compare_digest(candidate.encode("utf-8", "replace"), expected)
    if not matched:
        return Rejection("bad_signature", "the signature does not match")
    current = time.time() if now is None else now
    if sent < current - MAX_AGE_SECONDS:
        return Rejection("stale_timestamp", f"the timestamp is more than {MAX_AGE_SECONDS} s old")
    if sent > current + MAX_SKEW_SECONDS:
        return Rejection(
            "future_timestamp", f"the timestamp is more than {MAX_SKEW_SECONDS} s in the future"
        )
    return None
