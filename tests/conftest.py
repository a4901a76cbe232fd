"""Every test runs offline, in a workspace of its own."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from codefest.offline import stay_offline

if TYPE_CHECKING:
    from tests.events import Event

stay_offline()


@pytest.fixture(autouse=True)
def _workspace(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CODEFEST_HOME", str(tmp_path_factory.mktemp("codefest-home")))
    monkeypatch.delenv("CODEFEST_CHALLENGES_PATH", raising=False)


@pytest.fixture(scope="session")
def evaluated(tmp_path_factory: pytest.TempPathFactory) -> Event:
    """One small evaluated event for the leaderboard's view and browser tests; they only add leaderboard runs."""
    from tests.events import evaluated_event

    return evaluated_event(tmp_path_factory.mktemp("event"))
