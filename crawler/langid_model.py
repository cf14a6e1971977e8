"""py3langid's language model restricted to a language list, kept uncompressed in a cache file.

py3langid ships its model as an xz-compressed npz: decompressing and converting it costs ~0.7 s CPU in every
crawl process and extraction worker. The cache file holds the arrays the restricted model classifies with (the
same values, saved without compression), so reading it gives an identifier that classifies exactly as one loaded
from the package's file. Its name carries py3langid's version, the model file's size and mtime and the language
list, so another model or list never reads it. A missing, unreadable or unwritable cache only means the slow load.

The identifier it gives (`WalkingIdentifier`) walks py3langid's byte automaton in numpy instead of a Python loop
over the text's bytes (0.8 of the 1.6 ms a 3,000-character sample took). The automaton is an Aho-Corasick
machine over byte n-grams: its state after any byte is the trie node of the longest suffix read so far that is
in the trie, and no node is deeper than `depth` bytes (6 in py3langid's model, found by a breadth-first search at
the slow load and kept in the cache file). So the state after byte i is the state reached from the start state
by bytes i-depth+1 .. i alone, and `depth` vectorised steps give the state after every byte at once. The features
are then counted in order of first appearance, as py3langid's Counter holds them, so the scores are the same
arrays summed in the same order: the same floats, the same classifications (tests/crawler/test_langid_model.py).
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
from py3langid.langid import MODEL_DIR, MODEL_FILE, RAW_FLOOR, LanguageIdentifier

log = logging.getLogger(__name__)
_LAYOUT = "2"  # bump when the file's arrays change
_ARRAYS = ("ptc", "pc", "classes", "nextmove", "row", "out", "typecodes", "depth")


def automaton_arrays(nextmove: Any, rowbase: Any) -> tuple[np.ndarray, np.ndarray]:
    """py3langid's transition table (an array.array) and pre-shifted row offsets (a list) as numpy arrays."""
    return np.frombuffer(nextmove, dtype=f"u{nextmove.itemsize}"), np.asarray(rowbase, dtype=np.int64)


def automaton_depth(moves: np.ndarray, rows: np.ndarray) -> int:
    """The deepest state of the byte automaton (`automaton_arrays`): the most steps any state is from the start
    state (0)."""
    seen = np.zeros(len(rows), dtype=bool)
    seen[0] = True
    frontier, depth, steps = np.array([0]), 0, np.arange(256)
    while True:
        reached = np.unique(moves[(rows[frontier][:, None] + steps).ravel()])
        reached = reached[~seen[reached]]
        if not len(reached):
            return depth
        depth += 1
        seen[reached] = True
        frontier = reached


class WalkingIdentifier(LanguageIdentifier):
    """py3langid's LanguageIdentifier whose automaton walk runs in numpy (see the module's docstring)."""

    __slots__ = ("depth", "_moves", "_rows", "_outputs")

    def __init__(self, *args: Any, depth: int | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._moves, self._rows = automaton_arrays(self.tk_nextmove, self._rowbase)
        self._outputs = np.asarray(self.tk_output, dtype=np.int64)
        self.depth = automaton_depth(self._moves, self._rows) if depth is None else depth

    def features(self, data: bytes) -> tuple[np.ndarray, np.ndarray]:
        """The features the automaton emits on `data` and how often, in order of first appearance (the keys
        and values of py3langid's visit_counts Counter)."""
        symbols = np.frombuffer(data, dtype=np.uint8).astype(np.int64)
        states = np.zeros(len(symbols), dtype=np.int64)
        for lag in range(min(self.depth, len(symbols)) - 1, -1, -1):  # byte i's state: from bytes i-lag..i
            states[lag:] = self._moves[self._rows[states[lag:]] + symbols[: len(symbols) - lag]]
        emitted = self._outputs[states]
        emitted = emitted[emitted >= 0]
        found, first, counts = np.unique(emitted, return_index=True, return_counts=True)
        order = np.argsort(first, kind="stable")
        return found[order].astype(np.intp), counts[order]

    def _raw_score(self, text: bytes) -> np.ndarray:
        found, counts = self.features(text)
        if len(found):
            return np.log1p(counts.astype(np.float32)) @ self.nb_ptc[found] + self.nb_pc
        return np.full(len(self.nb_classes), 0.0 if self._norm_probs else RAW_FLOOR, dtype=np.float32)


def default_cache_dir() -> Path:
    """$XDG_CACHE_HOME/milai, else ~/.cache/milai."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "milai"


def cache_file(cache_dir: Path, languages: tuple[str, ...]) -> Path:
    """The cache file for this py3langid model and language list."""
    model = MODEL_DIR / MODEL_FILE
    stat = model.stat()
    key = "|".join((_LAYOUT, version("py3langid"), str(stat.st_size), str(stat.st_mtime_ns), ",".join(languages)))
    return cache_dir / f"langid-{hashlib.sha256(key.encode()).hexdigest()[:20]}.npz"


def _restricted(languages: tuple[str, ...]) -> WalkingIdentifier:
    identifier = WalkingIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    identifier.set_languages(list(languages))
    return identifier


def _save(identifier: WalkingIdentifier, path: Path) -> None:
    nextmove, row = identifier.tk_nextmove, identifier.tk_row
    arrays: dict[str, Any] = {
        "ptc": np.ascontiguousarray(identifier.nb_ptc), "pc": np.asarray(identifier.nb_pc),
        "classes": np.array(identifier.nb_classes),
        "nextmove": np.frombuffer(nextmove, dtype=f"u{nextmove.itemsize}"),
        "row": np.frombuffer(row, dtype=f"u{row.itemsize}"),
        "out": np.asarray(identifier.tk_output, dtype=np.int64),
        "typecodes": np.array([nextmove.typecode, row.typecode]),
        "depth": np.array([identifier.depth]),
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


def _read(path: Path, languages: tuple[str, ...]) -> WalkingIdentifier:
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
        identifier = WalkingIdentifier(data["ptc"], data["pc"], classes, nextmove, data["out"].tolist(),
                                       norm_probs=True, tk_row=row, depth=int(data["depth"][0]))
    identifier.set_languages(list(languages))  # as after the slow load (the same columns: a no-op selection)
    return identifier


def load(languages: tuple[str, ...], cache_dir: Path | None) -> WalkingIdentifier:
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
