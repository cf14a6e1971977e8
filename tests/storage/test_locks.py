"""Advisory-lock lookups see only this database's holders (two deployments may share one PostgreSQL server)."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine

from storage.locks import advisory_lock_holder, try_advisory_lock
from tests.conftest import PG_ADMIN_URL

KEY = 0x4D494C4149  # any key; the lookup must not care which database took it


@pytest.mark.postgres
def test_a_lock_held_in_another_database_is_not_this_databases_holder(db_url: str) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("advisory locks are PostgreSQL's")
    ours, other = create_engine(db_url), create_engine(PG_ADMIN_URL)
    try:
        with ours.connect() as holder, ours.connect() as looker, other.connect() as elsewhere:
            assert try_advisory_lock(holder, KEY)
            found = advisory_lock_holder(looker, KEY)
            assert found is not None and found.pid == holder.connection.dbapi_connection.info.backend_pid  # type: ignore[union-attr]
            assert advisory_lock_holder(elsewhere, KEY) is None  # same key, same server, another database
    finally:
        ours.dispose()
        other.dispose()
