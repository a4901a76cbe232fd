import pytest

from codefest.core.registry import Registry, UnknownKeyError
from codefest.tasks import METRICS, TASKS, metrics_for


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
    assert len(metrics_for("classification")) == 16
    assert metrics_for("translation") == ["bleu", "chrf", "ter"]
    assert set(metrics_for("search")) == {"map", "ndcg@10", "recall@100", "p@10", "rr", "pres@100"}
    assert METRICS.get("ter").higher_is_better is False
