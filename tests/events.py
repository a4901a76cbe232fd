"""A small event, really evaluated: a built IPC challenge, a baseline and three teams, two of them tied."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from codefest.challenges.discovery import load
from codefest.evaluation import roster
from codefest.evaluation.evaluate import Evaluator
from codefest.shared_datasets.heldout import build
from tests.helpers import bundled_spec, right_every, with_empty_store, write_challenge

SLUG = "board-ipc"
# team -> every how many items it gets right (the rest get a wrong symbol); office-c copies office-a's file
TEAMS = {"organisers": 5, "office-a": 2, "office-b": 3, "office-c": 2}


@dataclass(frozen=True)
class Event:
    challenges: Path
    home: Path

    def env(self) -> dict[str, str]:
        return {"CODEFEST_CHALLENGES_PATH": str(self.challenges), "CODEFEST_HOME": str(self.home)}


def evaluated_event(base: Path, empty_store: Path | None = None) -> Event:
    """Builds and evaluates under `base`, in a copy of `empty_store` if given; the environment is left as it was."""
    spec = bundled_spec("ipc-classification") | {"slug": SLUG}
    spec["dataset"] = {"builder": "synthetic-ipc", "version": "1", "options": {"size": 600, "seed": 3}}
    spec["test_split"] = {"public_fraction": 0.3, "seed": 11}  # pinned: the ties and ranges below are worked out on it
    write_challenge(base / "challenges", spec)
    event = Event(base / "challenges", base / "home")
    if empty_store is not None:
        event.home.mkdir(parents=True)
        with_empty_store(event.home, empty_store)
    with pytest.MonkeyPatch.context() as env:  # callers may be session-scoped fixtures, which have no monkeypatch
        for name, value in event.env().items():
            env.setenv(name, value)
        build(load(SLUG), event.home)
        roster.add(event.home, list(TEAMS))
        evaluator = Evaluator(load(SLUG), event.home)
        for team, every in TEAMS.items():
            path = right_every(event.home, SLUG, base / f"{team}.jsonl", every)
            outcome = evaluator.predictions(team, path, baseline=team == "organisers")
            assert outcome.status == "scored", outcome.message
    return event
