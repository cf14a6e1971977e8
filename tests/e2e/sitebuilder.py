"""A small ministry website written for the end-to-end tests: RSS feed, articles, robots.txt."""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path

from tests.support.site import LoopbackSite


@dataclass
class Article:
    path: str
    title: str
    date: str  # ISO date shown in the page
    paragraphs: list[str]
    lang: str = "en"

    def html(self, base: str) -> str:
        body = "\n".join(f"<p>{html.escape(p)}</p>" for p in self.paragraphs)
        return f"""<!doctype html>
<html lang="{self.lang}"><head><meta charset="utf-8">
<title>{html.escape(self.title)} | Ministry of Foreign Affairs</title>
<link rel="canonical" href="{base}{self.path}">
<meta name="description" content="{html.escape(self.paragraphs[0][:160])}">
<meta property="article:published_time" content="{self.date}T10:00:00+02:00">
</head><body>
<header><nav><a href="/">Home</a> <a href="/news">News</a> <a href="/contact">Contact</a></nav></header>
<main><article>
<h1>{html.escape(self.title)}</h1>
<p class="date"><time datetime="{self.date}">{self.date}</time></p>
{body}
</article></main>
<footer><p>Ministry of Foreign Affairs. All rights reserved. Cookie settings. Privacy statement.</p></footer>
</body></html>"""


ON_TOPIC = Article(
    "/news/2025/11/06/first-committee-autonomous-weapons",
    "First Committee adopts resolution on lethal autonomous weapons systems",
    "2025-11-06",
    [
        "The First Committee of the United Nations General Assembly today adopted a draft resolution on lethal "
        "autonomous weapons systems, calling on States to address the challenges posed by weapons that select "
        "and engage targets without human intervention.",
        "The minister welcomed the vote and said that meaningful human control over the use of force must be "
        "preserved as artificial intelligence is increasingly used by armed forces.",
        "The resolution asks the Secretary-General to seek the views of Member States and to convene "
        "consultations in 2026. Our delegation co-sponsored the text and will continue to work in the Group of "
        "Governmental Experts of the Convention on Certain Conventional Weapons in Geneva.",
        "Responsible use of AI in the military domain was also discussed at the REAIM summit, where the "
        "ministry presented its national position on military applications of artificial intelligence.",
    ],
)
OFF_TOPIC_MILITARY = Article(
    "/news/2025/11/07/frigate-returns-home",
    "Frigate returns home after six-month deployment",
    "2025-11-07",
    [
        "The navy frigate returned to its home port on Friday after a six-month deployment in the eastern "
        "Mediterranean, where it took part in a maritime security operation.",
        "Families welcomed the crew of 180 sailors on the quay. The ship escorted merchant vessels and trained "
        "with partner navies during the mission.",
        "The commander thanked the crew for their dedication and professionalism during a demanding period.",
    ],
)
OFF_TOPIC_CIVIL_AI = Article(
    "/news/2025/11/08/ai-act-guidance-for-businesses",
    "Government publishes guidance for businesses on the AI Act",
    "2025-11-08",
    [
        "The government published guidance to help small businesses comply with the European AI Act, which "
        "sets rules for artificial intelligence systems placed on the market.",
        "The guidance explains risk categories, transparency duties for chatbots and the obligations of "
        "providers of general-purpose AI models.",
        "A helpdesk for entrepreneurs opens next month, the minister for economic affairs announced.",
    ],
)
LATER = Article(
    "/news/2025/11/20/reaim-follow-up-meeting",
    "Netherlands and Republic of Korea host REAIM follow-up meeting on military AI",
    "2025-11-20",
    [
        "The Netherlands and the Republic of Korea hosted a follow-up meeting of the REAIM process on the "
        "responsible use of artificial intelligence in the military domain.",
        "Delegations from more than forty countries discussed how to put the Blueprint for Action into practice, "
        "including testing and evaluation of AI-enabled military systems and human oversight of autonomous "
        "weapons.",
        "The next summit will take place in 2026.",
    ],
)
PRIVATE = Article(
    "/private/draft-position-paper",
    "Draft position paper on autonomous weapons (internal)",
    "2025-11-09",
    ["This internal draft on autonomous weapons and military artificial intelligence must not be crawled."],
)


def rss(base: str, entries: list[tuple[str, str, str]]) -> str:
    """RSS 2.0 with (link, title, RFC 822 date) entries."""
    items = "\n".join(
        f"<item><title>{html.escape(t)}</title><link>{html.escape(link)}</link>"
        f"<guid isPermaLink=\"true\">{html.escape(link)}</guid><pubDate>{d}</pubDate></item>"
        for link, t, d in entries
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>Ministry news</title><link>{base}/news</link>
<description>News from the ministry</description><language>en</language>
{items}
</channel></rss>"""


def seed_article(seed_file: Path | None) -> Article | None:
    """The Dutch seed news item, wrapped in a page of our own, when the shared fixture is present."""
    if seed_file is None or not seed_file.exists():
        return None
    lines = seed_file.read_text(encoding="utf-8").strip().splitlines()
    first = lines[0].split()
    date = first[1] if len(first) > 1 and first[0] == "date" else "2025-09-25"
    title = " ".join(first[2:]) if len(first) > 2 else "AI in het militaire domein"
    paragraphs = [ln for ln in lines[1:] if ln.strip()]
    return Article("/actueel/nieuws/2025/09/25/ai-in-het-militaire-domein", title, date, paragraphs, lang="nl")


def build_site(site: LoopbackSite, seed_file: Path | None, *, with_later: bool = False) -> list[Article]:
    base = site.base
    articles = [ON_TOPIC, OFF_TOPIC_MILITARY, OFF_TOPIC_CIVIL_AI]
    seed = seed_article(seed_file)
    if seed:
        articles.append(seed)
    if with_later:
        articles.append(LATER)
    entries = [(base + a.path, a.title, "Thu, 06 Nov 2025 10:00:00 +0100") for a in articles]
    # the same on-topic article again, disguised with tracking parameters and a trailing slash
    entries.append((base + ON_TOPIC.path + "/?utm_source=rss&utm_medium=feed", ON_TOPIC.title,
                    "Thu, 06 Nov 2025 10:00:00 +0100"))
    entries.append((base + PRIVATE.path, PRIVATE.title, "Sun, 09 Nov 2025 10:00:00 +0100"))
    site.add("/robots.txt", "User-agent: *\nDisallow: /private/\n", content_type="text/plain")
    site.add("/feed.xml", rss(base, entries), content_type="application/rss+xml; charset=utf-8")
    for a in [*articles, PRIVATE]:
        page = a.html(base)
        site.add(a.path, page)
        site.add(a.path + "/", page)
    return articles


def catalogue_yaml(base: str) -> str:
    return f"""sources:
  - name: test-ministry-news
    publisher: Test Ministry of Foreign Affairs
    kind: feed
    url: {base}/feed.xml
    language: en
    schedule: "0 */2 * * *"
"""
