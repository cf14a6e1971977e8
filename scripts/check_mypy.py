"""Run mypy and fail only on errors that are not in the written baseline.

    python scripts/check_mypy.py            # check every package (pyproject.toml [tool.mypy])
    python scripts/check_mypy.py --update   # rewrite the baseline to today's errors

An error is compared as "file: [code] message", without line numbers, so moving code does not count as
a new error. New errors fail (exit 1); errors of the baseline that are gone are printed so the baseline
can shrink (`--update`). mypy's own failures (exit 2: bad configuration, crash) fail too.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BASELINE = ROOT / "scripts" / "mypy_baseline.txt"
ERROR = re.compile(r"^(?P<file>[^:\n]+?):\d+(?::\d+)?: error: (?P<message>.*?)(?:  \[(?P<code>[a-z0-9-]+)\])?$")


def normalise(output: str) -> Counter[str]:
    """Each mypy error as "file: [code] message" (notes and the summary line dropped), counted."""
    errors: Counter[str] = Counter()
    for line in output.splitlines():
        match = ERROR.match(line.strip())
        if match:
            path = match["file"].replace("\\", "/")
            errors[f"{path}: [{match['code'] or 'misc'}] {match['message']}"] += 1
    return errors


def read_baseline(path: Path) -> Counter[str]:
    if not path.exists():
        return Counter()
    lines = (line.strip() for line in path.read_text(encoding="utf-8").splitlines())
    return Counter(line for line in lines if line and not line.startswith("#"))


def write_baseline(path: Path, errors: Counter[str]) -> None:
    header = (
        "# Known mypy errors (scripts/check_mypy.py): file: [code] message, one per occurrence.\n"
        "# Fix one, then shrink this list with `python scripts/check_mypy.py --update`; never add to it by hand.\n"
    )
    path.write_text(header + "".join(f"{line}\n" for line in sorted(errors.elements())), encoding="utf-8")


def run_mypy(targets: list[str]) -> tuple[int, str]:
    command = [sys.executable, "-m", "mypy", "--no-error-summary", "--show-error-codes", "--no-pretty", *targets]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    return done.returncode, done.stdout + done.stderr


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("targets", nargs="*", help="files or packages (default: [tool.mypy] packages)")
    parser.add_argument("--baseline", type=Path, default=BASELINE)
    parser.add_argument("--update", action="store_true", help="rewrite the baseline to the current errors")
    args = parser.parse_args(argv)

    code, output = run_mypy(args.targets)
    current = normalise(output)
    if code not in (0, 1) or (code == 1 and not current):
        print(output, end="")
        print(f"mypy failed (exit {code})", file=sys.stderr)
        return 2
    if args.update:
        write_baseline(args.baseline, current)
        print(f"mypy baseline: {sum(current.values())} errors written to {args.baseline}")
        return 0

    known = read_baseline(args.baseline)
    new = current - known
    fixed = known - current
    for line in sorted(fixed.elements()):
        print(f"fixed (remove from the baseline with --update): {line}")
    for line in sorted(new.elements()):
        print(f"new mypy error: {line}")
    if new:
        print(f"\n{sum(new.values())} new mypy error(s); full output:\n{output}", file=sys.stderr)
        return 1
    print(f"mypy: no new errors ({sum(current.values())} known in {args.baseline.name})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
