"""Each pilot template's baseline against its trivial baseline, on the bundled challenges' dev sets.

    python benchmarks/baselines.py [classification translation search]

Bakes each template into a temporary folder, trains the baseline on the bundled challenge (timed), and scores the
dev predictions of the baseline and of the trivial baseline with the harness. Prints a Markdown table.
"""

from __future__ import annotations

import importlib
import sys
import tempfile
import time
from pathlib import Path

from codefest.core.offline import stay_offline

stay_offline()

from codefest.challenges.discovery import load  # noqa: E402
from codefest.evaluation.challenge import options_for  # noqa: E402
from codefest.evaluation.scoring import score_files  # noqa: E402
from codefest.scaffold import bake  # noqa: E402
from codefest.shared_datasets.heldout import build, gold_file  # noqa: E402

CHALLENGE = {
    "classification": "ipc-classification",
    "translation": "patent-translation-en-fr",
    "search": "prior-art-search",
}
TRIVIAL = {"classification": "most frequent symbols", "translation": "copy the source", "search": "random ranking"}


def measure(task: str, root: Path) -> tuple[str, float, float, float, float]:
    spec = load(CHALLENGE[task]).spec
    bundle_dir = build(load(spec.slug), root / "workspace").bundle
    pilot = bake(task, root / "pilots", no_input=True, answers={"codefest_home": str(root / "workspace")})
    package = pilot.name.replace("-", "_")
    sys.path.insert(0, str(pilot / "src"))
    model_module = importlib.import_module(f"{package}.model")
    data = importlib.import_module(f"{package}.data")
    bundle = data.Bundle(bundle_dir)
    start = time.perf_counter()
    model = model_module.Model().fit(bundle)
    seconds = time.perf_counter() - start
    gold = gold_file(bundle_dir, task, "dev")

    def dev(records: list[dict], name: str) -> float:
        path = data.write_predictions(records, root / f"{task}-{name}.jsonl")
        return score_files(task, gold, path, options_for(spec), resamples=0).metrics[spec.primary_metric].value

    ours, floor = dev(model.predict(bundle, "dev"), "baseline"), dev(model_module.trivial(bundle, "dev"), "trivial")
    return spec.primary_metric, ours, floor, seconds, ours / floor if floor else float("inf")


def main() -> None:
    print("| task | primary metric | baseline (dev) | trivial baseline (dev) | ratio | training time |")
    print("|---|---|---|---|---|---|")
    for task in sys.argv[1:] or list(CHALLENGE):
        with tempfile.TemporaryDirectory() as tmp:
            metric, ours, floor, seconds, ratio = measure(task, Path(tmp))
        print(f"| {task} | {metric} | {ours:.4f} | {floor:.4f} ({TRIVIAL[task]}) | {ratio:.1f}x | {seconds:.1f} s |")


if __name__ == "__main__":
    main()
