"""CPU time per page of each crawl pipeline stage, on one thread, over a fixed set of pages.

Usage: python -m bench.stages [--pages 300] [--repeat 1] [--dump FILE] [--profile STAGE:FILE] [--no-store]
                              [--regex-xpaths]

The pages are bench.crawl's loopback articles (the pages `bench/crawl.py` crawls), the same every run, so two
runs compare. Each stage is timed with time.process_time() around the call (CPU of this process, not wall
time: steadier on a shared machine): extract (crawler.extract.extract_page), trafilatura.extract alone (what
bench/crawl.py's bare spider runs per page), classify, MinHash + fingerprint, and store_page on a fresh SQLite
file. The one-time start-up costs (language model, lexicons) are timed separately, before the first page.

--dump FILE writes every page's results (extracted fields, verdict, keys, stored outcome) as JSON lines, so
two code versions can be compared for identical results (`cmp` the files). --profile STAGE:FILE writes a
cProfile of one stage (extract, classify, dedup, store) over all pages.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from bench.crawl import article

ROOT = Path(__file__).resolve().parent.parent


def pages(count: int) -> list[tuple[str, str, bytes]]:
    """(url, language, body) of `count` bench.crawl articles over 10 sites."""
    out = []
    for n in range(count):
        site = n % 10
        path, _title, lang, body = article(site, n // 10)
        out.append((f"http://127.0.0.1:{18000 + site}{path}", lang, body))
    return out


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.process_time()
    result = fn()
    return time.process_time() - start, result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=1, help="passes over the pages (the best pass is shown)")
    parser.add_argument("--dump", type=Path)
    parser.add_argument("--profile", help="STAGE:FILE")
    parser.add_argument("--no-store", action="store_true")
    parser.add_argument("--regex-xpaths", action="store_true",
                        help="trafilatura's own regular-expression XPaths (before crawler.xpath_literals), for A/B")
    args = parser.parse_args(argv)
    if args.regex_xpaths:
        import crawler.extract  # noqa: F401 - makes the rewrite, undone for the run
        from crawler.xpath_literals import original_xpaths

        with original_xpaths():
            return _main(args)
    return _main(args)


def _main(args: argparse.Namespace) -> int:

    startup: dict[str, float] = {}
    startup["import"], _ = _timed(lambda: __import__("crawler.pipelines"))
    from crawler.extract import detect_language, extract_page
    from crawler.pipelines_pool import dedup_keys
    from crawler.relevance import classify

    startup["language model"], _ = _timed(partial(detect_language, "Ministers met on Monday."))
    from bench.crawl import LANGUAGES

    startup["lexicons (5 languages)"], _ = _timed(
        lambda: [classify("Military AI", "Ministers discussed artificial intelligence.", lang) for lang in LANGUAGES])
    import trafilatura

    work = pages(args.pages)
    profile_stage, _, profile_file = (args.profile or "").partition(":")
    profiler = cProfile.Profile() if profile_stage else None

    def run(stage: str, fn: Callable[[], Any]) -> tuple[float, Any]:
        if profiler is not None and stage == profile_stage:
            profiler.enable()
            try:
                return _timed(fn)
            finally:
                profiler.disable()
        return _timed(fn)

    best: dict[str, float] = {}
    dump: list[dict[str, Any]] = []
    for rep in range(args.repeat):
        totals = dict.fromkeys(("extract", "trafilatura.extract", "classify", "dedup", "store"), 0.0)
        engine = None
        tmp = tempfile.TemporaryDirectory()
        if not args.no_store:
            from sqlalchemy.orm import Session

            from storage.database import ensure_schema, get_engine
            from storage.items import PageRecord, store_page
            from storage.models import Source

            engine = get_engine(f"sqlite:///{tmp.name}/stages.db")
            ensure_schema(engine)
            with Session(engine) as session:
                source = Source(name="bench", consecutive_failures=0, ever_yielded=False, publisher="Bench",
                                kind="feed", url="http://127.0.0.1/", enabled=True)
                session.add(source)
                session.commit()
                source_id = source.id
        for url, lang, body in work:
            t, ex = run("extract", partial(extract_page, body, url, encoding="utf-8", language_hint=lang))
            totals["extract"] += t
            html = body.decode("utf-8")
            t, _ = run("trafilatura.extract", partial(trafilatura.extract, html, url=url))
            totals["trafilatura.extract"] += t
            t, verdict = run("classify", partial(classify, ex.title, ex.text, ex.language))
            totals["classify"] += t
            t, (fingerprint, minhash) = run("dedup", partial(dedup_keys, ex.text))
            totals["dedup"] += t
            outcome = None
            if engine is not None:
                from crawler.dedup import fingerprint_comparable
                from crawler.symbols import find_symbols
                from crawler.urls import canonicalize

                record = PageRecord(
                    canonical_url=canonicalize(url), url=url, kind="html", title=ex.title, listing_title=None,
                    summary=ex.summary, text=ex.text, text_truncated=False, published=ex.published,
                    date_origin=ex.date_origin, language=ex.language, relevant=verdict.relevant,
                    score=verdict.score, matches=verdict.stored(), content_hash=fingerprint, minhash=minhash,
                    source_id=source_id, fetched_key=canonicalize(url), revise_id=None,
                    match_fingerprint=fingerprint_comparable(ex.text), symbols=find_symbols(ex.text),
                    alternates=ex.alternates,
                )
                t, stored = run("store", partial(store_page, engine, record))
                totals["store"] += t
                outcome = (stored.outcome, stored.duplicate_of_id, stored.reason)
            if rep == 0 and args.dump:
                dump.append({
                    "url": url, "title": ex.title, "text": ex.text, "summary": ex.summary,
                    "published": ex.published.isoformat() if ex.published else None, "date_origin": ex.date_origin,
                    "language": ex.language, "canonical": ex.canonical_url, "alternates": ex.alternates,
                    "pdf_links": ex.pdf_links, "relevant": verdict.relevant, "score": verdict.score,
                    "matches": verdict.matches, "why": verdict.why, "codes": verdict.codes,
                    "fingerprint": fingerprint, "minhash": minhash.hex() if minhash else None, "stored": outcome,
                })
        if engine is not None:
            engine.dispose()
        tmp.cleanup()
        for stage, total in totals.items():
            best[stage] = min(best.get(stage, total), total)

    n = len(work)
    print(f"{n} pages, best of {args.repeat} pass(es); CPU ms per page (time.process_time, one thread)")
    for name, seconds in startup.items():
        print(f"  start-up {name:<22} {seconds * 1000:8.1f} ms (once)")
    milai = 0.0
    for stage, total in best.items():
        print(f"  {stage:<31} {total / n * 1000:8.2f} ms")
        if stage != "trafilatura.extract":
            milai += total
    print(f"  {'milai total':<31} {milai / n * 1000:8.2f} ms")
    if args.dump:
        args.dump.write_text("".join(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n" for row in dump))
    if profiler is not None:
        profiler.dump_stats(profile_file)
    return 0


if __name__ == "__main__":
    sys.exit(main())
