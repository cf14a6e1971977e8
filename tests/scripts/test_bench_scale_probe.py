"""bench/scale's peak RSS is the crawl process's own: exec resets VmHWM, while ru_maxrss keeps the parent's."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

_CHILD = """
import resource
from bench.scale import rss_mb
print(rss_mb("VmHWM"), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""


def test_the_peak_rss_of_a_process_launched_by_a_large_one_is_its_own() -> None:
    """A bench process that has just filled a large archive launches the crawls: their peak must not be its RSS."""
    ballast = b"x" * (600 * 1024 * 1024)  # written, so resident in this process when it forks the child
    done = subprocess.run([sys.executable, "-c", _CHILD], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          check=True)
    del ballast
    own_peak, inherited = (float(v) for v in done.stdout.split())
    assert own_peak < 200  # a bare interpreter and bench.scale's imports
    assert inherited > 600  # what getrusage reported before: the parent's RSS at the fork
