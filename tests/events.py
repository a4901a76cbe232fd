"""A small event, really evaluated: a built IPC challenge, a baseline and three teams, two of them tied."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from challenges.discovery import load
from evaluation.evaluate import Evaluator
from shared_datasets.heldout import build
from tests.helpers import bundled_spec, write_challenge

SLUG = "board-ipc"
# team -> every how many items it gets right (the rest get a wrong symbol); office-c copies office-a's file
TEAMS = {"organisers": 5, "office-a": 2, "office-b": 3, "office-c": 2}


@dataclass(frozen=True)
class Event:
    challenges: Path
    home: Path

    def env(self) -> dict[str, str]:
        return {"CODEFEST_CHALLENGES_PATH": str(self.challenges), "CODEFEST_HOME": str(self.home)}


def _predictions(home: Path, path: Path, right_every: int) -> Path:
    ids = [json.loads(line)["id"] for line in (home / f"bundles/{SLUG}/test.jsonl").read_text().splitlines()]
    rows = map(json.loads, (home / f"vault/{SLUG}/test-labels.jsonl").read_text().splitlines())
    gold = {r["id"]: r["labels"] for r in rows}
    wrong = ["Y02E 10/50"]
    lines = [json.dumps({"id": i, "labels": gold[i] if n % right_every == 0 else wrong}) for n, i in enumerate(ids)]
    path.write_text("\n".join(lines) + "\n")
    return path


def evaluated_event(base: Path) -> Event:
    """Builds and evaluates under `base`; the environment is left as it was."""
    spec = bundled_spec("ipc-classification") | {"slug": SLUG}
    spec["dataset"] = {"builder": "synthetic-ipc", "version": "1", "options": {"size": 600, "seed": 3}}
    write_challenge(base / "challenges", spec)
    event = Event(base / "challenges", base / "home")
    saved = {name: os.environ.get(name) for name in event.env()}
    os.environ.update(event.env())
    try:
        build(load(SLUG), event.home)
        evaluator = Evaluator(load(SLUG), event.home)
        for team, every in TEAMS.items():
            path = _predictions(event.home, base / f"{team}.jsonl", every)
            outcome = evaluator.predictions(team, path, baseline=team == "organisers")
            assert outcome.status == "scored", outcome.message
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    return event
