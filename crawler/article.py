"""A fetched article page, extracted: shared by the spiders (the PDF links of a page, `follow_pdfs`) and the
extract pipeline, so a page is extracted once and spiders need not import the pipeline."""

from __future__ import annotations

from crawler.bounds import Limits, cut_html
from crawler.extract import Extracted, extract_page
from crawler.items import PageItem


def extract_html(item: PageItem, limits: Limits | None = None) -> Extracted:
    """The fetched article page of `item` extracted (its first `limits.html_bytes` bytes: a longer page marks
    the item's text as truncated), decoded by crawler.encoding with the server's charset and the language."""
    assert item.body is not None
    body, cut = cut_html(item.body, (limits or Limits()).html_bytes)
    if cut:
        item.text_truncated = True
    return extract_page(body, item.url, encoding=item.encoding, language_hint=item.language_hint,
                        zone=item.timezone)
