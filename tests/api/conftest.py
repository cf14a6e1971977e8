"""An API client on a fresh seeded database (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from milai.config import Settings
from tests.storage.search.seed import seed
from tests.support.db import configured_engine


@pytest.fixture
def ids(milai_env: dict[str, str]) -> dict[str, int]:
    return seed(configured_engine())


@pytest.fixture
def client(ids: dict[str, int]) -> Iterator[TestClient]:
    with TestClient(create_app(Settings())) as c:
        yield c
