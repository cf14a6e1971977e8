"""A real HTTP server on loopback that serves a dictionary of pages and logs every request."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Page:
    body: bytes | str = b""
    status: int = 200
    content_type: str = "text/html; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)

    def raw(self) -> bytes:
        return self.body.encode("utf-8") if isinstance(self.body, str) else self.body


Handler = Callable[["Request"], Page]


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class LoopbackSite:
    """Serve `pages[path]` (path includes the query string); unknown paths are 404."""

    def __init__(self) -> None:
        self.pages: dict[str, Page | Handler] = {}
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        site = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                return

            def _serve(self, with_body: bool) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                req = Request(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                with site._lock:
                    site.requests.append(req)
                    entry = site.pages.get(self.path)
                if entry is None:
                    page = Page("not found", status=404, content_type="text/plain")
                elif callable(entry):
                    page = entry(req)
                else:
                    page = entry
                raw = page.raw()
                etag = page.headers.get("ETag")
                if etag and req.headers.get("if-none-match") == etag:
                    self.send_response(304)
                    self.send_header("ETag", etag)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(page.status)
                self.send_header("Content-Type", page.content_type)
                for k, v in page.headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                if with_body:
                    self.wfile.write(raw)

            def do_GET(self) -> None:  # noqa: N802
                self._serve(True)

            def do_HEAD(self) -> None:  # noqa: N802
                self._serve(False)

            def do_POST(self) -> None:  # noqa: N802
                self._serve(True)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return self.base + path

    def add(self, path: str, body: bytes | str | Handler = b"", **kw: object) -> None:
        self.pages[path] = body if callable(body) else Page(body, **kw)  # type: ignore[arg-type]

    def hits(self, path: str | None = None) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if path is None or r.path == path]

    def clear_log(self) -> None:
        with self._lock:
            self.requests.clear()

    def start(self) -> LoopbackSite:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
