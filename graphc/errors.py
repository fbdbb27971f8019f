"""Error types shared by every stage: a user error carries the spec location it came from."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Iterable


@dataclass(frozen=True, slots=True)
class Location:
    """A place in a spec file (1-based line and column)."""

    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


class GraphcError(Exception):
    """Base class of every error graphc raises on purpose."""


class SpecError(GraphcError):
    """A mistake in the user's input: printed as `file:line:col: error: message`, exit 2."""

    def __init__(self, message: str, loc: Location | None = None, hint: str | None = None):
        self.message = message
        self.loc = loc
        self.hint = hint
        super().__init__(str(self))

    def __str__(self) -> str:
        text = f"error: {self.message}"
        if self.hint:
            text += f" ({self.hint})"
        return f"{self.loc}: {text}" if self.loc else text


class ShapeError(GraphcError):
    """A shape or dtype rule failed; the spec front end adds the layer and its location (at the
    attribute `attr` when the error names one)."""

    def __init__(self, message: str, hint: str | None = None, attr: str | None = None):
        self.message = message
        self.hint = hint
        self.attr = attr
        super().__init__(message)


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """A 'did you mean X?' hint for a misspelled name, or None when nothing is close."""
    matches = difflib.get_close_matches(str(word), sorted(set(choices)), n=1, cutoff=0.6)
    return f"did you mean '{matches[0]}'?" if matches else None
