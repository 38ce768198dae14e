"""Run the Alembic migrations that ship inside the package, on the database a caller names
(this module knows no settings: ``db.session`` uses it, never the other way round)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine
from sqlalchemy.pool import NullPool

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # '%' must be escaped for configparser interpolation.
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(url), revision)


def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config("postgresql://"))


def _current(engine: Engine) -> set[str]:
    with engine.connect() as connection:
        return set(MigrationContext.configure(connection).get_current_heads())


def at_head(url: str) -> bool:
    """The database is at the newest revision shipped: an upgrade would run nothing. Asked
    first because asking costs a query, where an upgrade that finds nothing to do sets up
    Alembic's whole environment (0.26 s of every command here)."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        return _current(engine) == set(_scripts().get_heads())
    finally:
        engine.dispose()


def schema_problem(engine: Engine) -> str | None:
    """What is wrong with the database's schema for this package, as the sentence to show
    (with the command that fixes it); None when it is at the newest revision shipped."""
    scripts = _scripts()
    current = _current(engine)
    if current == set(scripts.get_heads()):
        return None
    at = ", ".join(sorted(current)) or "none"
    known = {script.revision for script in scripts.walk_revisions()}
    if current - known:
        return (
            f"the database schema is at revision {at}, newer than this likeness knows: "
            "upgrade likeness"
        )
    return (
        f"the database schema is at revision {at}, older than this likeness: "
        "run `likeness db upgrade`"
    )
