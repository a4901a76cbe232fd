"""The code-submission entry point: `python -m <package>.predict --input test.jsonl --output predictions.jsonl`.

The other public files of the bundle sit beside the input. If models/ holds no trained model, the baseline is
trained on them first, so a freshly generated pilot can be submitted as it is. A code submission runs this module
in an environment holding only the `[project] dependencies` of pyproject.toml: it imports the model and the bundle's
reader, never training's libraries (codefest, MLflow).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from . import MODELS
from .data import Bundle, write_predictions
from .model import Model


def load_or_fit(bundle: Bundle, model_dir: Path) -> Model:
    if model_dir.is_dir() and any(model_dir.iterdir()):
        return Model.load(model_dir)
    return Model().fit(bundle)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", type=Path, required=True, help="a split of the bundle, e.g. BUNDLE/test.jsonl")
    parser.add_argument("--output", type=Path, required=True, help="where to write the predictions (JSONL)")
    parser.add_argument("--model-dir", type=Path, default=MODELS)
    args = parser.parse_args(argv)
    bundle = Bundle(args.input.parent)
    model = load_or_fit(bundle, args.model_dir)
    write_predictions(model.predict(bundle, args.input.stem), args.output)


if __name__ == "__main__":
    main()
