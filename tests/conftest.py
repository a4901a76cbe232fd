"""Every test runs offline, in a workspace of its own."""

from __future__ import annotations

import pytest

from codefest.offline import stay_offline

stay_offline()


@pytest.fixture(autouse=True)
def _workspace(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CODEFEST_HOME", str(tmp_path_factory.mktemp("codefest-home")))
    monkeypatch.delenv("CODEFEST_CHALLENGES_PATH", raising=False)
