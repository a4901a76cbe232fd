"""The terminal: what users and participants wrote is printed as it is, and a message sent to a pipe is not cut.

Rich reads `[...]` as markup, so `pip install "sacrebleu[ja]"` would lose `[ja]` and an id `x[b]` its `[b]`; the
consoles here take no markup, and the few coloured words are styled explicitly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console, Group, RenderableType
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text


def make(stderr: bool = False) -> Console:
    return Console(stderr=stderr, markup=False, highlight=False, emoji=False, soft_wrap=True)


def tagged(tag: str, style: str, text: str = "") -> Text:
    """`tag` in `style`, then `text` exactly as given."""
    return Text.assemble((tag, style), f" {text}" if text else "")


def records(title: str, headers: list[str], rows: list[list[str]], whole: set[str], width: int) -> RenderableType:
    """A table whose identifier columns (`whole`: slugs, names, hashes, paths) are never cut, since users type them,
    and whose other columns wrap between words, never inside one (an option name is typed too).

    Where that cannot fit in `width` (a narrow terminal, a pipe), one block per record instead.
    """
    columns = {h: [h, *(row[i] for row in rows)] for i, h in enumerate(headers)}
    widths = {
        h: max(map(len, cells)) if h in whole else min(_longest_word(cells), MAX_WORD) for h, cells in columns.items()
    }
    if rows and sum(widths.values()) + 3 * len(headers) + 1 > width:
        return _blocks(title, headers, rows)
    table = Table(title=title)
    for header in headers:
        table.add_column(header, no_wrap=header in whole, min_width=widths[header], overflow="fold")
    for row in rows:
        table.add_row(*row)
    return table


MAX_WORD = 24  # a longer word in a wrapped column (a URL in a summary) may be folded rather than force a list


def _longest_word(cells: list[str]) -> int:
    return max((len(word) for cell in cells for word in cell.split()), default=1)


def _blocks(title: str, headers: list[str], rows: list[list[str]]) -> Group:
    lines = [Text(title, style="bold")]
    for row in rows:
        lines.append(Text(row[0], style="bold"))
        lines += [Text(f"  {header}: {value}") for header, value in zip(headers[1:], row[1:], strict=True)]
    return Group(*lines)


# -- progress of long steps -----------------------------------------------------------------------------------

Say = Callable[[str], None]  # a step's detail: what it is doing now


class Steps:
    """Long steps shown while they run, so a user is never left before a silent screen: on a terminal one spinner
    per running step (several at once, from threads) with what it is doing and for how long; elsewhere (a pipe, a
    log) one line per step as it starts, since a spinner there would be noise. Use it as a context manager."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.live = console.is_terminal
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}", markup=False),
            TimeElapsedColumn(),
            console=console,
            transient=True,
            redirect_stdout=False,
            redirect_stderr=False,
        )

    def __enter__(self) -> Steps:
        if self.live:
            self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live:
            self.progress.stop()

    def say(self, text: str) -> None:
        """A line as it is (no markup, no highlighting), above the spinners."""
        self.console.print(text, markup=False, highlight=False, soft_wrap=True)

    @contextmanager
    def step(self, text: str) -> Iterator[Say]:
        """One step: `text` says what is being done; the function yielded adds what it is doing now."""
        if not self.live:
            self.console.print(f"{text} ...", markup=False, highlight=False)
            yield lambda detail: None
            return
        task = self.progress.add_task(text)
        try:
            yield lambda detail: self.progress.update(task, description=f"{text}: {detail}")
        finally:
            self.progress.remove_task(task)
            self.progress.refresh()  # gone at once: what is printed next to stdout is not drawn over


@contextmanager
def step(console: Console, text: str) -> Iterator[Say]:
    """A single long step shown as `Steps` shows it, for commands that run one at a time."""
    with Steps(console) as steps, steps.step(text) as say:
        yield say
