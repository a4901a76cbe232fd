"""Metrics per task; each returns per-item statistics so that one bootstrap serves every metric."""
