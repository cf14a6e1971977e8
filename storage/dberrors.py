"""One readable line for a database that cannot be used: the cause and where, never the password."""

from __future__ import annotations

from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

# Errors meaning "the database cannot be used right now" (as opposed to a bug in a query).
_CAUSES = (
    ("readonly database", "the database is read-only"),
    ("read-only", "the database is read-only"),
    ("database is locked", "the database is locked by another process"),
    ("unable to open database file", "the database file cannot be opened"),
    ("disk i/o error", "the database disk failed (I/O error)"),
    ("database or disk is full", "the database disk is full"),
    ("connection refused", "the database server refused the connection"),
    ("connection failed", "the database server cannot be reached"),
    ("could not connect", "the database server cannot be reached"),
    ("could not translate host name", "the database host name does not resolve"),
    ("name or service not known", "the database host name does not resolve"),
    ("timeout", "the database did not answer in time"),
    ("does not exist", "the database does not exist"),
    ("password authentication failed", "the database refused the credentials"),
    ("server closed the connection", "the database server closed the connection"),
    ("terminating connection", "the database server closed the connection"),
    ("the database system is starting up", "the database server is starting up"),
    ("the database system is shutting down", "the database server is shutting down"),
)


def is_unavailable(exc: BaseException) -> bool:
    """True for errors that mean the database cannot be reached or written, not a wrong query."""
    # Not every OperationalError: SQLite reports an FTS5 syntax error as one too, and that is a bad query.
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, SQLAlchemyError) and _cause(exc) is not None


def _cause(exc: BaseException) -> str | None:
    text = str(getattr(exc, "orig", None) or exc).lower()
    for needle, cause in _CAUSES:
        if needle in text:
            return cause
    return None


def where(url: str) -> str:
    """The database's path (SQLite) or host:port/name (server), without credentials."""
    try:
        u = make_url(url)
    except Exception:  # noqa: BLE001 - an unparsable URL is described as such
        return "an unparsable database URL"
    if u.get_backend_name() == "sqlite":
        return u.database or "an in-memory SQLite database"
    host = f"{u.host or 'localhost'}{f':{u.port}' if u.port else ''}"
    return f"{u.get_backend_name()} at {host}/{u.database or ''}"


def describe(exc: BaseException, url: str) -> str:
    """'database unavailable: <cause> (<where>)', one line."""
    cause = _cause(exc)
    if cause is None:
        first = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        cause = (first[0] if first else type(exc).__name__)[:200]
    return f"database unavailable: {cause} ({where(url)})"
