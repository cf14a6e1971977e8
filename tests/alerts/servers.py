"""Test servers for alerts: a webhook receiver that holds requests until released, an SMTP server
keeping raw bytes (and able to stall DATA), and a helper running a send in a thread.

Every wait is "until this happened" with a generous upper bound (WAIT), never an assertion on time.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller

from alerts.dispatch import DigestReport
from tests.support.smtp import free_port

WAIT = 60.0  # upper bound for "this will happen"; never a measured duration


class GatedReceiver:
    """A webhook receiver that holds every request until the test releases it (or opens the gate)."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.arrived: list[threading.Event] = [threading.Event() for _ in range(20)]
        self.released: list[threading.Event] = [threading.Event() for _ in range(20)]
        self.lock = threading.Lock()
        gate = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                return

            def do_POST(self) -> None:  # noqa: N802 - http.server API
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with gate.lock:
                    n = len(gate.ids)
                    gate.ids.append(self.headers["webhook-id"])
                gate.arrived[n].set()
                gate.released[n].wait(WAIT)
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/hook"

    def wait_for(self, n: int) -> None:
        assert self.arrived[n].wait(WAIT), f"request {n + 1} never arrived (got {self.ids})"

    def open(self) -> None:
        for event in self.released:
            event.set()

    def __enter__(self) -> GatedReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.open()
        self._server.shutdown()
        self._server.server_close()


class RawSmtp:
    """aiosmtpd keeping the raw bytes of each message; `hold` stalls DATA until `release`."""

    def __init__(self, *, hold: bool = False) -> None:
        self.raw: list[bytes] = []
        self.data_started = threading.Event()
        self.release = threading.Event()
        if not hold:
            self.release.set()
        self.port = free_port()
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd API
        self.data_started.set()
        await asyncio.to_thread(self.release.wait, WAIT)
        self.raw.append(bytes(envelope.original_content or envelope.content))
        return "250 Message accepted"

    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def __enter__(self) -> RawSmtp:
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self._controller.stop()


def run_in_thread(target: Callable[[], DigestReport]) -> tuple[threading.Thread, list[Any]]:
    out: list[Any] = []

    def body() -> None:
        try:
            out.append(target())
        except BaseException as exc:  # noqa: BLE001 - surfaced by the test
            out.append(exc)

    thread = threading.Thread(target=body)
    thread.start()
    return thread, out
