"""Developer sessions: `nox -s lint tests tests_jax` is what CI runs.

Sessions run in the current environment (venv_backend "none"): CI builds a fresh venv with
`pip install -e ".[dev]"` first, and a second TensorFlow install per session would double CI time.
"""

import os
import shutil
import subprocess
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
    """The suite; KenLM's lmplz (tests/test_language_model.py) is built first when missing."""
    session.run("pytest", "-q", "--durations=15", *session.posargs, env=_kenlm_env(session))


def _kenlm_env(session: nox.Session) -> dict[str, str]:
    """$TEXTREC_KENLM_BIN for pytest: KenLM's tools have no wheel, so scripts/build_kenlm.sh
    compiles them (minutes, once: cached in ~/.cache/textrec/kenlm/bin) when the build tools are
    here. Without them the tests that need lmplz skip and say why (under CI=true they fail)."""
    if os.environ.get("TEXTREC_KENLM_BIN") or shutil.which("lmplz"):
        return {}
    missing = [tool for tool in ("cmake", "make", "c++") if not shutil.which(tool)]
    if missing:
        session.warn(
            f"KenLM's lmplz is not built and {', '.join(missing)} is missing: its tests skip. "
            "Install the build tools listed in scripts/build_kenlm.sh to run them."
        )
        return {}
    session.log("KenLM's lmplz: scripts/build_kenlm.sh (cached after the first build)")
    build = subprocess.run(
        ["bash", "scripts/build_kenlm.sh"], stdout=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHON": sys.executable},
    )  # fmt: skip
    lines = build.stdout.strip().splitlines()
    if build.returncode != 0 or not lines:
        session.warn("scripts/build_kenlm.sh failed (above): the tests that need lmplz skip")
        return {}
    return {"TEXTREC_KENLM_BIN": lines[-1]}


@nox.session
def tests_jax(session: nox.Session) -> None:
    """Models, CTC, training and packs under Keras's JAX backend (the lent GPU's), on the CPU."""
    session.run("pytest", "-q", "-m", "backends", *session.posargs, env={"KERAS_BACKEND": "jax"})


@nox.session
def evaluate(session: nox.Session) -> None:
    """The evaluation gate: bundled models on held-out data vs benchmarks/gate.yaml thresholds."""
    gate = ("-m", "textrec_cli.evaluation.gate", "benchmarks/gate.yaml")
    session.run(sys.executable, *gate, *session.posargs)  # nox's python: the venv's


@nox.session
def docker(session: nox.Session) -> None:
    """Both serving images built here without a registry (local Debian base, wheelhouse,
    `--network=none`), run and checked; sizes, build times and RSS to benchmarks/results/
    docker.json. Needs root (apt, debootstrap, dockerd); ~26 min cold on 2 cores, so CI does
    not run it (docs/docker.md says when it runs). `-- --checks-only`: no rebuild."""
    session.run(sys.executable, "scripts/docker_check.py", *session.posargs)


@nox.session(venv_backend="venv", reuse_venv=True)
def labelstudio(session: nox.Session) -> None:
    """The labeling loop through a real Label Studio (installed in this session's own venv, kept
    between runs: its Django stack would clash with textrec's): scripts/labelstudio_roundtrip.py
    exports, labels and imports through its REST API, then trains on the result. Not in CI."""
    from pathlib import Path

    session.install("label-studio>=1.23,<2")
    executable = str(Path(session.bin) / "label-studio")
    roundtrip = ("scripts/labelstudio_roundtrip.py", "--label-studio", executable)
    session.run(sys.executable, *roundtrip, *session.posargs, external=True)  # textrec's python


@nox.session
def serve_minimal(session: nox.Session) -> None:
    """The serving path with only requirements-serve.txt installed (+ textrec `--no-deps`), in a
    fresh venv: the app and the Lambda handler import, load the exports and answer (no h5py,
    no TensorFlow). The exports are made here with TensorFlow, as the images' export stage does."""
    import shutil
    from pathlib import Path

    root = Path(".nox") / "serve_minimal"
    python = str(root / "venv" / "bin" / "python")
    session.run(sys.executable, "-m", "venv", "--clear", str(root / "venv"))
    session.run(python, "-m", "pip", "install", "-q", "-r", "requirements-serve.txt")
    leftover = not Path("build").exists()  # setuptools builds `.` in ./build
    session.run(python, "-m", "pip", "install", "-q", "--no-deps", ".")
    if leftover:
        shutil.rmtree("build", ignore_errors=True)
    models = root / "models"
    for name, extra in (("char_cnn", ()), ("line_tcn", ("--lm",)), ("line_detector", ())):
        source = f"textrec_cli/assets/models/{name}"
        session.run("textrec", "export", source, "--output", str(models / name), *extra)
    env = {"TEXTREC_SERVE_MODELS": str(models.resolve()), "TEXTREC_DATA_DIR": str(root / "data")}
    examples = ("docs/examples/line_ms.png", "docs/examples/page_copiste.jpg")
    session.run(python, "scripts/serve_smoke.py", *examples, env=env)
