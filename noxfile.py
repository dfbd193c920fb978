"""Developer sessions: `nox -s lint tests tests_jax` is what CI runs.

Sessions run in the current environment (venv_backend "none"): CI builds a fresh venv with
`pip install -e ".[dev]"` first, and a second TensorFlow install per session would double CI time.
"""

import sys

import nox

nox.options.sessions = ["lint", "tests", "tests_jax"]
nox.options.default_venv_backend = "none"


@nox.session
def lint(session: nox.Session) -> None:
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("hadolint", "Dockerfile", "Dockerfile.lambda")  # serving images
    session.run("cfn-lint", "template.yaml")  # AWS SAM template (Lambda)


@nox.session
def tests(session: nox.Session) -> None:
    session.run("pytest", "-q", *session.posargs)


@nox.session
def tests_jax(session: nox.Session) -> None:
    """Models, CTC, training and packs under Keras's JAX backend (the lent GPU's), on the CPU."""
    session.run("pytest", "-q", "-m", "backends", *session.posargs, env={"KERAS_BACKEND": "jax"})


@nox.session
def evaluate(session: nox.Session) -> None:
    """The evaluation gate: bundled models on held-out data vs benchmarks/gate.yaml thresholds."""
    gate = ("-m", "textrec_cli.evaluation.gate", "benchmarks/gate.yaml")
    session.run(sys.executable, *gate, *session.posargs)  # nox's python: the venv's
