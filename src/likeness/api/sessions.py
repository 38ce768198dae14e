"""Browser sessions of the UI, kept server-side, and a throttle for wrong tokens.

The cookie holds a random id, never the API token; the database holds the id's SHA-256,
the token it was granted under (as a fingerprint) and its expiry. Logging out deletes the
row, and a new ``LIKENESS_API_TOKEN`` ends every session at once. Every API process sees
the same sessions (they share the database).
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections import defaultdict, deque
from datetime import UTC, datetime

from likeness.config import get_settings
from likeness.db import repository
from likeness.db.session import transaction

COOKIE = "likeness_session"

# Wrong tokens a client may send before each further try must wait, the wait doubling
# with every failure up to the cap; failures older than the window are forgotten.
FREE_FAILURES = 5
MAX_WAIT_S = 300
FAILURE_WINDOW_S = 900


def token_fingerprint() -> str | None:
    """What a session remembers of the token it was granted under (not the token)."""
    token = get_settings().api_token
    if token is None:
        return None
    return hashlib.sha256(b"likeness-session\0" + token.get_secret_value().encode()).hexdigest()


def _id_hash(cookie: str) -> str:
    return hashlib.sha256(cookie.encode()).hexdigest()


def new_session(now: float | None = None) -> str:
    """A cookie value valid for ``LIKENESS_SESSION_HOURS`` from ``now``."""
    fingerprint = token_fingerprint()
    assert fingerprint is not None, "sessions exist only when LIKENESS_API_TOKEN is set"
    cookie = secrets.token_urlsafe(32)
    expires = (now or time.time()) + get_settings().session_hours * 3600
    with transaction() as session:
        repository.add_browser_session(
            session,
            id_hash=_id_hash(cookie),
            token_fingerprint=fingerprint,
            expires_at=datetime.fromtimestamp(expires, UTC),
        )
    return cookie


def session_valid(cookie: str | None, now: float | None = None) -> bool:
    fingerprint = token_fingerprint()
    if fingerprint is None or not cookie or len(cookie) > 100:
        return False
    with transaction() as session:
        return repository.browser_session_live(
            session,
            id_hash=_id_hash(cookie),
            token_fingerprint=fingerprint,
            now=datetime.fromtimestamp(now or time.time(), UTC),
        )


def end_session(cookie: str | None) -> None:
    """Logout: the session is gone for every API process at once."""
    if cookie:
        with transaction() as session:
            repository.end_browser_session(session, id_hash=_id_hash(cookie))


class TokenThrottle:
    """Failed tries of the token per client address (the login form and bearer headers),
    in this process: each API process counts its own."""

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


token_throttle = TokenThrottle()
