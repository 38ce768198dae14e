"""Alembic environment: the URL comes from the caller's config (``likeness.db.migrate``);
importing this starts nothing."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from likeness.db.models import Base

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
        context.configure(connection=connection, target_metadata=Base.metadata)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()
