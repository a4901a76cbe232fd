"""The terminal: what users and participants wrote is printed as it is, and a message sent to a pipe is not cut.

Rich reads `[...]` as markup, so `pip install "sacrebleu[ja]"` would lose `[ja]` and an id `x[b]` its `[b]`; the
consoles here take no markup, and the few coloured words are styled explicitly.
"""

from __future__ import annotations

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text


def make(stderr: bool = False) -> Console:
    return Console(stderr=stderr, markup=False, highlight=False, emoji=False, soft_wrap=True)


def tagged(tag: str, style: str, text: str = "") -> Text:
    """`tag` in `style`, then `text` exactly as given."""
    return Text.assemble((tag, style), f" {text}" if text else "")


def records(title: str, headers: list[str], rows: list[list[str]], whole: set[str], width: int) -> RenderableType:
    """A table whose identifier columns (`whole`: slugs, names, hashes, paths) are never cut, since users type them.

    Where the identifiers alone would not fit in `width` (a narrow terminal, a pipe), one block per record instead.
    """
    widths = {h: max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(headers)} if rows else {}
    needed = sum(widths[h] + 3 for h in headers if h in whole) + 8 * (len(headers) - len(whole)) + 1
    if rows and needed > width:
        return _blocks(title, headers, rows)
    table = Table(title=title)
    for header in headers:
        kept = header in whole
        table.add_column(header, no_wrap=kept, min_width=widths.get(header) if kept else None, overflow="fold")
    for row in rows:
        table.add_row(*row)
    return table


def _blocks(title: str, headers: list[str], rows: list[list[str]]) -> Group:
    lines = [Text(title, style="bold")]
    for row in rows:
        lines.append(Text(row[0], style="bold"))
        lines += [Text(f"  {header}: {value}") for header, value in zip(headers[1:], row[1:], strict=True)]
    return Group(*lines)
