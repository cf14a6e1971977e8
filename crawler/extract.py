"""Article extraction: title, clean text, date, language, canonical URL, alternates and PDF links."""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from urllib.parse import urljoin, urlsplit

import trafilatura
from bs4 import BeautifulSoup, Tag
from py3langid.langid import MODEL_FILE, LanguageIdentifier

from crawler.bounds import MAX_ALTERNATES, MAX_PDF_LINKS
from crawler.dates import find_date_in_text, parse_date
from crawler.encoding import decode_html

log = logging.getLogger(__name__)

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


@lru_cache(maxsize=1)
def _identifier() -> LanguageIdentifier:
    identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    identifier.set_languages(list(LANGUAGES))
    return identifier


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


def _metas(soup: BeautifulSoup) -> Metas:
    """The contents of <meta name|property|http-equiv|itemprop> by lower-cased name, in page order."""
    found: Metas = {}
    for tag in soup.find_all("meta"):
        key = tag.get("name") or tag.get("property") or tag.get("http-equiv") or tag.get("itemprop")
        content = tag.get("content")
        if isinstance(key, str) and isinstance(content, str) and content.strip():
            found.setdefault(key.strip().lower(), []).append(content.strip())
    return found


def _meta(metas: Metas, names: tuple[str, ...]) -> list[str]:
    """The contents of the meta tags called `names`, in the order of names."""
    return [value for name in names for value in metas.get(name, [])]


def _json_ld_dates(soup: BeautifulSoup) -> list[str]:
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

    for script in soup.find_all("script", type="application/ld+json"):
        try:
            walk(json.loads(script.string or ""))
        except (json.JSONDecodeError, TypeError):
            continue
    return dates


def _main(soup: BeautifulSoup) -> Tag:
    found = soup.select_one(MAIN_SELECTORS)
    return found or soup.body or soup


def _page_date(soup: BeautifulSoup, metas: Metas, lang: str | None) -> datetime | None:
    """A publication date stated in the markup (meta, JSON-LD, <time>)."""
    candidates = _meta(metas, DATE_META)
    candidates += _json_ld_dates(soup)
    main = soup.select_one(MAIN_SELECTORS)
    times = (main.find_all("time") if main else []) + soup.select("time[pubdate], [itemprop=datePublished]")
    for time in times:
        candidates.append(str(time.get("datetime") or time.get("content") or time.get_text(" ", strip=True)))
    for candidate in candidates:
        value = parse_date(candidate, lang)
        if value is not None:
            return value
    return None


def _trafilatura_date(doc: Any) -> datetime | None:
    raw = getattr(doc, "date", None) if doc is not None else None
    return parse_date(raw) if raw else None


def _links(soup: BeautifulSoup, metas: Metas, base: str) -> tuple[str | None, dict[str, str]]:
    canonical = None
    alternates: dict[str, str] = {}
    for link in soup.find_all("link", href=True):
        rel = {r.lower() for r in (link.get("rel") or [])}
        try:
            href = urljoin(base, str(link["href"]).strip())
        except ValueError:  # a malformed href is no link
            continue
        if "canonical" in rel and canonical is None:
            canonical = href
        elif "alternate" in rel and link.get("hreflang") and len(alternates) < MAX_ALTERNATES:
            alternates.setdefault(str(link["hreflang"]).strip(), href)
    if canonical is None:
        og = _meta(metas, ("og:url",))
        try:
            canonical = urljoin(base, og[0]) if og else None
        except ValueError:
            canonical = None
    if canonical and urlsplit(canonical).scheme not in ("http", "https"):
        canonical = None
    return canonical, alternates


def _pdf_links(container: Tag, base: str) -> list[str]:
    """The first MAX_PDF_LINKS distinct links to .pdf files, in page order."""
    links: dict[str, None] = {}
    for anchor in container.find_all("a", href=True):
        try:
            href = urljoin(base, str(anchor["href"]).strip())
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


def _fallback_text(soup: BeautifulSoup) -> str:
    container = _main(soup)
    for tag in container.find_all(["script", "style", "noscript", "nav", "header", "footer", "aside", "form"]):
        tag.decompose()
    lines = (line.strip() for line in container.get_text("\n").splitlines())
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


def _trafilatura(html: str, url: str) -> Any:
    params = {"original_date": True, "extensive_search": False, "max_date": datetime.now(UTC).strftime("%Y-%m-%d")}
    try:
        return trafilatura.bare_extraction(
            html, url=url, with_metadata=True, favor_precision=True, include_comments=False,
            include_tables=True, date_extraction_params=params,
        )
    except Exception:  # trafilatura/htmldate raise on odd markup; the BeautifulSoup fallback takes over
        log.debug("trafilatura failed on %s", url, exc_info=True)
        return None


def extract_page(
    body: bytes, url: str, *, encoding: str | None = None, language_hint: str | None = None
) -> Extracted:
    """Extract an article page whose server declared the charset `encoding`; a page without a findable
    date has published None."""
    html = decode_html(body, encoding, language_hint)
    soup = BeautifulSoup(html, "lxml")
    base_tag = soup.find("base", href=True)
    try:
        base = urljoin(url, str(base_tag["href"])) if base_tag else url
    except ValueError:
        base = url
    doc = _trafilatura(html, url)

    text = (getattr(doc, "text", None) or "").strip() if doc is not None else ""
    if not text:
        text = _fallback_text(BeautifulSoup(html, "lxml"))

    metas = _metas(soup)
    html_tag = soup.find("html")
    declared = next(iter(_meta(metas, LANGUAGE_META)), None)
    if declared is None and html_tag is not None:
        declared = html_tag.get("lang") or html_tag.get("xml:lang")  # type: ignore[assignment]

    title = _clean(getattr(doc, "title", None) if doc is not None else None)
    if not title:
        title = _clean(next(iter(_meta(metas, TITLE_META)), None))
    if not title:
        heading = soup.find("h1") or soup.find("title")
        title = _clean(heading.get_text(" ") if heading else "")

    language = detect_language(f"{title}\n{text}", declared=str(declared) if declared else None,
                               hint=language_hint)

    published = _page_date(soup, metas, language) or _trafilatura_date(doc)
    if published is None:
        published = find_date_in_text(f"{title}\n{text}", language)

    description = next(iter(_meta(metas, DESCRIPTION_META)), None)
    lead = _drop_date_lines(text[len(title):] if title and text.startswith(title) else text, language)
    summary = _clean(description)[:SUMMARY_CHARS] if description else summarize(lead)

    canonical, alternates = _links(soup, metas, base)
    return Extracted(
        title=title,
        text=text,
        summary=summary or None,
        published=published,
        date_origin="page" if published else "none",
        language=language,
        canonical_url=canonical,
        alternates=alternates,
        pdf_links=_pdf_links(_main(soup), base),
    )
