"""HMAC-SHA256 signatures of webhook deliveries, with a replay window.

The sender computes ``hex(HMAC_SHA256(secret, f"{timestamp}.{body}"))`` over the raw
request body and sends it as ``X-Likeness-Signature: sha256=<hex>`` with the Unix time in
``X-Likeness-Timestamp``.
"""

from __future__ import annotations

import hashlib
import hmac
import time

REPLAY_WINDOW_SECONDS = 300
TIMESTAMP_DIGITS = 12  # Unix seconds until the year 33658; longer is not a timestamp


class SignatureRejected(ValueError):
    pass


def sign(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def signed_headers(secret: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """The headers a sender attaches to ``body`` (now, unless ``timestamp`` is given)."""
    sent_at = str(int(time.time()) if timestamp is None else timestamp)
    return {
        "Content-Type": "application/json",
        "X-Likeness-Timestamp": sent_at,
        "X-Likeness-Signature": sign(secret, sent_at, body),
    }


def verify(
    secret: str,
    *,
    timestamp: str | None,
    signature: str | None,
    body: bytes,
    now: float | None = None,
) -> None:
    if not timestamp or not signature:
        raise SignatureRejected("missing X-Likeness-Timestamp or X-Likeness-Signature header")
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= TIMESTAMP_DIGITS):
        raise SignatureRejected("X-Likeness-Timestamp is not a Unix time in seconds")
    sent_at = int(timestamp)
    if abs((now if now is not None else time.time()) - sent_at) > REPLAY_WINDOW_SECONDS:
        raise SignatureRejected(f"timestamp outside the {REPLAY_WINDOW_SECONDS}s replay window")
    if not hmac.compare_digest(sign(secret, timestamp, body), signature):
        raise SignatureRejected("signature does not match")
