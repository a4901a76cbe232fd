"""One registry type for tasks, metrics and dataset builders, so every unknown key gets a 'did you mean'.

An entry may be registered lazily, as a "module:object" string (as lm-evaluation-harness registers its tasks): the
module is imported on the first `get()`, so listing names imports nothing and a plugin's libraries load only when used.
"""

from __future__ import annotations

import difflib
import importlib
import threading
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

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


def resolve(reference: str, what: str = "") -> Any:
    """The object a "module:object" string names (`object` may be dotted); a CodefestError names what failed.

    `what` names the entry in messages, e.g. "task 'search'"."""
    label = f"{what} ({reference})" if what else f"'{reference}'"
    module_name, colon, attribute = reference.partition(":")
    if not colon or not module_name or not attribute:
        raise CodefestError(f'{label} is not a "module:object" reference', "write it as package.module:name")
    try:
        found: Any = importlib.import_module(module_name)
    except Exception as err:  # whatever a plugin's import raises, it is the plugin's failure: say which
        raise CodefestError(
            f"{label} cannot be loaded: importing {module_name} failed ({type(err).__name__}: {err})",
            f"check that {module_name} exists and imports: python -c 'import {module_name}'",
        ) from err
    for part in attribute.split("."):
        try:
            found = getattr(found, part)
        except AttributeError:
            raise CodefestError(
                f"{label} cannot be loaded: {module_name} has no '{attribute}'",
                f"define {attribute} in {module_name}, or correct the reference",
            ) from None
    return found


class Registry(Generic[T]):
    """Named entries of one kind; registration is explicit and duplicate names are a programming error.

    `add_lazy` registers a "module:object" reference instead of the entry; `get` imports it once, on first use.
    Loading on first use is safe from several threads at once (a server's request threads): one loads, the others
    wait for it.
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}
        self._lazy: dict[str, str] = {}
        self._loading = threading.RLock()

    def add(self, name: str, entry: T) -> T:
        self._check_new(name)
        self._entries[name] = entry
        return entry

    def add_lazy(self, name: str, reference: str) -> None:
        """Register `name` as the object `reference` ("module:object") names, imported on the first `get`."""
        self._check_new(name)
        self._lazy[name] = reference

    def _check_new(self, name: str) -> None:
        if name in self._entries or name in self._lazy:
            raise ValueError(f"{self.kind} '{name}' is registered twice")

    def get(self, name: str) -> T:
        if name in self._entries:
            return self._entries[name]
        with self._loading:
            if name in self._entries:  # loaded by another thread meanwhile
                return self._entries[name]
            if name not in self._lazy:
                raise UnknownKeyError(self.kind, name, self.names())
            entry: T = resolve(self._lazy[name], f"{self.kind} '{name}'")
            self._entries[name] = entry
            del self._lazy[name]
            return entry

    def get_or_add(self, name: str, make: Callable[[], T]) -> T:
        """The entry named `name`, made by `make()` and added the first time it is asked for, once whatever the
        threads asking at once."""
        if name in self._entries:
            return self._entries[name]
        with self._loading:
            if name not in self._entries:
                self.add(name, make())
            return self._entries[name]

    def is_loaded(self, name: str) -> bool:
        """Whether `name`'s entry is imported already (a lazy one is not until its first `get`)."""
        return name in self._entries

    def names(self) -> list[str]:
        return sorted([*self._entries, *self._lazy])

    def __contains__(self, name: object) -> bool:
        return name in self._entries or name in self._lazy

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
