"""Layers point one way: core <- data definitions <- evaluation <- leaderboard <- front ends.

The rule is read off the source, every import included (those inside functions and under TYPE_CHECKING too), so a
shortcut that runs back up fails here before it tangles the packages. Plugins are the one sanctioned way up: a task's
"module:object" entries are strings, resolved when asked for, never imports.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Lowest first. A module belongs to the layer of its longest matching prefix; see layer_of for the task folders.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("core", ("codefest", "codefest.core")),
    ("data definitions", ("codefest.challenges", "codefest.shared_datasets", "codefest.tasks")),
    ("evaluation", ("codefest.evaluation",)),
    ("leaderboard", ("codefest.leaderboard",)),
    (
        "front ends",
        (
            "codefest.__main__",
            "codefest.cli",
            "codefest.console",
            "codefest.demo",
            "codefest.demo_variant",
            "codefest.scaffold",
            "codefest.service",
        ),
    ),
)
FRONT = len(LAYERS) - 1
TASK_DEFINITION = "task"  # tasks/<name>/task.py: what a challenge spec may read; the task's other modules score


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    line: int


def package_dirs() -> dict[str, Path]:
    """The import name of each top folder, as pyproject.toml maps it."""
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    return {name: ROOT / folder for name, folder in setuptools["package-dir"].items()}


def modules() -> dict[str, Path]:
    """Every module of the installed package, by import name."""
    found: dict[str, Path] = {}
    roots = package_dirs()
    for package, folder in roots.items():
        for path in folder.rglob("*.py"):
            parts = path.relative_to(folder).with_suffix("").parts
            if any(f"{package}.{'.'.join(parts[:i])}" in roots for i in range(1, len(parts))):
                continue  # a sub-folder mapped on its own (codefest.evaluation inside codefest): counted there
            name = ".".join((package, *parts)).removesuffix(".__init__")
            found[name] = path
    return found


def imports(name: str, path: Path, known: set[str]) -> Iterator[Edge]:
    """The codefest modules `name` imports, wherever the import statement is."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        else:
            continue
        for target in targets:
            if target.split(".")[0] == "codefest":
                yield Edge(name, _nearest_module(target, known), node.lineno)


def _nearest_module(target: str, known: set[str]) -> str:
    while target not in known and "." in target:
        target = target.rpartition(".")[0]
    return target


def layer_of(module: str) -> int:
    parts = module.split(".")
    if parts[:2] == ["codefest", "tasks"] and len(parts) > 3 and parts[3] != TASK_DEFINITION:
        return 2  # a task's formats, metrics and scorer stand on the evaluation kit
    best, layer = -1, FRONT
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            inside = module == prefix or (module.startswith(prefix + ".") and prefix != "codefest")
            if inside and len(prefix) > best:
                best, layer = len(prefix), index
    assert best >= 0, f"{module} is in no layer: add it to LAYERS"
    return layer


def upward(edges: list[Edge]) -> list[str]:
    return [
        f"{e.source} (line {e.line}, {LAYERS[layer_of(e.source)][0]}) imports {e.target} "
        f"({LAYERS[layer_of(e.target)][0]})"
        for e in edges
        if layer_of(e.target) > layer_of(e.source)
    ]


def cycles(edges: list[Edge]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan's algorithm, iterative)."""
    graph: dict[str, set[str]] = {}
    for e in edges:
        if e.source != e.target:
            graph.setdefault(e.source, set()).add(e.target)
            graph.setdefault(e.target, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    group = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.append(member)
                        if member == node:
                            break
                    if len(group) > 1:
                        groups.append(sorted(group))
            elif child not in index:
                index[child] = low[child] = len(index)
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(graph[child]))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return groups


def all_edges() -> list[Edge]:
    found = modules()
    known = set(found)
    return [edge for name, path in sorted(found.items()) for edge in imports(name, path, known)]


def test_no_import_runs_back_up_a_layer() -> None:
    problems = upward(all_edges())
    assert not problems, "imports that run back up:\n" + "\n".join(problems)


def test_no_two_modules_import_each_other_even_indirectly() -> None:
    found = cycles(all_edges())
    assert not found, "import cycles:\n" + "\n".join(" -> ".join(group) for group in found)


def test_every_module_is_in_a_layer() -> None:
    for name in modules():
        layer_of(name)


def test_the_checks_catch_what_they_are_for() -> None:
    """The rule itself, on imports made up for the purpose: one that runs up, and a ring of three."""
    edges = [
        Edge("codefest.evaluation.scoring", "codefest.leaderboard.board", 3),
        Edge("codefest.leaderboard.board", "codefest.evaluation.scoring", 4),
        Edge("codefest.challenges.spec", "codefest.tasks", 5),
        Edge("codefest.tasks.search.task", "codefest.tasks.search.scorer", 6),
        Edge("codefest.core.errors", "codefest.cli", 7),
        Edge("codefest.challenges.a", "codefest.shared_datasets.b", 1),
        Edge("codefest.shared_datasets.b", "codefest.challenges.c", 1),
        Edge("codefest.challenges.c", "codefest.challenges.a", 1),
    ]
    assert upward(edges) == [
        "codefest.evaluation.scoring (line 3, evaluation) imports codefest.leaderboard.board (leaderboard)",
        "codefest.tasks.search.task (line 6, data definitions) imports codefest.tasks.search.scorer (evaluation)",
        "codefest.core.errors (line 7, core) imports codefest.cli (front ends)",
    ]
    assert cycles(edges) == [
        ["codefest.challenges.a", "codefest.challenges.c", "codefest.shared_datasets.b"],
        ["codefest.evaluation.scoring", "codefest.leaderboard.board"],
    ]


@pytest.mark.slow
def test_a_built_wheel_holds_every_module_and_its_data(tmp_path: Path) -> None:
    """What pip installs from a wheel, not only what the checkout's editable install finds: every module of every
    mapped folder (a new task's folder too, with no list to edit), and the data files the code reads."""
    source = tmp_path / "source"  # a copy: a build/ folder left in the checkout would hide a missing package
    source.mkdir()
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    for folder in package_dirs().values():
        shutil.copytree(folder, source / folder.name, ignore=shutil.ignore_patterns("__pycache__"))
    build = [sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-build-isolation", "-q"]
    subprocess.run([*build, "-w", str(tmp_path)], check=True, capture_output=True, text=True)
    (wheel,) = tmp_path.glob("codefest-*.whl")
    shipped = set(zipfile.ZipFile(wheel).namelist())
    expected = {
        name.replace(".", "/") + ("/__init__.py" if path.name == "__init__.py" else ".py")
        for name, path in modules().items()
    }
    assert sorted(expected - shipped) == []
    data = {"codefest/leaderboard/templates/leaderboard.html.j2", "codefest/shared_datasets/data/ipc_vocabulary.yaml"}
    data |= {f"codefest/challenges/{slug}/challenge.yaml" for slug in ("ipc-classification", "prior-art-search")}
    assert sorted(data - shipped) == []
    assert any(name.startswith("codefest/evaluation/ledger/migrations/versions/") for name in shipped)


def test_codefest_claims_no_generic_top_level_name(tmp_path: Path) -> None:
    """`evaluation`, `leaderboard` and `challenges` are other projects' names on PyPI: ours live under codefest."""
    script = (
        "import importlib.util, codefest.evaluation, codefest.leaderboard, codefest.challenges\n"
        "print([n for n in ('evaluation', 'leaderboard', 'challenges', 'shared_datasets', 'tasks') "
        "if importlib.util.find_spec(n)])"
    )
    shown = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert shown.stdout.strip() == "[]"
