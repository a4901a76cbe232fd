"""Loaders for real corpora in their own formats, through `datasets`; importing registers them."""

from codefest.shared_datasets.loaders import bigpatent, clef_ip, generic, hupd, parapat  # noqa: F401
