"""Pages whose declared charset is wrong are stored with the right text."""

from __future__ import annotations

from dataclasses import replace

from crawler.catalogue import SourceConfig
from tests.crawler import helpers
from tests.crawler.helpers import crawl, items
from tests.crawler.sites import (
    Article,
    article_html,
    robots,
    rss,
)
from tests.support.site import LoopbackSite

sqlite_env = helpers.sqlite_env



def test_wrong_declared_charsets_are_stored_with_the_right_text(site: LoopbackSite, sqlite_env, tmp_path):
    robots(site)
    nl = Article("/news/nl", "Coördinatie van één Europese aanpak voor militaire AI", [
        "De ministers van Defensie hebben de coördinatie van de inzet van kunstmatige intelligentie in het "
        "militaire domein geëvalueerd, ook voor autonome wapensystemen.",
        "Het kabinet reageert vóór de zomer op het geëvalueerde beleid; de reactie wordt ná de zomer besproken.",
    ], lang="nl")
    fr = Article("/news/fr", "Systèmes d'armes létaux autonomes : déclaration à Genève", [
        "La France a présenté à Genève une déclaration sur les systèmes d'armes létaux autonomes et "
        "l'intelligence artificielle militaire, après une réunion très suivie.",
        "Les délégations ont souligné l'importance du contrôle humain et du droit international humanitaire.",
    ], lang="fr")
    # UTF-8 bytes served as ISO-8859-1, and ISO-8859-1 bytes served as UTF-8 (no <meta charset> to help)
    site.add(nl.path, article_html(nl).replace('<meta charset="utf-8">', "").encode("utf-8"),
             content_type="text/html; charset=iso-8859-1")
    site.add(fr.path, article_html(fr).replace('<meta charset="utf-8">', "").encode("iso-8859-1"),
             content_type="text/html; charset=utf-8")
    site.add("/feed.xml", rss(site.base, [replace(nl, feed_title="nl"), replace(fr, feed_title="fr")]),
             content_type="application/rss+xml")
    src = SourceConfig(name="charsets", publisher="P", kind="feed", url=site.url("/feed.xml"), language="fr")
    assert crawl(tmp_path, [src])["charsets"]["new"] == 2
    stored = {i.url.rsplit("/", 1)[-1]: i for i in items(sqlite_env["MILAI_DATABASE_URL"])}
    assert stored["nl"].title == nl.title and "geëvalueerd" in stored["nl"].text and "vóór" in stored["nl"].text
    assert stored["fr"].title == fr.title and "létaux" in stored["fr"].text and "à Genève" in stored["fr"].text
    assert (stored["nl"].language, stored["fr"].language) == ("nl", "fr")
