"""Alembic environment: the URL comes from the caller's config (``likeness.db.migrate``);
importing this starts nothing."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, text

from likeness.db.models import Base

# Commands started at once on a new database migrate one after the other: the second
# finds the schema current instead of creating the same types and tables beside the first.
MIGRATION_LOCK = 0x6C696B65  # "like"

url = context.config.get_main_option("sqlalchemy.url")
if not url:
    raise RuntimeError("run the migrations with `likeness db upgrade`, which names the database")

if context.is_offline_mode():
    context.configure(url=url, target_metadata=Base.metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    engine = create_engine(url)
    with engine.connect() as connection:
        # Held to the end of the migrations' transaction, taken before Alembic reads the
        # revision the database is at.
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        context.configure(connection=connection, target_metadata=Base.metadata)
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()
    engine.dispose()
