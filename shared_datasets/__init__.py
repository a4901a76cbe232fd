"""Datasets for the code fest: bundled generators, loaders for real corpora, and the held-out split."""
