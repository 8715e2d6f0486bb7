#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan) and runs each for a bounded time.
# Used by tools/test.sh; EMBER_FUZZ_SECONDS sets the time per target (default 20).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${EMBER_FUZZ_BUILD_DIR:-build-fuzz}
SECONDS_EACH=${EMBER_FUZZ_SECONDS:-20}
JOBS=${EMBER_JOBS:-$(nproc)}
mkdir -p "$BUILD"
CC=clang CXX=clang++ cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DEMBER_FUZZ=ON -DEMBER_BUILD_TESTS=OFF -DEMBER_BUILD_BENCH=OFF -DEMBER_CUDA=OFF > "$BUILD/configure.log"
targets=()
for f in fuzz/fuzz_*.cc; do targets+=("$(basename "$f" .cc)"); done
cmake --build "$BUILD" -j "$JOBS" --target "${targets[@]}"
failed=0
for t in "${targets[@]}"; do
  corpus="$BUILD/corpus/$t"
  mkdir -p "$corpus"
  log="$BUILD/$t.log"
  # -timeout: any single input taking over 10 s counts as a hang; -rss_limit_mb: as a leak.
  if "$BUILD/fuzz/$t" "$corpus" -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 \
      -print_final_stats=1 > "$log" 2>&1; then
    runs=$(grep -m1 -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
    echo "fuzz $t: ok, $runs inputs in ${SECONDS_EACH}s"
  else
    echo "fuzz $t: FAILED (see $log)"
    tail -n 40 "$log"
    failed=1
  fi
done
exit $failed
