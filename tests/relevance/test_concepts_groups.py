"""Drone groups (a swarm without the word), exclusions (the military named only to be left out), the
CCW's expert group, and recommending software: concepts of crawler/relevance/concepts.py in several
languages. Every sentence is written for these tests; none is taken from a bench set."""

from __future__ import annotations

import pytest

from crawler.relevance import classify


@pytest.mark.parametrize(("lang", "title", "text"), [
    ("en", "Marines test hundreds of cheap drones that share targets with each other",
     "The trial took place at Camp Pendleton."),
    ("en", "One operator controls dozens of uncrewed boats in naval exercise", "The boats returned to port."),
    ("de", "Heer erprobt Dutzende Drohnen, die sich untereinander abstimmen", "Der Test lief drei Wochen."),
    ("fr", "L'armée de terre teste des dizaines de drones qui se répartissent la zone",
     "L'essai a duré deux semaines."),
    ("es", "El Ejército prueba decenas de drones que se coordinan entre sí", "La prueba duró una semana."),
    ("ja", "空自、一人の操縦者が多数の無人機を同時に飛ばす試験", "試験は来月まで続く。"),
    ("zh", "解放军测试数十架无人机相互配合执行侦察", "试验持续了两周。"),
    ("ru", "Армия испытала десятки беспилотников, действующих друг с другом согласованно",
     "Испытания продлятся месяц."),
])
def test_many_drones_acting_together_in_a_military_setting_are_on_topic(lang: str, title: str, text: str) -> None:
    result = classify(title, text, lang)
    assert result.relevant, (lang, result.codes)
    assert "rule:concept:drone-group" in result.codes
    assert result.why["ai"] and result.why["military"]


@pytest.mark.parametrize(("lang", "title", "text"), [
    ("en", "Hundreds of drones coordinate a light show over the harbour", "Spectators filled the quay."),
    ("en", "Dozens of delivery drones coordinate routes over the city", "The parcels arrived on time."),
    ("de", "Dutzende Drohnen koordinieren sich bei der Lichtshow", "Das Publikum applaudierte."),
])
def test_many_drones_together_without_a_military_setting_stay_off_topic(lang: str, title: str, text: str) -> None:
    assert not classify(title, text, lang).relevant, lang


@pytest.mark.parametrize(("lang", "title", "text"), [
    ("en", "Council agrees guidelines on AI in schools",
     "The guidelines do not cover artificial intelligence used by the armed forces."),
    ("en", "Parliament passes AI liability law",
     "The law excludes military and national security applications of artificial intelligence."),
    ("fr", "Le Parlement adopte une loi sur l'IA dans les services publics",
     "Le texte ne s'applique pas aux usages de l'intelligence artificielle par les armées."),
    ("de", "Bundestag beschließt Regeln für KI in Behörden",
     "Das Gesetz gilt nicht für militärische Anwendungen künstlicher Intelligenz."),
    ("es", "El Congreso aprueba una ley de IA para la administración",
     "La norma excluye los usos militares de la inteligencia artificial."),
    ("ru", "Госдума приняла закон об ИИ в здравоохранении",
     "Закон не распространяется на военное применение искусственного интеллекта."),
    ("zh", "国务院发布人工智能教育应用指南", "该指南不适用于军事领域的人工智能应用。"),
    ("ja", "政府、行政のAI利用指針を公表", "防衛分野でのAI利用は対象外とした。"),
])
def test_a_civil_text_that_names_military_ai_only_as_an_exclusion_is_off_topic(lang: str, title: str,
                                                                                text: str) -> None:
    result = classify(title, text, lang)
    assert not result.relevant, (lang, result.codes)


def test_an_exclusion_leaves_the_rest_of_the_text_counting() -> None:
    result = classify("Army deploys AI to pick targets", "The rules exclude training data from allies. "
                      "The army said the software recommends targets to commanders.", "en")
    assert result.relevant, result.codes


@pytest.mark.parametrize(("lang", "title"), [
    ("en", "Group of Governmental Experts of the Convention on Certain Conventional Weapons meets in Geneva"),
    ("es", "El grupo de expertos gubernamentales de la CCAC se reúne en Ginebra"),
    ("fr", "Le groupe d'experts gouvernementaux de la Convention sur certaines armes classiques se réunit"),
    ("ru", "Группа правительственных экспертов КНО собралась в Женеве"),
    ("zh", "特定常规武器公约政府专家组在日内瓦举行会议"),
    ("de", "Gruppe von Regierungsexperten der UN-Waffenkonvention tagt in Genf"),
])
def test_the_ccw_expert_group_is_a_named_topic(lang: str, title: str) -> None:
    result = classify(title, "The session lasts a week.", lang)
    assert result.relevant, (lang, result.codes)
    assert "rule:concept:ccw-expert-group" in result.codes and result.why["topic"]


def test_a_governmental_expert_group_on_another_subject_is_not_a_topic() -> None:
    result = classify("UN group of governmental experts on cyberspace adopts report",
                      "The group discussed AI tools for ransomware defence.", "en")
    assert not result.relevant, result.codes


@pytest.mark.parametrize(("lang", "title", "text"), [
    ("en", "Marine Corps tests analytics software that proposes artillery fire missions",
     "Officers keep the final say."),
    ("es", "La Armada prueba un sistema que identifica objetivos en el radar", "Los oficiales deciden."),
    ("ja", "海上自衛隊、不審船をソフトウェアが識別する装置を試験", "護衛艦に搭載する。"),
])
def test_software_that_proposes_fire_or_spots_suspicious_vessels_counts_as_machine_choice(
        lang: str, title: str, text: str) -> None:
    result = classify(title, text, lang)
    assert "rule:concept:machine-choice" in result.codes, (lang, result.codes)


@pytest.mark.parametrize(("lang", "title", "text"), [
    ("en", "Navy drones coordinate with each other to hunt submarines", "The trial ran for a month."),
    ("es", "Los drones de la Armada se coordinan para rastrear submarinos", "La prueba duró un mes."),
    ("fr", "Les drones de la Marine se coordonnent pour traquer les sous-marins", "L'essai a duré un mois."),
    ("ja", "海自の無人機同士が連携して潜水艦を探す", "試験は一か月続いた。"),
])
def test_drones_coordinating_with_each_other_need_no_number(lang: str, title: str, text: str) -> None:
    result = classify(title, text, lang)
    assert result.relevant, (lang, result.codes)
    assert "rule:concept:drone-group" in result.codes


def test_drone_makers_competing_with_each_other_are_no_drone_group() -> None:
    result = classify("Drone makers compete with each other for army contracts", "Prices fell.", "en")
    assert "rule:concept:drone-group" not in result.codes


@pytest.mark.parametrize(("lang", "title", "text"), [
    ("en", "City council adopts AI plan for libraries",
     "Officials said the defence ministry is not involved in the scheme."),
    ("es", "El ayuntamiento aprueba un plan de IA para bibliotecas",
     "El Ministerio de Defensa no participa en el proyecto."),
    ("de", "Stadt beschließt KI-Plan für Bibliotheken", "Die Bundeswehr ist an dem Vorhaben nicht beteiligt."),
])
def test_a_military_actor_said_to_be_absent_does_not_count(lang: str, title: str, text: str) -> None:
    result = classify(title, text, lang)
    assert not result.relevant, (lang, result.codes)


def test_an_absent_cue_does_not_cancel_a_named_topic() -> None:
    result = classify("States debate lethal autonomous weapons in which humans are not involved",
                      "The talks resume in May.", "en")
    assert result.relevant and result.why["topic"], result.codes


@pytest.mark.parametrize(("lang", "title", "text"), [
    ("en", "Army quadcopters finish their patrol even if the link is lost", "Engineers showed the trial in Texas."),
    ("es", "Los drones del Ejército vuelven a la base si se pierde el enlace", "La prueba se hizo en Zaragoza."),
    ("fr", "Les drones de l'armée de Terre poursuivent la mission en cas de perte de liaison",
     "L'essai a eu lieu à Mourmelon."),
    ("ru", "Беспилотники армии продолжают полёт при потере связи", "Испытания прошли под Москвой."),
    ("ja", "陸自の無人機、通信が途絶しても任務を継続", "試験は北海道で行われた。"),
])
def test_a_vehicle_that_goes_on_after_losing_its_link_acts_on_its_own(lang: str, title: str, text: str) -> None:
    result = classify(title, text, lang)
    assert result.relevant, (lang, result.codes)
    assert "rule:concept:lost-link" in result.codes


def test_a_lost_link_without_a_vehicle_is_nothing() -> None:
    result = classify("Army radio operators train for when communications are cut", "The course lasts a week.", "en")
    assert not result.relevant, result.codes


@pytest.mark.parametrize(("lang", "title"), [
    ("ru", "Беспилотный ведомый полетит в паре с истребителем Су-35"),
    ("en", "Uncrewed jet to fly in formation with a Gripen"),
])
def test_a_drone_teamed_with_a_fighter_is_military_ai(lang: str, title: str) -> None:
    result = classify(title, "Tests start next year.", lang)
    assert result.relevant, (lang, result.codes)


def test_one_machine_and_one_target_make_one_explanation() -> None:
    result = classify("Army tests analytics", "The army said data analytics will propose which enemy positions "
                      "to engage and strike.", "en")
    concept_phrases = [p for p in result.why["ai"] if "data analytics" in p]
    assert len(concept_phrases) == 1, result.why


@pytest.mark.parametrize(("lang", "title", "text"), [
    ("es", "El Ejército prueba vehículos no tripulados que vigilan la base de manera independiente",
     "La prueba dura un mes."),
    ("fr", "L'armée de Terre teste des robots sans pilote qui patrouillent de manière indépendante",
     "L'essai dure un mois."),
    ("fr", "La Marine nationale teste un drone de surface qui navigue sans liaison pendant deux jours",
     "L'essai a eu lieu à Toulon."),
])
def test_an_uncrewed_vehicle_working_independently_acts_on_its_own(lang: str, title: str, text: str) -> None:
    result = classify(title, text, lang)
    assert result.relevant, (lang, result.codes)


def test_working_independently_without_a_vehicle_is_nothing() -> None:
    result = classify("El batallón patrulla de manera independiente", "La unidad regresa el lunes.", "es")
    assert not result.relevant, result.codes
