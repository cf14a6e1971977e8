"""Job functions the scheduler runs: crawls in child processes, digests in-process."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
from typing import Any

log = logging.getLogger("milai.scheduler")

CRAWL_TIMEOUT_SECONDS = 3 * 60 * 60

_children: set[subprocess.Popen[str]] = set()
_children_lock = threading.Lock()
_stopping = threading.Event()


def crawl_command(source_names: list[str] | None) -> list[str]:
    """The child process that crawls `source_names` (all enabled sources when None)."""
    cmd = [sys.executable, "-m", "crawler.runner"]
    for name in source_names or []:
        cmd += ["--source", name]
    return cmd


def crawl(source_names: list[str] | None = None) -> list[dict[str, Any]]:
    """Crawl the named sources (all enabled when None) in a child process; return its summaries.

    Twisted's reactor cannot be restarted inside one process, so every crawl gets a fresh
    `python -m crawler.runner`; a crash there never takes the service down.
    """
    cmd = crawl_command(source_names)
    label = ", ".join(source_names) if source_names else "all sources"
    log.info("crawl started: %s", label)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    with _children_lock:
        _children.add(proc)
    try:
        out, err = proc.communicate(timeout=CRAWL_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        log.error("crawl of %s timed out after %ss", label, CRAWL_TIMEOUT_SECONDS)
        return []
    finally:
        with _children_lock:
            _children.discard(proc)
    if proc.returncode != 0 and _stopping.is_set():
        log.info("crawl of %s stopped at shutdown", label)
        return []
    if proc.returncode != 0:
        tail = (err or "").strip().splitlines()[-5:]
        log.error("crawl of %s exited with %s: %s", label, proc.returncode, " | ".join(tail))
        return []
    try:
        summaries: list[dict[str, Any]] = json.loads(out)
    except json.JSONDecodeError:
        log.error("crawl of %s printed no JSON summary", label)
        return []
    for s in summaries:
        log.info(
            "crawl %s: %s fetched=%s new=%s duplicate=%s off_topic=%s errors=%s%s",
            s.get("name"), s.get("status"), s.get("fetched"), s.get("new"), s.get("duplicate"),
            s.get("off_topic"), s.get("errors"), f" ({s['error']})" if s.get("error") else "",
        )
    return summaries


def crawl_source(name: str) -> list[dict[str, Any]]:
    """The scheduled job of one source."""
    return crawl([name])


def crawl_source_adaptive(name: str) -> list[dict[str, Any]]:
    """The adaptive job of one source: crawl it, then schedule its next poll from what storage now knows."""
    try:
        return crawl([name])
    finally:
        if not _stopping.is_set():
            from scheduler.service import reschedule

            reschedule(name)


def send_digests() -> str:
    """Deliver every digest and webhook that is due."""
    from alerts.digest import send_due

    report = send_due()
    log.info("digest run: %s", report)
    return str(report)


def terminate_children() -> None:
    """Stop crawls still running (service shutdown)."""
    _stopping.set()
    with _children_lock:
        children = list(_children)
    for proc in children:
        if proc.poll() is None:
            proc.terminate()
    for proc in children:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
