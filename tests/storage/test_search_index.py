"""The ORM events that fill the search columns: installed where engines are made, not by importing models."""

from __future__ import annotations

import subprocess
import sys

from sqlalchemy import Engine, select

from storage.database import session_scope
from storage.models import Item


def test_models_import_without_the_search_index() -> None:
    code = "import sys, storage.models; print('storage.search_index' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "False"


def test_sessions_of_storage_engines_fill_the_search_columns(engine: Engine) -> None:
    with session_scope(engine) as s:
        s.add(Item(canonical_url="http://t/a", url="http://t/a", title="Drones", text="Autonomous weapons"))
    with session_scope(engine) as s:
        row = s.execute(select(Item.search_title, Item.search_text)).one()
    assert row == ("drone", "autonom weapon")


def test_index_text_gives_each_tokens_index_word_through_its_per_language_memo(monkeypatch) -> None:
    """index_text looks each token up in a per-language dict before calling index_word: the same tokens as
    index_word token by token, in every script, for the same surface in two languages, and after the memo is
    cleared at its bound."""
    from storage import index_terms
    from storage.index_terms import index_text, index_word
    from storage.textnorm import TOKEN_RE

    texts = {
        "en": "Autonomous weapons systems: the Weapons Review, weapon's reviews and AI-enabled drones (REAIM 2024).",
        "fr": "Les systèmes d'armes létales autonomes; Sécurité, securite et SÉCURITÉ de l'IA militaire.",
        "de": "Künstliche Intelligenz in den Streitkräften: Waffensysteme und Verteidigungsministerium.",
        "ru": "Смертоносные автономные системы вооружений и искусственный интеллект.",
        "ko": "인공지능 무기체계를 군사적으로 사용하는 것은",
        "zh": "致命性自主武器系统与人工智能的军事应用",
        "ar": "أنظمة الأسلحة الفتاكة الذاتية التشغيل والذكاء الاصطناعي",
        None: "Military AI and armes autonomes: no language given",
    }

    def one_by_one(text: str, lang: str | None) -> str:
        return " ".join(index_word(surface, lang) for surface in TOKEN_RE.findall(text))

    for lang, text in texts.items():
        assert index_text(text, lang) == one_by_one(text, lang) != ""
        assert index_text(text, lang) == one_by_one(text, lang)  # now from the memo
    # one surface, two languages: each language's own stem
    assert index_text("weapons", "en") == one_by_one("weapons", "en")
    assert index_text("weapons", "fr") == one_by_one("weapons", "fr")
    monkeypatch.setattr(index_terms, "_KNOWN_MAX", 3)
    for lang, text in texts.items():
        assert index_text(text, lang) == one_by_one(text, lang)
        assert len(index_terms._tokens_of(lang)) <= max(3, len(TOKEN_RE.findall(text)))
    assert index_text("", "en") == index_text(None, "en") == ""
