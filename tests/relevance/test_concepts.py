"""Concepts of several roles in one sentence (crawler/relevance/concepts.py), in several languages.
Every sentence is written for these tests; none is taken from a bench set."""

from __future__ import annotations

import pytest

from crawler.relevance import classify


@pytest.mark.parametrize(("lang", "title", "text"), [
    ("en", "Army buys software that picks targets from satellite images", "Analysts review the list."),
    ("de", "Heer kauft Software, die Ziele auf Satellitenbildern auswählt", "Analysten prüfen die Liste."),
    ("nl", "Landmacht koopt software die doelwitten herkent", "Analisten controleren de lijst."),
    ("ko", "육군, 표적을 식별하는 소프트웨어 구매", "분석관이 목록을 검토한다."),
])
def test_a_machine_that_selects_targets_in_a_military_setting_is_on_topic(lang: str, title: str, text: str) -> None:
    result = classify(title, text, lang)
    assert result.relevant, (lang, result.codes)
    assert "rule:concept:machine-choice" in result.codes
    assert result.why["ai"] and result.why["military"]


@pytest.mark.parametrize(("lang", "title", "text"), [
    ("en", "Shop software picks targets for ad campaigns", "It selects target audiences automatically."),
    ("de", "Shop-Software wählt Ziele für Werbekampagnen", "Sie bestimmt Zielgruppen automatisch."),
    ("nl", "Software kiest doelen voor reclamecampagnes", "Het systeem bepaalt de doelgroep automatisch."),
])
def test_a_machine_that_selects_targets_without_a_military_setting_is_off_topic(lang: str, title: str,
                                                                                 text: str) -> None:
    assert not classify(title, text, lang).relevant, lang


@pytest.mark.parametrize(("lang", "title"), [
    ("en", "States debate rules for weapons that attack without human control"),
    ("fr", "Les États débattent des armes qui frappent sans contrôle humain"),
    ("ru", "Страны обсуждают оружие, которое атакует без контроля человека"),
    ("zh", "各国讨论无需人类干预即可攻击的武器"),
])
def test_a_weapon_acting_without_a_human_is_a_named_topic(lang: str, title: str) -> None:
    result = classify(title, "The talks continue next year.", lang)
    assert result.relevant, (lang, result.codes)
    assert "rule:concept:weapon-without-human" in result.codes and result.why["topic"]
