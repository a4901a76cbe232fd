"""The one exception type that the command line turns into a message instead of a traceback."""

from __future__ import annotations


class CodefestError(Exception):
    """A problem the user can fix: says what is wrong and how to fix it."""

    def __init__(self, problem: str, fix: str | None = None) -> None:
        self.problem = problem
        self.fix = fix
        super().__init__(self.render())

    def render(self) -> str:
        return self.problem if not self.fix else f"{self.problem}\n  fix: {self.fix}"


class VaultUnavailable(CodefestError):
    """A challenge's held-out data (its vault) is missing on this host or differs from its manifest, so nothing of
    that challenge can be scored here. `shared_datasets.heldout.check_vault` raises it before any scoring; an
    evaluation worker turns it into the submission's status. Its message may reach teams: it names the challenge
    and what the organisers must do, never a path; `detail` (the folder, the file that differs) is for the
    organisers' log only."""

    def __init__(self, slug: str, problem: str, fix: str, detail: str = "") -> None:
        self.slug, self.detail = slug, detail
        super().__init__(problem, fix)


def printable(text: str) -> str:
    """`text` as it can be printed and read back: unchanged when plain, else quoted with every odd character escaped
    (a line feed, a control character, a byte that was not UTF-8 in a file name)."""
    if text.isprintable() and text.isascii():
        return text
    return ascii(text)
