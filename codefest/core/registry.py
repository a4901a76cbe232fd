"""One registry type for tasks, metrics and dataset builders, so every unknown key gets a 'did you mean'."""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from typing import Generic, TypeVar

from codefest.core.errors import CodefestError

T = TypeVar("T")


def nearest(name: str, choices: list[str]) -> str | None:
    """The closest valid key to a misspelt one, if any is close enough to be a plausible typo."""
    matches = difflib.get_close_matches(name, choices, n=1, cutoff=0.6)
    return matches[0] if matches else None


def unknown_key_message(kind: str, name: str, choices: list[str]) -> str:
    """'unknown X 'y'; did you mean 'z'? valid: ...' in one place for every registry and model."""
    guess = nearest(name, choices)
    hint = f" Did you mean '{guess}'?" if guess else ""
    return f"Unknown {kind} '{name}'.{hint} Valid: {', '.join(sorted(choices)) or '(none)'}."


class UnknownKeyError(CodefestError, KeyError):
    """A registry lookup that failed; the message names the nearest valid key."""

    def __init__(self, kind: str, name: str, choices: list[str]) -> None:
        self.kind, self.name, self.choices = kind, name, choices
        super().__init__(unknown_key_message(kind, name, choices))

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return self.render()


class Registry(Generic[T]):
    """Named entries of one kind; registration is explicit and duplicate names are a programming error."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}

    def add(self, name: str, entry: T) -> T:
        if name in self._entries:
            raise ValueError(f"{self.kind} '{name}' is registered twice")
        self._entries[name] = entry
        return entry

    def get(self, name: str) -> T:
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownKeyError(self.kind, name, self.names()) from None

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
