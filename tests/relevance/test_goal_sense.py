"""Hard negatives: "target", Ziel, цель, objetivo, objectif, doel, 目标 meaning "goal", and AI in military
health care, must not make a civil or medical item on-topic. Every sentence is written for these tests."""

from __future__ import annotations

import pytest

from crawler.relevance import classify


@pytest.mark.parametrize(("lang", "title", "text"), [
    ("en", "Software picks targets for every store",
     "Stores report the figures weekly. Managers can override them. "
     "The vendor also sells office chairs to the army."),
    ("de", "Software plant die Ziele der Vertriebsteams",
     "Die Filialen melden wöchentlich. Die Leitung kann sie ändern. "
     "Der Hersteller liefert auch Bürostühle an die Bundeswehr."),
    ("ru", "Алгоритм выбирает цели для отделов продаж",
     "Магазины отчитываются еженедельно. Руководство может их изменить. "
     "Поставщик также продаёт мебель армии."),
    ("es", "Un algoritmo selecciona los objetivos de cada tienda",
     "Las tiendas informan cada semana. Los gerentes pueden cambiarlos. "
     "La empresa también vende sillas al Ejército."),
    ("nl", "Software kiest de doelen van elke winkel",
     "De winkels rapporteren wekelijks. Managers kunnen ze aanpassen. "
     "Het bedrijf levert ook stoelen aan de landmacht."),
    ("zh", "软件为每家门店选择目标", "门店每周汇报。经理可以修改。该公司也向解放军出售办公椅。"),
    ("ja", "ソフトウェアが店舗ごとの目標を選定",
     "店舗は毎週報告する。店長が修正できる。同社は陸上自衛隊にも椅子を納入している。"),
    ("ko", "소프트웨어가 매장별 목표를 선정",
     "매장은 매주 보고한다. 점장이 수정할 수 있다. 이 회사는 육군에도 의자를 납품한다."),
])
def test_a_machine_choosing_goals_is_no_targeting_even_with_a_military_customer_further_down(
        lang: str, title: str, text: str) -> None:
    result = classify(title, text, lang)
    assert not result.relevant, (lang, result.codes)
    assert "rule:concept:machine-choice" not in result.codes


@pytest.mark.parametrize(("lang", "text"), [
    ("de", "Mit dem Ziel, Kosten zu senken, prüft der Konzern neue Lieferanten."),
    ("es", "Con el objetivo de ahorrar, la empresa revisa sus contratos."),
    ("ru", "С целью снизить расходы компания пересматривает контракты."),
    ("nl", "Met als doel de kosten te verlagen, herziet het bedrijf zijn contracten."),
])
def test_goal_phrases_are_not_targets(lang: str, text: str) -> None:
    result = classify("Konzern / Empresa / Компания / Bedrijf", text, lang)
    assert not any(code.startswith(("war:", "mil:")) for code in result.codes), (lang, result.codes)


@pytest.mark.parametrize(("lang", "title", "text"), [
    ("en", "Military hospital adopts AI to read scans", "Doctors at the army medical centre review every result."),
    ("de", "Bundeswehrkrankenhaus Hamburg setzt KI bei Herzuntersuchungen ein",
     "Die Software unterstützt Kardiologen; behandelt werden Soldaten und Zivilisten."),
    ("fr", "L'hôpital d'instruction des armées Bégin teste une IA de triage", "Les médecins valident chaque cas."),
    ("es", "Un hospital militar usa IA para leer mamografías", "Los radiólogos revisan los resultados."),
    ("ru", "Военный госпиталь внедрил ИИ для анализа снимков", "Врачи проверяют каждое заключение."),
    ("ja", "自衛隊中央病院、AIで画像診断を支援", "医師が最終判断を行う。"),
    ("ko", "국군수도병원, AI 영상 판독 도입", "군의관이 결과를 확인한다."),
    ("zh", "解放军总医院引入人工智能辅助诊断", "医生对结果进行复核。"),
])
def test_ai_in_military_health_care_is_off_topic(lang: str, title: str, text: str) -> None:
    result = classify(title, text, lang)
    assert not result.relevant, (lang, result.codes)


@pytest.mark.parametrize(("lang", "title", "text"), [
    ("en", "Army software recommends targets to artillery crews", "Commanders approve each strike."),
    ("de", "Bundeswehr testet Software, die Ziele für die Artillerie vorschlägt", "Ein Offizier entscheidet."),
    ("es", "El Ejército prueba un algoritmo que selecciona objetivos para la artillería",
     "Un oficial aprueba cada disparo."),
    ("ru", "Армия испытала алгоритм, который выбирает цели для артиллерии", "Решение принимает офицер."),
])
def test_target_meaning_a_military_target_still_counts(lang: str, title: str, text: str) -> None:
    result = classify(title, text, lang)
    assert result.relevant, (lang, result.codes)


def test_ai_in_military_medical_training_is_off_topic() -> None:
    result = classify("Sanitätsschule der Bundeswehr setzt KI-Simulator für Sanitäter ein",
                      "Der Simulator spielt Notfälle durch und bewertet die Versorgung.", "de")
    assert not result.relevant, result.codes


@pytest.mark.parametrize(("lang", "title", "text"), [
    ("en", "AI start-up raises funds for tax software", "Its founder, a former army officer, said sales doubled."),
    ("de", "KI-Start-up sammelt Geld für Steuersoftware", "Gründer ist ein ehemaliger Offizier; der Umsatz stieg."),
    ("fr", "Une start-up d'IA lève des fonds pour un logiciel fiscal", "Son fondateur, ancien officier, se réjouit."),
    ("ru", "ИИ-стартап привлёк инвестиции в налоговый софт", "Основатель, бывший офицер, доволен ростом продаж."),
])
def test_a_founders_military_past_is_no_military_use(lang: str, title: str, text: str) -> None:
    result = classify(title, text, lang)
    assert not result.relevant, (lang, result.codes)
