"""scripts/check_mypy.py: new mypy errors fail the check, known ones (the baseline) do not, fixed ones are reported."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "check_mypy.py"


def check(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True, timeout=120)


def test_a_new_error_fails_and_a_baselined_one_passes(tmp_path: Path) -> None:
    module = tmp_path / "typed_wrong.py"
    module.write_text("def double(x: int) -> int:\n    return x * 2\n\n\nHALF: str = double(3)\n")
    baseline = tmp_path / "baseline.txt"
    baseline.write_text("")

    new = check(module, "--baseline", baseline)
    assert new.returncode == 1, new.stdout + new.stderr
    assert "new mypy error:" in new.stdout and "typed_wrong.py: [assignment]" in new.stdout

    recorded = check(module, "--baseline", baseline, "--update")
    assert recorded.returncode == 0, recorded.stdout + recorded.stderr
    assert "typed_wrong.py: [assignment] Incompatible types in assignment" in baseline.read_text()

    # the line moves: the error is still the known one (no line numbers in the baseline)
    module.write_text("\n\n" + module.read_text())
    known = check(module, "--baseline", baseline)
    assert known.returncode == 0, known.stdout + known.stderr
    assert "no new errors (1 known" in known.stdout

    module.write_text("def double(x: int) -> int:\n    return x * 2\n\n\nHALF: int = double(3)\n")
    fixed = check(module, "--baseline", baseline)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert "fixed (remove from the baseline with --update):" in fixed.stdout


def test_a_second_occurrence_of_a_known_error_is_new(tmp_path: Path) -> None:
    module = tmp_path / "twice.py"
    module.write_text("A: str = 1\n")
    baseline = tmp_path / "baseline.txt"
    assert check(module, "--baseline", baseline, "--update").returncode == 0
    module.write_text("A: str = 1\nB: str = 1\n")
    again = check(module, "--baseline", baseline)
    assert again.returncode == 1, again.stdout
    assert again.stdout.count("new mypy error:") == 1
