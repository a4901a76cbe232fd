"""The search task: its definition (task.py), formats, metrics and scorer."""
