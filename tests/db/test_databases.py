"""Databases created when missing, on a real PostgreSQL server, by processes started at once."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from likeness.db import databases
from likeness.db.databases import create_database, drop_database, server_connection

NAME = "likeness_created_meanwhile"


@pytest.fixture
def dropped_after(database_url: str) -> Iterator[None]:
    drop_database(database_url, NAME)
    yield
    drop_database(database_url, NAME)


@pytest.mark.usefixtures("dropped_after")
def test_a_database_another_process_created_since_the_look_is_taken_as_created(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Commands started at once on a new home (and the kept Prefect server) each look,
    then create: the one that loses the race is told "already exists" (or a duplicate key,
    by timing), and has what it asked for."""
    create_database(database_url, NAME)  # the other process, first
    real_look = databases.database_exists
    looks: list[bool] = []

    def look_before_the_other_created_it(connection: Connection, name: str) -> bool:
        looks.append(real_look(connection, name))
        return len(looks) > 1 and looks[-1]  # the first look saw nothing yet

    monkeypatch.setattr(databases, "database_exists", look_before_the_other_created_it)

    url = create_database(database_url, NAME)

    assert url.endswith(f"/{NAME}") or f"/{NAME}?" in url
    assert looks == [True, True]  # it tried to create it, and then found it there
    with server_connection(database_url) as connection:
        assert real_look(connection, NAME)


def test_a_create_that_fails_while_the_database_is_still_not_found_is_raised(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only a database found on the second look is taken as created meanwhile: a CREATE
    that failed while none is found is the caller's error to see."""
    monkeypatch.setattr(databases, "database_exists", lambda *_: False)

    with pytest.raises(DBAPIError, match="already exists"):
        create_database(database_url, "template1")  # exists, but never found by the look
