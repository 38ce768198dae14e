"""API token authentication (``LIKENESS_API_TOKEN``): a bearer header, or the session
cookie the UI's login form sets. Compared in constant time; wrong bearer tokens from one
client are slowed down like wrong logins. Unset: no authentication."""

from __future__ import annotations

import hashlib
import hmac
from typing import Annotated

from fastapi import Cookie, Header, HTTPException, Request, status

from likeness.api.sessions import session_valid, token_throttle
from likeness.config import get_settings


def token_matches(candidate: str | None) -> bool:
    expected = get_settings().api_token
    if expected is None:
        return True
    # Digests of equal length: the comparison's time says nothing of the token's length.
    return candidate is not None and hmac.compare_digest(
        hashlib.sha256(candidate.encode()).digest(),
        hashlib.sha256(expected.get_secret_value().encode()).digest(),
    )


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def refuse_while_throttled(client: str) -> None:
    """429 with ``Retry-After`` while ``client`` must wait after wrong tokens; checked
    before the token, so even the right one waits its turn."""
    wait = token_throttle.wait_s(client)
    if wait:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            f"too many wrong tokens: wait {wait} s",
            headers={"Retry-After": str(wait)},
        )


def authorised(request: Request, authorization: str | None, session: str | None) -> bool:
    if get_settings().api_token is None:
        return True
    bearer = authorization[7:] if authorization and authorization[:7].lower() == "bearer " else None
    if bearer is None:
        return session_valid(session)
    client = client_address(request)
    refuse_while_throttled(client)
    if not token_matches(bearer):
        token_throttle.failed(client)
        return False
    token_throttle.succeeded(client)
    return True


def require_token(
    request: Request,
    authorization: Annotated[str | None, Header()] = None,
    likeness_session: Annotated[str | None, Cookie()] = None,
) -> None:
    """API dependency: 401 unless the request carries the API token or a valid session."""
    if not authorised(request, authorization, likeness_session):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing or wrong API token (Authorization: Bearer <LIKENESS_API_TOKEN>)",
            headers={"WWW-Authenticate": "Bearer"},
        )


def require_login(
    request: Request,
    authorization: Annotated[str | None, Header()] = None,
    likeness_session: Annotated[str | None, Cookie()] = None,
) -> None:
    """Page dependency: without the token or a valid session, a browser is sent to the
    login form."""
    if not authorised(request, authorization, likeness_session):
        raise HTTPException(status.HTTP_303_SEE_OTHER, headers={"Location": "/login"})
