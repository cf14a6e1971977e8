"""The one place that decides how a fetched page's bytes become text.

In order: a byte-order mark; bytes that are valid UTF-8; bytes that are *overwhelmingly* valid UTF-8
(a few broken bytes are replaced by U+FFFD instead of re-guessing the whole page, which would turn every
other non-ASCII character into mojibake); a page declared UTF-8 whose bytes are not (and that names no
charset of its own) in the legacy encoding of its language; the declared charset or the page's
<meta charset>; a statistical guess (charset_normalizer); windows-1252.
"""

from __future__ import annotations

from charset_normalizer import from_bytes
from w3lib.encoding import html_body_declared_encoding, read_bom, resolve_encoding

# The legacy encoding a page in this language most likely uses when its declared UTF-8 is wrong (the
# WHATWG locale defaults); Latin-script languages fall back to windows-1252.
LEGACY_ENCODINGS = {
    "ko": "cp949", "ja": "shift_jis", "zh": "gb18030", "ru": "cp1251", "uk": "cp1251", "bg": "cp1251",
    "ar": "cp1256", "fa": "cp1256", "he": "cp1255", "el": "cp1253", "tr": "cp1254", "pl": "cp1250",
    "cs": "cp1250", "sk": "cp1250", "hu": "cp1250", "hr": "cp1250", "sl": "cp1250", "ro": "cp1250",
    "lt": "cp1257", "lv": "cp1257", "et": "cp1257", "vi": "cp1258", "th": "cp874",
}
# Bytes are "overwhelmingly UTF-8" when valid multi-byte characters outnumber broken sequences this many
# times: text in a legacy single- or double-byte encoding almost never forms valid UTF-8 sequences.
REPAIR_RATIO = 8
_REPLACEMENT = "\ufffd"
_ENCODED_REPLACEMENT = _REPLACEMENT.encode("utf-8")


def _is_utf8(name: str | None) -> bool:
    resolved = resolve_encoding(name) if name else None
    return bool(resolved) and resolved.replace("-", "").lower() == "utf8"  # type: ignore[union-attr]


def repaired_utf8(body: bytes) -> str | None:
    """`body` decoded as UTF-8 with its few broken sequences replaced, when the rest is valid UTF-8
    (at least REPAIR_RATIO valid non-ASCII characters per broken sequence); else None."""
    text = body.decode("utf-8", errors="replace")
    replaced = text.count(_REPLACEMENT) - body.count(_ENCODED_REPLACEMENT)
    if replaced <= 0:
        return text
    non_ascii = len(text) - len(text.encode("ascii", errors="ignore"))
    valid = non_ascii - text.count(_REPLACEMENT)
    return text if valid >= REPAIR_RATIO * replaced else None


def legacy_encoding(body: bytes, declared: str | None, language: str | None) -> str | None:
    """The legacy encoding of `language` for a page declared UTF-8 whose bytes are not UTF-8 and that
    names no charset of its own (short French text in windows-1252 is easily taken for windows-1250 by
    byte statistics); None otherwise."""
    if not language or not _is_utf8(declared) or html_body_declared_encoding(body):
        return None
    return LEGACY_ENCODINGS.get(language[:2].lower(), "cp1252")


def decode_html(body: bytes, declared: str | None = None, language: str | None = None) -> str:
    """Decode a page whose server declared the charset `declared` (None: none), in `language` if known."""
    bom_encoding, bom = read_bom(body)
    if bom_encoding:
        return body[len(bom):].decode(bom_encoding, errors="replace")
    if body.isascii():
        return body.decode("ascii")
    try:
        return body.decode("utf-8")  # non-ASCII bytes that form valid UTF-8 are UTF-8
    except UnicodeDecodeError:
        pass
    repaired = repaired_utf8(body)
    if repaired is not None:
        return repaired
    for candidate in (legacy_encoding(body, declared, language), declared, html_body_declared_encoding(body)):
        resolved = resolve_encoding(candidate) if candidate else None
        if resolved and not _is_utf8(resolved):
            try:
                return body.decode(resolved)
            except (UnicodeDecodeError, LookupError):
                continue
    best = from_bytes(body).best()
    if best is not None:
        return str(best)
    return body.decode("cp1252", errors="replace")
