#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan) and runs each for a bounded time.
# Used by tools/test.sh; EMBER_FUZZ_SECONDS sets the time per target (default 20), and
# EMBER_FUZZ_BUILD_DIR the build folder (default build-fuzz).
# Seeds: fuzz/corpus/<target>/ (small hand-written inputs, committed) and, when the shared assets
# are there ($EMBER_ASSETS, default ../shared/assets), every templates/**/*.jinja for
# fuzz_template and every tokenizer-tests/*.inp text for fuzz_tokenizer. Seed folders are only
# read: libFuzzer writes new inputs to its first corpus folder, $BUILD/corpus/<target>.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${EMBER_FUZZ_BUILD_DIR:-build-fuzz}
SECONDS_EACH=${EMBER_FUZZ_SECONDS:-20}
JOBS=${EMBER_JOBS:-$(nproc)}
mkdir -p "$BUILD"
CC=clang CXX=clang++ cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DEMBER_FUZZ=ON -DEMBER_BUILD_TESTS=OFF -DEMBER_BUILD_BENCH=OFF -DEMBER_CUDA=OFF > "$BUILD/configure.log"
# EMBER_FUZZ_TARGETS="fuzz_template fuzz_tokenizer" builds and runs only those (default: all).
targets=()
if [ -n "${EMBER_FUZZ_TARGETS:-}" ]; then
  read -r -a targets <<< "$EMBER_FUZZ_TARGETS"
else
  for f in fuzz/fuzz_*.cc; do targets+=("$(basename "$f" .cc)"); done
fi
cmake --build "$BUILD" -j "$JOBS" --target "${targets[@]}"
ASSETS=${EMBER_ASSETS:-../shared/assets}
# Seeds from the shared assets, as links (or, for the tokenizer tests, the texts split out of the
# llama.cpp .inp files) in $BUILD/seeds/<target>; nothing is copied into the repository.
asset_seeds() {
  local t=$1 dir="$BUILD/seeds/$1"
  rm -rf "$dir"
  case "$t" in
    fuzz_template)
      [ -d "$ASSETS/templates" ] || return 0
      mkdir -p "$dir"
      local f n=0
      while IFS= read -r -d '' f; do
        ln -s "$(realpath "$f")" "$dir/$n-$(basename "$f")"
        n=$((n + 1))
      done < <(find "$ASSETS/templates" -name '*.jinja' -type f -print0)
      ;;
    fuzz_tokenizer)
      [ -d "$ASSETS/tokenizer-tests" ] || return 0
      mkdir -p "$dir"
      local f
      for f in "$ASSETS"/tokenizer-tests/*.inp; do
        [ -f "$f" ] || continue
        # NAME.inp holds texts each followed by "\n__ggml_vocab_test__\n": one seed per text.
        perl -0777 -ne 'my $i = 0; my $n = shift @ARGV; for (split /\n__ggml_vocab_test__\n/, $_) {
            open(my $o, ">", sprintf("%s-%03d", $n, $i++)) or die; print $o $_; }' \
          "$f" "$dir/$(basename "$f" .inp)"
      done
      ;;
    *) return 0 ;;
  esac
  if [ -d "$dir" ]; then echo "$dir"; fi
}
failed=0
for t in "${targets[@]}"; do
  corpus="$BUILD/corpus/$t"
  mkdir -p "$corpus"
  seeds=()
  [ -d "fuzz/corpus/$t" ] && seeds+=("fuzz/corpus/$t")
  extra=$(asset_seeds "$t")
  [ -n "$extra" ] && seeds+=("$extra")
  log="$BUILD/$t.log"
  # -timeout: any single input taking over 10 s counts as a hang; -rss_limit_mb: as a leak.
  if "$BUILD/fuzz/$t" "$corpus" "${seeds[@]}" -max_total_time="$SECONDS_EACH" -timeout=10 \
      -rss_limit_mb=2048 -print_final_stats=1 > "$log" 2>&1; then
    runs=$(grep -m1 -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
    echo "fuzz $t: ok, $runs inputs in ${SECONDS_EACH}s"
  else
    echo "fuzz $t: FAILED (see $log)"
    tail -n 40 "$log"
    failed=1
  fi
done
exit $failed
