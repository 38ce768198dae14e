"""Reading the database's URL starts nothing: the commands open the database themselves."""

from __future__ import annotations

from pathlib import Path

import pytest

from likeness.config import Settings
from likeness.db.embedded import EmbeddedNotRunning
from likeness.db.session import database_url


def test_the_url_of_an_embedded_database_nobody_opened_is_an_error_and_starts_nothing(
    tmp_path: Path,
) -> None:
    settings = Settings(home=tmp_path, database_url=None)
    with pytest.raises(EmbeddedNotRunning, match="not running: any likeness command"):
        database_url(settings)
    assert not settings.postgres_dir.exists()


def test_a_configured_url_is_given_back_as_sqlalchemy_reads_it(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, database_url="postgresql://studio@db.example/likeness")
    assert database_url(settings) == "postgresql+psycopg://studio@db.example/likeness"
    assert not settings.postgres_dir.exists()
