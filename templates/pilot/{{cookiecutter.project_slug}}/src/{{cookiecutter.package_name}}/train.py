"""Train the baseline on the public bundle, score it on dev with the codefest harness, and log it all to MLflow.

Run as: python -m {{ cookiecutter.package_name }}.train --bundle BUNDLE [--model-dir models]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from . import CHALLENGE, MODELS, TASK
from .data import Bundle, write_predictions
from .model import NAME, Model


def fit(bundle: Bundle, model_dir: Path) -> tuple[Model, float]:
    """The fitted model, saved to model_dir, and the seconds it took to fit."""
    start = time.perf_counter()
    model = Model().fit(bundle)
    seconds = time.perf_counter() - start
    model_dir.mkdir(parents=True, exist_ok=True)
    model.save(model_dir)
    return model, seconds


def dev_scores(model: Model, bundle: Bundle, folder: Path) -> dict[str, float]:
    """The challenge's metrics on dev, from the framework's harness (the same code the organisers run)."""
    from codefest.challenges.discovery import load
    from codefest.evaluation.challenge import options_for
    from codefest.evaluation.scoring import score_files

    spec = load(CHALLENGE).spec
    gold = bundle.folder / ("dev.qrels" if TASK == "search" else "dev.jsonl")
    predictions = write_predictions(model.predict(bundle, "dev"), folder / "dev.jsonl")
    result = score_files(TASK, gold, predictions, options_for(spec), resamples=200, only=[m.name for m in spec.metrics])
    return {name: value.value for name, value in result.metrics.items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, required=True, help="the challenge's public bundle folder")
    parser.add_argument("--model-dir", type=Path, default=MODELS)
    args = parser.parse_args(argv)
    from codefest.evaluation.names import mlflow_key

    from . import tracking

    bundle = Bundle(args.bundle)
    with tracking.start(NAME), tempfile.TemporaryDirectory() as tmp:
        model, seconds = fit(bundle, args.model_dir)
        scores = dev_scores(model, bundle, Path(tmp))
        tracking.mlflow.log_params({"model": NAME, **model.params})
        tracking.mlflow.log_metrics({"train_seconds": seconds, **{mlflow_key(k): v for k, v in scores.items()}})
        tracking.mlflow.log_artifacts(str(args.model_dir), artifact_path="model")
    print(f"trained {NAME} in {seconds:.1f} s; dev: " + ", ".join(f"{k} {v:.4f}" for k, v in scores.items()))


if __name__ == "__main__":
    main()
