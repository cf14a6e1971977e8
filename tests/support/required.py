"""Services the tests need: skipped on a laptop without them, a failure where CI promised them."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def unavailable(require_var: str, reason: str) -> NoReturn:
    """Fail when `require_var`=1 (set by .ci/run, which starts the service), else skip."""
    if os.environ.get(require_var) == "1":
        pytest.fail(f"{reason} ({require_var}=1)")
    pytest.skip(reason)
