#!/usr/bin/env bash
# Build KenLM's `lmplz` (n-gram estimator) and `build_binary` for `textrec lm build`: they are
# C++ tools with no wheel, so they are compiled once from the kenlm sdist on PyPI and cached.
# The last line printed (stdout) is the bin folder: put it on PATH or in $TEXTREC_KENLM_BIN.
#
#   bash scripts/build_kenlm.sh [BIN_DIR]
#
# BIN_DIR defaults to ${XDG_CACHE_HOME:-$HOME/.cache}/textrec/kenlm/bin; nothing is rebuilt when
# both tools are already there. $PYTHON [python3] runs pip to fetch the sdist (hash-pinned);
# KENLM_SDIST=path/to/kenlm-0.3.0.tar.gz builds from a local copy instead, offline.
# Needs (Debian/Ubuntu): apt-get install -y cmake g++ make libboost-program-options-dev \
#   libboost-system-dev libboost-thread-dev libboost-test-dev zlib1g-dev libbz2-dev liblzma-dev
# KENLM_MAX_ORDER stays at its default 6, the most flashlight-text's KenLM can read.
set -euo pipefail

VERSION=0.3.0
SHA256=c4628bb9fb63c8a6f9240035b8b037385cfc404cb72e933cf48878291edac1e8
BIN_DIR=${1:-${XDG_CACHE_HOME:-$HOME/.cache}/textrec/kenlm/bin}
PYTHON=${PYTHON:-python3}

if [[ -x "$BIN_DIR/lmplz" && -x "$BIN_DIR/build_binary" ]]; then
    echo "kenlm: lmplz and build_binary already in $BIN_DIR" >&2
    echo "$BIN_DIR"
    exit 0
fi
for tool in cmake make c++; do
    if ! command -v "$tool" >/dev/null; then
        echo "error: $tool not found; install: apt-get install -y cmake g++ make" \
            "libboost-program-options-dev libboost-system-dev libboost-thread-dev" \
            "libboost-test-dev zlib1g-dev libbz2-dev liblzma-dev" >&2
        exit 1
    fi
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/kenlm-build.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
SDIST="$WORK/kenlm-$VERSION.tar.gz"
if [[ -n "${KENLM_SDIST:-}" ]]; then  # offline: a local copy of the sdist
    cp "$KENLM_SDIST" "$SDIST"
    echo "$SHA256  $SDIST" | sha256sum -c --quiet - >&2 ||
        { echo "error: $KENLM_SDIST is not kenlm-$VERSION.tar.gz (sha256 differs)" >&2; exit 1; }
else
    echo "kenlm: fetching the kenlm $VERSION sdist" >&2
    echo "kenlm==$VERSION --hash=sha256:$SHA256" >"$WORK/requirements.txt"
    # pip prepares the sdist's metadata: in place when setuptools can build wheels, else in an
    # isolated environment it fetches (setuptools, wheel, cmake)
    ISOLATION=()
    if "$PYTHON" -c "import setuptools, wheel" 2>/dev/null ||
        "$PYTHON" -c "import setuptools.command.bdist_wheel" 2>/dev/null; then
        ISOLATION=(--no-build-isolation)
    fi
    "$PYTHON" -m pip download --quiet --no-deps --no-binary kenlm "${ISOLATION[@]}" \
        --require-hashes -r "$WORK/requirements.txt" -d "$WORK" >&2
fi
tar -xzf "$SDIST" -C "$WORK"

echo "kenlm: compiling lmplz and build_binary (a few minutes)" >&2
if ! cmake -S "$WORK/kenlm-$VERSION" -B "$WORK/build" -DCMAKE_BUILD_TYPE=Release \
    >"$WORK/cmake.log" 2>&1; then
    tail -20 "$WORK/cmake.log" >&2
    echo "error: cmake failed (Boost, zlib, bz2 or lzma dev packages missing?)" >&2
    exit 1
fi
if ! make -C "$WORK/build" -j"$(nproc)" lmplz build_binary >"$WORK/make.log" 2>&1; then
    grep -m5 -i "error" "$WORK/make.log" >&2 || tail -20 "$WORK/make.log" >&2
    echo "error: make failed" >&2
    exit 1
fi

mkdir -p "$BIN_DIR"
for tool in lmplz build_binary; do  # copy then rename: a killed run never leaves half a binary
    cp "$WORK/build/bin/$tool" "$BIN_DIR/.$tool.tmp"
    mv -f "$BIN_DIR/.$tool.tmp" "$BIN_DIR/$tool"
done
echo "kenlm: built into $BIN_DIR" >&2
echo "$BIN_DIR"
