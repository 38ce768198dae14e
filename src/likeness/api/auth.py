"""API token authentication (``LIKENESS_API_TOKEN``): a bearer header, or the cookie the
UI's login form sets. Compared in constant time. Unset: no authentication."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Cookie, Header, HTTPException, status

from likeness.config import get_settings

COOKIE = "likeness_token"


def token_matches(candidate: str | None) -> bool:
    expected = get_settings().api_token
    if expected is None:
        return True
    return candidate is not None and hmac.compare_digest(
        candidate.encode(), expected.get_secret_value().encode()
    )


def authorised(authorization: str | None, cookie: str | None) -> bool:
    bearer = authorization[7:] if authorization and authorization[:7].lower() == "bearer " else None
    return token_matches(bearer) if bearer is not None else token_matches(cookie)


def require_token(
    authorization: Annotated[str | None, Header()] = None,
    likeness_token: Annotated[str | None, Cookie()] = None,
) -> None:
    """API dependency: 401 unless the request carries the API token."""
    if not authorised(authorization, likeness_token):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing or wrong API token (Authorization: Bearer <LIKENESS_API_TOKEN>)",
            headers={"WWW-Authenticate": "Bearer"},
        )


def require_login(
    authorization: Annotated[str | None, Header()] = None,
    likeness_token: Annotated[str | None, Cookie()] = None,
) -> None:
    """Page dependency: without the token, a browser is sent to the login form."""
    if not authorised(authorization, likeness_token):
        raise HTTPException(status.HTTP_303_SEE_OTHER, headers={"Location": "/login"})
