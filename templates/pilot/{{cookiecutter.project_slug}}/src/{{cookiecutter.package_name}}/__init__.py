"""{{ cookiecutter.project_name }}: a {{ cookiecutter.task }} pilot for the codefest challenge {{ cookiecutter.challenge }}."""

CHALLENGE = "{{ cookiecutter.challenge }}"
TASK = "{{ cookiecutter.task }}"
