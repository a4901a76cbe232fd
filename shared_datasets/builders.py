"""The dataset-builder registry: bundled generators and loaders for real corpora, one namespace for both."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from codefest.core.registry import Registry, unknown_key_message

if TYPE_CHECKING:
    from datasets import DatasetDict

CARDS = Path(__file__).parent / "cards"
BUILDER_PACKAGES = ("codefest.shared_datasets.generators", "codefest.shared_datasets.loaders")


class BuilderOptions(BaseModel):
    """Base of every builder's options: strict, like the challenge model that carries them."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class BuildContext:
    """What a builder may need besides its options: where relative paths in a challenge are rooted."""

    base_dir: Path


@dataclass(frozen=True)
class Builder:
    name: str
    task: str
    kind: Literal["generator", "loader"]
    options: type[BuilderOptions]
    build: Callable[[Any, BuildContext], DatasetDict]
    card: str
    summary: str

    def validate_options(self, raw: dict[str, Any]) -> BuilderOptions:
        """Options as the builder's model, with errors phrased like the challenge's own."""
        try:
            return self.options.model_validate(raw)
        except ValidationError as err:
            allowed = list(self.options.model_fields)
            problems = []
            for e in err.errors():
                key = ".".join(str(p) for p in e["loc"])
                if e["type"] == "extra_forbidden":
                    problems.append(unknown_key_message(f"option of builder '{self.name}'", key, allowed))
                else:
                    message = e["msg"].removeprefix("Value error, ")
                    problems.append(f"option '{key}': {message}" if key else f"options: {message}")
            raise ValueError("; ".join(problems)) from None

    def card_text(self) -> str:
        return (CARDS / self.card).read_text(encoding="utf-8")


BUILDERS: Registry[Builder] = Registry("dataset builder")


def builder(
    name: str, *, task: str, kind: Literal["generator", "loader"], options: type[BuilderOptions], card: str
) -> Callable[[Callable[[Any, BuildContext], DatasetDict]], Callable[[Any, BuildContext], DatasetDict]]:
    """Register a build function; its docstring's first line is the summary shown to organisers."""

    def wrap(fn: Callable[[Any, BuildContext], DatasetDict]) -> Callable[[Any, BuildContext], DatasetDict]:
        summary = (fn.__doc__ or "").strip().splitlines()[0] if fn.__doc__ else name
        BUILDERS.add(name, Builder(name, task, kind, options, fn, card, summary))
        return fn

    return wrap


def all_builders() -> Registry[Builder]:
    """The registry with every bundled generator and loader registered: each module of the two folders registers its
    own, so a new builder is a new file, and this module never imports the builders that import it."""
    for package in BUILDER_PACKAGES:
        for found in pkgutil.iter_modules(importlib.import_module(package).__path__):
            importlib.import_module(f"{package}.{found.name}")
    return BUILDERS
