"""A real webhook receiver on loopback that verifies Standard Webhooks signatures and can fail."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks import Webhook, WebhookVerificationError


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    payload: dict[str, Any] | None
    verified: bool
    status: int


class WebhookReceiver:
    """POSTs to any path are verified with `secret`; the first `fail_times` answer `fail_status`.

    `accepted` holds verified payloads that got a 2xx; `requests` holds everything.
    """

    def __init__(self, secret: str, *, fail_times: int = 0, fail_status: int = 500) -> None:
        self.secret = secret
        self.fail_times = fail_times
        self.fail_status = fail_status
        self.redirect_to: str | None = None
        self.requests: list[Received] = []
        self.connections = 0  # TCP connections accepted (keep-alive reuse keeps this low)
        self.lock = threading.Lock()
        receiver = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                return

            def setup(self) -> None:
                super().setup()
                with receiver.lock:
                    receiver.connections += 1

            def do_POST(self) -> None:  # noqa: N802 - http.server API
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k.lower(): v for k, v in self.headers.items()}
                status, payload, verified = receiver._handle(headers, body)
                # record before answering: the sender may look at `requests` as soon as it has the reply
                with receiver.lock:
                    receiver.requests.append(Received(headers, body, payload, verified, status))
                answer = b"ok" if status < 300 else b"no"
                self.send_response(status)
                if receiver.redirect_to and status == 307:
                    self.send_header("Location", receiver.redirect_to)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

        class _Server(ThreadingHTTPServer):
            request_queue_size = 256  # many senders connecting at once must not overflow the backlog
            daemon_threads = True

        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def _handle(self, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any] | None, bool]:
        try:
            payload = Webhook(self.secret).verify(body, headers)
        except WebhookVerificationError:
            return 401, None, False
        with self.lock:
            if self.redirect_to:
                return 307, payload, True
            if self.fail_times > 0:
                self.fail_times -= 1
                return self.fail_status, payload, True
        return 200, payload, True

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/hook"

    @property
    def accepted(self) -> list[dict[str, Any]]:
        with self.lock:
            return [r.payload for r in self.requests if r.status < 300 and r.payload is not None]

    def start(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> WebhookReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


