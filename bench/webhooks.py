"""Webhook throughput: N immediate webhook deliveries to a loopback receiver, exactly once.

Usage: python -m bench.webhooks [--deliveries 10000] [--old-deliveries 1000] [--workers 16]
                                [--dialects sqlite postgres] [--subscriptions 16]

For each dialect, a fresh database gets `--subscriptions` immediate webhook subscriptions and enough
on-topic items that planning makes `--deliveries` batches (one HTTP request each); then `send_due`
delivers them to a receiver in its own process (Python's threading HTTP server, keep-alive,
verifying every Standard Webhooks signature). Planning is timed apart from sending. One subscription's
batches go out in order, one after another; subscriptions in parallel (up to `--workers`).

"old" is the sender as it was before one client per target: one batch claimed, posted with a new
HTTP client (and TLS context) and marked at a time (`ledger.claim_next` + `webhooks.post` +
`ledger.mark_sent`), run on `--old-deliveries` batches to keep the run short; rates are compared.

Printed per run: seconds, deliveries/s, TCP connections the receiver accepted, duplicates (webhook-ids
received more than once, must be 0) and missing (batches never received, must be 0).
"""

from __future__ import annotations

import argparse
import base64
import multiprocessing
import multiprocessing.connection
import os
import tempfile
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from sqlalchemy import create_engine, func, select, text

SECRET = "whsec_" + base64.b64encode(b"bench-secret-0123456789abcdefghij").decode()
PG_ADMIN = os.environ.get("MILAI_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def _receive(conn: multiprocessing.connection.Connection) -> None:
    """The receiver process: answers 200 to every verified POST; on request, reports what it saw."""
    from standardwebhooks import Webhook, WebhookVerificationError

    hook = Webhook(SECRET)
    ids: Counter[str] = Counter()
    bad = [0]
    connections = [0]

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            return

        def setup(self) -> None:
            super().setup()
            connections[0] += 1

        def do_POST(self) -> None:  # noqa: N802 - http.server API
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {k.lower(): v for k, v in self.headers.items()}
            try:
                hook.verify(body, headers)
            except WebhookVerificationError:
                bad[0] += 1
                status = 401
            else:
                ids[headers["webhook-id"]] += 1
                status = 200
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

    class Server(ThreadingHTTPServer):
        request_queue_size = 256
        daemon_threads = True

    server = Server(("127.0.0.1", 0), Handler)
    conn.send(server.server_address[1])
    import threading

    threading.Thread(target=server.serve_forever, daemon=True).start()
    while True:
        command = conn.recv()
        if command == "stats":
            conn.send((dict(ids), bad[0], connections[0]))
        elif command == "reset":
            ids.clear()
            bad[0] = connections[0] = 0
            conn.send(True)
        else:
            server.shutdown()
            return


def _engine():  # type: ignore[no-untyped-def]
    """The engine of the database this run's environment names."""
    from milai.config import Settings
    from storage.database import engine_of

    return engine_of(Settings())


def _fill(subscriptions: int, items: int, url: str) -> None:
    from alerts.subscriptions import create_subscription
    from milai.config import Settings
    from storage.database import session_scope
    from storage.models import Item, Source

    policy = Settings().target_policy
    with session_scope(_engine()) as session:
        for _ in range(subscriptions):
            create_subscription(session, channel="webhook", target=url, secret=SECRET, frequency="immediate",
                                policy=policy)
    with session_scope(_engine()) as session:
        source = Source(name="bench", publisher="Bench", kind="feed", url="https://bench.example/feed")
        session.add(source)
        session.flush()
        fetched = datetime.now(UTC) + timedelta(seconds=1)
        session.add_all(
            Item(
                canonical_url=f"https://bench.example/news/{n}", url=f"https://bench.example/news/{n}",
                source_id=source.id, title=f"Talks on lethal autonomous weapons, round {n}",
                summary=f"Summary {n}", text="States discussed autonomous weapons systems.",
                published=datetime(2026, 11, 28, tzinfo=UTC), language="en", relevant=True, score=1.0,
                matches=["autonomous weapons"], fetched_at=fetched,
            )
            for n in range(items)
        )


def _old_send(limit: int) -> int:
    """The sender before one client per target: claim, post with a new client, mark; one at a time."""
    from alerts import ledger
    from alerts.webhooks import post
    from milai.config import Settings

    settings = Settings()
    sent = 0
    while sent < limit and (claim := ledger.claim_next(_engine(), channels=["webhook"])):
        result = post(claim.target, claim.secret or "", claim.batch_id, claim.payload, timeout=settings.webhook_timeout,
                      policy=settings.target_policy)
        if result.ok:
            ledger.mark_sent(_engine(), claim, datetime.now(UTC), status_code=result.status_code,
                             duration_ms=result.duration_ms)
            sent += 1
    return sent


def _pending_ids() -> set[str]:
    from storage.database import session_scope
    from storage.models import DeliveryBatch

    with session_scope(_engine()) as session:
        return set(session.scalars(select(DeliveryBatch.id)))


def run(dialect: str, url: str, args: argparse.Namespace, conn: multiprocessing.connection.Connection,
        port: int) -> list[tuple[str, ...]]:
    os.environ.update({"MILAI_DATABASE_URL": url, "MILAI_ALLOW_PRIVATE_WEBHOOKS": "true", "MILAI_LOG_LEVEL": "WARNING"})
    from alerts import planner
    from alerts.dispatch import send_due
    from milai.config import Settings
    from storage.database import dispose_engines, ensure_schema, forget_upgrades, session_scope
    from storage.models import DeliveryBatch

    dispose_engines()
    forget_upgrades()
    ensure_schema(_engine())
    rows: list[tuple[str, ...]] = []
    total = args.deliveries + args.old_deliveries
    per_sub = -(-total // args.subscriptions)
    started = time.monotonic()
    _fill(args.subscriptions, per_sub, f"http://127.0.0.1:{port}/hook")
    fill_s = time.monotonic() - started
    started = time.monotonic()
    planner.plan(_engine(), datetime.now(UTC) + timedelta(seconds=5))
    plan_s = time.monotonic() - started
    batches = _pending_ids()
    print(f"[{dialect}] {len(batches)} batches: filled in {fill_s:.1f} s, planned in {plan_s:.1f} s", flush=True)

    def measured(name: str, expected: int, fn) -> None:  # type: ignore[no-untyped-def]
        conn.send("reset")
        conn.recv()
        with session_scope(_engine()) as session:
            before = set(session.scalars(select(DeliveryBatch.id).where(DeliveryBatch.state == "sent")))
        started = time.monotonic()
        fn()
        seconds = time.monotonic() - started
        conn.send("stats")
        ids, bad, connections = conn.recv()
        with session_scope(_engine()) as session:
            sent_ids = set(session.scalars(select(DeliveryBatch.id).where(DeliveryBatch.state == "sent")))
        duplicates = sum(n - 1 for n in ids.values())
        rows.append((dialect, name, str(expected), f"{seconds:.1f}", f"{len(ids) / seconds:.0f}",
                     str(connections), str(duplicates), str(bad), str(len(sent_ids - before - set(ids)))))
        print(f"[{dialect}] {name}: {len(ids)} in {seconds:.1f} s", flush=True)

    if args.old_deliveries:
        measured("old: client per delivery", args.old_deliveries, lambda: _old_send(args.old_deliveries))
    with session_scope(_engine()) as session:
        already = set(session.scalars(select(DeliveryBatch.id).where(DeliveryBatch.state == "sent")))
    remaining = len(batches) - len(already)

    def new() -> None:
        report = send_due(Settings(), webhook_workers=args.workers)
        assert report.failed == 0, str(report).splitlines()[:3]

    measured(f"new: client per target, {args.workers} workers", remaining, new)
    with session_scope(_engine()) as session:
        unsent = session.scalar(select(func.count(DeliveryBatch.id)).where(DeliveryBatch.state != "sent"))
    rows[-1] = (*rows[-1][:-1], str(int(rows[-1][-1]) + int(unsent or 0)))  # missing: never received or unsent
    dispose_engines()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--deliveries", type=int, default=10_000)
    parser.add_argument("--old-deliveries", type=int, default=1_000)
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--subscriptions", type=int, default=16)
    parser.add_argument("--dialects", nargs="+", default=["sqlite", "postgres"], choices=["sqlite", "postgres"])
    args = parser.parse_args()

    parent, child = multiprocessing.Pipe()
    receiver = multiprocessing.Process(target=_receive, args=(child,), daemon=True)
    receiver.start()
    port = parent.recv()
    rows: list[tuple[str, ...]] = []
    try:
        for dialect in args.dialects:
            if dialect == "sqlite":
                with tempfile.TemporaryDirectory() as tmp:
                    rows += run(dialect, f"sqlite:///{Path(tmp) / 'bench.sqlite3'}", args, parent, port)
                continue
            name = f"milai_bench_{uuid.uuid4().hex[:8]}"
            admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
            with admin.connect() as c:
                c.execute(text(f'CREATE DATABASE "{name}"'))
            try:
                rows += run(dialect, PG_ADMIN.rsplit("/", 1)[0] + f"/{name}", args, parent, port)
            finally:
                with admin.connect() as c:
                    c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                admin.dispose()
    finally:
        parent.send("stop")
        receiver.join(5)

    head = ("dialect", "sender", "deliveries", "seconds", "per s", "connections", "duplicates", "bad sig", "missing")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    for row in [head, *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))
    for dialect in args.dialects:
        rates = [float(r[4]) for r in rows if r[0] == dialect]
        if len(rates) == 2 and rates[0]:
            print(f"{dialect}: new/old deliveries per second = {rates[1] / rates[0]:.1f}x")


if __name__ == "__main__":
    main()
