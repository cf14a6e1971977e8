"""PostgreSQL session advisory locks (leader election): taken and checked on one dedicated connection.

A session-level advisory lock belongs to the connection that took it: it is released when that
connection closes for any reason -- a clean exit, `kill -9` (the kernel closes the socket), or the server
noticing a dead peer, which the TCP keepalive settings below bound to about 25 s even when the machine
itself is gone. So the holder of the lock is alive by construction, and nothing has to expire.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, text

# the server gives up on a silent peer after idle + interval * count seconds (per session, no superuser needed)
KEEPALIVE_SQL = ("SET tcp_keepalives_idle = 10", "SET tcp_keepalives_interval = 5", "SET tcp_keepalives_count = 3")


@dataclass(frozen=True)
class LockHolder:
    pid: int
    application_name: str
    client_addr: str | None
    since: datetime | None


def prepare_lock_connection(conn: Connection, application_name: str) -> None:
    """Name the session (shown by `milai status` via pg_stat_activity) and make the server notice its death."""
    conn.execute(text("SELECT set_config('application_name', :name, false)"), {"name": application_name[:63]})
    for statement in KEEPALIVE_SQL:
        conn.execute(text(statement))
    conn.commit()


def try_advisory_lock(conn: Connection, key: int) -> bool:
    """Take the session lock `key` on `conn` unless another session holds it."""
    got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": key}).scalar())
    conn.commit()
    return got


def holds_advisory_lock(conn: Connection, key: int) -> bool:
    """True while `conn`'s session holds lock `key` (raises when the connection is gone)."""
    held = bool(conn.execute(
        text("SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() "
             "AND classid = (CAST(:key AS bigint) >> 32)::int::oid "
             "AND objid = (CAST(:key AS bigint) & 4294967295)::oid "
             "AND objsubid = 1 AND granted)"),
        {"key": key},
    ).scalar())
    conn.commit()
    return held


def release_advisory_lock(conn: Connection, key: int) -> None:
    conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
    conn.commit()


def advisory_lock_holder(conn: Connection, key: int) -> LockHolder | None:
    """The session holding lock `key`, as pg_stat_activity describes it."""
    row = conn.execute(
        text("SELECT a.pid, a.application_name, host(a.client_addr), a.backend_start FROM pg_locks l "
             "JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' "
             "AND l.classid = (CAST(:key AS bigint) >> 32)::int::oid "
             "AND l.objid = (CAST(:key AS bigint) & 4294967295)::oid "
             "AND l.objsubid = 1 AND l.granted "
             # advisory locks are per database: another deployment's leader on the same server is not ours
             "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) LIMIT 1"),
        {"key": key},
    ).first()
    conn.commit()
    if row is None:
        return None
    return LockHolder(pid=int(row[0]), application_name=str(row[1] or ""), client_addr=row[2], since=row[3])
