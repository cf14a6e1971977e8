"""Fixtures for the end-to-end CLI tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.smtp import SmtpServer


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """A real aiosmtpd server on loopback."""
    with SmtpServer() as server:
        yield server
