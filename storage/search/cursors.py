"""Keyset cursors: opaque tokens naming the last row of a page, bound to the query that issued them."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Session

from storage.models import Item
from storage.search.dates import as_utc
from storage.search.types import INT64_MAX, INT64_MIN, MAX_CURSOR_LENGTH, ItemFilter, SearchError

CURSOR_ERROR = "invalid cursor: use the `next` value of the previous page with the same query"


def query_fingerprint(f: ItemFilter) -> str:
    """A short hash of what a query searches for (not its limit or cursor): a cursor carries it so it is
    only accepted by the query and filters that issued it."""
    key = [f.q or "", f.since.isoformat() if f.since else None, f.until.isoformat() if f.until else None,
           sorted(f.sources), sorted(p.lower() for p in f.publishers), sorted(lang.lower() for lang in f.languages),
           bool(f.include_all), (f.symbol or "").strip().upper()]
    if f.by_date() and f.q:  # a ranked query's cursor must not page the same query by date, nor the reverse
        key.append("date")
    raw = json.dumps(key, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "surrogatepass")
    return hashlib.sha256(raw).hexdigest()[:16]


def encode_cursor(data: dict[str, Any], f: ItemFilter) -> str:
    """The cursor of `data` (its kind `k` and keys) for the query `f`."""
    raw = json.dumps({**data, "h": query_fingerprint(f)}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def is_int64(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and INT64_MIN <= value <= INT64_MAX


def id_fits(session: Session, model: Any, value: int) -> bool:
    """Whether `value` fits the id column of `model` in this database (PostgreSQL INTEGER is 32-bit,
    SQLite INTEGER 64-bit): an id that does not fit names no row, and must not reach the driver."""
    col_type = sa_inspect(model).primary_key[0].type
    bits = 64 if session.get_bind().dialect.name == "sqlite" or isinstance(col_type, BigInteger) else 32
    return bool(-(2 ** (bits - 1)) <= value < 2 ** (bits - 1))


def decode_cursor(cursor: str, kind: str, f: ItemFilter, session: Session | None = None) -> dict[str, Any]:
    """The fields of a cursor issued for `f`, each checked for type and range (SearchError otherwise)."""
    try:
        if len(cursor) > MAX_CURSOR_LENGTH:
            raise ValueError
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw)
    except (ValueError, binascii.Error, UnicodeDecodeError, RecursionError):
        raise SearchError(CURSOR_ERROR) from None
    if not isinstance(data, dict) or not isinstance(data.get("k"), str) or not isinstance(data.get("h"), str):
        raise SearchError(CURSOR_ERROR)
    if data["h"] != query_fingerprint(f) or data["k"] != kind:
        raise SearchError("cursor does not belong to this query: use the `next` value of the previous page "
                          "with the same query and filters")
    if not is_int64(data.get("id")) or (session is not None and not id_fits(session, Item, data["id"])):
        raise SearchError(CURSOR_ERROR)
    if kind == "d":
        p = data.get("p")
        if p is not None:
            try:
                if not isinstance(p, str) or len(p) > 64:
                    raise ValueError
                data["p"] = as_utc(datetime.fromisoformat(p))
            except (ValueError, OverflowError):
                raise SearchError(CURSOR_ERROR) from None
    else:
        r = data.get("r")
        try:
            if isinstance(r, bool) or not isinstance(r, int | float) or not math.isfinite(r) or abs(r) > 1e300:
                raise ValueError
        except (ValueError, OverflowError):  # OverflowError: an integer beyond any float
            raise SearchError(CURSOR_ERROR) from None
        data["r"] = float(r)
        w = data.get("w")  # the window of the rank cursor (absent in cursors issued before windows)
        if w is not None:
            if not (isinstance(w, list) and len(w) == 3
                    and all(v is None or (is_int64(v) and (session is None or id_fits(session, Item, v)))
                            for v in w)
                    and (w[2] is None or w[2] > 0)):
                raise SearchError(CURSOR_ERROR)
            data["w"] = tuple(w)
    return data
