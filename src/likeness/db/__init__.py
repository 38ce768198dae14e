"""Database: models, sessions, repository functions and Alembic migrations."""
