"""CPU-heavy per-item work (HTML extraction, PDF text, classification, large feeds) off the reactor thread.

All sources of a crawl share one Twisted reactor thread; a page that takes seconds to extract on it
stops every other source's downloads and items for that long. Here such work runs in worker threads:
the reactor keeps serving the other sources meanwhile (extraction is lxml/trafilatura work that lets the
reactor thread in at every GIL switch interval). Two lanes, so that giant items never queue in front of
ordinary ones: `LIGHT_THREADS` threads for ordinary items, `HEAVY_THREADS` for inputs over `HEAVY_BYTES`.
The work per item is bounded by crawler.bounds (page bytes extracted, text and title length).

`run` falls back to a plain call when no reactor is running (tests that drive pipelines by hand).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet.threads import deferToThreadPool
from twisted.python.threadpool import ThreadPool

T = TypeVar("T")

LIGHT_THREADS = 2
HEAVY_THREADS = 1
HEAVY_BYTES = 256 * 1024  # inputs larger than this go to the heavy lane

_pools: dict[str, ThreadPool] = {}
_lock = threading.Lock()


def _reactor() -> Any:
    """The installed reactor, imported late (Scrapy installs it first); Any: Twisted types it as a module
    whose interface methods mypy cannot bind."""
    from twisted.internet import reactor

    return reactor


def _pool(lane: str) -> ThreadPool:
    with _lock:
        pool = _pools.get(lane)
        if pool is None:
            size = HEAVY_THREADS if lane == "heavy" else LIGHT_THREADS
            pool = _pools[lane] = ThreadPool(minthreads=0, maxthreads=size, name=f"milai-{lane}")
            pool.start()
            _reactor().addSystemEventTrigger("during", "shutdown", _stop, lane)
        return pool


def _stop(lane: str) -> None:
    with _lock:
        pool = _pools.pop(lane, None)
    if pool is not None:
        pool.stop()


def _reactor_running() -> bool:
    return bool(getattr(_reactor(), "running", False))


async def run(size: int, fn: Callable[..., T], *args: Any) -> T:
    """`fn(*args)` in a worker thread (heavy lane when `size` > HEAVY_BYTES), awaited from a Scrapy coroutine."""
    if not _reactor_running():
        return fn(*args)
    lane = "heavy" if size > HEAVY_BYTES else "light"
    return await maybe_deferred_to_future(deferToThreadPool(_reactor(), _pool(lane), fn, *args))


def in_reactor_thread() -> bool:
    """True on the thread that runs the reactor (the main thread), where Scrapy state may be touched."""
    return threading.current_thread() is threading.main_thread()


def on_reactor(fn: Callable[..., Any], *args: Any) -> None:
    """Call `fn(*args)` on the reactor thread: now when already there, else queued (thread-safe)."""
    if in_reactor_thread() or not _reactor_running():
        fn(*args)
        return
    _reactor().callFromThread(fn, *args)
