"""The leaderboard: ranking from the challenge's MLflow runs, with uncertainty; terminal, JSON, CSV and HTML views."""
