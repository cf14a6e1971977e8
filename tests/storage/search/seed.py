"""A small archive inserted directly: two sources, multilingual items, duplicates, symbols."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from storage.database import session_scope
from storage.models import Item, ItemLink, ItemSymbol, Source

BASE = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
SCRIPT_TITLE = '<script>alert("x")</script> REAIM summit & "quotes"'


def seed(engine: Engine, bulk: int = 30) -> dict[str, int]:
    """Insert the archive; returns ids of the notable items by name."""
    ids: dict[str, int] = {}
    with session_scope(engine) as s:
        nl = Source(name="nl-gov", publisher="Government of the Netherlands", kind="feed",
                    url="http://127.0.0.1/nl.xml", language="en", last_run_at=BASE, consecutive_failures=0,
                    ever_yielded=True, last_new_items=3)
        un = Source(name="un-news", publisher="United Nations", kind="feed", url="http://127.0.0.1/un.xml",
                    language="en", consecutive_failures=2, last_error="HTTP 503", warning="failing")
        s.add_all([nl, un])
        s.flush()

        def add(name: str, **kw: object) -> Item:
            kw.setdefault("relevant", True)
            kw.setdefault("score", 0.9)
            kw.setdefault("language", "en")
            url = f"http://127.0.0.1/{name}"
            item = Item(canonical_url=url, url=url, **kw)
            s.add(item)
            s.flush()
            ids[name] = item.id
            return item

        add("reaim", source_id=nl.id, title="Netherlands hosts REAIM summit on military AI",
            summary="Responsible AI in the military domain.", text="The REAIM summit in The Hague discussed "
            "autonomous weapons and responsible military artificial intelligence.", published=BASE,
            matches=["REAIM", "military AI"])
        add("laws-fr", source_id=un.id, language="fr", title="Systèmes d'armes létales autonomes",
            summary=None, text="Le groupe d'experts a débattu des armes létales autonomes à Genève.",
            published=BASE - timedelta(days=2), matches=["armes létales autonomes"])
        res = add("resolution", source_id=un.id, title="General Assembly adopts resolution on LAWS",
                  text="The resolution A/RES/79/239 on lethal autonomous weapons systems was adopted.",
                  published=BASE - timedelta(days=30), matches=["lethal autonomous weapons"])
        s.add(ItemSymbol(item_id=res.id, symbol="A/RES/79/239"))
        dup = add("resolution-copy", source_id=nl.id, title="General Assembly adopts resolution on LAWS",
                  text="Copy: A/RES/79/239 lethal autonomous weapons.", published=BASE - timedelta(days=29),
                  duplicate_of_id=res.id)
        s.add(ItemLink(item_id=res.id, other_id=dup.id, kind="duplicate"))
        add("offtopic", source_id=nl.id, relevant=False, score=0.1, title="Civil AI strategy for hospitals",
            text="Artificial intelligence in hospitals and weapons of mass healthcare.", published=BASE)
        add("script", source_id=un.id, title=SCRIPT_TITLE,
            text="<p>Hostile <script>alert(1)</script><img src=x onerror=alert(2)> drone swarms</p>",
            published=None)
        tr = add("reaim-fr", source_id=nl.id, language="fr", title="Les Pays-Bas accueillent le sommet REAIM",
                 text="Sommet REAIM sur l'IA militaire responsable.", published=BASE - timedelta(hours=1))
        s.add(ItemLink(item_id=ids["reaim"], other_id=tr.id, kind="translation"))
        for i in range(bulk):
            add(f"bulk{i}", source_id=un.id if i % 2 else nl.id, title=f"Drone swarm update {i}",
                text="Military drones and autonomy in swarm warfare. " * 3,
                published=BASE - timedelta(days=100 + i // 3) if i % 7 else None)
    return ids
