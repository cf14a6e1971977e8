"""The boolean query language of searches and subscriptions.

Grammar (case-insensitive operators, implicit AND between adjacent terms):
    "autonomous weapons" AND (UN OR NATO) NOT cyber      drone*      -cyber
AST nodes are the frozen dataclasses below; the parser and matcher fill them.
"""

from __future__ import annotations

from dataclasses import dataclass


class QuerySyntaxError(ValueError):
    """A query that cannot be parsed; `position` is the 0-based offset of the problem."""

    def __init__(self, message: str, position: int | None = None) -> None:
        super().__init__(message if position is None else f"{message} (at character {position + 1})")
        self.message = message
        self.position = position


@dataclass(frozen=True)
class Term:
    text: str  # as typed (unnormalised)
    prefix: bool = False  # typed with a trailing *


@dataclass(frozen=True)
class Phrase:
    words: tuple[str, ...]  # as typed


@dataclass(frozen=True)
class And:
    children: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    children: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    child: Node


Node = Term | Phrase | And | Or | Not
