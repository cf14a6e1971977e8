"""The walking skeleton through the documented CLI: crawl -> search -> subscribe -> digest, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import FIXTURES
from tests.e2e.sitebuilder import (
    LATER,
    OFF_TOPIC_CIVIL_AI,
    OFF_TOPIC_MILITARY,
    ON_TOPIC,
    PRIVATE,
    build_site,
    catalogue_yaml,
)
from tests.support.site import LoopbackSite

pytestmark = pytest.mark.slow

MILAI = [sys.executable, "-m", "milai"]
SEED = FIXTURES / "seed" / "rijksoverheid-2025-09-25-ai-militaire-domein.txt"


def milai(
    env: dict[str, str], *args: str, stdin: str | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **env}
    proc = subprocess.run([*MILAI, *args], input=stdin, capture_output=True, text=True, env=full_env, timeout=240)
    if check:
        assert proc.returncode == 0, f"milai {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.fixture
def env(milai_env: dict[str, str], tmp_path: Path, site: LoopbackSite, smtp_server) -> dict[str, str]:
    catalogue = tmp_path / "sources.yaml"
    catalogue.write_text(catalogue_yaml(site.base), encoding="utf-8")
    return {
        **milai_env,
        "MILAI_SOURCES": str(catalogue),
        "MILAI_DOWNLOAD_DELAY": "0",
        "MILAI_SMTP_URL": smtp_server.url(),
        "MILAI_MAIL_FROM": "MilAI Watch <watch@example.org>",
    }


def test_crawl_search_digest(env: dict[str, str], site: LoopbackSite, smtp_server) -> None:
    articles = build_site(site, SEED if SEED.exists() else None)

    out = milai(env, "crawl", "--format", "json")
    summary = json.loads(out.stdout)
    assert [s["name"] for s in summary] == ["test-ministry-news"]
    s = summary[0]
    assert s["status"] == "ok"
    assert s["new"] == len(articles), s
    assert s["off_topic"] == 2, s
    # robots.txt obeyed: the disallowed page was never requested
    assert not site.hits(PRIVATE.path)
    assert site.hits("/robots.txt")

    found = json.loads(milai(env, "search", "--format", "json").stdout)
    titles = {i["title"] for i in found}
    assert ON_TOPIC.title in titles
    assert OFF_TOPIC_MILITARY.title not in titles and OFF_TOPIC_CIVIL_AI.title not in titles
    if SEED.exists():
        dutch = [i for i in found if i["language"] == "nl"]
        assert dutch and dutch[0]["published"].startswith("2025-09-2"), dutch
    for item in found:
        assert {"id", "url", "title", "published", "source", "publisher", "language", "score", "summary"} <= item.keys()
        assert item["publisher"] == "Test Ministry of Foreign Affairs"
    # the disguised URL was stored once
    everything = json.loads(milai(env, "search", "--all", "--format", "json").stdout)
    assert sum(1 for i in everything if i["title"] == ON_TOPIC.title) == 1
    assert len(everything) == len(articles)

    hit = json.loads(milai(env, "search", '"autonomous weapons" AND resolution', "--format", "json").stdout)
    assert [i["title"] for i in hit] == [ON_TOPIC.title]
    bad = milai(env, "search", '"unbalanced', check=False)
    assert bad.returncode == 2 and "error" in bad.stderr.lower()

    sub_id = milai(env, "subscribe", "email", "analyst@example.org", "--frequency", "daily",
                   "--quiet").stdout.strip()
    assert sub_id.isdigit()
    # a new subscriber's first digest holds the day's on-topic news (not the off-topic items)
    milai(env, "digest", "send", "--now")
    assert len(smtp_server.messages) == 1
    first = smtp_server.messages[0]
    on_topic = len(articles) - 2
    assert f"{on_topic} new item" in first["Subject"]
    first_text = _bodies(first)["text/plain"]
    assert ON_TOPIC.title in first_text and OFF_TOPIC_MILITARY.title not in first_text

    site.clear_log()
    build_site(site, SEED if SEED.exists() else None, with_later=True)
    second = json.loads(milai(env, "crawl", "--format", "json").stdout)[0]
    assert second["new"] == 1, second
    article_hits = [r.path for r in site.hits() if r.path.startswith(("/news/", "/actueel/"))]
    assert article_hits == [LATER.path], f"old articles re-fetched: {article_hits}"

    milai(env, "digest", "send", "--now")
    assert len(smtp_server.messages) == 2
    msg = smtp_server.messages[1]
    assert msg["To"] == "analyst@example.org"
    assert "1 new item" in msg["Subject"]
    assert msg["List-Unsubscribe"] and msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    bodies = _bodies(msg)
    assert LATER.title in bodies["text/plain"] and "REAIM" in bodies["text/html"]
    assert ON_TOPIC.title not in bodies["text/plain"]  # delivered once, in the first digest

    # running again sends nothing twice and nothing empty
    milai(env, "digest", "send", "--now")
    assert len(smtp_server.messages) == 2


def _bodies(msg) -> dict[str, str]:
    return {part.get_content_type(): part.get_payload(decode=True).decode() for part in msg.walk()
            if part.get_content_type() in ("text/plain", "text/html")}


def test_classify_cli(env: dict[str, str]) -> None:
    lines = "\n".join(json.dumps(x) for x in [
        {"id": "a", "title": ON_TOPIC.title, "text": " ".join(ON_TOPIC.paragraphs)},
        {"id": "b", "title": OFF_TOPIC_MILITARY.title, "text": " ".join(OFF_TOPIC_MILITARY.paragraphs), "lang": "en"},
        "not json",
    ]) + "\n"
    out = [json.loads(line) for line in milai(env, "classify", stdin=lines).stdout.splitlines()]
    assert out[0]["id"] == "a" and out[0]["relevant"] is True and out[0]["matches"]
    assert out[1]["id"] == "b" and out[1]["relevant"] is False
    assert "error" in out[2]


def test_sources_validate_and_list(env: dict[str, str], tmp_path: Path) -> None:
    assert "valid" in milai(env, "sources", "validate").stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("sources:\n  - name: x-bad\n    publisher: P\n    kind: telepathy\n    url: ftp://nowhere\n")
    proc = milai(env, "sources", "validate", str(bad), check=False)
    assert proc.returncode == 1
    assert "bad.yaml" in proc.stdout and "kind" in proc.stdout and "url" in proc.stdout
    listing = json.loads(milai(env, "sources", "list", "--format", "json").stdout)
    assert [r["name"] for r in listing] == ["test-ministry-news"]
