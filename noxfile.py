"""Developer sessions: `nox -s lint tests` is what CI runs.

Sessions run in the current environment (venv_backend "none"): CI builds a fresh venv with
`pip install -e ".[dev]"` first, and a second TensorFlow install per session would double CI time.
"""

import nox

nox.options.sessions = ["lint", "tests"]
nox.options.default_venv_backend = "none"


@nox.session
def lint(session: nox.Session) -> None:
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def tests(session: nox.Session) -> None:
    session.run("pytest", "-q", *session.posargs)
