"""Article extraction: title, clean text, date, language, canonical URL, alternates and PDF links.

Each page is decoded once (crawler.encoding) and parsed once: one lxml tree, built as trafilatura builds its
own (trafilatura.utils.load_html), serves trafilatura (which works on a copy) and our own metadata, date and
link lookups (XPath and CSS selectors compiled once)."""

from __future__ import annotations

import copy
import json
import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, cast
from urllib.parse import urljoin, urlsplit

import lxml.html
import trafilatura
from htmldate import find_date
from lxml.cssselect import CSSSelector
from lxml.etree import XPath
from lxml.html import HtmlElement
from py3langid.langid import LanguageIdentifier
from trafilatura.metadata import examine_meta, extract_meta_json, extract_title, extract_url
from trafilatura.settings import Document
from trafilatura.utils import load_html

from crawler import langid_model
from crawler.bounds import MAX_ALTERNATES, MAX_PDF_LINKS
from crawler.dates import Stamp, find_date_in_text, parse_date, parse_stamp
from crawler.encoding import decode_html
from crawler.xpath_literals import speed_up_trafilatura

log = logging.getLogger(__name__)
speed_up_trafilatura()  # trafilatura's literal-only regex XPaths as plain XPath: same selections, less CPU

SUMMARY_CHARS = 400
LANGUAGES = (
    "en", "nl", "fr", "de", "es", "it", "pt", "ko", "ja", "zh", "ru", "uk", "ar", "pl", "sv", "da", "no",
    "fi", "cs", "ro", "hu", "el", "tr", "he", "fa", "id", "vi", "th", "hi", "bg", "hr", "sk", "sl", "et",
    "lv", "lt",
)
# Meta tags holding the publication date, best first (name or property, compared case-insensitively).
DATE_META = (
    "article:published_time", "og:published_time", "dcterms.issued", "dcterms.available", "dc.date.issued",
    "dcterms.created", "dc.date", "dcterms.date", "citation_publication_date", "publication_date",
    "publishdate", "pubdate", "date", "datepublished", "sailthru.date", "parsely-pub-date", "govuk:first-published-at",
)
LANGUAGE_META = ("dcterms.language", "dc.language", "content-language", "language", "og:locale")
DESCRIPTION_META = ("description", "og:description", "dcterms.description", "twitter:description")
TITLE_META = ("og:title", "dcterms.title", "dc.title", "twitter:title")
MAIN_SELECTORS = "main, article, [role=main], #content, #main-content, .content"
CONFIDENT = 0.9  # language-detection probability that overrides a declared language
MIN_DETECT_CHARS = 200


@dataclass
class Extracted:
    """What an article page says about itself."""

    title: str
    text: str
    summary: str | None = None
    published: datetime | None = None  # tz-aware UTC
    date_origin: str = "none"  # "page" or "none"
    language: str | None = None  # ISO 639-1
    canonical_url: str | None = None
    alternates: dict[str, str] = field(default_factory=dict)  # hreflang -> absolute URL
    pdf_links: list[str] = field(default_factory=list)


_identifier_lock = threading.Lock()


@lru_cache(maxsize=1)
def _load_identifier() -> LanguageIdentifier:
    return langid_model.load(LANGUAGES, langid_model.default_cache_dir())  # uncompressed after the first load


def _identifier() -> LanguageIdentifier:
    """The language model, loaded once per process: the worker threads that want it first wait for one load
    (each loading its own copy cost a second of CPU per thread at every crawl start)."""
    with _identifier_lock:
        return _load_identifier()


def _iso639_1(value: str | None) -> str | None:
    if not value:
        return None
    code = re.split(r"[-_\s;,]", value.strip().lower(), maxsplit=1)[0]
    return code if re.fullmatch(r"[a-z]{2}", code) else None


def detect_language(text: str, *, declared: str | None = None, hint: str | None = None) -> str | None:
    """ISO 639-1 language of a text; the declared language and the hint act as priors."""
    prior = _iso639_1(declared) or _iso639_1(hint)
    sample = _clean(text)[:3000]
    if not sample:
        return prior
    detected, probability = _identifier().classify(sample)
    if len(sample) >= MIN_DETECT_CHARS and probability >= CONFIDENT:
        return str(detected)
    if prior:
        return prior
    return str(detected) if probability >= 0.5 else None


Metas = dict[str, list[str]]
# A compiled query that selects elements: lxml types an XPath's result as any XPath value (a number, a
# string, a list of anything), and ours select elements only.
Select = Callable[[HtmlElement], list[HtmlElement]]

_META = cast(Select, XPath("//meta"))
_JSON_LD = cast(Select, XPath('//script[@type="application/ld+json"]'))
_MAIN = cast(Select, CSSSelector(MAIN_SELECTORS))
_MARKED_DATES = cast(Select, CSSSelector("time[pubdate], [itemprop=datePublished]"))
_TIMES = cast(Select, XPath(".//time"))
_LINKS = cast(Select, XPath("//link[@href]"))
_ANCHORS = cast(Select, XPath(".//a[@href]"))
_PDF_ANCHORS = cast(Select, XPath(".//a[@href][contains(translate(@href, 'PDF\t\r\n', 'pdf'), 'pdf')]"))
_BASE = cast(Select, XPath("//base[@href]"))
_HEADING = cast(Select, XPath("(//h1)[1]"))
_TITLE = cast(Select, XPath("(//title)[1]"))
_NOT_TEXT = cast(Select, XPath(
    ".//script | .//style | .//noscript | .//nav | .//header | .//footer | .//aside | .//form"))


def _text(element: HtmlElement, separator: str = "") -> str:
    """The text of `element` and its descendants (BeautifulSoup's get_text(separator))."""
    return separator.join(element.itertext())


def _metas(tree: HtmlElement) -> Metas:
    """The contents of <meta name|property|http-equiv|itemprop> by lower-cased name, in page order."""
    found: Metas = {}
    for tag in _META(tree):
        key = tag.get("name") or tag.get("property") or tag.get("http-equiv") or tag.get("itemprop")
        content = tag.get("content")
        if key and content and content.strip():
            found.setdefault(key.strip().lower(), []).append(content.strip())
    return found


def _meta(metas: Metas, names: tuple[str, ...]) -> list[str]:
    """The contents of the meta tags called `names`, in the order of names."""
    return [value for name in names for value in metas.get(name, [])]


def _json_ld_dates(tree: HtmlElement) -> list[str]:
    dates: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key in ("datePublished", "dateCreated"):
                if isinstance(node.get(key), str):
                    dates.append(node[key])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for script in _JSON_LD(tree):
        try:
            walk(json.loads(script.text or ""))
        except (json.JSONDecodeError, TypeError, RecursionError):
            continue
    return dates


def _main_or_none(tree: HtmlElement) -> HtmlElement | None:
    found = _MAIN(tree)
    return found[0] if found else None


def _main(tree: HtmlElement, found: HtmlElement | None) -> HtmlElement:
    """The main container `found` by MAIN_SELECTORS, else the body, else the document."""
    if found is not None:
        return found
    body = tree.find("body")
    return body if body is not None else tree


def _page_date(tree: HtmlElement, main: HtmlElement | None, metas: Metas, lang: str | None,
               zone: str | None = None) -> datetime | None:
    """A publication date stated in the markup (meta, JSON-LD, <time> in the main container or marked up); a
    first date without a time takes the time of a later one written for the same day (a meta day, then
    <time datetime="…T13:00:00">)."""
    candidates = _meta(metas, DATE_META)
    candidates += _json_ld_dates(tree)
    times = (_TIMES(main) if main is not None else []) + _MARKED_DATES(tree)
    for time in times:
        stamp = time.get("datetime") or time.get("content")
        candidates.append(stamp or " ".join(t.strip() for t in time.itertext() if t.strip()))
    first: Stamp | None = None
    for candidate in candidates:
        found = parse_stamp(candidate, lang, zone)
        if found is None:
            continue
        if found.timed and (first is None or found.day == first.day):
            return found.value
        first = first or found
    return first.value if first else None


def _date_params() -> dict[str, Any]:
    return {"original_date": True, "extensive_search": False, "max_date": datetime.now(UTC).strftime("%Y-%m-%d")}


def _trafilatura_metadata(tree: HtmlElement) -> Document:
    """What trafilatura's metadata extraction reads first (meta tags, then JSON-LD): the title and URL we use,
    without its author, site name, category, tag and licence searches (they were two thirds of its cost)."""
    metadata = examine_meta(tree)
    try:
        metadata = extract_meta_json(tree, metadata)
    except Exception:  # bugs in trafilatura's JSON-LD reader, as trafilatura itself guards them
        log.debug("trafilatura could not read the JSON-LD metadata", exc_info=True)
    return metadata


def _trafilatura_title(tree: HtmlElement, metadata: Document) -> str | None:
    """trafilatura's title: meta tags, JSON-LD, then its own reading of <title>/<h1>."""
    try:
        return metadata.title or extract_title(tree)
    except Exception:
        log.debug("trafilatura could not find the title", exc_info=True)
        return None


def _trafilatura_date(tree: HtmlElement, metadata: Document, url: str) -> datetime | None:
    """htmldate's date as trafilatura asks for it (the page's URL as trafilatura finds it; htmldate works on a
    copy of the tree)."""
    try:
        raw = find_date(tree, **_date_params(), url=metadata.url or extract_url(tree, url))
    except Exception:  # htmldate raises on odd markup
        log.debug("htmldate failed on %s", url, exc_info=True)
        return None
    return parse_date(raw) if raw else None


def _links(tree: HtmlElement, metas: Metas, base: str) -> tuple[str | None, dict[str, str]]:
    canonical = None
    alternates: dict[str, str] = {}
    for link in _LINKS(tree):
        rel = {r.lower() for r in (link.get("rel") or "").split()}
        try:
            href = urljoin(base, str(link.get("href")).strip())
        except ValueError:  # a malformed href is no link
            continue
        hreflang = link.get("hreflang")
        if "canonical" in rel and canonical is None:
            canonical = href
        elif "alternate" in rel and hreflang and len(alternates) < MAX_ALTERNATES:
            alternates.setdefault(hreflang.strip(), href)
    if canonical is None:
        og = _meta(metas, ("og:url",))
        try:
            canonical = urljoin(base, og[0]) if og else None
        except ValueError:
            canonical = None
    if canonical and urlsplit(canonical).scheme not in ("http", "https"):
        canonical = None
    return canonical, alternates


def _pdf_links(container: HtmlElement, base: str) -> list[str]:
    """The first MAX_PDF_LINKS distinct links to .pdf files, in page order.

    Only anchors whose href holds "pdf" in any case (once the tabs and line breaks that urlsplit drops are
    removed) are resolved: a resolved path ends in .pdf only by its last segment, which comes from the href, or
    by the base's own path when the href has none (every anchor is resolved then)."""
    links: dict[str, None] = {}
    try:
        base_is_pdf = urlsplit(base).path.lower().endswith(".pdf")
    except ValueError:
        base_is_pdf = True
    for anchor in (_ANCHORS if base_is_pdf else _PDF_ANCHORS)(container):
        try:
            href = urljoin(base, str(anchor.get("href")).strip())
            pdf = urlsplit(href).path.lower().endswith(".pdf")
        except ValueError:  # a malformed href (bad IPv6 host, port) is no link
            continue
        if pdf:
            links[href] = None
            if len(links) >= MAX_PDF_LINKS:
                break
    return list(links)


def _clean(text: str | None) -> str:
    return " ".join((text or "").split())


def _is_date_line(line: str, language: str | None) -> bool:
    """A short dateline ("25 September 2025", "Nieuwsbericht | 25-09-2025"), not a sentence that holds a date."""
    line = line.strip()
    if not line or len(line) > 80 or len(line.split()) > 6 or line.endswith((".", "!", "?", "。")) and len(line) > 12:
        return False
    return parse_date(line, language) is not None


def _drop_date_lines(lead: str, language: str | None) -> str:
    """The lead without the page's date line(s) at its start (a summary starts with the first sentence)."""
    lines = lead.lstrip().split("\n")
    dropped = 0
    while lines and dropped < 3 and _is_date_line(lines[0], language):
        lines.pop(0)
        dropped += 1
    return "\n".join(lines) if lines else lead


def _fallback_text(container: HtmlElement) -> str:
    """The main container's text without scripts, navigation and forms (on a copy: the tree stays whole)."""
    container = copy.deepcopy(container)
    for tag in _NOT_TEXT(container):
        if tag.getparent() is not None:
            tag.drop_tree()  # keeps the text that follows the tag
    lines = (line.strip() for line in _text(container, "\n").splitlines())
    return "\n".join(line for line in lines if line)


def summarize(text: str, limit: int = SUMMARY_CHARS) -> str | None:
    """The first sentences of a text, at most `limit` characters."""
    flat = _clean(text)
    if not flat:
        return None
    summary = ""
    for sentence in re.split(r"(?<=[.!?。])\s+", flat):
        if len(summary) + len(sentence) + 1 > limit:
            break
        summary = f"{summary} {sentence}".strip()
    if not summary:
        cut = flat[: limit - 1].rsplit(" ", 1)[0]
        summary = cut + "…"
    return summary


def _trafilatura(tree: HtmlElement, url: str) -> Any:
    """trafilatura's main text (it works on a copy of `tree`); None when it finds none."""
    try:
        return trafilatura.bare_extraction(
            tree, url=url, with_metadata=False, favor_precision=True, include_comments=False, include_tables=True,
        )
    except Exception:  # trafilatura raises on odd markup; our own fallback takes over
        log.debug("trafilatura failed on %s", url, exc_info=True)
        return None


def parse_html(html: str) -> HtmlElement:
    """The page's one lxml tree, parsed as trafilatura parses it (a fragment, which trafilatura rejects, as
    lxml's HTML parser reads it); an empty document when nothing parses."""
    for parse in (load_html, lxml.html.document_fromstring):
        try:
            tree = parse(html)
        except Exception:  # lxml refuses some inputs outright (empty, only a comment, …)
            log.debug("lxml could not parse the page", exc_info=True)
            continue
        if tree is not None:
            return tree
    return lxml.html.document_fromstring("<html><body></body></html>")


def extract_page(
    body: bytes, url: str, *, encoding: str | None = None, language_hint: str | None = None,
    zone: str | None = None,
) -> Extracted:
    """Extract an article page whose server declared the charset `encoding`; a page without a findable
    date has published None; zone-less times are read in the source's IANA `zone` (crawler.dates)."""
    html = decode_html(body, encoding, language_hint)
    tree = parse_html(html)
    base_tags = _BASE(tree)
    try:
        base = urljoin(url, str(base_tags[0].get("href"))) if base_tags else url
    except ValueError:
        base = url
    doc = _trafilatura(tree, url)
    found = _main_or_none(tree)
    main = _main(tree, found)

    text = (getattr(doc, "text", None) or "").strip() if doc is not None else ""
    if not text:
        text = _fallback_text(main)

    metas = _metas(tree)
    root = tree.getroottree().getroot()
    declared = next(iter(_meta(metas, LANGUAGE_META)), None)
    if declared is None and root.tag == "html":
        declared = root.get("lang") or root.get("xml:lang")

    # trafilatura's title and date count when trafilatura read the page (as with its own metadata extraction)
    metadata = _trafilatura_metadata(tree) if doc is not None else None
    title = _clean(_trafilatura_title(tree, metadata)) if metadata is not None else ""
    if not title:
        title = _clean(next(iter(_meta(metas, TITLE_META)), None))
    if not title:
        headings = _HEADING(tree) or _TITLE(tree)
        title = _clean(_text(headings[0], " ") if headings else "")

    language = detect_language(f"{title}\n{text}", declared=str(declared) if declared else None,
                               hint=language_hint)

    published = _page_date(tree, found, metas, language, zone)
    if published is None and metadata is not None:
        published = _trafilatura_date(tree, metadata, url)
    if published is None:
        published = find_date_in_text(f"{title}\n{text}", language, zone=zone)

    description = next(iter(_meta(metas, DESCRIPTION_META)), None)
    lead = _drop_date_lines(text[len(title):] if title and text.startswith(title) else text, language)
    summary = _clean(description)[:SUMMARY_CHARS] if description else summarize(lead)

    canonical, alternates = _links(tree, metas, base)
    return Extracted(
        title=title,
        text=text,
        summary=summary or None,
        published=published,
        date_origin="page" if published else "none",
        language=language,
        canonical_url=canonical,
        alternates=alternates,
        pdf_links=_pdf_links(main, base),
    )
