"""Exact and near-duplicate detection (the index in the database), document symbols, translation links."""

from __future__ import annotations

from sqlalchemy import func, select

from crawler.dedup import THRESHOLD, content_fingerprint, fingerprint_comparable, signature
from crawler.symbols import find_symbols
from storage.database import make_engine, session_scope
from storage.items import find_duplicate
from storage.links import link_translations, related_items, symbol_url
from storage.models import Item, ItemBand, ItemLink, ItemSymbol, PendingAlternate, Source
from storage.near_duplicates import index_item, near_matches

RELEASE = """The Ministry of Foreign Affairs today announced that the country will host a regional
consultation on responsible use of artificial intelligence in the military domain next spring.
Delegations from thirty states, international organisations, industry and academia are expected to
attend the two-day meeting in the capital. The consultation will build on the outcome documents of
earlier summits and focus on testing, evaluation and human judgement in the use of force. The minister
said that clear rules are needed before new systems are fielded, and that the meeting will report to
the General Assembly later in the year. Registration for observers opens next month."""

OTHER_RELEASE = """The Ministry of Foreign Affairs today announced a contribution of two million euros to a
research programme on verification of arms control agreements. The programme, run by a consortium of
universities, will study satellite imagery, open data and remote sensing to check compliance with
treaties on conventional arms. The minister said that trust between states depends on reliable
verification, and that the results will be shared with the Conference on Disarmament. The first
reports are expected at the end of next year, and a public workshop will present the methods."""

BOILERPLATE = "Skip to main content. Home > News > Press releases. Share this page on social media.\n"
FOOTER = "\nFor media enquiries contact the press office. Follow us for updates. Cookie settings."


def test_fingerprint_ignores_case_and_whitespace() -> None:
    assert content_fingerprint("Hello   World!") == content_fingerprint("hello world")
    assert content_fingerprint("hello world") != content_fingerprint("hello there")


def _first_copies(session, *texts: str) -> list[int]:  # type: ignore[no-untyped-def]
    """Store `texts` as first copies with their bands; their ids."""
    return [_store(session, f"https://first.example/{n}", text).id for n, text in enumerate(texts)]


def test_near_duplicate_with_boilerplate_and_added_line(engine) -> None:
    with session_scope(engine) as session:
        first, other = _first_copies(session, RELEASE, OTHER_RELEASE)
        copy = BOILERPLATE + RELEASE.upper() + "\nThis text was updated with a correction to the date." + FOOTER
        hits = near_matches(session, signature(copy))
        assert hits and hits[0][0] == first and hits[0][1] >= THRESHOLD
        assert all(item_id != other for item_id, _ in hits)


def test_reordered_paragraphs_still_match(engine) -> None:
    with session_scope(engine) as session:
        [first] = _first_copies(session, RELEASE)
        sentences = RELEASE.split(". ")
        reordered = ". ".join(sentences[3:] + sentences[:3])
        assert [i for i, _ in near_matches(session, signature(reordered))] == [first]


def test_different_release_on_same_topic_does_not_match(engine) -> None:
    with session_scope(engine) as session:
        _first_copies(session, RELEASE)
        assert near_matches(session, signature(OTHER_RELEASE)) == []


def test_short_texts_get_no_signature(engine) -> None:
    assert signature("Military AI summit opens") == b""
    with session_scope(engine) as session:
        item = _store(session, "https://short.example/", "Military AI summit opens")
        assert index_item(session, item.id, b"") == 0
        assert session.scalars(select(ItemBand)).all() == []
        assert near_matches(session, b"") == []
        assert near_matches(session, b"garbage") == []


def _store(session, url: str, text: str, **kw) -> Item:  # type: ignore[no-untyped-def]
    sig = signature(text)
    item = Item(
        canonical_url=url,
        url=url,
        title="t",
        text=text,
        content_hash=content_fingerprint(text),
        minhash=sig or None,
        **kw,
    )
    session.add(item)
    session.flush()
    if item.duplicate_of_id is None:
        index_item(session, item.id, item.minhash)
    return item


def test_find_duplicate_order_url_then_fingerprint_then_near(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        with session_scope(engine) as session:
            first = _store(session, "https://a.example/1", RELEASE)
            _store(session, "https://a.example/2", OTHER_RELEASE)
            copy = _store(session, "https://b.example/copy", RELEASE + " Extra line.", duplicate_of_id=first.id)
            first_id, copy_id = first.id, copy.id
        with session_scope(engine) as session:  # another session (a restart): the index is in the database
            assert session.scalar(select(func.count(func.distinct(ItemBand.item_id)))) == 2
            assert copy_id not in {i for i, _ in near_matches(session, signature(RELEASE))}

            def find(text: str, url: str):  # type: ignore[no-untyped-def]
                fp = content_fingerprint(text) if fingerprint_comparable(text) else None
                return find_duplicate(session, canonical_url=url, fingerprint=fp, signature=signature(text))

            by_url = find("anything", "https://a.example/1")
            assert by_url is not None and (by_url.item_id, by_url.reason) == (first_id, "url")
            by_hash = find(RELEASE.lower(), "https://c.example/x")
            assert by_hash is not None and (by_hash.item_id, by_hash.reason) == (first_id, "fingerprint")
            near = find(BOILERPLATE + RELEASE + FOOTER, "https://d.example/")
            assert near is not None and near.item_id == first_id and near.reason == "near" and near.similarity >= 0.5
            assert find("Short title", "https://e.example/") is None
            unrelated = "A completely different text about the weather and local football results " * 5
            assert find(unrelated, "https://f.example/") is None
            by_copy_hash = find(RELEASE + " Extra line.", "https://g.example/")  # the copy's text: its first copy
            assert by_copy_hash is not None and (by_copy_hash.item_id, by_copy_hash.reason) == (first_id, "fingerprint")
    finally:
        engine.dispose()


def test_symbols_found_and_normalised() -> None:
    text = (
        "See A/RES/79/239, A/79/88 and A/C.1/78/L.56/Rev.1; S/RES/2719(2023); S/2024/123; "
        "CCW/GGE.1/2024/2 and CCW/GGE.1/2019/WP.1, CCW/MSP/2014/3, A/79/88/CORR.1, A/78/100/Add.1. "
        "Press releases GA/DIS/3731 and SC/15359. A/RES/79/239 again."
    )
    assert find_symbols(text) == [
        "A/RES/79/239",
        "A/79/88",
        "A/C.1/78/L.56/Rev.1",
        "S/RES/2719 (2023)",
        "S/2024/123",
        "CCW/GGE.1/2024/2",
        "CCW/GGE.1/2019/WP.1",
        "CCW/MSP/2014/3",
        "A/79/88/Corr.1",
        "A/78/100/Add.1",
        "GA/DIS/3731",
        "SC/15359",
    ]


def test_no_symbols_in_ordinary_text() -> None:
    text = "In 2024/25 the A/B test ran 24/7 over TCP/IP and/or HTTP/2; S/he said E/2 at 10/12/2024. A/79 is not one."
    assert find_symbols(text) == []


def test_symbol_url() -> None:
    assert symbol_url("A/RES/79/239") == "https://undocs.org/A/RES/79/239"
    assert symbol_url("S/RES/2719 (2023)") == "https://undocs.org/S/RES/2719%20(2023)"


def test_translations_linked_both_ways_and_pending_resolved(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        with session_scope(engine) as session:
            nl = _store(session, "https://gov.example/nl/nieuws", "Nederlandse tekst")
            link_translations(session, nl, {"en": "https://gov.example/en/news", "nl": nl.canonical_url})
            assert session.scalars(select(PendingAlternate.canonical_url)).all() == ["https://gov.example/en/news"]
            en = _store(session, "https://gov.example/en/news", "English text")
            link_translations(session, en, {})
            link_translations(session, en, {"nl": nl.canonical_url})  # idempotent
            links = set(session.execute(select(ItemLink.item_id, ItemLink.other_id, ItemLink.kind)).all())
            assert links == {(nl.id, en.id, "translation"), (en.id, nl.id, "translation")}
            assert session.scalars(select(PendingAlternate)).all() == []
            fr = _store(session, "https://gov.example/fr/nouvelles", "Texte français")
            link_translations(session, fr, {"nl": nl.canonical_url, "en": en.canonical_url})
            assert {t["id"] for t in related_items(session, nl.id)["translations"]} == {en.id, fr.id}
    finally:
        engine.dispose()


def test_related_items_duplicates_publishers_symbols(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        with session_scope(engine) as session:
            src = Source(name="wire", publisher="Wire Agency", kind="feed", url="https://wire.example/feed")
            session.add(src)
            session.flush()
            first = _store(session, "https://un.example/1", RELEASE)
            copy = _store(session, "https://wire.example/1", RELEASE, duplicate_of_id=first.id, source_id=src.id)
            citing = _store(session, "https://un.example/2", OTHER_RELEASE)
            for item in (first, citing):
                session.add(ItemSymbol(item_id=item.id, symbol="A/RES/79/239"))
            session.flush()
            data = related_items(session, first.id)
            assert [(d["id"], d["publisher"]) for d in data["duplicates"]] == [(copy.id, "Wire Agency")]
            assert data["symbols"] == [{"symbol": "A/RES/79/239", "url": "https://undocs.org/A/RES/79/239"}]
            assert [d["id"] for d in data["same_symbol"]] == [citing.id]
            assert [d["id"] for d in related_items(session, copy.id)["duplicates"]] == [first.id]
            assert related_items(session, 10**6)["duplicates"] == []
    finally:
        engine.dispose()
