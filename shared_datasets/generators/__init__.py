"""Bundled generators of patent-like data, one module per task (`builders.all_builders` imports each)."""
