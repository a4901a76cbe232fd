"""Run mypy on the installed package `codefest`, whose parts live in top-level folders of the checkout.

pyproject.toml's `[tool.setuptools] package-dir` installs `evaluation/` as `codefest.evaluation` and so on; an
editable install serves that mapping through an import hook, which neither mypy nor pyright can follow (`mypy -p
codefest.evaluation` finds no such package). So this script builds a throw-away view of the package under a temporary
folder, made of symlinks to the real files (`codefest/evaluation -> <repo>/evaluation`), runs mypy on `-p codefest`
(and the benchmark scripts) there with the repository's configuration, and writes mypy's report with the real
paths, so that every line points at a file of the checkout. Standard library only; arguments go to mypy; the exit
status is mypy's.

    python scripts/typecheck.py [MYPY ARGUMENTS]
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGE = "codefest"
SCRIPTS = REPO / "benchmarks"  # checked too, as top-level modules: they call the package as its users do
# a report line that starts with a file: "path/to/module.py:12: error: ..." (also notes and column numbers)
LOCATION = re.compile(r"^(?P<path>[^\s:]+\.pyi?)(?P<rest>:.*)$")


def package_dirs(pyproject: Path = REPO / "pyproject.toml") -> dict[str, Path]:
    """Each package's folder in the checkout, by dotted name, as setuptools' package-dir declares them."""
    setuptools = tomllib.loads(pyproject.read_text(encoding="utf-8"))["tool"]["setuptools"]
    mapping = {name: REPO / folder for name, folder in setuptools.get("package-dir", {}).items() if name}
    mapping.setdefault(PACKAGE, REPO / PACKAGE)
    return mapping


def build_view(root: Path, mapping: dict[str, Path]) -> None:
    """Under `root`, each package at its dotted path: a symlink to its folder, or a folder of symlinks to its
    entries when another mapped package sits inside it (as `codefest.evaluation` does inside `codefest`)."""
    for name in sorted(mapping, key=lambda n: n.count(".")):
        target = root.joinpath(*name.split("."))
        inner = {n.removeprefix(name + ".").split(".")[0] for n in mapping if n.startswith(name + ".")}
        if not inner:
            if not target.exists():  # already inside a symlinked parent when the mapping merely restates the layout
                target.parent.mkdir(parents=True, exist_ok=True)
                target.symlink_to(mapping[name], target_is_directory=True)
            continue
        target.mkdir(parents=True, exist_ok=True)
        for entry in mapping[name].iterdir():
            if entry.name not in inner and entry.name != "__pycache__":
                (target / entry.name).symlink_to(entry, target_is_directory=entry.is_dir())


def real_path(view: Path, reported: str) -> str:
    """The checkout's file behind a path mypy reported in the view, relative to the checkout when inside it."""
    found = Path(os.path.realpath(view / reported))
    return str(found.relative_to(REPO)) if found.is_relative_to(REPO) else str(found)


def main(args: list[str]) -> int:
    with tempfile.TemporaryDirectory(prefix="codefest-typecheck-") as tmp:
        view = Path(tmp) / "view"
        build_view(view, package_dirs())
        (view / "tests").symlink_to(REPO / "tests")  # a benchmark imports the tests' launcher, which is checked then
        command = [sys.executable, "-m", "mypy", "--config-file", str(REPO / "pyproject.toml")]
        command += ["--cache-dir", str(Path(tmp) / "cache"), "-p", PACKAGE, *args]
        for script in sorted(SCRIPTS.glob("*.py")):
            command += ["-m", script.stem]
        # run inside the view, so that `codefest` resolves to it and not to the checkout's `codefest/` folder
        env = {**os.environ, "MYPYPATH": str(SCRIPTS)}
        done = subprocess.run(command, cwd=view, env=env, capture_output=True, text=True, check=False)
        for line in done.stdout.splitlines():
            match = LOCATION.match(line)
            print(real_path(view, match["path"]) + match["rest"] if match else line)
        sys.stderr.write(done.stderr)
        return done.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
