"""Where codefest writes: one workspace folder, so an organiser can move or wipe an event in one place.

Every path inside it is named here and nowhere else, so what is public (bundles) and what is private (vaults, the
store, the auth server's files) can be read off one class.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_HOME = ".codefest"
VAULT_ENV = "CODEFEST_VAULT"  # where a host keeps the vaults, when not in its workspace (an evaluation worker)


def home() -> Path:
    """The workspace: CODEFEST_HOME, else ./.codefest in the current folder."""
    return Path(os.environ.get("CODEFEST_HOME") or DEFAULT_HOME).resolve()


@dataclass(frozen=True)
class Workspace:
    root: Path

    @classmethod
    def current(cls) -> Workspace:
        return cls(home())

    def bundle(self, slug: str) -> Path:
        """Public: what participants download."""
        return self.root / "bundles" / slug

    @property
    def vaults(self) -> Path:
        """Private: every challenge's vault, one folder each. CODEFEST_VAULT names it on a host that keeps the vaults
        apart from the workspace (an evaluation worker of a multi-host event, where the vaults never leave the
        workers); else the workspace's `vault` folder."""
        found = os.environ.get(VAULT_ENV)
        return Path(found).resolve() if found else self.root / "vault"

    def vault(self, slug: str) -> Path:
        """Private: held-out labels, read only by the organiser's scoring process."""
        return self.vaults / slug

    def built(self, slug: str) -> Path:
        """The organisers': the record that a challenge is built, with what `codefest serve` and the leaderboard need
        of its vault (the dataset's id in score signatures, whether its test labels are public) and nothing that
        verifies a label, so that the API host needs no vault. Not in the bundle: teams are not sent it."""
        return self.root / "built" / f"{slug}.json"

    def opened(self, slug: str) -> Path:
        """The day a challenge with relative phases opened, recorded once."""
        return self.root / "opened" / slug

    @property
    def teams(self) -> Path:
        """The roster of an earlier version, imported once into an empty ledger (which now holds the teams)."""
        return self.root / "teams.json"

    def uploads(self, slug: str) -> Path:
        """Private: what teams sent to the service, one folder per submission, read by the evaluation workers."""
        return self.root / "uploads" / slug

    @property
    def environments(self) -> Path:
        """The organisers': code submissions' virtual environments, one per set of dependencies, shared by the
        submissions that declare the same (`codefest.evaluation.environments`)."""
        return self.root / "environments"

    @property
    def store(self) -> Path:
        """The embedded MLflow store (SQLite), when no tracking server is set."""
        return self.root / "mlflow.db"

    @property
    def ledger(self) -> Path:
        """The submissions ledger (SQLite), when no CODEFEST_DATABASE_URL names a database server."""
        return self.root / "ledger.db"

    @property
    def artifacts(self) -> Path:
        """Artifacts of the embedded store, one folder per experiment."""
        return self.root / "mlartifacts"

    @property
    def ui_log(self) -> Path:
        """What `codefest ui`'s MLflow server printed."""
        return self.root / "ui.log"

    @property
    def server(self) -> Path:
        """The authenticated tracking server's own store, users and secret key."""
        return self.root / "server"

    @property
    def demo(self) -> Path:
        """What `codefest demo` makes besides bundles, vaults and runs: pilots, submissions, pages."""
        return self.root / "demo"
