"""The tasks, one folder each: every sub-package with a `task.py` is a task, registered lazily by its folder's name.

Adding a task adds a folder here and edits no list anywhere: `TASKS` finds the folders each time it is asked, and
imports a task's definition (`codefest.tasks.<name>.task:TASK`) only when the task is first looked up.
"""

from __future__ import annotations

from pathlib import Path

from codefest.core.errors import CodefestError
from codefest.core.registry import Registry
from codefest.tasks.base import DemoVariant, Metric, Task, TaskOptions

__all__ = ["TASKS", "DemoVariant", "Metric", "Task", "TaskOptions", "metric_task", "task_folders"]
DEFINITION = "task.py"


def task_folders() -> dict[str, Path]:
    """name -> folder of every task in this package's path (a plugin may extend `codefest.tasks.__path__`)."""
    found: dict[str, Path] = {}
    for root in map(Path, __path__):
        for definition in sorted(root.glob(f"*/{DEFINITION}")):
            found.setdefault(definition.parent.name, definition.parent)
    return found


class TaskRegistry(Registry[Task]):
    """The registry of tasks, kept in step with the folders: a folder added is registered, one removed is dropped."""

    def _sync(self) -> None:
        folders = task_folders()  # a few directory listings: cheap enough to do on every lookup
        with self._loading:  # a server's threads look tasks up at once
            for gone in [name for name in (*self._entries, *self._lazy) if name not in folders]:
                self._entries.pop(gone, None)
                self._lazy.pop(gone, None)
            for name in folders:
                if not super().__contains__(name):
                    self.add_lazy(name, f"{__name__}.{name}.task:TASK")

    def get(self, name: str) -> Task:
        self._sync()
        task = super().get(name)
        if task.name != name:
            raise CodefestError(
                f"the task in the folder '{name}' is named '{task.name}'", f"name it '{name}': a task is its folder"
            )
        return task

    def names(self) -> list[str]:
        self._sync()
        return super().names()

    def __contains__(self, name: object) -> bool:
        self._sync()
        return super().__contains__(name)


TASKS = TaskRegistry("task")


def metric_task(metric: str) -> str | None:
    """The first task (by name) that defines `metric`, for messages about a metric given to the wrong task."""
    return next((name for name in TASKS.names() if TASKS.get(name).metric(metric) is not None), None)
