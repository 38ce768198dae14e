"""One transaction's session, with what it has done so far that later calls in it depend
on, as named fields instead of keys in ``Session.info``. ``db.session.transaction()``
yields one; every repository and service function takes it."""

from __future__ import annotations

from collections import deque
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from likeness.db.models import Character


class UnitOfWork(Session):
    def __init__(self, bind: Engine) -> None:
        super().__init__(bind, expire_on_commit=False)
        # The characters whose rows this transaction locked, held here so that the session
        # keeps them (it holds clean objects only weakly): later reads take them from it.
        self.locked_characters: dict[int, Character] = {}
        # Took the advisory lock that orders outbox writes (held until the transaction ends).
        self.holds_outbox_lock = False
        # Event ids taken ahead for a batch of events, used in order.
        self.reserved_outbox_ids: deque[int] = deque()
        # The NOTIFY messages of the events written: all sent in one statement before commit.
        self.unsent_notifications: list[str] = []
        # Each character's embedding as the transaction first found it, before a write
        # replaced it: a template change is measured against what consumers saw.
        self.embeddings_before: dict[int, Any] = {}
