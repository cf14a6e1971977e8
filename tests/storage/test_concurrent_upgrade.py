"""Schema upgrades of processes that start together on one PostgreSQL database (a cluster) are serialised."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.conftest import PG_ADMIN_URL, ROOT, _pg_db_url


@pytest.mark.postgres
def test_processes_starting_together_upgrade_an_empty_postgres_database_one_at_a_time(tmp_path: Path) -> None:
    """A cluster's processes start at once on a fresh database: the schema upgrade is serialised."""
    name = f"milai_t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("MILAI_")},
               "MILAI_DATABASE_URL": _pg_db_url(name), "MILAI_DATA_DIR": str(tmp_path / "data")}
        procs = [subprocess.Popen([sys.executable, "-m", "milai", "db", "upgrade"], cwd=ROOT, env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for _ in range(4)]
        outputs = [p.communicate(timeout=120)[0] for p in procs]
        assert [p.returncode for p in procs] == [0, 0, 0, 0], outputs
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
