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


def printable(text: str) -> str:
    """`text` as it can be printed and read back: unchanged when plain, else quoted with every odd character escaped
    (a line feed, a control character, a byte that was not UTF-8 in a file name)."""
    if text.isprintable() and text.isascii():
        return text
    return ascii(text)
