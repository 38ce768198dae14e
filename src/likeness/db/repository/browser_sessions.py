"""Signed-in browsers of the UI, kept server-side so that logout ends a session."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import delete, select

from likeness.db.models import BrowserSession
from likeness.db.unit_of_work import UnitOfWork


def add_browser_session(
    session: UnitOfWork, *, id_hash: str, token_fingerprint: str, expires_at: datetime
) -> None:
    # Expired sessions go whenever a new one starts: the table stays as small as its use.
    session.execute(delete(BrowserSession).where(BrowserSession.expires_at < datetime.now(UTC)))
    session.add(
        BrowserSession(id_hash=id_hash, token_fingerprint=token_fingerprint, expires_at=expires_at)
    )


def browser_session_live(
    session: UnitOfWork, *, id_hash: str, token_fingerprint: str, now: datetime
) -> bool:
    """The session exists, was granted under this token and has not expired."""
    return (
        session.scalar(
            select(BrowserSession.id_hash).where(
                BrowserSession.id_hash == id_hash,
                BrowserSession.token_fingerprint == token_fingerprint,
                BrowserSession.expires_at > now,
            )
        )
        is not None
    )


def end_browser_session(session: UnitOfWork, *, id_hash: str) -> None:
    session.execute(delete(BrowserSession).where(BrowserSession.id_hash == id_hash))
