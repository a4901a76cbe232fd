"""The packages, found in the folders that pyproject.toml maps: a new task or sub-package needs no list edited.

Everything else about the build is in pyproject.toml; setuptools reads `packages` from here because a static list
would have to name every task's folder.
"""

import tomllib
from pathlib import Path

from setuptools import find_packages, setup

MAPPING: dict[str, str] = tomllib.loads(Path(__file__).with_name("pyproject.toml").read_text())["tool"]["setuptools"][
    "package-dir"
]


def packages() -> list[str]:
    found = []
    for name, folder in MAPPING.items():
        found.append(name)
        found += [f"{name}.{sub}" for sub in find_packages(where=folder) if f"{name}.{sub}" not in MAPPING]
    return sorted(found)


setup(packages=packages())
