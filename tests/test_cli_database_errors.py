"""Every command that needs the database says in one line why it cannot use it (and where), exit 1."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

COMMANDS = [["search", "drone"], ["sources", "list"], ["subscriptions", "list"], ["digest", "send"],
            ["tokens", "list"], ["db", "upgrade"]]


def _run(args: list[str], url: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MILAI_")}
    env |= {"MILAI_DATABASE_URL": url, "MILAI_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "milai", *args], env=env, capture_output=True, text=True,
                          timeout=120, check=False)


@pytest.mark.slow
@pytest.mark.parametrize(("url", "where", "cause"), [
    ("sqlite:///{tmp}/a-directory", "{tmp}/a-directory", "the database file cannot be opened"),
    ("postgresql://milai:s3cret-pw@127.0.0.1:1/milai", "postgresql at 127.0.0.1:1/milai",
     "the database server refused the connection"),
])
def test_one_line_naming_cause_and_place(url: str, where: str, cause: str, tmp_path: Path) -> None:
    (tmp_path / "a-directory").mkdir()
    for args in COMMANDS:
        done = _run(args, url.format(tmp=tmp_path), tmp_path)
        assert done.returncode == 1, (args, done.stderr[-500:])
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        assert len(lines) == 1, (args, done.stderr[-800:])
        assert "database unavailable" in lines[0] and cause in lines[0] and where.format(tmp=tmp_path) in lines[0]
        assert "Traceback" not in done.stderr and "s3cret-pw" not in done.stderr + done.stdout
