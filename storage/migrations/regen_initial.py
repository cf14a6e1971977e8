"""Development helper: regenerate 0001_initial from the models (before the first release only).

Autogenerates against an empty database in a scratch copy of the migrations folder that holds no
revisions, so later hand-written revisions (0002_fulltext, …) stay untouched and keep `down_revision = "0001"`.

Usage: python -m storage.migrations.regen_initial
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from alembic import command

from storage.database import MIGRATIONS_DIR, alembic_config, make_engine

INITIAL = MIGRATIONS_DIR / "versions" / "0001_initial.py"


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp) / "migrations"
        (scratch / "versions").mkdir(parents=True)
        for name in ("env.py", "script.py.mako"):
            shutil.copy(MIGRATIONS_DIR / name, scratch / name)
        engine = make_engine(f"sqlite:///{Path(tmp) / 'regen.db'}")
        cfg = alembic_config(engine)
        cfg.set_main_option("script_location", str(scratch))
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.revision(cfg, message="initial schema", autogenerate=True, rev_id="0001")
        produced = next((scratch / "versions").glob("0001_*.py"))
        shutil.copy(produced, INITIAL)
        engine.dispose()
    print(f"wrote {INITIAL}")


if __name__ == "__main__":
    main()
