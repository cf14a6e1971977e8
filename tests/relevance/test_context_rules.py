"""The general rules added for real multilingual text (issue 12, second round): vehicles beside combat
words, words of acting alone, the other senses of "autonomy", metaphors, Korean compounds and
Arabic marks. Every sentence here is written for these tests, in several languages per rule; none
is taken from a bench set."""

from __future__ import annotations

import pytest

from crawler.relevance import classify
from crawler.relevance.lexicon import Hit, arabic_stem, lexicon_for, refine_words
from storage.textnorm import words

# --- a drone is military beside a combat word, not on its own -------------------------------------


@pytest.mark.parametrize(("lang", "title", "text"), [
    ("en", "Drones with onboard computer vision", "The small drones find the target and attack it even when jammed."),
    ("es", "Drones con visión artificial", "Los drones localizan el blanco y completan el ataque sin enlace."),
    ("ru", "Дроны с нейросетью", "Беспилотники с нейросетью находят цель и наносят удар."),
    ("ko", "AI 드론 공격 시험", "인공지능을 갖춘 드론이 표적을 찾아 공격했다."),
])
def test_drone_with_ai_beside_a_combat_word_is_on_topic(lang: str, title: str, text: str) -> None:
    result = classify(title, text, lang)
    assert result.relevant, (lang, result.codes)
    assert result.why["ai"] and result.why["military"]


@pytest.mark.parametrize(("lang", "title", "text"), [
    ("en", "Drones with onboard computer vision", "The drone films weddings and follows the couple."),
    ("es", "Drones con visión artificial", "El dron sigue a los ciclistas durante la carrera."),
    ("ru", "Дроны с нейросетью", "Беспилотник снимает свадьбы и следует за молодожёнами."),
    ("ko", "AI 드론 촬영", "인공지능 드론이 결혼식을 촬영했다."),
])
def test_drone_with_ai_but_no_combat_word_is_off_topic(lang: str, title: str, text: str) -> None:
    assert not classify(title, text, lang).relevant, lang


# --- words of acting alone count beside a vehicle or military word --------------------------------


@pytest.mark.parametrize(("lang", "title", "text"), [
    ("nl", "Marine test nieuwe mijnenjagers", "De onbemande vaartuigen van de marine zoeken zelfstandig naar mijnen."),
    ("de", "Marine testet neue Minenjäger", "Die unbemannten Boote der Marine suchen eigenständig nach Minen."),
    ("fr", "La Marine nationale teste de nouveaux chasseurs de mines",
     "Les drones de la Marine nationale repèrent automatiquement les mines."),
    ("ru", "ВМФ испытывает новые тральщики", "Безэкипажные катера ВМФ самостоятельно ищут мины."),
])
def test_acting_alone_beside_a_military_vehicle_is_autonomy(lang: str, title: str, text: str) -> None:
    result = classify(title, text, lang)
    assert result.relevant, (lang, result.codes)
    assert result.why["ai"], lang


@pytest.mark.parametrize(("lang", "title", "text"), [
    ("nl", "Bataljon oefent in Litouwen",
     "Het bataljon opereert twee weken zelfstandig. Daarna volgt een evaluatie van de logistiek."),
    ("de", "Bataillon übt in Litauen", "Das Bataillon arbeitet eigenständig. Die Übung dauert zwei Wochen."),
    ("en", "Battalion exercise in Lithuania", "The battalion works on its own for two weeks, then reports to brigade."),
])
def test_acting_alone_without_ai_or_vehicle_is_not_ai(lang: str, title: str, text: str) -> None:
    result = classify(title, text, lang)
    assert not result.relevant, (lang, result.codes)
    assert not result.why.get("ai"), lang


@pytest.mark.parametrize(("lang", "title", "text"), [
    ("fr", "Le port autonome reçoit un destroyer", "Le navire de guerre fait escale avant un exercice de l'OTAN."),
    ("de", "Hochschulautonomie: Streit um Bundeswehr-Vorlesungen", "Die Universität beruft sich auf ihre Autonomie."),
    ("ru", "Автономная некоммерческая организация помогает семьям военных", "Форум прошёл в Москве."),
    ("es", "La Universidad Autónoma firma un convenio con el Ejército",
     "Los alumnos harán prácticas en archivos militares."),
    ("fr", "Papeete accueille la frégate",
     "La collectivité, dotée de l'autonomie depuis 2004, a reçu le bâtiment de la Marine nationale."),
])
def test_autonomy_of_institutions_is_not_machine_autonomy(lang: str, title: str, text: str) -> None:
    assert not classify(title, text, lang).relevant, (lang, classify(title, text, lang).codes)


def test_the_noun_autonomy_counts_beside_a_weapon() -> None:
    result = classify("Naval drones", "The navy wants more autonomy for its drones in mine hunting.", "en")
    assert result.relevant and "autonomy" in result.why["ai"], result.codes


# --- metaphors: arms races and "weapons" of companies ---------------------------------------------


@pytest.mark.parametrize(("lang", "title", "text"), [
    ("ru", "Гонка вооружений среди чат-ботов",
     "Компании используют нейросети как главное оружие в борьбе за клиентов."),
    ("fr", "La course aux armements des assistants d'IA",
     "Les éditeurs de logiciels rivalisent d'intelligence artificielle."),
    ("de", "Wettrüsten bei der KI", "Softwarefirmen liefern sich ein Wettrennen um Sprachmodelle."),
    ("zh", "大模型军备竞赛", "各家公司争相发布人工智能产品。"),
])
def test_arms_race_metaphor_is_off_topic(lang: str, title: str, text: str) -> None:
    result = classify(title, text, lang)
    assert not result.relevant, (lang, result.codes)


def test_a_real_arms_race_with_a_literal_military_term_stays_on_topic() -> None:
    result = classify("AI arms race between armies", "Both armies field AI targeting software for artillery.", "en")
    assert result.relevant


# --- Korean compounds ------------------------------------------------------------------------------


def test_korean_multi_word_term_matches_written_as_one_word() -> None:
    lex = lexicon_for(("ko",), "ko")
    spaced, joined = "자폭 드론", "자폭드론을"
    for text in (spaced, joined):
        ws, breaks = words(text, "ko")
        assert any(h.category == "mil" for h in lex.find(text, ws, breaks)), text


def test_korean_compound_holding_an_ai_and_a_military_term_is_a_pair() -> None:
    # one word, two terms at different letters: 인공지능 (AI) and 무기 (weapon)
    result = classify("인공지능무기 개발 경쟁", "", "ko")
    assert result.relevant, result.codes
    assert result.why["ai"] and result.why["military"]


def test_a_literal_military_term_is_not_hidden_by_a_drone_word_in_the_same_compound() -> None:
    result = classify("AI 탑재 자폭무인기 시험", "", "ko")
    assert result.relevant, result.codes
    assert any(c.startswith("mil:") for c in result.codes)


def test_overlapping_parts_of_one_word_are_not_a_pair() -> None:
    a = Hit("ai", "x", 3, 4, "w", (0, 4))
    b = Hit("mil", "y", 3, 4, "w", (2, 5))
    c = Hit("mil", "z", 3, 4, "w", (4, 6))
    whole = Hit("mil", "v", 3, 4, "w")
    assert a.overlaps(b) and not a.overlaps(c) and a.overlaps(whole)


# --- Arabic marks and tanween ---------------------------------------------------------------------


def test_arabic_word_with_a_shadda_is_one_word() -> None:
    text = "مسيّرات تهاجم الأهداف"
    ws = refine_words(text, words(text, "ar")[0])
    assert [w.surface for w in ws] == ["مسيّرات", "تهاجم", "الأهداف"]


@pytest.mark.parametrize(("written", "term"), [
    ("نموذجاً", "نموذج"), ("نموذجا", "نموذج"), ("لغوياً", "لغوي"), ("عسكرياً", "عسكري"), ("ذاتياً", "ذاتي"),
])
def test_arabic_accusative_tanween_is_stemmed_like_the_term(written: str, term: str) -> None:
    assert arabic_stem(written) == arabic_stem(term)


def test_arabic_language_model_with_tanween_is_on_topic() -> None:
    result = classify("الجيش يطوّر نموذجاً لغوياً", "طوّرت الاستخبارات العسكرية نموذجاً لغوياً لتحليل الاتصالات.", "ar")
    assert result.relevant, result.codes


@pytest.mark.parametrize(("lang", "title"), [
    ("ar", "سرب من المسيّرات يهاجم الأهداف"),
    ("ru", "Рои беспилотников атакуют цели"),
    ("ru", "Роевые технологии и стратегическая стабильность"),
])
def test_swarm_terms_in_arabic_and_russian(lang: str, title: str) -> None:
    assert classify(title, "", lang).relevant, (lang, classify(title, "", lang).codes)


# --- names of defence-AI companies ---------------------------------------------------------------


def test_defence_ai_company_in_the_title_beside_a_military_term() -> None:
    on = classify("Helsing liefert an die Ukraine", "Die Bundeswehr prüft weitere Präzisionsmunitionen.", "de")
    off = classify("Palantir shares rise", "The company reported revenue from hospitals and banks.", "en")
    assert on.relevant and "Helsing" in on.why["topic"]
    assert not off.relevant


# --- look-alikes --------------------------------------------------------------------------------


@pytest.mark.parametrize(("lang", "title", "text"), [
    ("en", "Drone light show closes the military parade",
     "A swarm of 500 drones formed the flag over the army barracks."),
    ("de", "Drohnenshow statt Feuerwerk beim Heerestag",
     "Ein Schwarm aus 300 Drohnen zeigte das Wappen der Bundeswehr."),
    ("en", "Navy football team picks plays with an algorithm",
     "The Navy team's coach said the algorithm helps the football staff."),
])
def test_light_shows_and_sports_are_off_topic(lang: str, title: str, text: str) -> None:
    assert not classify(title, text, lang).relevant, (lang, classify(title, text, lang).codes)


# --- title and lede -------------------------------------------------------------------------------


@pytest.mark.parametrize(("lang", "title", "text"), [
    ("nl", "Marine neemt onbemande mijnenjager in gebruik",
     "Het vaartuig zoekt op eigen kracht naar mijnen bij Den Helder."),
    ("fr", "La Marine nationale reçoit un sous-marin sans équipage",
     "L'engin a patrouillé une semaine en totale autonomie pour le renseignement naval."),
    ("en", "Navy commissions crewless minehunter",
     "The vessel searches for mines on its own off Norfolk, the navy said."),
])
def test_acting_alone_in_the_lede_refers_to_the_vehicle_of_the_title(lang: str, title: str, text: str) -> None:
    result = classify(title, text, lang)
    assert result.relevant and result.why["ai"], (lang, result.codes)


def test_acting_alone_far_from_the_vehicle_of_the_title_is_not_ai() -> None:
    text = "The navy held a ceremony. Officers gave speeches. Later the band played on its own for an hour."
    result = classify("Navy commissions crewless minehunter", text, "en")
    assert not result.why.get("ai"), result.codes


def test_title_ai_and_a_military_term_in_the_lede_is_on_topic() -> None:
    title = "Ranking algorithms under scrutiny"
    result = classify(title, "A study asks how armed forces rank strike lists with such software.", "en")
    assert result.relevant, result.codes
    far = classify(title, "A study of software. It has charts. It is long. The army is named once.", "en")
    assert not far.relevant, far.codes  # a military word far down the body is an incidental mention


def test_a_look_alike_in_the_title_cancels_its_ai_and_military_pair() -> None:
    on = classify("Army app uses an algorithm for soldiers' fitness plans", "", "en")
    off = classify("Army marathon app uses an algorithm for runners' pace groups", "", "en")
    assert on.relevant and not off.relevant, (on.codes, off.codes)


@pytest.mark.parametrize(("lang", "title"), [
    ("en", "System generates targets for the army"),
    ("nl", "Leger laat software doelwitten genereren"),
    ("es", "El ejército usa software para generar objetivos"),
])
def test_machines_generating_targets_are_ai(lang: str, title: str) -> None:
    assert classify(title, "", lang).relevant, (lang, classify(title, "", lang).codes)


# --- vocabulary that travels ----------------------------------------------------------------------


@pytest.mark.parametrize(("lang", "title"), [
    ("nl", "Defensie test machine learning voor luchtverdediging"),
    ("de", "Bundeswehr nutzt Machine Learning in der Luftverteidigung"),
    ("fr", "L'armée de Terre adopte le machine learning pour le renseignement militaire"),
    ("es", "El Ejército aplica machine learning a la defensa aérea"),
])
def test_english_ai_words_used_in_other_languages(lang: str, title: str) -> None:
    assert classify(title, "", lang).relevant, (lang, classify(title, "", lang).codes)


@pytest.mark.parametrize(("lang", "title"), [
    ("ja", "ドローンの群れが防空網を突破"),
    ("ko", "드론 떼가 방공망 돌파"),
    ("zh", "无人机群突破防空网"),
])
def test_swarm_words_in_japanese_korean_chinese(lang: str, title: str) -> None:
    assert classify(title, "", lang).relevant, (lang, classify(title, "", lang).codes)


def test_taiwanese_recognition_vocabulary() -> None:
    result = classify("國軍巡飛彈具影像辨識能力", "", "zh-TW")
    assert result.relevant and "影像辨識" in result.why["ai"], result.codes


# --- stems and prefixes that would join different words -------------------------------------------


@pytest.mark.parametrize(("lang", "text"), [
    ("en", "The AI Office will supervise compliance"),  # "officers" is military, "office" is not
    ("ru", "ИИ-агенты бронируют командировки"),  # командир (commander) is not in командировки (trips)
    ("ru", "Нейросеть управляет танкером в порту"),  # танк (tank) is not танкер (tanker)
    ("ru", "Бригада скорой помощи использует ИИ"),  # an ambulance crew
])
def test_words_sharing_a_stem_or_prefix_with_a_military_term_are_not_military(lang: str, text: str) -> None:
    result = classify(text, "", lang)
    assert not result.relevant and not result.why.get("military"), (lang, result.codes)


@pytest.mark.parametrize(("lang", "title"), [
    ("fr", "Un robot de l'armée de Terre navigue de façon autonome"),  # the adjective, not the noun
    ("es", "Un vehículo del Ejército navega de forma autónoma"),
])
def test_the_autonomy_adjective_is_not_the_weak_noun(lang: str, title: str) -> None:
    assert classify(title, "", lang).relevant, (lang, classify(title, "", lang).codes)


@pytest.mark.parametrize(("lang", "title"), [
    ("en", "Officers play a wargame against a language model"),
    ("fr", "Jeu de guerre contre un modèle de langage"),
    ("ru", "Штабная игра против нейросети в Генштабе"),
    ("zh", "兵棋推演引入大模型"),
])
def test_wargaming_with_ai_is_military_ai(lang: str, title: str) -> None:
    assert classify(title, "", lang).relevant, (lang, classify(title, "", lang).codes)


@pytest.mark.parametrize(("lang", "title", "text"), [
    ("nl", "Landmacht test onbemand voertuig", "Het voertuig rijdt zonder bestuurder door het bos, meldde Defensie."),
    ("ko", "육군 무인 수송차량, 탄약 자율 운반", ""),
])
def test_driverless_words_beside_an_uncrewed_military_vehicle(lang: str, title: str, text: str) -> None:
    assert classify(title, text, lang).relevant, (lang, classify(title, text, lang).codes)


def test_a_driverless_taxi_stays_off_topic() -> None:
    assert not classify("Robotaxi rijdt zonder bestuurder door Amsterdam", "", "nl").relevant
