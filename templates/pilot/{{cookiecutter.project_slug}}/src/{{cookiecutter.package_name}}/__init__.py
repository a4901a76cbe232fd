"""{{ cookiecutter.project_name }}: a {{ cookiecutter.task }} pilot for the codefest challenge {{ cookiecutter.challenge }}."""

from pathlib import Path

CHALLENGE = "{{ cookiecutter.challenge }}"
TASK = "{{ cookiecutter.task }}"
MODELS = Path(__file__).resolve().parents[2] / "models"  # where train saves the model and predict loads it from
