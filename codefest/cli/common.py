"""What every command group shares: the two consoles and how paths are shown."""

from __future__ import annotations

from pathlib import Path

from codefest import console

out = console.make()
err = console.make(stderr=True)


def rel(path: Path) -> str:
    try:
        relative = path.relative_to(Path.cwd())
    except ValueError:
        return str(path)
    return str(relative) if relative.parts else str(path)  # "." says nothing to someone reading a log later
