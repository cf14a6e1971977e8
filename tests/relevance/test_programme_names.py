"""Programme and system names of military AI and autonomy, in the scripts they are written in, and their
everyday look-alikes (a plant, a highlighter, a fish). Every sentence is written for these tests."""

from __future__ import annotations

import pytest

from crawler.relevance import classify


@pytest.mark.parametrize(("lang", "title", "text"), [
    ("en", "Australia orders more Ghost Shark submarines", "The navy will base them in Sydney."),
    ("fr", "L'armée de l'Air commande des Aarok supplémentaires", "Les livraisons commencent en 2027."),
    ("de", "Airbus zeigt Remote Carrier für das Luftkampfsystem", "Die Luftwaffe prüft das Konzept."),
    ("ru", "Робот Маркер прошёл испытания в зоне боевых действий", "Армия получит партию роботов."),
    ("ar", "تركيا تختبر قزل إلما في مناورة عسكرية", "شارك الجيش في الاختبار."),
    ("ko", "공군, 고스트 배트 도입 검토", "국방부는 내년에 결정한다."),
    ("ja", "防衛省、レプリケーター構想を調査", "米軍の計画を参考にする。"),
    ("zh", "美军测试幽灵鲨无人潜航器", "海军将在明年部署。"),
    ("en", "Turkish air force flies Kizilelma in formation", "The military plans a fleet."),
])
def test_a_programme_name_in_a_military_setting_is_a_named_topic(lang: str, title: str, text: str) -> None:
    result = classify(title, text, lang)
    assert result.relevant, (lang, result.codes)
    assert result.why["topic"], (lang, result.why)


@pytest.mark.parametrize(("lang", "title", "text"), [
    ("ru", "Маркер для доски подорожал", "Магазины канцтоваров сообщили о росте цен."),
    ("ru", "Учёные нашли маркер болезни с помощью ИИ", "Нейросеть проанализировала анализы крови."),
    ("en", "Ghost shark filmed in deep water off New Zealand", "Marine biologists were delighted."),
    ("en", "Lavender harvest begins in Provence", "Farmers expect a good year."),
    ("ja", "富良野のラベンダー畑が見頃", "観光客が増えている。"),
])
def test_the_everyday_sense_of_a_programme_name_stays_off_topic(lang: str, title: str, text: str) -> None:
    assert not classify(title, text, lang).relevant, lang


@pytest.mark.parametrize(("lang", "title", "text"), [
    ("fr", "Le Rafale F5 volera avec des drones d'accompagnement", "Dassault présente le calendrier."),
    ("fr", "SCAF : Airbus dévoile ses effecteurs déportés", "Le programme avance lentement."),
    ("es", "El programa FCAS incluye drones de acompañamiento", "España participa en el proyecto."),
    ("ja", "空自、随伴無人機の研究を開始", "防衛省が予算を要求した。"),
])
def test_accompanying_drones_of_a_combat_aircraft_are_ai(lang: str, title: str, text: str) -> None:
    result = classify(title, text, lang)
    assert result.relevant, (lang, result.codes)
