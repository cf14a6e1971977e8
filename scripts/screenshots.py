"""Screenshots of the home page, an item page, the trends and the sources page at 1280 px and 390 px wide,
taken with Debian's chromium (Playwright) from a server on a throw-away demo archive (`make screenshots`).

    python scripts/screenshots.py [OUT_DIR]     # default: screenshots/ (not committed)
"""

from __future__ import annotations

import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import uvicorn  # noqa: E402

from api.app import create_app  # noqa: E402
from milai.config import Settings  # noqa: E402
from storage.database import get_engine, upgrade  # noqa: E402
from tests.storage.search.seed import seed  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
WIDTHS = (1280, 390)


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "screenshots")
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/demo.sqlite3"
        engine = get_engine(url)
        upgrade(engine)
        ids = seed(engine)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        server = uvicorn.Server(uvicorn.Config(
            create_app(Settings(database_url=url)), host="127.0.0.1", port=port, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        base = f"http://127.0.0.1:{port}"
        pages = {"home": "/?q=autonomous+weapons", "item": f"/items/{ids['resolution']}",
                 "trends": "/trends?q=drone", "sources": "/sources"}
        from playwright.sync_api import sync_playwright

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox"])
            for width in WIDTHS:
                page = browser.new_page(viewport={"width": width, "height": 900})
                for name, path in pages.items():
                    page.goto(base + path)
                    target = out / f"{name}-{width}.png"
                    page.screenshot(path=str(target), full_page=True)
                    print(target)
                page.close()
            browser.close()
        server.should_exit = True
        thread.join()


if __name__ == "__main__":
    main()
