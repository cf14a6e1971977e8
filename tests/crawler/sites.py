"""Loopback site builders for crawler tests: article pages, RSS/Atom feeds, sitemaps, listings (own texts)."""

from __future__ import annotations

import html
import textwrap
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import format_datetime

from tests.support.site import LoopbackSite

ON_TOPIC = [
    (
        "Ministers agree principles for responsible military use of artificial intelligence",
        [
            "Defence ministers from twenty countries agreed on a set of principles for the responsible "
            "military use of artificial intelligence at a meeting in the capital on Tuesday.",
            "The principles cover human control over autonomous weapon systems, legal reviews of new "
            "military AI capabilities and the training of personnel who operate them.",
            "Delegations said that lethal autonomous weapons systems raise questions under international "
            "humanitarian law that states must answer together, and announced a follow-up meeting.",
        ],
    ),
    (
        "Expert group resumes talks on lethal autonomous weapons systems",
        [
            "The group of governmental experts on lethal autonomous weapons systems resumed its work in "
            "Geneva this week, with more than eighty delegations attending the session.",
            "The chair presented a rolling text on prohibitions and regulations for autonomous weapon "
            "systems that select and engage targets without human intervention.",
            "Several states called for a legally binding instrument on military artificial intelligence "
            "by the end of next year, while others preferred a political declaration.",
        ],
    ),
    (
        "Navy tests artificial intelligence for mine detection under human supervision",
        [
            "The navy has completed trials of an artificial intelligence system that helps crews detect "
            "sea mines with autonomous underwater vehicles, the defence ministry said.",
            "Operators kept control over every decision, and the military AI only proposed contacts for "
            "review by trained specialists on board the ship.",
            "The ministry said the trials follow its strategy on the responsible use of AI in defence.",
        ],
    ),
    (
        "Security Council debates artificial intelligence and international peace",
        [
            "The Security Council held an open debate on artificial intelligence and its implications "
            "for international peace and security, including autonomous weapons.",
            "The Secretary-General urged members to conclude negotiations on an instrument prohibiting "
            "lethal autonomous weapon systems that function without human control.",
            "Speakers described the military use of AI as one of the defining challenges of the decade.",
        ],
    ),
]

OFF_TOPIC = [
    (
        "New cycling paths open along the river",
        [
            "The city opened twelve kilometres of new cycling paths along the river on Saturday.",
            "The paths connect three neighbourhoods with the central station and the university campus.",
            "Residents welcomed the project, which was completed two months ahead of schedule.",
        ],
    ),
]


@dataclass
class Article:
    path: str
    title: str
    paragraphs: list[str]
    date: datetime | None = None
    canonical: str | None = None
    lang: str = "en"
    extra_head: str = ""
    feed_title: str | None = None
    updated: datetime | None = None
    links: list[str] = field(default_factory=list)


def article_html(a: Article, base: str = "") -> str:
    """A plain news page with <title>, <h1>, a dated byline, paragraphs, optional rel=canonical."""
    head = [f"<title>{html.escape(a.title)}</title>"]
    if a.canonical:
        head.append(f'<link rel="canonical" href="{html.escape(a.canonical)}">')
    if a.date:
        head.append(f'<meta property="article:published_time" content="{a.date.isoformat()}">')
    head.append(a.extra_head)
    byline = ""
    if a.date:
        byline = f'<p class="date"><time datetime="{a.date.date().isoformat()}">{a.date:%d %B %Y}</time></p>'

    body = "\n".join(f"<p>{html.escape(p)}</p>" for p in a.paragraphs)
    links = "".join(f'<li><a href="{u}">{u}</a></li>' for u in a.links)
    return (
        f'<!doctype html><html lang="{a.lang}"><head><meta charset="utf-8">{"".join(head)}</head>'
        f"<body><header><nav><a href='/'>Home</a> <a href='/news'>News</a></nav></header>"
        f"<main><article><h1>{html.escape(a.title)}</h1>{byline}{body}</article>"
        f"{'<ul>' + links + '</ul>' if links else ''}</main>"
        f"<footer><p>Ministry of Examples, Example Street 1</p></footer></body></html>"
    )


def rss(base: str, articles: list[Article], *, title: str = "Example ministry news") -> str:
    items = []
    for a in articles:
        date = f"<pubDate>{format_datetime(a.date)}</pubDate>" if a.date else ""
        items.append(
            f"<item><title>{html.escape(a.feed_title or a.title)}</title><link>{base}{a.path}</link>"
            f"<guid isPermaLink=\"true\">{base}{a.path}</guid>{date}"
            f"<description>{html.escape(a.paragraphs[0])}</description></item>"
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>{html.escape(title)}</title><link>{base}/</link><description>News</description>"
        f"{''.join(items)}</channel></rss>"
    )


def atom(base: str, articles: list[Article], *, xml_base: str | None = None) -> str:
    entries = []
    for a in articles:
        updated = (a.updated or a.date or datetime(2025, 1, 1)).isoformat()
        href = a.path.lstrip("/") if xml_base else f"{base}{a.path}"
        entries.append(
            f"<entry><id>tag:example,2025:{a.path}</id><title>{html.escape(a.feed_title or a.title)}</title>"
            f'<link rel="alternate" href="{href}"/><updated>{updated}</updated>'
            f"<summary>{html.escape(a.paragraphs[0])}</summary></entry>"
        )
    xb = f' xml:base="{xml_base}"' if xml_base else ""
    return (
        f'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"{xb}>'
        f"<title>Example</title><id>tag:example,2025:feed</id><updated>2025-09-30T00:00:00Z</updated>"
        f"{''.join(entries)}</feed>"
    )


def make_articles(specs: list[tuple[str, list[str]]], *, prefix: str = "/news", start_day: int = 1) -> list[Article]:
    return [
        Article(f"{prefix}/2025/09/{start_day + i:02d}/item-{start_day + i}", title, paras,
                date=datetime.fromisoformat(f"2025-09-{start_day + i:02d}T10:00:00+00:00"))
        for i, (title, paras) in enumerate(specs)
    ]


def serve_articles(site: LoopbackSite, articles: list[Article]) -> None:
    for a in articles:
        site.add(a.path, article_html(a, site.base))


def robots(site: LoopbackSite, disallow: list[str] | None = None) -> None:
    lines = ["User-agent: *"] + [f"Disallow: {d}" for d in (disallow or [])] or ["Disallow:"]
    site.add("/robots.txt", "\n".join(lines) + "\n", content_type="text/plain")


def make_pdf(pages: list[str], *, title: str | None = None, created: str | None = "D:20250925120000+02'00'",
             lang: str | None = "en-GB") -> bytes:
    """A small valid PDF written by hand (Helvetica text, one line per string), with an Info dictionary."""

    def esc(s: str) -> str:
        return s.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    objects: list[bytes] = []
    n_pages = len(pages)
    page_ids = [4 + 2 * i for i in range(n_pages)]
    font_id = 4 + 2 * n_pages
    info_id = font_id + 1
    lang_entry = f" /Lang ({lang})" if lang else ""
    objects.append(f"<< /Type /Catalog /Pages 2 0 R{lang_entry} >>".encode())
    kids = " ".join(f"{p} 0 R" for p in page_ids)
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {n_pages} >>".encode())
    objects.append(b"<< >>")  # 3: unused placeholder keeps the numbering simple
    for i, text in enumerate(pages):
        lines = textwrap.wrap(text, 80) or [""]
        ops = "BT /F1 11 Tf 14 TL 50 780 Td " + " ".join(f"({esc(line)}) Tj T*" for line in lines) + " ET"
        stream = ops.encode("latin-1")
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 {font_id} 0 R >> >>"
            f" /Contents {page_ids[i] + 1} 0 R >>".encode()
        )
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    info = []
    if title:
        info.append(f"/Title ({esc(title)})")
    if created:
        info.append(f"/CreationDate ({created})")
    objects.append(f"<< {' '.join(info)} >>".encode())
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for num, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{num} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    trailer = f"<< /Size {len(objects) + 1} /Root 1 0 R /Info {info_id} 0 R >>"
    out += f"trailer\n{trailer}\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)
