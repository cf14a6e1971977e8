"""Script- and language-aware matching, named programmes and the context rules for look-alikes
(texts written for these tests)."""

from __future__ import annotations

import pytest

from crawler.relevance import classify
from crawler.relevance.lexicon import lexicon_for
from storage.textnorm import arabic_light_stem, detect_language, to_simplified, tokenize, words

# --- terms match in their own language only ------------------------------------------------------


def test_english_war_does_not_fire_inside_german_waren() -> None:
    text = "Die Soldaten waren seit Montag im Einsatz. Die Drohnen der KI-Firma waren schon da."
    result = classify("Hochwasser: Bundeswehr hilft", text, "de")
    assert not any("war" == c.split(":", 1)[1].casefold() for c in result.codes), result.codes
    assert not any(m.casefold().startswith("waren") for m in result.matches)


def test_terms_of_one_language_stay_there() -> None:
    de = lexicon_for(("de",), "de")
    en = lexicon_for(("en",), "en")
    assert de.size != en.size
    # German "Armee" is a German term; the English "army" is not in the German lexicon
    assert "mil:Armee" in classify("Armee", "", "de").codes
    assert not any(c.startswith("mil:") for c in classify("army", "", "de").codes)


def test_common_terms_match_in_every_language() -> None:
    for lang, title in [("ja", "REAIM会議"), ("de", "REAIM in Den Haag"), ("ar", "قمة REAIM")]:
        assert classify(title, "", lang).why.get("topic") == ["REAIM"], lang


# --- Chinese: Traditional = Simplified, word boundaries ------------------------------------------


def test_traditional_chinese_matches_simplified_terms() -> None:
    trad = classify("國防部推動軍事人工智能", "", "zh")
    simp = classify("国防部推动军事人工智能", "", "zh")
    assert trad.relevant and simp.relevant and trad.score == simp.score
    assert trad.why["topic"] == ["軍事人工智能"]  # shown as written, matched as Simplified


def test_taiwanese_vocabulary() -> None:
    result = classify("國軍導入人工智慧演算法", "國防部表示，陸軍將採購可自動辨識目標的無人機。", "zh-TW")
    assert result.relevant, result
    assert "人工智慧" in result.why["ai"]


def test_chinese_term_does_not_cross_a_word_boundary() -> None:
    # 军事 inside 冠军事迹 (冠军 | 事迹) and 国防 inside 中国防疫 (中国 | 防疫) are no military terms
    ws, breaks = words("冠军事迹与中国防疫", "zh")
    assert breaks
    assert not classify("冠军事迹与中国防疫", "人工智能帮助分析。", "zh").why.get("military")
    assert classify("国防部长谈人工智能", "", "zh").why["military"] == ["国防部"]  # not cut: 国防部 | 长


def test_chinese_terms_may_end_inside_a_compound() -> None:
    result = classify("有人机-无人机协同作战新趋势", "", "zh")
    assert result.relevant and result.why["topic"] == ["有人机-无人机协同"]


def test_to_simplified_keeps_offsets() -> None:
    assert to_simplified("國防部，無人機") == "国防部，无人机"
    assert len(to_simplified("軍事化與戰爭")) == len("軍事化與戰爭")


# --- Japanese, Korean, Arabic, Russian --------------------------------------------------------------


def test_japanese_is_told_apart_from_chinese() -> None:
    assert detect_language("防衛省は人工知能の活用を進める") == "ja"
    assert detect_language("国防部推动人工智能发展") == "zh"


def test_japanese_military_autonomy() -> None:
    assert classify("自衛隊、AIの活用へ", "防衛省は基本方針をまとめた。", "ja").relevant
    assert classify("自律型致死兵器システムを巡る議論", "", "ja").why["topic"] == ["自律型致死兵器システム"]
    swarm = classify("ドローンの集団飛行を実証", "陸上自衛隊は小型無人機を連携させる試験を行った。", "ja")
    assert swarm.relevant, swarm


def test_japanese_autonomic_nerves_are_not_autonomy() -> None:
    assert not classify("自律神経と睡眠", "自衛隊員の健康管理で自律神経を整える。", "ja").relevant


def test_korean_particles_are_kept_apart_from_the_word() -> None:
    result = classify("군이 인공지능을 전투체계에 도입", "", "ko")
    assert result.relevant and "인공지능" in result.why["ai"]
    assert not classify("무기한 연기된 인공지능 행사", "", "ko").why.get("military")  # 무기한 = indefinitely


@pytest.mark.parametrize(("word", "stem"), [
    ("والخوارزميات", "خوارزم"), ("بخوارزمية", "خوارزم"), ("لجيش", "جيش"), ("المسيّرة", "مسير"),
    ("الأسلحة", "اسلح"), ("أسلحة", "اسلح"),
])
def test_arabic_light_stemming(word: str, stem: str) -> None:
    assert arabic_light_stem(word) == stem


def test_arabic_clitics_and_article() -> None:
    body = "وقالت وزارة الدفاع إن النظام بالذكاء الاصطناعي."
    result = classify("الجيش يعتمد على خوارزمية لتحديد الأهداف", body, "ar")
    assert result.relevant and "خوارزمية" in result.why["ai"]
    un = classify("الجمعية العامة تعتمد قرارا بشأن الأسلحة ذاتية التحكم", "", "ar")
    assert un.relevant and un.why["topic"] == ["الأسلحة ذاتية التحكم"]


def test_russian_inflections_and_acronyms() -> None:
    assert classify("Минобороны внедряет искусственный интеллект", "", "ru").relevant
    assert classify("Военные испытали нейросеть для распознавания целей", "", "ru").relevant
    assert not classify("Бюджет автономного округа утверждён", "Армия не участвовала.", "ru").relevant


def test_tokenize_is_unchanged_for_search() -> None:
    # the search index reads tokenize(): Traditional characters are not folded there
    assert [t.norm for t in tokenize("國防", "zh")] == ["國", "防"]


# --- named programmes and systems ----------------------------------------------------------------


@pytest.mark.parametrize(("title", "text"), [
    ("Pentagon raises Maven Smart System contract ceiling", "Commands asked for more licences."),
    ("Air Force picks vendors for Collaborative Combat Aircraft", "The jets fly beside crewed fighters."),
    ("Newer Lancet variants spotted", "The Russian loitering munition now carries a seeker."),
    ("Report on the Lavender system", "Officers of the Israeli army approved strikes in seconds."),
    ("YFQ-44A flies again", "The prototype completed a second test."),
])
def test_named_programmes_are_topics(title: str, text: str) -> None:
    result = classify(title, text, "en")
    assert result.relevant and result.why.get("topic"), result


@pytest.mark.parametrize(("title", "text"), [
    ("New study in The Lancet", "Researchers report on childhood asthma in cities."),
    ("Lavender fields in bloom", "Visitors flock to Provence to see the lavender harvest."),
    ("Gospel choir wins award", "The choir performed at the city festival."),
    ("Apache Maven 4 released", "The build tool adds a new dependency resolver."),
])
def test_ambiguous_names_alone_are_not_topics(title: str, text: str) -> None:
    result = classify(title, text, "en")
    assert not result.relevant and "topic" not in result.why, result


# --- context rules: the false alarms -----------------------------------------------------------------


@pytest.mark.parametrize(("lang", "title", "text"), [
    ("en", "Viral clip of surrendering soldiers is an AI fake",
     "Fact-checkers say the video, which spread during the war, was AI-generated."),
    ("en", "The battle for AI supremacy heats up", "Tech giants pour billions into data centres in an arms race."),
    ("en", "This indoor drone guards your home", "The autonomous camera drone flies a route through the living room."),
    ("en", "VA expands AI tools for veterans' health care", "Clinicians at veterans hospitals use AI to draft notes."),
    ("en", "New export controls on AI chips", "The rules cite military end uses and restrict semiconductors."),
    ("de", "KI-generierte Videos vom Krieg", "Faktenprüfer fanden gefälschte Clips von der Front."),
    ("fr", "La bataille de l'IA entre géants", "Les puces et les centres de données sont l'enjeu."),
    ("es", "Un dron doméstico autónomo vigila el hogar", "El aparato recorre la casa con inteligencia artificial."),
    ("ja", "生成AIで作られた戦争の偽動画", "ファクトチェックで偽物と判明した。"),
    ("zh", "中美人工智能霸权之争", "科技巨头在芯片和大模型领域展开一场没有硝烟的战争。"),
    ("ko", "보훈병원, AI로 진료 기록", "보훈 대상자 진료에 인공지능을 쓴다."),
    ("ar", "مقاطع فيديو مولدة بالذكاء الاصطناعي عن الحرب", "قال مدققو الحقائق إنها مزيفة."),
    ("ru", "Фейковые видео о войне созданы нейросетью", "Проверка фактов показала подделку."),
    ("nl", "AI-nepvideo's over de oorlog", "Factcheckers waarschuwen voor desinformatie."),
])
def test_look_alikes_are_off_topic(lang: str, title: str, text: str) -> None:
    result = classify(title, text, lang)
    assert not result.relevant, result


def test_metaphor_words_count_beside_a_literal_military_term() -> None:
    metaphor = classify("AI on the battlefield of retail", "Shops fight for customers with AI.", "en")
    literal = classify("AI on the battlefield", "The army fields AI tools for soldiers in battle.", "en")
    assert not metaphor.relevant and literal.relevant
    assert "battlefield" in literal.why["military"]


def test_a_strong_topic_survives_a_negative_cue() -> None:
    result = classify("Autonomous weapons and AI chips", "States discussed lethal autonomous weapons.", "en")
    assert result.relevant and "neg:AI chips" in result.codes


def test_every_positive_keeps_an_explanation() -> None:
    for lang, title, text in [
        ("en", "Army tests targeting software", "Machine learning helps soldiers find targets."),
        ("zh", "國軍無人機蜂群", ""), ("ja", "防衛省、AIで目標識別", ""), ("ar", "الروبوتات القاتلة", ""),
    ]:
        result = classify(title, text, lang)
        assert result.relevant and result.matches and result.why, (lang, result)
        assert all(":" not in m for m in result.matches)  # phrases, not codes
