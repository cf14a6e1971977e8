"""Crawl throughput: `milai crawl` against a hand-written Scrapy spider + trafilatura on the same loopback web.

Usage: python -m bench.crawl [--sites 10] [--articles 150] [--database URL] [--profile FILE] [--only milai|scrapy]

Builds a loopback web of `sites` ministry websites (one HTTP server each, so each is its own domain), each with
an RSS feed of `articles` distinct articles in English, French, German, Dutch or Spanish (navigation, footer,
meta tags, JSON-LD, hreflang links: the markup of a real government page). Then, each in a fresh process:

- `milai crawl` with politeness lowered through its settings (no delay, no autothrottle, no HTTP cache, 8
  requests per domain) on a fresh database (SQLite unless --database names an empty one);
- a bare Scrapy spider with the same concurrency that reads each feed, fetches every article and runs
  `trafilatura.extract` on it.

Prints articles/s of each (articles stored or extracted / wall time of the process), the CPU time per article of
each side's process (less sensitive to a loaded machine than wall time) and, for milai, of the processes below it
(the forkserver and its extraction workers, sampled from /proc), the ratio, and how many cores each side may
use: the bare spider is one process (one core); `milai crawl` extracts, classifies and signs pages in
MILAI_EXTRACT_WORKERS worker processes (--extract-workers; unset: one per core, at most 4, once up, after the first
10 to 50 pages extracted in the crawl process), so with workers above 0 the comparison gives milai the other
cores too. The load average is printed before and after: the machine may be shared, and the ratio is what compares.
--profile FILE writes a cProfile of the milai crawl process, on its main thread's CPU clock (python -m pstats FILE).
"""

from __future__ import annotations

import argparse
import html
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
PER_DOMAIN = 8
LANGUAGES = ("en", "fr", "de", "nl", "es")
WORDS = {
    "en": "the ministry said today that government will defence forces new policy international security "
          "cooperation meeting agreed partners military artificial intelligence systems responsible use human "
          "control weapons treaty talks minister statement week report council members states support "
          "research training exercise navy army air force budget national strategy development allies summit "
          "conference delegation programme public information committee parliament law review future plans",
    "fr": "le ministère a annoncé aujourd'hui que gouvernement défense forces nouvelle politique sécurité "
          "internationale coopération réunion accord partenaires militaire intelligence artificielle systèmes "
          "utilisation responsable contrôle humain armes traité négociations ministre déclaration semaine "
          "rapport conseil membres états soutien recherche formation exercice marine armée budget stratégie "
          "nationale développement alliés sommet conférence délégation programme public comité loi avenir",
    "de": "das Ministerium hat heute mitgeteilt dass Regierung Verteidigung Streitkräfte neue Politik "
          "internationale Sicherheit Zusammenarbeit Treffen vereinbart Partner militärische künstliche "
          "Intelligenz Systeme verantwortungsvolle Nutzung menschliche Kontrolle Waffen Vertrag Gespräche "
          "Minister Erklärung Woche Bericht Rat Mitglieder Staaten Unterstützung Forschung Ausbildung Übung "
          "Marine Heer Luftwaffe Haushalt nationale Strategie Entwicklung Verbündete Gipfel Konferenz Gesetz",
    "nl": "het ministerie heeft vandaag bekendgemaakt dat regering defensie krijgsmacht nieuw beleid "
          "internationale veiligheid samenwerking bijeenkomst afgesproken partners militaire kunstmatige "
          "intelligentie systemen verantwoord gebruik menselijke controle wapens verdrag gesprekken minister "
          "verklaring week rapport raad leden staten steun onderzoek opleiding oefening marine landmacht "
          "luchtmacht begroting nationale strategie ontwikkeling bondgenoten top conferentie wet toekomst",
    "es": "el ministerio ha anunciado hoy que gobierno defensa fuerzas armadas nueva política seguridad "
          "internacional cooperación reunión acordado socios militar inteligencia artificial sistemas uso "
          "responsable control humano armas tratado conversaciones ministro declaración semana informe consejo "
          "miembros estados apoyo investigación formación ejercicio marina ejército presupuesto estrategia "
          "nacional desarrollo aliados cumbre conferencia delegación programa público comité ley futuro",
}
NAV = "".join(f'<li class="menu-item"><a href="/section/{n}">Section {n}</a><ul class="sub">'
              + "".join(f'<li><a href="/section/{n}/{m}">Topic {n}.{m}</a></li>' for m in range(6)) + "</ul></li>"
              for n in range(20))
STYLE = "".join(f".block-{n} {{ margin: {n % 7}px; padding: {n % 5}px; color: #{n * 4567 % 0xFFFFFF:06x}; }}\n"
                for n in range(120))
SCRIPT = "".join(f"window.dataLayer.push({{'event': 'view', 'slot': {n}}});\n" for n in range(60))
RELATED = "".join(f'<li><a href="/news/{m}">Related item {m}</a></li>' for m in range(8))
FOOTER = "".join(f'<a href="/about/{n}">About page {n}</a> | ' for n in range(60))


def _sentence(rng: random.Random, words: list[str]) -> str:
    chosen = [rng.choice(words) for _ in range(rng.randint(9, 18))]
    chosen.insert(rng.randrange(len(chosen)), str(rng.randint(2, 9999)))
    return " ".join(chosen).capitalize() + "."


def article(site: int, n: int) -> tuple[str, str, str, bytes]:
    """(path, title, language, page) of article `n` of site `site`: distinct text, realistic markup."""
    rng = random.Random(site * 100_003 + n)
    lang = LANGUAGES[(site + n) % len(LANGUAGES)]
    words = WORDS[lang].split()
    title = " ".join(rng.choice(words) for _ in range(7)).capitalize() + f" {site}-{n}"
    paragraphs = [" ".join(_sentence(rng, words) for _ in range(rng.randint(3, 5))) for _ in range(rng.randint(5, 9))]
    date = datetime(2025, 1, 1, 9, tzinfo=UTC) + timedelta(days=n, minutes=site)
    path = f"/{lang}/news/{date:%Y/%m/%d}/article-{n}"
    other = LANGUAGES[(site + n + 1) % len(LANGUAGES)]
    ld = json.dumps({"@context": "https://schema.org", "@type": "NewsArticle", "headline": title,
                     "datePublished": date.isoformat()})
    body = "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)
    page = f"""<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8"><title>{html.escape(title)} | Ministry {site}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="description" content="{html.escape(paragraphs[0][:150])}">
<meta property="og:title" content="{html.escape(title)}"><meta property="og:type" content="article">
<meta property="article:published_time" content="{date.isoformat()}">
<link rel="canonical" href="{path}"><link rel="alternate" hreflang="{other}" href="/{other}/news/{n}">
<link rel="stylesheet" href="/static/site.css"><script src="/static/site.js"></script>
<style>{STYLE}</style><script>window.dataLayer = window.dataLayer || [];
{SCRIPT}</script>
<script type="application/ld+json">{ld}</script>
</head><body>
<a class="skip" href="#main">Skip to main content</a>
<header><div class="logo">Ministry of Defence {site}</div><nav><ul>{NAV}</ul></nav>
<form action="/search"><input name="q"><button>Search</button></form></header>
<div class="breadcrumb"><a href="/">Home</a> &gt; <a href="/news">News</a> &gt; {html.escape(title[:40])}</div>
<main id="main"><article><h1>{html.escape(title)}</h1>
<p class="meta">News item | <time datetime="{date.isoformat()}">{date:%d-%m-%Y}</time></p>
{body}
<p><a href="/documents/report-{n}.html">Read the full report</a></p>
</article>
<aside><h2>Related</h2><ul>{RELATED}</ul></aside>
</main>
<footer><p>{FOOTER}</p><p>Cookie settings. Privacy statement. Accessibility.</p></footer>
</body></html>"""
    return path, title, lang, page.encode("utf-8")


def rss(base: str, entries: list[tuple[str, str]]) -> bytes:
    items = "".join(
        f"<item><title>{html.escape(title)}</title><link>{base}{path}</link><guid>{base}{path}</guid>"
        f"<pubDate>Mon, 01 Sep 2025 10:00:00 +0000</pubDate></item>"
        for path, title in entries
    )
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>News</title>'
            f"<link>{base}/</link><description>News</description>{items}</channel></rss>").encode()


class Site:
    """One loopback HTTP server (its own host:port, so its own domain for Scrapy's concurrency)."""

    def __init__(self, number: int, articles: int) -> None:
        pages: dict[str, tuple[str, bytes]] = {"/robots.txt": ("text/plain", b"User-agent: *\nDisallow:\n")}
        self.pages = pages

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                return

            def do_GET(self) -> None:  # noqa: N802
                ctype, body = pages.get(self.path, ("text/plain", b"not found"))
                self.send_response(200 if self.path in pages else 404)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        entries = []
        for n in range(articles):
            path, title, _lang, page = article(number, n)
            pages[path] = ("text/html; charset=utf-8", page)
            entries.append((path, title))
        pages["/feed.xml"] = ("application/rss+xml", rss(self.base, entries))
        self.feed = self.base + "/feed.xml"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


CPU_SECONDS: dict[str, float] = {}  # CPU time (user + system) of each side's process, by side
HELPER_CPU_SECONDS: dict[str, float] = {}  # CPU time of the processes below it (forkserver, workers), sampled
HELPER_PROCESSES: dict[str, int] = {}  # how many processes ran below it


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _descendants_cpu(root: int, seen: dict[int, float]) -> None:
    """Record in `seen` the CPU seconds so far of every process below `root` (from /proc; the forkserver and its
    workers are not the crawl process's reaped children, so getrusage never counts them)."""
    tick = os.sysconf("SC_CLK_TCK")
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(stat.parent.name)
        parents[pid] = int(fields[1])
        times[pid] = (int(fields[11]) + int(fields[12])) / tick
    for pid, cpu in times.items():
        ancestor = parents.get(pid)
        while ancestor is not None and ancestor not in (root, 0, 1):
            ancestor = parents.get(ancestor)
        if ancestor == root:
            seen[pid] = max(seen.get(pid, 0.0), cpu)


def _run(cmd: list[str], env: dict[str, str], timeout: float, side: str = "") -> tuple[float, str]:
    started, cpu = time.perf_counter(), _children_cpu()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        process = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=err, text=True)
        helpers: dict[int, float] = {}
        while process.poll() is None:
            _descendants_cpu(process.pid, helpers)
            if time.perf_counter() - started > timeout:
                process.kill()
            time.sleep(0.1)
        wall = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    CPU_SECONDS[side] = _children_cpu() - cpu  # the process (forkserver workers are not its reaped children)
    HELPER_CPU_SECONDS[side] = sum(helpers.values())
    HELPER_PROCESSES[side] = len(helpers)
    if process.returncode != 0:
        raise SystemExit(f"{cmd[:4]} failed ({process.returncode}): {stderr[-2000:]}")
    return wall, stdout


_PROFILED = """
import cProfile, runpy, sys, time
sys.argv = ["milai", *sys.argv[1:]]
profile = cProfile.Profile(time.thread_time)
profile.enable()
try:
    runpy.run_module("milai", run_name="__main__", alter_sys=True)
finally:
    profile.disable()
    profile.dump_stats({profile!r})
"""


def crawl_milai(
    feeds: list[str], database: str | None, profile: str | None, timeout: float, workers: int | None
) -> tuple[float, int]:
    """Wall seconds of `milai crawl` over the feeds, and the articles it stored."""
    from sqlalchemy import create_engine, text

    with tempfile.TemporaryDirectory(prefix="milai-bench-") as tmp:
        catalogue = Path(tmp) / "sources.yaml"
        sources = [{"name": f"site{n}", "publisher": f"Ministry {n}", "kind": "feed", "url": url}
                   for n, url in enumerate(feeds)]
        catalogue.write_text(yaml.safe_dump({"sources": sources}), encoding="utf-8")
        db = database or f"sqlite:///{tmp}/bench.sqlite3"
        env = {
            **os.environ, "MILAI_DATABASE_URL": db, "MILAI_DATA_DIR": tmp, "MILAI_SOURCES": str(catalogue),
            "MILAI_DOWNLOAD_DELAY": "0", "MILAI_AUTOTHROTTLE": "false", "MILAI_HTTPCACHE": "false",
            "MILAI_RETRY_TIMES": "0", "MILAI_CONCURRENT_REQUESTS_PER_DOMAIN": str(PER_DOMAIN),
            "MILAI_LOG_LEVEL": "ERROR",
        }
        if workers is not None:
            env["MILAI_EXTRACT_WORKERS"] = str(workers)
        cmd = [sys.executable]
        if profile:  # the main thread's CPU clock: where the reactor thread's CPU goes, not what it waits for
            cmd += ["-c", _PROFILED.format(profile=profile)]
        else:
            cmd += ["-m", "milai"]
        cmd += ["crawl", "--format", "json"]
        wall, _ = _run(cmd, env, timeout, "milai")
        engine = create_engine(db)
        with engine.connect() as conn:
            stored = int(conn.execute(text("SELECT count(*) FROM items")).scalar_one())
        engine.dispose()
    return wall, stored


def scrapy_spider(feeds: list[str]) -> int:
    """The baseline, in this process: a bare Scrapy spider (same concurrency, robots.txt obeyed) that reads the
    feeds, fetches every article and runs trafilatura.extract on it; returns the articles extracted."""
    import scrapy
    import trafilatura
    from scrapy.crawler import CrawlerProcess

    extracted: list[str] = []

    class Bare(scrapy.Spider):
        name = "bare"

        async def start(self):  # type: ignore[no-untyped-def]
            for url in feeds:
                yield scrapy.Request(url, callback=self.parse_feed)

        def parse_feed(self, response):  # type: ignore[no-untyped-def]
            for link in response.xpath("//item/link/text()").getall():
                yield response.follow(link, callback=self.parse_article)

        def parse_article(self, response):  # type: ignore[no-untyped-def]
            text = trafilatura.extract(response.text, url=response.url)
            if text:
                extracted.append(response.url)
            return None

    process = CrawlerProcess({
        "LOG_LEVEL": "ERROR", "ROBOTSTXT_OBEY": True, "DOWNLOAD_DELAY": 0, "CONCURRENT_REQUESTS": 16,
        "CONCURRENT_REQUESTS_PER_DOMAIN": PER_DOMAIN, "TELNETCONSOLE_ENABLED": False, "HTTPCACHE_ENABLED": False,
        "RETRY_ENABLED": False,
    })
    process.crawl(Bare)
    process.start()
    return len(extracted)


def crawl_scrapy(feeds: list[str], timeout: float) -> tuple[float, int]:
    wall, out = _run([sys.executable, "-m", "bench.crawl", "--scrapy-spider", json.dumps(feeds)],
                     dict(os.environ), timeout, "scrapy")
    return wall, int(out.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sites", type=int, default=10)
    parser.add_argument("--articles", type=int, default=150, help="articles per site")
    parser.add_argument("--database", help="an empty database for the milai crawl (default: temporary SQLite)")
    parser.add_argument("--profile", help="write a cProfile of the milai crawl process to this file")
    parser.add_argument("--only", choices=["milai", "scrapy"])
    parser.add_argument("--timeout", type=float, default=1800.0)
    parser.add_argument("--extract-workers", type=int, help="MILAI_EXTRACT_WORKERS of the milai crawl")
    parser.add_argument("--scrapy-spider", metavar="FEEDS_JSON", help=argparse.SUPPRESS)  # the baseline process
    args = parser.parse_args(argv)
    if args.scrapy_spider:
        print(scrapy_spider(json.loads(args.scrapy_spider)))
        return 0

    sites = [Site(n, args.articles) for n in range(args.sites)]
    feeds = [s.feed for s in sites]
    total = args.sites * args.articles
    size = sum(len(body) for s in sites for path, (_, body) in s.pages.items() if "/news/" in path) / total
    print(f"loopback web: {args.sites} sites, {total:,} articles ({', '.join(LANGUAGES)}), "
          f"{size / 1024:.1f} KB per page, {PER_DOMAIN} requests per domain, no delay")
    # what the crawl will use: the flag, else MILAI_EXTRACT_WORKERS, else the setting's default (unset: automatic)
    from crawler.pipelines_pool import AUTO_AFTER, WARM_SHARE, default_workers

    setting = args.extract_workers if args.extract_workers is not None else (
        int(os.environ["MILAI_EXTRACT_WORKERS"]) if os.environ.get("MILAI_EXTRACT_WORKERS") else None)
    workers = default_workers() if setting is None else setting
    after = (f" after the first {AUTO_AFTER // WARM_SHARE} to {AUTO_AFTER} pages (MILAI_EXTRACT_WORKERS unset)"
             if setting is None and workers else "")
    print(f"cores: {os.cpu_count()}; load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; "
          f"milai crawl: {workers} extraction worker process(es) beside the crawl process{after} "
          f"({'uses more than one core' if workers else 'one core'}); scrapy spider: one process, one core")
    rates: dict[str, float] = {}
    if args.only in (None, "scrapy"):
        wall, n = crawl_scrapy(feeds, args.timeout)
        rates["scrapy"] = n / wall
        print(f"scrapy spider + trafilatura.extract: {n:,} articles in {wall:.1f} s = {rates['scrapy']:.1f} articles/s "
              f"({CPU_SECONDS['scrapy'] * 1000 / max(n, 1):.1f} ms CPU per article)", flush=True)
    if args.only in (None, "milai"):
        wall, n = crawl_milai(feeds, args.database, args.profile, args.timeout, args.extract_workers)
        rates["milai"] = n / wall
        print(f"milai crawl ({'given database' if args.database else 'sqlite'}): {n:,} articles stored in "
              f"{wall:.1f} s = {rates['milai']:.1f} articles/s ({CPU_SECONDS['milai'] * 1000 / max(n, 1):.1f} ms CPU "
              f"per article in the crawl process, {HELPER_CPU_SECONDS['milai'] * 1000 / max(n, 1):.1f} ms in the "
              f"{HELPER_PROCESSES['milai']} processes below it)", flush=True)
    if len(rates) == 2:
        print(f"ratio milai / scrapy+trafilatura: {rates['milai'] / rates['scrapy']:.2f}x")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
