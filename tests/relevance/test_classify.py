"""The relevance classifier: per language, per rule, and the JSON-lines hook (texts written for these tests)."""

from __future__ import annotations

import json

import pytest

from crawler.relevance import Classification, classify, classify_jsonl

ON_TOPIC = [
    ("en", "Ministers discuss military AI", "Delegations met to agree norms for the armed forces."),
    ("en", "Statement on autonomous weapon systems", "Our country supports a legally binding instrument."),
    ("en", "Army tests new targeting software", "The army said machine learning helps soldiers find targets."),
    ("nl", "Kabinet over kunstmatige intelligentie bij Defensie", "De minister wil meer onderzoek."),
    ("nl", "Nieuwe notitie", "Nederland pleit voor regels voor autonome wapensystemen in de VN."),
    ("fr", "La France et l'IA de défense", "Le ministère des Armées publie sa stratégie."),
    ("fr", "Débat à Genève", "Les États discutent des systèmes d'armes létaux autonomes."),
    ("de", "Bundeswehr setzt auf KI", "Die Streitkräfte testen neue Systeme."),
    ("de", "Genf", "Deutschland fordert Regeln für autonome Waffensysteme und menschliche Kontrolle."),
    ("es", "España y la inteligencia artificial militar", "El Ministerio de Defensa presenta un plan."),
    ("es", "Ginebra", "La campaña pide prohibir los robots asesinos."),
    ("ko", "국방부, 인공지능 기반 작전체계 도입", "국방부는 새로운 체계를 발표했다."),
    ("ko", "자율무기 규범 논의", "정부 대표단이 회의에 참석했다."),
    ("zh", "军事领域人工智能治理", "各国代表参加会议。"),
    ("ru", "Военный ИИ и международное право", "Делегации обсудили вопросы."),
    ("ar", "الذكاء الاصطناعي في المجال العسكري", "ناقشت الوفود القواعد."),
    ("en", "REAIM summit opens", "Delegates arrive in the city."),
]

OFF_TOPIC = [
    ("en", "New AI Act obligations for companies", "Firms must document their chatbots and data centres."),
    ("en", "Troops arrive for exercise", "Soldiers and tanks of the army arrived at the training area."),
    ("en", "Police arrest ransomware gang", "The cybercrime unit seized servers used for phishing."),
    ("nl", "AI-fabriek in Drenthe", "Bedrijven kunnen experimenteren met kunstmatige intelligentie."),
    ("nl", "Oefening van de landmacht", "Militairen oefenen met nieuwe voertuigen op de heide."),
    ("fr", "L'IA au service des entreprises", "Le règlement sur l'IA entre en vigueur pour les PME."),
    ("fr", "Défilé du 14 juillet", "Les armées défilent sur les Champs-Élysées. J'ai vu les soldats."),
    ("de", "KI-Verordnung tritt in Kraft", "Unternehmen müssen neue Regeln für KI beachten."),
    ("de", "Soldaten nach Litauen verlegt", "Die Bundeswehr verlegt eine Brigade an die Ostflanke."),
    ("es", "Nueva ley de IA para empresas", "El Gobierno aprueba ayudas para centros de datos."),
    ("es", "La comunidad autónoma presenta su presupuesto", "El gobierno regional aprueba las cuentas."),
    ("ko", "AI기본법 국회 통과", "인공지능 산업 진흥을 위한 법안이 통과되었다."),
    ("ko", "K9 자주포 수출 계약", "방산업체가 자주포 수출 계약을 체결했다."),
    ("en", "New laws on parking", "The council adopted new laws on parking in the city centre."),
]


@pytest.mark.parametrize(("lang", "title", "text"), ON_TOPIC)
def test_on_topic(lang: str, title: str, text: str) -> None:
    result = classify(title, text, lang)
    assert result.relevant, result
    assert result.score >= 0.5
    assert result.matches


@pytest.mark.parametrize(("lang", "title", "text"), OFF_TOPIC)
def test_off_topic(lang: str, title: str, text: str) -> None:
    result = classify(title, text, lang)
    assert not result.relevant, result
    assert result.score < 0.5


@pytest.mark.parametrize(("lang", "title", "text"), ON_TOPIC[:12])
def test_language_detected_when_missing(lang: str, title: str, text: str) -> None:
    assert classify(title, text).relevant


def test_returns_classification() -> None:
    assert isinstance(classify("", ""), Classification)
    assert classify("", "") == Classification(False, classify("", "").score, [], {}, [])


def test_matches_explain_strong_terms() -> None:
    result = classify("REAIM 2026", "The summit on responsible AI in the military domain.", "en")
    assert "REAIM" in result.matches and result.why["topic"] == ["REAIM", "AI in the military domain"]
    assert "strong:REAIM" in result.codes and not any(":" in m for m in result.matches)


def test_matches_explain_dutch_terms() -> None:
    result = classify("Kunstmatige intelligentie", "Defensie gebruikt kunstmatige intelligentie militair.", "nl")
    assert "kunstmatige intelligentie" in result.why["ai"]  # the words as written (title first)
    assert any(m.startswith("militair") for m in result.why["military"])
    assert any(c.startswith("rule:") for c in result.codes) and not any(m.startswith("rule:") for m in result.matches)


def test_laws_is_case_sensitive() -> None:
    assert "strong:LAWS" in classify("GGE on LAWS", "Delegations met.", "en").codes
    assert not classify("Parliament adopts laws", "New laws on taxes.", "en").relevant


def test_all_caps_title_does_not_fire_laws() -> None:
    assert "strong:LAWS" not in classify("NEW LAWS FOR THE ARMY RESERVE", "", "en").codes


def test_ai_token_not_inside_words() -> None:
    # "ai" in "j'ai", "maintenant", Spanish "hay" must not count as AI.
    result = classify("Je l'ai dit à l'armée", "J'ai rencontré les militaires maintenant.", "fr")
    assert "ai" not in result.why and not any(c.startswith("ai:") for c in result.codes)


def test_german_ki_and_french_ia_uppercase_only() -> None:
    assert classify("KI in der Bundeswehr", "", "de").why["ai"] == ["KI"]
    assert classify("L'IA sert les soldats", "", "fr").why["ai"] == ["IA"]
    assert "ai:IA" not in classify("Ia ia", "", "fr").codes


def test_window_cooccurrence_in_body() -> None:
    far = classify("Update", "Artificial intelligence is growing. " + "Other news here. " * 20 + "The army.", "en")
    near = classify("Update", "The army now uses artificial intelligence for logistics planning.", "en")
    assert near.relevant and not far.relevant
    assert near.score > far.score


def test_negative_cue_lowers_score() -> None:
    text = "The plant will serve companies and also defence research with artificial intelligence."
    with_neg = classify("AI factory opens", text, "en")
    without = classify("Computing centre opens", text, "en")
    assert with_neg.score < without.score
    assert "neg:AI factory" in with_neg.codes and "AI factory" not in with_neg.matches


def test_ignore_phrases_mask_terms() -> None:
    result = classify("EU strategic autonomy in defence", "Ministers discussed the defence industry.", "en")
    assert not result.relevant
    assert "ai" not in result.why


def test_korean_particles() -> None:
    result = classify("인공지능의 군사적 활용", "", "ko")
    assert result.relevant
    assert result.why["ai"] == ["인공지능"]  # the word without its particle


def test_lang_with_region_code() -> None:
    assert classify("Militaire AI", "Nederland en autonome wapens.", "nl-NL").relevant


def test_score_monotone_with_evidence() -> None:
    weak = classify("Defence news", "The army uses artificial intelligence.", "en")
    strong = classify("Military AI", "Lethal autonomous weapons systems and the army's artificial intelligence.", "en")
    assert strong.score > weak.score


def test_classify_jsonl_round_trip_and_bad_lines() -> None:
    lines = [
        json.dumps({"id": "a", "title": "Killer robots", "text": "Campaign in Geneva", "lang": "en"}),
        "{not json",
        json.dumps({"id": 7, "title": 5, "text": "x"}),
        json.dumps(["array"]),
        "",
        json.dumps({"id": "b", "title": "Budget", "text": "The city budget was approved."}),
        json.dumps({"id": "c"}),
    ]
    out = [json.loads(line) for line in classify_jsonl(lines)]
    assert len(out) == 6
    assert out[0]["id"] == "a" and out[0]["relevant"] is True
    assert out[0]["matches"] == ["Killer robots"]  # the words found (term `killer robot*`)
    assert out[0]["why"] == {"topic": ["Killer robots"]} and "strong:Killer robots" in out[0]["codes"]
    assert set(out[0]) == {"id", "relevant", "score", "matches", "why", "codes"}
    assert out[1]["id"] is None and "invalid JSON" in out[1]["error"]
    assert out[2]["id"] == 7 and "'title' must be a string" in out[2]["error"]
    assert out[3]["id"] is None and "object" in out[3]["error"]
    assert out[4]["id"] == "b" and out[4]["relevant"] is False
    assert out[5]["id"] == "c" and "required" in out[5]["error"]


def test_dev_set_quality() -> None:
    from tests.conftest import shared_fixture

    rows = [json.loads(x) for x in shared_fixture("relevance-dev.jsonl").read_text().splitlines() if x.strip()]
    tp = fp = fn = 0
    for row in rows:
        got = classify(row["title"], row["text"], row.get("lang")).relevant
        gold = row["label"] == "relevant"
        tp += got and gold
        fp += got and not gold
        fn += gold and not got
    f1 = 2 * tp / (2 * tp + fp + fn)
    assert f1 >= 0.9


def test_matches_list_each_term_once_as_found_in_the_text() -> None:
    """QA #8: `mil:NATO` and `mil:nato` were both listed; `mil:armée` explained a text saying "armes"."""
    result = classify("NATO and AI", "The nato summit discussed NATO drones and military AI.", "en")
    assert [m for m in result.matches if m.casefold() == "nato"] == ["NATO"], result.matches
    assert len({m.casefold() for m in result.matches}) == len(result.matches)
    text = "Les États discutent des systèmes d'armes létaux autonomes et de l'IA."
    fr = classify("Débat à Genève", text, "fr")
    assert "armée" not in fr.matches and "armées" not in fr.matches
    assert fr.why["topic"] == ["systèmes d'armes létaux autonomes"], fr.why
    for m in fr.matches:  # every explained phrase is something the text says, as it says it
        assert m in text, m
    assert fr.relevant


def test_matches_keep_the_words_of_the_text() -> None:
    assert classify("Kunstmatige intelligentie", "Defensie.", "nl").why["ai"] == ["Kunstmatige intelligentie"]
    assert classify("국방부 인공지능을 도입", "", "ko").why == {"topic": ["국방부 인공지능"]}  # term 국방 인공지능
    assert classify("국방부가 새 체계에 인공지능을 도입", "", "ko").why == {"ai": ["인공지능"], "military": ["국방부"]}
