"""Loopback site builders for crawler tests: article pages, RSS/Atom feeds, sitemaps, listings (own texts)."""

from __future__ import annotations

import html
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
