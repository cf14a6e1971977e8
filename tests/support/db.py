"""The database a test's MILAI_* environment names (the `milai_env` fixture), for tests that seed or read it."""

from __future__ import annotations

from sqlalchemy import Engine

from milai.config import Settings
from storage.database import get_engine


def configured_engine() -> Engine:
    """The process-wide engine of the database MILAI_DATABASE_URL names (read now, not cached)."""
    return get_engine(Settings().effective_database_url)
