"""Readers of each task's gold and prediction formats, with validation."""
