"""Challenges are data: the bundled ones load, and every malformed file gets a message naming file and key."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from codefest.challenges.discovery import BUNDLED, discover, load, load_all
from codefest.core.errors import CodefestError
from codefest.core.registry import UnknownKeyError
from tests.helpers import bundled_spec, write_challenge

BUNDLED_SLUGS = ["ipc-classification", "patent-translation-en-fr", "prior-art-search"]


def test_the_three_bundled_challenges_are_discovered() -> None:
    assert sorted(discover()) == BUNDLED_SLUGS


@pytest.mark.parametrize("slug", BUNDLED_SLUGS)
def test_every_bundled_challenge_is_valid_and_documented(slug: str) -> None:
    item = load(slug)
    assert item.spec.slug == slug
    assert item.spec.primary_metric in item.spec.higher_is_better
    assert item.readme is not None and slug in item.readme.read_text(encoding="utf-8")


@pytest.mark.parametrize("slug", BUNDLED_SLUGS)
def test_bundled_challenges_pin_no_seed_and_no_dataset_hash(slug: str) -> None:
    """They are events: seeds drawn secretly at build time; a pinned seed or full hash would give the labels away."""
    spec = load(slug).spec
    assert "seed" not in spec.dataset.options and spec.test_split.seed is None and spec.dataset.sha256 is None


def test_tasks_of_the_bundled_challenges() -> None:
    assert {slug: load(slug).spec.task for slug in BUNDLED_SLUGS} == {
        "ipc-classification": "classification",
        "patent-translation-en-fr": "translation",
        "prior-art-search": "search",
    }


def test_challenges_path_adds_organisers_folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    for root, slug in ((first, "office-a-ipc"), (second, "office-b-ipc")):
        write_challenge(root, {**bundled_spec("ipc-classification"), "slug": slug})
    monkeypatch.setenv("CODEFEST_CHALLENGES_PATH", os.pathsep.join([str(first), str(second)]))
    found = discover()
    assert found["office-a-ipc"] == first / "office-a-ipc"
    assert found["office-b-ipc"] == second / "office-b-ipc"
    assert load("office-b-ipc").spec.task == "classification"


def test_a_slug_defined_twice_is_an_error(challenges: Path) -> None:
    write_challenge(challenges, bundled_spec("ipc-classification"))
    with pytest.raises(CodefestError, match="challenge 'ipc-classification' is defined twice"):
        discover()


def test_a_missing_folder_in_the_path_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CODEFEST_CHALLENGES_PATH", str(tmp_path / "nowhere"))
    with pytest.raises(CodefestError, match=r"CODEFEST_CHALLENGES_PATH names .*nowhere.*, which is not a folder"):
        discover()


def test_unknown_slug_suggests_the_nearest() -> None:
    with pytest.raises(
        UnknownKeyError, match=r"Unknown challenge 'ipc-clasification'. Did you mean 'ipc-classification'"
    ):
        load("ipc-clasification")


def _bad(challenges: Path, change: dict, remove: tuple[str, ...] = ()) -> str:
    spec = {**bundled_spec("ipc-classification"), "slug": "bad-one", **change}
    for key in remove:
        spec.pop(key)
    path = write_challenge(challenges, spec)
    with pytest.raises(CodefestError) as caught:
        load("bad-one")
    message = caught.value.render()
    assert str(path) in message
    return message


MALFORMED = [
    ({"tasks": "classification"}, (), "key 'tasks': Unknown key 'tasks'. Did you mean 'task'?"),
    (
        {"task": "clasification"},
        (),
        "key 'task': Unknown task 'clasification'. Did you mean 'classification'? "
        "Valid: classification, search, translation.",
    ),
    ({}, ("primary_metric",), "key 'primary_metric' is missing"),
    ({"primary_metric": "top_prediction@subclas"}, (), "Did you mean 'top_prediction@subclass'?"),
    ({"tie_breakers": ["bleu"]}, (), "Unknown tie_breaker 'bleu'"),
    (
        {"metrics": [{"name": "map", "higher_is_better": True}]},
        (),
        "metric 'map' is not a classification metric",
    ),
    (
        {"metrics": [{"name": "top_prediction@subclass", "higher_is_better": False}]},
        (),
        "metric 'top_prediction@subclass' is better when higher; set higher_is_better: true",
    ),
    ({"test_split": {"public_fraction": 1.5, "seed": 1}}, (), "key 'test_split.public_fraction'"),
    ({"test_split": {"public_fraction": 0.5, "sed": 1}}, (), "Did you mean 'seed'?"),
    (
        {"dataset": {"builder": "synthetic-ipc", "version": "1", "sha256": "0" * 64}},
        (),
        "'dataset.sha256' hashes the test labels too, and only a pinned seed reproduces it; remove dataset.sha256",
    ),
    ({"dataset": {"builder": "synthetic-ipk", "version": "1"}}, (), "Did you mean 'synthetic-ipc'?"),
    (
        {"dataset": {"builder": "synthetic-prior-art", "version": "1"}},
        (),
        "dataset builder 'synthetic-prior-art' makes search data, not classification",
    ),
    (
        {"dataset": {"builder": "synthetic-ipc", "version": "1", "options": {"sizee": 10}}},
        (),
        "Unknown option of builder 'synthetic-ipc' 'sizee'. Did you mean 'size'?",
    ),
    ({"dataset": {"builder": "synthetic-ipc", "version": "1", "options": {"size": 5}}}, (), "option 'size'"),
    (
        {"phases": [{"name": "dev", "start": "2026-12-10", "end": "2026-12-01"}]},
        (),
        "phase 'dev' ends (2026-12-01) before it starts (2026-12-10)",
    ),
    (
        {
            "phases": [
                {"name": "a", "start": "2026-12-01", "end": "2026-12-10"},
                {"name": "b", "start": "2026-12-05", "end": "2026-12-20"},
            ]
        },
        (),
        "phases 'a' and 'b' overlap",
    ),
    (
        {"submission_limits": {"per_team_per_day": 0, "total": 3}},
        (),
        "key 'submission_limits.per_team_per_day'",
    ),
    (
        {"languages": {"source": "en", "target": "fr"}},
        (),
        "key 'languages': 'languages' is for translation challenges; a classification challenge uses 'predicted_set'",
    ),
    (
        {"predicted_set": {"top_k": 3, "top": 1}},
        (),
        "key 'predicted_set.top': Unknown key 'top'. Did you mean 'top_k'?",
    ),
    ({"ranking_depht": 10}, (), "key 'ranking_depht': Unknown key 'ranking_depht'. Valid: "),
    ({}, ("predicted_set",), "a classification challenge needs 'predicted_set'"),
    ({"predicted_set": {"top_k": 3, "threshold": 0.5}}, (), "give exactly one of top_k or threshold"),
]


@pytest.mark.parametrize(("change", "remove", "expected"), MALFORMED)
def test_malformed_challenges_get_a_message_naming_the_key(
    challenges: Path, change: dict, remove: tuple[str, ...], expected: str
) -> None:
    assert expected in _bad(challenges, change, remove)


def test_unknown_key_lists_the_allowed_keys(challenges: Path) -> None:
    message = _bad(challenges, {"resources": {"wall_time_seconds": 10, "memory_mb": 10, "gpu": 1}})
    valid = "environment_mb, environment_seconds, gpus, memory_mb, prices, wall_time_seconds"
    assert f"key 'resources.gpu': Unknown key 'gpu'. Did you mean 'gpus'? Valid: {valid}." in message


def test_invalid_yaml_names_line_and_column(challenges: Path) -> None:
    path = challenges / "broken" / "challenge.yaml"
    path.parent.mkdir()
    path.write_text("slug: broken\ntitle: [unclosed\n", encoding="utf-8")
    with pytest.raises(CodefestError, match=r"broken/challenge.yaml is not valid YAML at line 3, column 1"):
        load("broken")


def test_slug_must_match_the_folder(challenges: Path) -> None:
    write_challenge(challenges, {**bundled_spec("ipc-classification"), "slug": "one-name"}, folder="other-name")
    with pytest.raises(CodefestError, match="key 'slug' is 'one-name' but the folder is 'other-name'"):
        load("other-name")


def test_one_bad_challenge_does_not_hide_the_others(challenges: Path) -> None:
    write_challenge(challenges, {**bundled_spec("ipc-classification"), "slug": "bad-one", "task": "ranking"})
    loaded, problems = load_all()
    assert sorted(c.spec.slug for c in loaded) == BUNDLED_SLUGS
    assert len(problems) == 1 and "bad-one" in problems[0].render()


def test_the_bundled_folder_is_the_package_folder() -> None:
    assert Path(__file__).resolve().parents[1] / "challenges" == BUNDLED
