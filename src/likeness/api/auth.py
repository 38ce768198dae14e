"""API token authentication (``LIKENESS_API_TOKEN``): a bearer header, or the signed
session cookie the UI's login form sets. Compared in constant time. Unset: no
authentication."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Cookie, Header, HTTPException, status

from likeness.api.sessions import session_valid
from likeness.config import get_settings


def token_matches(candidate: str | None) -> bool:
    expected = get_settings().api_token
    if expected is None:
        return True
    return candidate is not None and hmac.compare_digest(
        candidate.encode(), expected.get_secret_value().encode()
    )


def authorised(authorization: str | None, session: str | None) -> bool:
    if get_settings().api_token is None:
        return True
    bearer = authorization[7:] if authorization and authorization[:7].lower() == "bearer " else None
    return token_matches(bearer) if bearer is not None else session_valid(session)


def require_token(
    authorization: Annotated[str | None, Header()] = None,
    likeness_session: Annotated[str | None, Cookie()] = None,
) -> None:
    """API dependency: 401 unless the request carries the API token or a valid session."""
    if not authorised(authorization, likeness_session):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing or wrong API token (Authorization: Bearer <LIKENESS_API_TOKEN>)",
            headers={"WWW-Authenticate": "Bearer"},
        )


def require_login(
    authorization: Annotated[str | None, Header()] = None,
    likeness_session: Annotated[str | None, Cookie()] = None,
) -> None:
    """Page dependency: without the token or a valid session, a browser is sent to the
    login form."""
    if not authorised(authorization, likeness_session):
        raise HTTPException(status.HTTP_303_SEE_OTHER, headers={"Location": "/login"})
