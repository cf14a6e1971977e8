"""An API client on a fresh seeded database (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from storage.database import get_engine
from tests.search.seed import seed


@pytest.fixture
def ids(milai_env: dict[str, str]) -> dict[str, int]:
    return seed(get_engine())


@pytest.fixture
def client(ids: dict[str, int]) -> Iterator[TestClient]:
    with TestClient(create_app()) as c:
        yield c
