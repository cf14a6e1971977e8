"""The server-rendered SVG chart: empty periods filled, weeks across a year's end, accessible text."""

from __future__ import annotations

from api.charts import bar_chart, filled


def test_missing_months_are_zero_bars() -> None:
    assert filled([("2024-11", 2), ("2025-02", 5)], "month") == [
        ("2024-11", 2), ("2024-12", 0), ("2025-01", 0), ("2025-02", 5)]


def test_iso_weeks_run_across_the_year_end() -> None:
    assert [p for p, _ in filled([("2020-W52", 1), ("2021-W02", 1)], "week")] == [
        "2020-W52", "2020-W53", "2021-W01", "2021-W02"]


def test_chart_has_a_text_alternative_and_escapes_labels() -> None:
    svg = str(bar_chart([("2025-01", 3), ("2025-03", 1)], interval="month", label="Items <per> month"))
    assert svg.count("<rect") == 3
    assert "Items &lt;per&gt; month" in svg and "<per>" not in svg
    assert "4 items over 3 months from 2025-01 to 2025-03; most in 2025-01 (3)." in svg
    assert bar_chart([], interval="month", label="x") == ""
