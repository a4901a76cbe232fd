"""The terminal: what users and participants wrote is printed as it is, and a message sent to a pipe is not cut.

Rich reads `[...]` as markup, so `pip install "sacrebleu[ja]"` would lose `[ja]` and an id `x[b]` its `[b]`; the
consoles here take no markup, and the few coloured words are styled explicitly.
"""

from __future__ import annotations

from rich.console import Console
from rich.text import Text


def make(stderr: bool = False) -> Console:
    return Console(stderr=stderr, markup=False, highlight=False, emoji=False, soft_wrap=True)


def tagged(tag: str, style: str, text: str = "") -> Text:
    """`tag` in `style`, then `text` exactly as given."""
    return Text.assemble((tag, style), f" {text}" if text else "")
