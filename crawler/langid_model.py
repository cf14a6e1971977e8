"""py3langid's language model restricted to a language list, kept uncompressed in a cache file.

py3langid ships its model as an xz-compressed npz: decompressing and converting it costs ~0.7 s CPU in every
crawl process and extraction worker. The cache file holds the arrays the restricted model classifies with (the
same values, saved without compression), so reading it gives an identifier that classifies exactly as one loaded
from the package's file. Its name carries py3langid's version, the model file's size and mtime and the language
list, so another model or list never reads it. A missing, unreadable or unwritable cache only means the slow load.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import zipfile
from array import array
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
from py3langid.langid import MODEL_DIR, MODEL_FILE, LanguageIdentifier

log = logging.getLogger(__name__)
_LAYOUT = "1"  # bump when the file's arrays change
_ARRAYS = ("ptc", "pc", "classes", "nextmove", "row", "out", "typecodes")


def default_cache_dir() -> Path:
    """$XDG_CACHE_HOME/milai, else ~/.cache/milai."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "milai"


def cache_file(cache_dir: Path, languages: tuple[str, ...]) -> Path:
    """The cache file for this py3langid model and language list."""
    model = MODEL_DIR / MODEL_FILE
    stat = model.stat()
    key = "|".join((_LAYOUT, version("py3langid"), str(stat.st_size), str(stat.st_mtime_ns), ",".join(languages)))
    return cache_dir / f"langid-{hashlib.sha256(key.encode()).hexdigest()[:20]}.npz"


def _restricted(languages: tuple[str, ...]) -> LanguageIdentifier:
    identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    identifier.set_languages(list(languages))
    return identifier


def _save(identifier: LanguageIdentifier, path: Path) -> None:
    nextmove, row = identifier.tk_nextmove, identifier.tk_row
    arrays: dict[str, Any] = {
        "ptc": np.ascontiguousarray(identifier.nb_ptc), "pc": np.asarray(identifier.nb_pc),
        "classes": np.array(identifier.nb_classes),
        "nextmove": np.frombuffer(nextmove, dtype=f"u{nextmove.itemsize}"),
        "row": np.frombuffer(row, dtype=f"u{row.itemsize}"),
        "out": np.asarray(identifier.tk_output, dtype=np.int64),
        "typecodes": np.array([nextmove.typecode, row.typecode]),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)  # atomic: a reader sees the whole file or none
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _read(path: Path, languages: tuple[str, ...]) -> LanguageIdentifier:
    with np.load(path, allow_pickle=False) as data:
        if set(data.files) != set(_ARRAYS):
            raise ValueError(f"{path}: unexpected arrays {sorted(data.files)}")
        next_code, row_code = (str(c) for c in data["typecodes"].tolist())
        nextmove, row = array(next_code), array(row_code)
        nextmove.frombytes(memoryview(data["nextmove"]).cast("B"))
        row.frombytes(memoryview(data["row"]).cast("B"))
        classes = [str(c) for c in data["classes"].tolist()]
        if classes != [c for c in classes if c in languages]:
            raise ValueError(f"{path}: languages {classes} outside the list")
        identifier = LanguageIdentifier(data["ptc"], data["pc"], classes, nextmove, data["out"].tolist(),
                                        norm_probs=True, tk_row=row)
    identifier.set_languages(list(languages))  # as after the slow load (the same columns: a no-op selection)
    return identifier


def load(languages: tuple[str, ...], cache_dir: Path | None) -> LanguageIdentifier:
    """The model restricted to `languages` (norm_probs on): from the cache file when there is one, else from
    py3langid's file, then written to the cache (cache_dir None: no cache)."""
    if cache_dir is None:
        return _restricted(languages)
    path = cache_file(cache_dir, languages)
    try:
        return _read(path, languages)
    except FileNotFoundError:
        pass
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        log.warning("language model cache %s unreadable (%s): loading the model", path, exc)
    identifier = _restricted(languages)
    try:
        _save(identifier, path)
    except OSError as exc:
        log.info("language model cache %s not written: %s", path, exc)
    return identifier
