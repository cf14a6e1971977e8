"""`milai worker --role sender`: a process that delivers due digests and webhooks, any number of them at once.

Every run is `alerts.digest.send_due`, whose ledger claims each delivery with `FOR UPDATE SKIP LOCKED`
(PostgreSQL) and a lease, so senders on many machines share the work and never send one digest twice.
The leader scheduler's digest job is one more such run; senders add throughput and keep mail going while
no scheduler is elected. Interval: MILAI_DIGEST_CHECK_MINUTES unless given.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable

log = logging.getLogger("milai.sender")


def run_sender(interval: float, *, stop: threading.Event | None = None, runs: int | None = None,
               send: Callable[[], object] | None = None) -> int:
    """Send what is due every `interval` seconds until SIGTERM/SIGINT (or `stop`, or `runs` runs). Returns runs."""
    if stop is None:  # the command line: the signals end the loop between runs
        stop = threading.Event()
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, lambda *_: stop.set())
    if send is None:
        from alerts.digest import send_due

        send = send_due
    done = 0
    while not stop.is_set():
        try:
            log.info("send run: %s", send())
        except Exception:  # a broken run (database away) must not end the sender: the next one retries
            log.exception("send run failed")
        done += 1
        if runs is not None and done >= runs:
            break
        stop.wait(interval)
    return done
