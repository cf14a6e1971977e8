"""Compiled lexicons kept in a cache file, so a process loads a language's lexicon instead of compiling it.

Compiling one language's terms (stemming and analysing every term with storage.textnorm) takes ~0.1 s of CPU, in
every crawl process and in every extraction worker, for every language it meets. The cache file is a pickle,
named by a digest of everything the compiled lexicon depends on: the term files read, the source of the
compiler and of storage.textnorm, the versions of the stemmer and of the Chinese converters, and Python's. A
change to any of them names another file, so a stale lexicon is never read. Only the lexicon's own classes
(and the builtins a lexicon holds) are accepted when a file is read: anything else makes it unreadable. An
unreadable, missing or unwritable cache only means compiling, as without one.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import pickle
import sys
import tempfile
from collections.abc import Callable, Sequence
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

logger = logging.getLogger(__name__)

T = TypeVar("T")

LAYOUT = "1"  # the file's layout; bump it when the pickled classes change shape
_SOURCES = (
    Path(__file__).resolve().with_name("lexicon.py"),
    Path(__file__).resolve().parents[2] / "storage" / "textnorm.py",
)
_PACKAGES = ("snowballstemmer", "opencc", "rjieba")
_ALLOWED = {
    ("crawler.relevance.lexicon", "Lexicon"),
    ("crawler.relevance.lexicon", "Term"),
    ("crawler.relevance.lexicon", "Pattern"),
    ("collections", "defaultdict"),
    ("builtins", "list"),
}


@cache
def _code_key() -> str:
    """What every cache file depends on beside its term files: the compiler's sources and package versions."""
    digest = hashlib.sha256(f"{LAYOUT}|{sys.version}".encode())
    for path in _SOURCES:
        digest.update(path.read_bytes())
    for package in _PACKAGES:
        try:
            digest.update(f"|{package}={metadata.version(package)}".encode())
        except metadata.PackageNotFoundError:
            digest.update(f"|{package}=-".encode())
    return digest.hexdigest()


def cache_file(cache_dir: Path, term_files: Sequence[Path], name: str) -> Path:
    """The cache file of the lexicon called `name` compiled from `term_files` (missing ones count as empty)."""
    digest = hashlib.sha256(f"{_code_key()}|{name}".encode())
    for path in term_files:
        digest.update(f"|{path.name}|".encode())
        digest.update(path.read_bytes() if path.exists() else b"-")
    return cache_dir / f"lexicon-{digest.hexdigest()[:24]}.pickle"


class _LexiconUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"{module}.{name} is not part of a lexicon")
        return super().find_class(module, name)


def load_or_compile(path: Path | None, compile_: Callable[[], T], expected: type[T]) -> T:
    """The `expected` object read from `path`, else `compile_()` written there (path None: no cache)."""
    if path is not None:
        try:
            found = _LexiconUnpickler(io.BytesIO(path.read_bytes())).load()
        except FileNotFoundError:
            pass
        except Exception:  # unreadable: truncated, foreign, from another layout; compiled again below
            logger.info("lexicon cache %s is unreadable; compiling", path, exc_info=True)
        else:
            if isinstance(found, expected):
                return found
            logger.info("lexicon cache %s holds a %s; compiling", path, type(found).__name__)
    compiled = compile_()
    if path is not None:
        _write(path, compiled)
    return compiled


def _write(path: Path, value: object) -> None:
    """Write atomically (a reader sees the old file or the whole new one); a failure only logs."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as out:
                pickle.dump(value, out, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError:
        logger.info("cannot write the lexicon cache %s", path, exc_info=True)
