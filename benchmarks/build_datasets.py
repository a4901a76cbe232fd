"""Time to build datasets at scale: the generator alone, and the whole held-out build (bundle + vault).

python benchmarks/build_datasets.py                 # 100,000 classification items
python benchmarks/build_datasets.py --size 1000000 --builder synthetic-patent-en-fr
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import yaml

from codefest.core.offline import stay_offline

stay_offline()

from codefest.challenges.discovery import BUNDLED, load  # noqa: E402
from codefest.shared_datasets.builders import BuildContext, all_builders  # noqa: E402
from codefest.shared_datasets.heldout import build  # noqa: E402

CHALLENGE_OF = {
    "synthetic-ipc": "ipc-classification",
    "synthetic-patent-en-fr": "patent-translation-en-fr",
    "synthetic-prior-art": "prior-art-search",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--builder", default="synthetic-ipc", choices=sorted(CHALLENGE_OF))
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--topics", type=int, default=None, help="search only: topics (default size / 20)")
    args = parser.parse_args()
    options = {"size": args.size, "seed": 1}
    if args.builder == "synthetic-prior-art":
        options["topics"] = args.topics or args.size // 20
    builder = all_builders().get(args.builder)

    start = time.perf_counter()
    data = builder.build(builder.validate_options(options), BuildContext(base_dir=Path(".")))
    generate_seconds = time.perf_counter() - start

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        spec = yaml.safe_load((BUNDLED / CHALLENGE_OF[args.builder] / "challenge.yaml").read_text(encoding="utf-8"))
        spec["slug"] = "benchmark"
        spec["dataset"] = {"builder": args.builder, "version": "bench", "options": options}
        (root / "challenges" / "benchmark").mkdir(parents=True)
        (root / "challenges" / "benchmark" / "challenge.yaml").write_text(yaml.safe_dump(spec), encoding="utf-8")
        os.environ["CODEFEST_CHALLENGES_PATH"] = str(root / "challenges")
        start = time.perf_counter()
        result = build(load("benchmark"), root / "workspace")
        build_seconds = time.perf_counter() - start
        size_mb = sum(p.stat().st_size for d in (result.bundle, result.vault) for p in d.iterdir()) / 1e6

    report = {
        "builder": args.builder,
        "items": args.size,
        "generate_seconds": round(generate_seconds, 2),
        "build_bundle_and_vault_seconds": round(build_seconds, 2),
        "items_per_second": round(args.size / build_seconds),
        "written_mb": round(size_mb, 1),
        "rows": {k: v for k, v in result.counts.items()},
        "dataset_items_in_memory": sum(len(split) for split in data.values()),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
