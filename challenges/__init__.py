"""Challenges as data: one folder per challenge, a strict model, and discovery over several folders."""
