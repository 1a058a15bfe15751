"""The signature check against MLflow's own signing function, byte for byte."""

from __future__ import annotations

import json
import time

from mlflow.webhooks.delivery import _generate_hmac_signature

from govern.events import signature

SECRET = "s3cret-for-tests-only"


def _delivery(body: bytes, *, secret: str = SECRET, at: int | None = None) -> dict[str, str]:
    ts = str(int(time.time()) if at is None else at)
    return {
        "X-MLflow-Delivery-Id": "6f1c1d3e-0000-4000-8000-000000000001",
        "X-MLflow-Timestamp": ts,
        "X-MLflow-Signature": _generate_hmac_signature(
            secret, "6f1c1d3e-0000-4000-8000-000000000001", ts, body.decode()
        ),
    }


BODY = json.dumps(
    {"entity": "model_version", "action": "created", "data": {"name": "m", "version": "1"}}
).encode()


def test_mlflow_signature_verifies():
    assert signature.verify(SECRET, _delivery(BODY), BODY) is None


def test_our_sign_is_mlflows():
    headers = _delivery(BODY)
    ours = signature.sign(
        SECRET, headers["X-MLflow-Delivery-Id"], headers["X-MLflow-Timestamp"], BODY
    )
    assert ours == headers["X-MLflow-Signature"]


def test_wrong_secret_is_refused():
    refused = signature.verify(SECRET, _delivery(BODY, secret="another-secret"), BODY)
    assert refused is not None and refused.reason == "bad_signature"


def test_body_changed_after_signing_is_refused():
    headers = _delivery(BODY)
    tampered = BODY.replace(b'"1"', b'"2"')
    refused = signature.verify(SECRET, headers, tampered)
    assert refused is not None and refused.reason == "bad_signature"


def test_missing_headers_are_refused():
    headers = _delivery(BODY)
    del headers["X-MLflow-Signature"]
    refused = signature.verify(SECRET, headers, BODY)
    assert refused is not None and refused.reason == "missing_signature"
    assert "X-MLflow-Signature" in refused.message


def test_stale_and_future_timestamps_are_refused():
    now = time.time()
    old = signature.verify(SECRET, _delivery(BODY, at=int(now) - 301), BODY, now=now)
    assert old is not None and old.reason == "stale_timestamp"
    ahead = signature.verify(SECRET, _delivery(BODY, at=int(now) + 301), BODY, now=now)
    assert ahead is not None and ahead.reason == "future_timestamp"
    inside = signature.verify(SECRET, _delivery(BODY, at=int(now) - 290), BODY, now=now)
    assert inside is None


def test_a_rotation_list_of_signatures_verifies_when_one_matches():
    headers = _delivery(BODY)
    headers["X-MLflow-Signature"] = "v1,AAAA " + headers["X-MLflow-Signature"]
    assert signature.verify(SECRET, headers, BODY) is None


def test_lowercase_header_names_are_read():
    headers = {k.lower(): v for k, v in _delivery(BODY).items()}
    assert signature.verify(SECRET, headers, BODY) is None


def test_non_numeric_timestamp_is_refused():
    headers = _delivery(BODY)
    headers["X-MLflow-Timestamp"] = "yesterday"
    refused = signature.verify(SECRET, headers, BODY)
    assert refused is not None and refused.reason == "bad_timestamp"
