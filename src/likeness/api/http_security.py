"""Protections every response and request gets: security headers, and no state change
from another site (every port of 127.0.0.1 is the "same site" to a browser's SameSite
cookies, so the Origin is checked as well)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from fastapi import Request, Response, status
from fastapi.responses import JSONResponse

from likeness.api.sessions import COOKIE
from likeness.config import get_settings

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
SIGNED_PREFIX = "/webhooks/"  # server-to-server, authenticated by its HMAC signature

HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; "
        "style-src-attr 'unsafe-inline'; img-src 'self' data: blob:; object-src 'none'; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}

Next = Callable[[Request], Awaitable[Response]]


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def cross_site_refusal(request: Request) -> str | None:
    """Why a state-changing request must be refused, or None.

    A browser names the page that sent a request in ``Origin`` (or at least ``Referer``);
    it must be this site. A request naming neither is a browser's only when it carries
    the session cookie, which is then refused; API clients (curl, a bearer token, the
    webhook's sender) send neither and pass.
    """
    if request.method in SAFE_METHODS or request.url.path.startswith(SIGNED_PREFIX):
        return None
    sender = request.headers.get("origin") or request.headers.get("referer")
    if sender is None:
        if COOKIE in request.cookies and "authorization" not in request.headers:
            return "a browser request without Origin or Referer"
        return None
    own = origin_of(f"{request.url.scheme}://{request.headers.get('host', '')}")
    allowed = {own, *(origin_of(o) for o in get_settings().trusted_origins)}
    sent_from = origin_of(sender) if sender != "null" else "null"
    if sent_from not in allowed:
        return f"a request sent from {sent_from}, another site"
    return None


async def protect(request: Request, call_next: Next) -> Response:
    """HTTP middleware: refuse cross-site state changes (403), add the security headers."""
    refusal = cross_site_refusal(request)
    if refusal is not None:
        response: Response = JSONResponse(
            {"detail": f"refused {refusal}: state changes must come from this site"},
            status_code=status.HTTP_403_FORBIDDEN,
        )
    else:
        response = await call_next(request)
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    return response
