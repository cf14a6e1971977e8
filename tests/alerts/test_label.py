"""Subscription labels: the subscriber's name for a saved search, in subjects and validated."""

from __future__ import annotations

import pytest

from alerts.digest_email import search_name
from alerts.subscriptions import SubscriptionError, validate_label


def test_label_is_one_line_and_bounded() -> None:
    assert validate_label("  Drones\n weekly ") == "Drones weekly"
    assert validate_label("   ") is None
    with pytest.raises(SubscriptionError, match="too long"):
        validate_label("x" * 101)


def test_subject_names_the_label_before_the_query() -> None:
    assert search_name("drone*", "Drones brief") == "Drones brief"
    assert search_name("drone*", None) == "drone*"

