"""PDF documents (many UN documents are PDFs): metadata and the text of the first pages, where cheap.

Plain Python (pypdf), no Scrapy. Never raises: a broken, encrypted or oversized PDF gives a PdfDoc with
no text and `error` saying why, so the crawl records the document as an item without text.
"""

from __future__ import annotations

import io
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

PDF_MAX_BYTES = 5 * 1024 * 1024  # larger PDFs are recorded with their metadata from the listing only
PDF_MAX_PAGES = 20  # text of the first pages only
PDF_MAX_CHARS = 200_000
PDF_MAX_DECOMPRESSED = 10 * 1024 * 1024  # per stream; the pipeline passes DOWNLOAD_MAXSIZE

log = logging.getLogger(__name__)

PDF_LINK_RE = re.compile(r"\.pdf(?:$|[?#])", re.IGNORECASE)  # a link whose path ends in .pdf

# "Microsoft Word - A_C1_78_L56.docx", "untitled", "Slide 1": producer noise, not a title
_JUNK_TITLE = re.compile(r"^(microsoft\s+\w+\s+-|untitled|slide \d+$|document\d*$|\S+\.(docx?|pdf|indd|rtf)$)", re.I)


@dataclass
class PdfDoc:
    """What a PDF says about itself."""

    title: str | None = None
    text: str = ""
    author: str | None = None
    created: datetime | None = None  # tz-aware UTC
    language: str | None = None  # the document catalogue's /Lang, as written ("en-US")
    pages: int = 0
    error: str | None = None  # why there is no text (broken, encrypted, too large)


def is_pdf_link(url: str) -> bool:
    """A link to a PDF by its name (…/doc.pdf, …/doc.PDF?download=1): requested with the PDF size cap."""
    return bool(PDF_LINK_RE.search(url))


def is_pdf(body: bytes | None, content_type: str | None = None) -> bool:
    """A PDF by its Content-Type or its magic bytes (the header may be up to 1 KB in)."""
    if content_type and "application/pdf" in content_type.lower():
        return True
    return bool(body) and b"%PDF-" in body[:1024]  # type: ignore[index]


def _text_of(value: Any) -> str | None:
    if value is None:
        return None
    text = " ".join(str(value).split())
    return text or None


def _created(metadata: Any) -> datetime | None:
    try:
        value = metadata.creation_date if metadata is not None else None
    except Exception:  # malformed D:… strings raise
        return None
    if not isinstance(value, datetime):
        return None
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


def _limits(max_decompressed: int) -> dict[str, int]:
    """pypdf's decompression limits (Configuration) set to `max_decompressed` bytes: no PDF stream inflates
    beyond the download size limit (a "zip bomb" in a FlateDecode stream stops there)."""
    return {
        "zlib_maximum_output_length": max_decompressed,
        "lzw_maximum_output_length": max_decompressed,
        "run_length_maximum_output_length": max_decompressed,
        "brotli_maximum_output_length": max_decompressed,
        "jbig2_maximum_output_length": max_decompressed,
        "array_based_stream_maximum_output_length": max_decompressed,
        "image_maximum_buffer_size": max_decompressed,
        "maximum_declared_stream_length": max_decompressed,
        "stream_decoding_work_maximum_length": 4 * max_decompressed,
    }


def read_pdf(
    body: bytes, *, max_pages: int = PDF_MAX_PAGES, max_bytes: int = PDF_MAX_BYTES,
    max_decompressed: int = PDF_MAX_DECOMPRESSED,
) -> PdfDoc:
    """Metadata and the text of the first `max_pages` pages, no stream decompressed beyond `max_decompressed`
    bytes; never raises."""
    if len(body) > max_bytes:
        return PdfDoc(error=f"PDF of {len(body)} bytes is larger than {max_bytes}: text not extracted")
    from pypdf import apply_configuration

    with apply_configuration(**_limits(max(max_decompressed, len(body)))):
        return _read(body, max_pages)


def _read(body: bytes, max_pages: int) -> PdfDoc:
    try:
        from pypdf import PdfReader

        reader = PdfReader(io.BytesIO(body), strict=False)
        if reader.is_encrypted:
            try:
                reader.decrypt("")  # many "protected" documents open with the empty password
            except Exception as exc:
                return PdfDoc(error=f"encrypted PDF: {exc!r}")
        metadata = reader.metadata
        doc = PdfDoc(
            title=_text_of(metadata.title if metadata is not None else None),
            author=_text_of(metadata.author if metadata is not None else None),
            created=_created(metadata),
        )
        try:
            root = reader.trailer["/Root"]
            doc.language = _text_of(root.get("/Lang"))
        except Exception:
            doc.language = None
        if doc.title and _JUNK_TITLE.search(doc.title):
            doc.title = None
        doc.pages = len(reader.pages)
        parts: list[str] = []
        size = 0
        for index in range(min(doc.pages, max_pages)):
            try:
                page_text = reader.pages[index].extract_text() or ""
            except Exception as exc:  # one bad page does not lose the others
                log.debug("PDF page %d unreadable: %r", index, exc)
                continue
            parts.append(page_text)
            size += len(page_text)
            if size >= PDF_MAX_CHARS:
                break
        lines = (" ".join(line.split()) for line in "\n".join(parts).splitlines())
        doc.text = "\n".join(line for line in lines if line)[:PDF_MAX_CHARS]
        if not doc.text:
            doc.error = "no extractable text (scanned or empty PDF)"
        return doc
    except Exception as exc:  # pypdf raises many types on broken files
        return PdfDoc(error=f"unreadable PDF: {type(exc).__name__}: {exc}")
