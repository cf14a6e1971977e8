"""Exact and near-duplicate detection (plain Python, no Scrapy)."""

from __future__ import annotations

import hashlib
import re


def content_fingerprint(text: str) -> str:
    """SHA-256 of the case- and whitespace-normalised text."""
    norm = re.sub(r"\W+", " ", text.casefold()).strip()
    return hashlib.sha256(norm.encode("utf-8")).hexdigest()
