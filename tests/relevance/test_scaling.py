"""The scorer is linear in the number of term hits (issue 15, finding 3): no pair loops.

Not a timed assertion: the work is counted, and the big text is sized so that the old quadratic
AI x military loop (about hits^2 / 4 = 10^9 comparisons here) would run far past pytest's timeout.
"""

from __future__ import annotations

import pytest

from crawler.relevance import classify, model


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    calls = {"nearest": 0}
    original = model._Positions.nearest

    def counting(self: model._Positions, *args: object, **kwargs: object) -> object:
        calls["nearest"] += 1
        return original(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(model._Positions, "nearest", counting)
    return calls


def test_pair_search_is_one_lookup_per_ai_hit(counted: dict[str, int]) -> None:
    for n in (100, 1000, 10_000):
        counted["nearest"] = 0
        result = classify("Report", "The army uses AI. " * n, "en")
        assert result.relevant
        assert counted["nearest"] == n  # one bisection per AI hit, whatever the number of military hits


def test_many_thousands_of_hits_classify() -> None:
    text = " ".join(["artificial intelligence army drones soldiers algorithm"] * 12_000)  # 60,000 hits
    result = classify("Military AI", text, "en")
    assert result.relevant and result.score > 0.99
    assert result.why["ai"] and result.why["military"]


def test_explanation_stays_small_on_a_huge_text() -> None:
    text = "NATO army uses AI. " * 20_000
    result = classify("Update", text, "en")
    assert len(result.matches) <= 4 and len(result.codes) < 10  # each phrase once, not once per hit
