"""`.venv/bin/python -m tests.golden`: rewrite tests/golden/scores.json from the current scoring code.

Refused when scores of unchanged input files moved while SCORING_VERSION stayed the same: raise it first (in
evaluation/signature.py) and note the bump in CHANGELOG.md.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

from tests.golden import GOLDEN, computed, moved, stored


def main(golden: Path = GOLDEN) -> int:
    new = computed()
    old = stored(golden) if golden.is_file() else None
    changes = moved(old, new) if old else []
    if old and changes and old["scoring_version"] == new["scoring_version"]:
        print(f"scores moved under scoring version {new['scoring_version']}:", *changes, sep="\n  ", file=sys.stderr)
        print(
            "raise SCORING_VERSION in evaluation/signature.py and note it in CHANGELOG.md, then rerun", file=sys.stderr
        )
        return 1
    golden.write_text(dumped(new), encoding="utf-8")
    print(f"wrote {golden} (scoring version {new['scoring_version']}, {len(changes)} score(s) moved)")
    return 0


def dumped(golden: dict[str, Any]) -> str:
    """JSON with one line per metric, so that a diff shows which scores moved; floats written by repr."""
    text = json.dumps(golden, indent=1)
    return re.sub(r"\[\s+([^\[\]]*?)\s+\]", lambda m: "[" + ", ".join(re.split(r",\s+", m.group(1))) + "]", text) + "\n"


if __name__ == "__main__":
    sys.exit(main())
