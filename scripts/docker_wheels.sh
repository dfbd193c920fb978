#!/usr/bin/env bash
# The wheelhouse for offline image builds: every wheel the Dockerfiles' pip steps install,
# downloaded on the host into docker/wheels (git-ignored; bind-mounted by the builds, so it never
# lands in a layer). The host's Python must be the base image's (3.11 for Debian bookworm).
# Skipped while pyproject.toml and requirements-serve.txt are unchanged since the last download.
#   bash scripts/docker_wheels.sh [PYTHON]
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${1:-python3}
EXTRA=("setuptools>=77" wheel "awslambdaric>=3,<5")  # build backend; the stand-in Lambda base
STAMP=docker/wheels/.inputs.sha256
inputs=$(cat pyproject.toml requirements-serve.txt <(printf '%s\n' "${EXTRA[@]}") | sha256sum)
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$inputs" ]; then
  echo "docker/wheels is up to date" >&2
  exit 0
fi
# (the grep drops pip's notes about this host's own index config)
"$PYTHON" -m pip download --quiet --dest docker/wheels --prefer-binary \
  . -r requirements-serve.txt "${EXTRA[@]}" 2>&1 | { grep -v "^WARNING: Location '" || true; } >&2
echo "$inputs" >"$STAMP"
echo "docker/wheels: $(find docker/wheels -name '*.whl' | wc -l) wheels," \
  "$(du -sh docker/wheels | cut -f1)" >&2
