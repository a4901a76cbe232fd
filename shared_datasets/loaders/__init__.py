"""Loaders for real corpora in their own formats, through `datasets`; importing a module registers its loader."""
