import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from codefest.core.errors import CodefestError
from codefest.core.registry import Registry, UnknownKeyError, resolve
from codefest.tasks import TASKS


def test_unknown_key_names_the_nearest_valid_one() -> None:
    registry: Registry[int] = Registry("dataset builder")
    registry.add("synthetic-ipc", 1)
    registry.add("hupd-json", 2)
    with pytest.raises(UnknownKeyError) as caught:
        registry.get("synthetic-ipk")
    assert str(caught.value) == (
        "Unknown dataset builder 'synthetic-ipk'. Did you mean 'synthetic-ipc'? Valid: hupd-json, synthetic-ipc."
    )


def test_no_suggestion_when_nothing_is_close() -> None:
    registry: Registry[int] = Registry("task")
    registry.add("search", 1)
    with pytest.raises(UnknownKeyError, match=r"^Unknown task 'zzz'\. Valid: search\.$"):
        registry.get("zzz")


def test_a_name_cannot_be_registered_twice() -> None:
    registry: Registry[int] = Registry("metric")
    registry.add("map", 1)
    with pytest.raises(ValueError, match="registered twice"):
        registry.add("map", 2)


def test_every_task_has_its_metrics() -> None:
    assert TASKS.names() == ["classification", "search", "translation"]
    assert len(TASKS.get("classification").metric_names) == 16
    assert TASKS.get("translation").metric_names == ["bleu", "chrf", "ter"]
    assert set(TASKS.get("search").metric_names) == {"map", "ndcg@10", "recall@100", "p@10", "rr", "pres@100"}
    assert TASKS.get("translation").metric("ter").higher_is_better is False


# lazy entries: "module:object", imported on the first get()


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder on sys.path for throwaway modules, forgotten again after the test."""
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in [n for n in sys.modules if n.startswith("lazy_plugin")]:
        del sys.modules[name]


def test_a_lazy_entry_is_imported_on_first_get_only(plugin: Path) -> None:
    (plugin / "lazy_plugin_a.py").write_text("ENTRY = {'loaded': True}\nCOUNT = [0]\n", encoding="utf-8")
    registry: Registry[dict] = Registry("scorer")
    registry.add_lazy("demo", "lazy_plugin_a:ENTRY")
    assert "demo" in registry and registry.names() == ["demo"]
    assert "lazy_plugin_a" not in sys.modules and not registry.is_loaded("demo")
    entry = registry.get("demo")
    assert entry == {"loaded": True} and registry.get("demo") is entry and registry.is_loaded("demo")


def test_threads_asking_at_once_load_an_entry_once(plugin: Path) -> None:
    """A server's request threads look a scorer up at once: one loads it, none sees it registered twice."""
    (plugin / "lazy_plugin_slow.py").write_text("import time\ntime.sleep(0.2)\nENTRY = object()\n", encoding="utf-8")
    registry: Registry[object] = Registry("scorer")
    registry.add_lazy("slow", "lazy_plugin_slow:ENTRY")
    made: list[int] = []

    def make() -> object:
        time.sleep(0.2)  # long enough for every thread to arrive while the first is still making it
        made.append(1)
        return object()

    with ThreadPoolExecutor(8) as pool:
        lazy = list(pool.map(lambda _: registry.get("slow"), range(8)))
        added = list(pool.map(lambda _: registry.get_or_add("made", make), range(8)))
    assert len({id(entry) for entry in lazy}) == 1 and len({id(entry) for entry in added}) == 1
    assert made == [1] and registry.names() == ["made", "slow"]


def test_lazy_and_plain_entries_share_names_and_suggestions() -> None:
    registry: Registry[int] = Registry("task")
    registry.add("search", 1)
    registry.add_lazy("translation", "nowhere_at_all:TASK")
    assert registry.names() == ["search", "translation"]
    with pytest.raises(ValueError, match="registered twice"):
        registry.add("translation", 2)
    with pytest.raises(UnknownKeyError, match=r"Did you mean 'translation'\? Valid: search, translation\."):
        registry.get("translatoin")


def test_a_lazy_entry_whose_module_fails_is_named() -> None:
    registry: Registry[int] = Registry("task")
    registry.add_lazy("trademark", "nowhere_at_all.task:TASK")
    with pytest.raises(CodefestError) as caught:
        registry.get("trademark")
    message = caught.value.render()
    assert message.startswith("task 'trademark' (nowhere_at_all.task:TASK) cannot be loaded: importing nowhere_at_all")
    assert "ModuleNotFoundError" in message and "python -c 'import nowhere_at_all.task'" in message


def test_a_lazy_entry_whose_module_raises_is_named(plugin: Path) -> None:
    (plugin / "lazy_plugin_b.py").write_text("raise RuntimeError('broken plugin')\n", encoding="utf-8")
    registry: Registry[int] = Registry("task")
    registry.add_lazy("broken", "lazy_plugin_b:TASK")
    with pytest.raises(CodefestError, match=r"task 'broken' \(lazy_plugin_b:TASK\) cannot be loaded: .*broken plugin"):
        registry.get("broken")


def test_a_lazy_entry_naming_a_missing_object_is_named(plugin: Path) -> None:
    (plugin / "lazy_plugin_c.py").write_text("OTHER = 1\n", encoding="utf-8")
    with pytest.raises(CodefestError, match=r"'lazy_plugin_c:TASK' cannot be loaded: lazy_plugin_c has no 'TASK'"):
        resolve("lazy_plugin_c:TASK")
    with pytest.raises(CodefestError, match=r"is not a \"module:object\" reference"):
        resolve("lazy_plugin_c.TASK")


def test_a_dotted_object_is_resolved(plugin: Path) -> None:
    (plugin / "lazy_plugin_d.py").write_text("class Holder:\n    VALUE = 42\n", encoding="utf-8")
    assert resolve("lazy_plugin_d:Holder.VALUE") == 42
