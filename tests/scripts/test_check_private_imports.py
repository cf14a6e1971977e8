"""scripts/check_private_imports.py: a private name used outside its module fails the check; inside it, a dunder,
or another package's private name (Scrapy's, the standard library's) does not."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "check_private_imports.py"


def check(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), str(root)], capture_output=True, text=True, timeout=60)


def write(root: Path, relative: str, text: str) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_private_names_across_modules_are_listed_with_file_and_line(tmp_path: Path) -> None:
    write(tmp_path, "storage/__init__.py", "")
    write(tmp_path, "storage/textnorm.py", "_TOKEN_RE = 1\n\n\ndef _fold(x):\n    return _TOKEN_RE\n")
    write(tmp_path, "storage/search/__init__.py", "")
    write(tmp_path, "storage/search/fulltext.py",
          "from storage.textnorm import _TOKEN_RE\nfrom .. import textnorm\nimport storage.textnorm as tn\n"
          "textnorm._fold(1)\ntn._fold(2)\n")
    write(tmp_path, "crawler/__init__.py", "")
    write(tmp_path, "crawler/urls.py", "from storage.textnorm import _fold as fold\n")

    done = check(tmp_path)

    assert done.returncode == 1, done.stdout + done.stderr
    found = [line for line in done.stdout.splitlines() if line.startswith(("storage", "crawler"))]
    assert found == [
        "crawler/urls.py:1: storage.textnorm._fold",
        "storage/search/fulltext.py:1: storage.textnorm._TOKEN_RE",
        "storage/search/fulltext.py:4: storage.textnorm._fold",
        "storage/search/fulltext.py:5: storage.textnorm._fold",
    ]


def test_own_private_names_dunders_and_other_libraries_pass_a_re_export_does_not(tmp_path: Path) -> None:
    write(tmp_path, "crawler/__init__.py", "__version__ = '1'\n")
    write(tmp_path, "crawler/worker.py",
          "import os\nfrom crawler import __version__\n\n\ndef _stop():\n    os._exit(1)\n\n\n_stop()\n")
    write(tmp_path, "crawler/spiders/__init__.py", "from .base import _local\n")
    write(tmp_path, "crawler/spiders/base.py", "_local = 1\n")

    done = check(tmp_path)

    # a package re-exporting its submodule's private name is still a use across modules
    assert done.returncode == 1
    assert done.stdout.splitlines()[0] == "crawler/spiders/__init__.py:1: crawler.spiders.base._local"
    (tmp_path / "crawler/spiders/__init__.py").write_text("from .base import *\n")
    assert check(tmp_path).returncode == 0


def test_the_repository_uses_no_private_name_outside_its_module() -> None:
    done = check(ROOT)
    assert done.returncode == 0, done.stdout
