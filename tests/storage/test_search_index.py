"""The ORM events that fill the search columns: installed where engines are made, not by importing models."""

from __future__ import annotations

import subprocess
import sys

from sqlalchemy import Engine, select

from storage.database import session_scope
from storage.models import Item


def test_models_import_without_the_search_index() -> None:
    code = "import sys, storage.models; print('storage.search_index' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "False"


def test_sessions_of_storage_engines_fill_the_search_columns(engine: Engine) -> None:
    with session_scope(engine) as s:
        s.add(Item(canonical_url="http://t/a", url="http://t/a", title="Drones", text="Autonomous weapons"))
    with session_scope(engine) as s:
        row = s.execute(select(Item.search_title, Item.search_text)).one()
    assert row == ("drone", "autonom weapon")
