"""Dates as government pages write them, in their languages."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from crawler.dates import find_date_in_text, month_names, parse_date


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "lang", "expected"),
    [
        ("25 september 2025", "nl", utc(2025, 9, 25)),
        ("donderdag 25 september 2025", "nl", utc(2025, 9, 25)),
        ("3 maart 2024", "nl", utc(2024, 3, 3)),
        ("25 septembre 2025", "fr", utc(2025, 9, 25)),
        ("1er février 2024", "fr", utc(2024, 2, 1)),
        ("Publié le 14 août 2023 à 10h30", "fr", utc(2023, 8, 14, 10, 30)),
        ("2025.09.25.", "ko", utc(2025, 9, 25)),
        ("2025. 9. 25.", "ko", utc(2025, 9, 25)),
        ("2025년 9월 25일", "ko", utc(2025, 9, 25)),
        ("25. September 2025", "de", utc(2025, 9, 25)),
        ("3. März 2025", "de", utc(2025, 3, 3)),
        ("25.09.2025", "de", utc(2025, 9, 25)),
        ("25 de septiembre de 2025", "es", utc(2025, 9, 25)),
        ("Madrid, 2 de enero de 2024", "es", utc(2024, 1, 2)),
        ("2025年9月25日", "ja", utc(2025, 9, 25)),
        ("2025年9月25日", "zh", utc(2025, 9, 25)),
        ("２０２５年９月２５日", "ja", utc(2025, 9, 25)),
        ("19 Sep. 2025 12:00:00 GMT", None, utc(2025, 9, 19, 12)),
        ("Fri, 01 Apr 2022 00:01:55 -0400", None, utc(2022, 4, 1, 4, 1, 55)),
        ("Mon, 05 Dec 2022 09:00:00 -0500", None, utc(2022, 12, 5, 14)),
        ("Wed, 24 Sep 2025 14:00:00 +0200", None, utc(2025, 9, 24, 12)),
        ("2022-04-01T00:01:55-04:00", None, utc(2022, 4, 1, 4, 1, 55)),
        ("2017-10-26T12:52:00.000Z", None, utc(2017, 10, 26, 12, 52)),
        ("2018-03-16T12:17", None, utc(2018, 3, 16, 12, 17)),
        ("2023-12-22", None, utc(2023, 12, 22)),
        ("start=2013-05-14;", None, utc(2013, 5, 14)),
        ("• 10 Jul. 2024 -", None, utc(2024, 7, 10)),
        ("8 Nov. 2023", None, utc(2023, 11, 8)),
        ("27-Apr.-2017", None, utc(2017, 4, 27)),
        ("September 25, 2025", "en", utc(2025, 9, 25)),
        ("Sept. 5, 2025 at 3:30 p.m. EDT", "en", utc(2025, 9, 5, 19, 30)),
        ("14 November 2019", "en", utc(2019, 11, 14)),
        ("09/25/2025", "en", utc(2025, 9, 25)),
        ("25/09/2025", "fr", utc(2025, 9, 25)),
        ("12-05-2025", "nl", utc(2025, 5, 12)),
        ("25 сентября 2025 г.", "ru", utc(2025, 9, 25)),
        ("1 марта 2024 года", "ru", utc(2024, 3, 1)),
        ("25 سبتمبر 2025", "ar", utc(2025, 9, 25)),
        ("٢٥ أيلول ٢٠٢٥", "ar", utc(2025, 9, 25)),
        ("25 settembre 2025", "it", utc(2025, 9, 25)),
    ],
)
def test_parse_date_formats(text: str, lang: str | None, expected: datetime) -> None:
    assert parse_date(text, lang) == expected


@pytest.mark.parametrize(
    "text",
    ["", "   ", "garbage", "no date here 12345", "32 September 2025", "2025-13-40", "30 février 2025",
     "version 1.2.3", "Room 12, 2025 delegates", "Copyright 2024"],
)
def test_parse_date_never_invents(text: str) -> None:
    assert parse_date(text) is None


def test_results_are_aware_utc() -> None:
    value = parse_date("2025-09-25T10:00:00+02:00")
    assert value is not None and value.utcoffset() is not None
    assert value == utc(2025, 9, 25, 8)
    assert parse_date("2025-09-25 10:00") == utc(2025, 9, 25, 10)  # naive means UTC


def test_month_names_cover_the_catalogue_languages() -> None:
    names = month_names()
    for lang in ("en", "nl", "fr", "de", "es", "ru", "ar"):
        assert sorted(set(names[lang].values())) == list(range(1, 13)), lang


def test_find_date_in_text_header() -> None:
    nato = "NATO's revised AI strategy\n• 10 Jul. 2024 -\n• Last updated: 10 Jul. 2024 12:03\nAllies agreed..."
    assert find_date_in_text(nato) == utc(2024, 7, 10)
    icrc = "ICRC position on autonomous weapon systems\nStatement 12 May 2021\nThe ICRC recommends that States"
    assert find_date_in_text(icrc, "en") == utc(2021, 5, 12)


def test_find_date_in_text_skips_future_and_body_dates() -> None:
    now = utc(2025, 1, 1)
    assert find_date_in_text("Summit planned for 3 March 2030, then 2 December 2024.", now=now) == utc(2024, 12, 2)
    assert find_date_in_text("A header without any date. " + "x " * 300 + "4 April 2020") is None
    assert find_date_in_text("") is None
