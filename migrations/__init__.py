"""Alembic migrations: the only way the buildmaster schema changes."""
