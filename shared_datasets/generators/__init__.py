"""Bundled generators of patent-like data, one module per task; importing registers them."""

from shared_datasets.generators import classification, search, translation  # noqa: F401
