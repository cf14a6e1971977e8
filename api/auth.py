"""API tokens: random bearer secrets of which only a sha256 hash is stored."""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import ApiToken

PREFIX = "milai_"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


NAME_CHARS = 120  # api_tokens.name is VARCHAR(120)


def create_token(session: Session, name: str) -> tuple[ApiToken, str]:
    """A new token row and the secret (shown once, never stored)."""
    name = name.strip()
    if not name:
        raise ValueError("a token needs a name")
    if len(name) > NAME_CHARS:  # PostgreSQL refuses longer names (a DataError, not a clear message); SQLite stored them
        raise ValueError(f"a token name has at most {NAME_CHARS} characters ({len(name)} given)")
    secret = PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(name=name, token_hash=hash_token(secret))
    session.add(row)
    session.flush()
    return row, secret


def find_token(session: Session, secret: str) -> ApiToken | None:
    """The active token with this secret, if any."""
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(secret)))
    return row if row is not None and not row.revoked else None


def list_tokens(session: Session) -> list[ApiToken]:
    return list(session.scalars(select(ApiToken).order_by(ApiToken.id)))


def revoke_token(session: Session, token_id: int) -> bool:
    """Revoke a token; False when there is no such token."""
    row = session.get(ApiToken, token_id)
    if row is None:
        return False
    row.revoked = True
    return True
