"""Browser sessions of the UI: a signed cookie that expires, and a login that slows down.

The cookie holds ``<expiry>.<nonce>.<HMAC>``, never the API token. Its key is derived from
the token, so a new ``LIKENESS_API_TOKEN`` ends every session at once.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import defaultdict, deque

from likeness.config import get_settings

COOKIE = "likeness_session"

# Wrong tokens a client may send before each further try must wait, the wait doubling
# with every failure up to the cap; failures older than the window are forgotten.
FREE_FAILURES = 5
MAX_WAIT_S = 300
FAILURE_WINDOW_S = 900


def _key() -> bytes | None:
    token = get_settings().api_token
    if token is None:
        return None
    return hashlib.sha256(b"likeness-session\0" + token.get_secret_value().encode()).digest()


def _signature(key: bytes, payload: str) -> str:
    return hmac.new(key, payload.encode(), hashlib.sha256).hexdigest()


def new_session(now: float | None = None) -> str:
    """A cookie value valid for ``LIKENESS_SESSION_HOURS``."""
    key = _key()
    assert key is not None, "sessions exist only when LIKENESS_API_TOKEN is set"
    expires = int((now or time.time()) + get_settings().session_hours * 3600)
    payload = f"{expires}.{secrets.token_hex(16)}"
    return f"{payload}.{_signature(key, payload)}"


def session_valid(cookie: str | None, now: float | None = None) -> bool:
    key = _key()
    if key is None or not cookie or cookie.count(".") != 2:
        return False
    payload, signature = cookie.rsplit(".", 1)
    expires = payload.split(".", 1)[0]
    if not hmac.compare_digest(_signature(key, payload), signature):
        return False
    return expires.isdigit() and int(expires) > (now or time.time())


class LoginThrottle:
    """Failed logins per client address, in this process (one API process per stack)."""

    def __init__(self) -> None:
        self._failures: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def wait_s(self, client: str, now: float | None = None) -> int:
        """Seconds ``client`` must still wait before its next try (0: it may try now)."""
        now = now or time.time()
        with self._lock:
            failures = self._recent(client, now)
            if len(failures) < FREE_FAILURES:
                return 0
            wait = min(MAX_WAIT_S, 2 ** (len(failures) - FREE_FAILURES))
            return max(0, int(failures[-1] + wait - now + 0.999))

    def failed(self, client: str, now: float | None = None) -> None:
        now = now or time.time()
        with self._lock:
            self._recent(client, now).append(now)

    def succeeded(self, client: str) -> None:
        with self._lock:
            self._failures.pop(client, None)

    def _recent(self, client: str, now: float) -> deque[float]:
        failures = self._failures[client]
        while failures and failures[0] < now - FAILURE_WINDOW_S:
            failures.popleft()
        return failures


login_throttle = LoginThrottle()
