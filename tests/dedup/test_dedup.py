"""Exact and near-duplicate detection, the index rebuilt from a database, document symbols, translation links."""

from __future__ import annotations

from sqlalchemy import select

from crawler.dedup import NearDuplicateIndex, content_fingerprint, find_duplicate
from crawler.symbols import find_symbols
from storage.database import make_engine, session_scope
from storage.links import link_translations, related_items, symbol_url
from storage.models import Item, ItemLink, ItemSymbol, PendingAlternate, Source

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


def test_near_duplicate_with_boilerplate_and_added_line() -> None:
    index = NearDuplicateIndex()
    index.add(1, index.signature(RELEASE))
    index.add(2, index.signature(OTHER_RELEASE))
    copy = BOILERPLATE + RELEASE.upper() + "\nThis text was updated with a correction to the date." + FOOTER
    hits = index.query(index.signature(copy))
    assert hits and hits[0][0] == 1 and hits[0][1] >= index.threshold
    assert all(item_id != 2 for item_id, _ in hits)


def test_reordered_paragraphs_still_match() -> None:
    index = NearDuplicateIndex()
    index.add(1, index.signature(RELEASE))
    sentences = RELEASE.split(". ")
    reordered = ". ".join(sentences[3:] + sentences[:3])
    assert [i for i, _ in index.query(index.signature(reordered))] == [1]


def test_different_release_on_same_topic_does_not_match() -> None:
    index = NearDuplicateIndex()
    index.add(1, index.signature(RELEASE))
    assert index.query(index.signature(OTHER_RELEASE)) == []


def test_short_texts_get_no_signature() -> None:
    index = NearDuplicateIndex()
    assert index.signature("Military AI summit opens") == b""
    index.add(1, b"")
    assert len(index) == 0
    assert index.query(b"") == []
    assert index.query(b"garbage") == []


def _store(session, url: str, text: str, index: NearDuplicateIndex | None = None, **kw) -> Item:  # type: ignore[no-untyped-def]
    sig = (index or NearDuplicateIndex()).signature(text)
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
    return item


def test_find_duplicate_order_and_rebuild_from_database(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        with session_scope(engine) as session:
            first = _store(session, "https://a.example/1", RELEASE)
            _store(session, "https://a.example/2", OTHER_RELEASE)
            copy = _store(session, "https://b.example/copy", RELEASE + " Extra line.", duplicate_of_id=first.id)
            first_id, copy_id = first.id, copy.id
        with session_scope(engine) as session:
            index = NearDuplicateIndex.from_session(session)  # survives a restart: rebuilt from items.minhash
            assert len(index) == 2 and copy_id not in {i for i, _ in index.query(index.signature(RELEASE))}
            by_url = find_duplicate(session, index, text="anything", canonical_url="https://a.example/1")
            assert by_url is not None and (by_url.item_id, by_url.reason) == (first_id, "url")
            by_hash = find_duplicate(session, index, text=RELEASE.lower(), canonical_url="https://c.example/x")
            assert by_hash is not None and (by_hash.item_id, by_hash.reason) == (first_id, "fingerprint")
            near = find_duplicate(
                session, index, text=BOILERPLATE + RELEASE + FOOTER, canonical_url="https://d.example/"
            )
            assert near is not None and near.item_id == first_id and near.reason == "near" and near.similarity >= 0.5
            assert find_duplicate(session, index, text="Short title", canonical_url="https://e.example/") is None
            unrelated = "A completely different text about the weather and local football results " * 5
            assert find_duplicate(session, index, text=unrelated, canonical_url="https://f.example/") is None
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


def test_find_duplicate_uses_precomputed_fingerprint_and_signature(engine) -> None:
    """The pipeline hands over what it already computed; the answer is the same as computing it again."""
    from sqlalchemy.orm import Session

    with Session(engine) as session:
        src = Source(name="s", publisher="P", kind="feed", url="https://s.example/feed")
        session.add(src)
        session.flush()
        index = NearDuplicateIndex()
        sig = index.signature(RELEASE)
        first = Item(canonical_url="https://s.example/1", url="https://s.example/1", source_id=src.id,
                     title="t", text=RELEASE, content_hash=content_fingerprint(RELEASE), minhash=sig)
        session.add(first)
        session.flush()
        index.add(first.id, sig)
        copy = RELEASE + "\nRepublished with permission."
        given = find_duplicate(session, index, text=copy, canonical_url="https://o.example/1",
                               fingerprint=content_fingerprint(copy), signature=index.signature(copy))
        computed = find_duplicate(session, index, text=copy, canonical_url="https://o.example/1")
        assert given == computed and given is not None and given.item_id == first.id
