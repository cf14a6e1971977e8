"""The normalised columns the full-text indexes read: `items.search_title` / `items.search_text`.

`search_columns` (storage.index_terms) computes them with storage.textnorm; ORM events keep them in sync on
every flush and bulk UPDATE (installed by `register_listeners`, which storage.database calls wherever it makes
an engine), and `reindex` fills them for rows written otherwise (the 0002 migration). storage.search
normalises a user's query with the same `index_word` (storage.index_terms).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, bindparam, column, event, select, table
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import ORMExecuteState, Session

from storage.index_terms import search_columns
from storage.models import Item

_INDEXED = frozenset({"title", "summary", "text", "language"})  # the Item fields the columns derive from


def _fill(item: Item) -> None:
    item.search_title, item.search_text = search_columns(item.title, item.summary, item.text, item.language)


def _item_before_insert(_mapper: Any, _conn: Any, item: Item) -> None:
    _fill(item)


def _item_before_update(_mapper: Any, _conn: Any, item: Item) -> None:
    state = sa_inspect(item)
    if any(state.attrs[name].history.has_changes() for name in _INDEXED):
        _fill(item)


def _bulk_keys(orm_state: ORMExecuteState) -> set[str] | None:
    """Column names an ORM bulk UPDATE sets (None: unknown, assume all)."""
    params = orm_state.parameters
    if isinstance(params, list) and params:
        return {str(k) for p in params for k in p}
    values = getattr(orm_state.statement, "_values", None)
    if not values:
        return None if not params else {str(k) for k in params}
    return {getattr(k, "key", None) or getattr(k, "name", None) or str(k) for k in values}


def _bulk_update_sync(orm_state: ORMExecuteState) -> Any:
    """`session.execute(update(Item)…)` skips the flush events: re-normalise the rows it touched."""
    if not orm_state.is_update or orm_state.bind_mapper is not sa_inspect(Item):
        return None
    keys = _bulk_keys(orm_state)
    if keys is not None and not keys & _INDEXED:
        return None
    session = orm_state.session
    params = orm_state.parameters
    if isinstance(params, list) and params and all("id" in p for p in params):
        ids = [p["id"] for p in params]
    else:
        where = getattr(orm_state.statement, "whereclause", None)
        sel = select(Item.id) if where is None else select(Item.id).where(where)
        ids = list(session.execute(sel).scalars())
    result = orm_state.invoke_statement()
    reindex(session, ids)
    return result


_register_lock = threading.Lock()


def register_listeners() -> None:
    """Install the ORM events that keep the search columns in sync (once per process; idempotent)."""
    with _register_lock:
        if event.contains(Item, "before_insert", _item_before_insert):
            return
        event.listen(Item, "before_insert", _item_before_insert)
        event.listen(Item, "before_update", _item_before_update)
        event.listen(Session, "do_orm_execute", _bulk_update_sync)


_ITEMS = table(
    "items", column("id"), column("title"), column("summary"), column("text"), column("language"),
    column("search_title"), column("search_text"),
)


def reindex(bind: Session | Connection, ids: Iterable[int] | None = None, *, batch: int = 1000,
            missing_only: bool = False) -> int:
    """Recompute search_title / search_text (all items, the given ids, or those never filled); returns a count.

    For existing archives (the 0002 migration calls it) and for writes that bypass the ORM flush.
    """
    conn = bind.connection() if isinstance(bind, Session) else bind
    t = _ITEMS
    cols = (t.c.id, t.c.title, t.c.summary, t.c.text, t.c.language)
    upd = (
        t.update()
        .where(t.c.id == bindparam("_id"))
        .values(search_title=bindparam("_st"), search_text=bindparam("_sb"))
    )

    def apply(rows: list[Any]) -> int:
        if rows:
            conn.execute(upd, [
                dict(zip(("_st", "_sb"), search_columns(*r[1:]), strict=True), _id=r[0]) for r in rows
            ])
        return len(rows)

    done = 0
    if ids is not None:
        wanted = sorted(set(ids))
        for i in range(0, len(wanted), batch):
            done += apply(list(conn.execute(select(*cols).where(t.c.id.in_(wanted[i : i + batch])))))
        return done
    last = None
    while True:
        stmt = select(*cols).order_by(t.c.id).limit(batch)
        if last is not None:
            stmt = stmt.where(t.c.id > last)
        if missing_only:
            stmt = stmt.where(t.c.search_title.is_(None))
        rows = list(conn.execute(stmt))
        if not rows:
            return done
        done += apply(rows)
        last = rows[-1][0]
