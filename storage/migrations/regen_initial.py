"""Development helper: regenerate 0001_initial from the models (before the first release only).

Usage: python -m storage.migrations.regen_initial
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from alembic import command

from storage.database import MIGRATIONS_DIR, alembic_config, make_engine

INITIAL = MIGRATIONS_DIR / "versions" / "0001_initial.py"


def main() -> None:
    INITIAL.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{Path(tmp) / 'regen.db'}")
        cfg = alembic_config(engine)
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.revision(cfg, message="initial schema", autogenerate=True, rev_id="0001",
                             head="base", splice=True)
    produced = next((MIGRATIONS_DIR / "versions").glob("0001_*.py"))
    produced.rename(INITIAL)
    print(f"wrote {INITIAL}")


if __name__ == "__main__":
    main()
