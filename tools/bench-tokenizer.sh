#!/usr/bin/env bash
# Tokenizer throughput, ember vs Python `tokenizers`, on the same English and CJK/emoji texts:
# runs bench/bench_tokenizer and tools/bench_tokenizer_ref.py and prints a side-by-side table
# of MB/s (single thread). Usage: tools/bench-tokenizer.sh [BUILD_DIR]   (default: build)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
BENCH=$(find "$BUILD" -name bench_tokenizer -type f -perm -u+x | head -1)
[ -n "$BENCH" ] || { echo "bench_tokenizer not found under $BUILD (build target bench_tokenizer)" >&2; exit 1; }
PY=${EMBER_PYTHON:-.venv/bin/python}
ASSETS=${EMBER_ASSETS:-../shared/assets}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

"$BENCH" --dump_texts="$TMP"
"$BENCH" --benchmark_format=json --benchmark_out="$TMP/ember.json" --benchmark_out_format=json \
  --benchmark_min_time=0.5 > /dev/null
for t in llama3 qwen3 mistral-v0.3 phi3; do
  [ -f "$ASSETS/tokenizers/$t/tokenizer.json" ] || continue
  "$PY" tools/bench_tokenizer_ref.py "$ASSETS/tokenizers/$t/tokenizer.json" \
    "$TMP/english.txt" "$TMP/cjk.txt" | sed "s|^|$t |" >> "$TMP/ref.txt"
done

/usr/bin/python3 - "$TMP/ember.json" "$TMP/ref.txt" <<'PY'
import json, re, sys
ember = {}
for b in json.load(open(sys.argv[1]))["benchmarks"]:
    op, tok, text = b["name"].split("/")[:3]
    ember[(op, tok, text)] = (b["bytes_per_second"] / 1e6, b.get("tokens"))
ref = {}
for line in open(sys.argv[2]):
    tok, path, *kv = line.split()
    text = "english" if path.endswith("english.txt") else "cjk"
    d = dict(x.split("=") for x in kv)
    ref[("encode", tok, text)] = (float(d["encode_MBps"]), int(d["tokens"]))
    ref[("decode", tok, text)] = (float(d["decode_MBps"]), None)
print(f"{'op':7} {'tokenizer':13} {'text':8} {'ember MB/s':>11} {'HF MB/s':>9} {'speedup':>8}  tokens (ember/HF)")
for key in sorted(ember):
    e, et = ember[key]
    r, rt = ref.get(key, (float("nan"), None))
    toks = f"{int(et)}/{rt}" if et is not None and rt is not None else ""
    print(f"{key[0]:7} {key[1]:13} {key[2]:8} {e:11.2f} {r:9.2f} {e / r:7.1f}x  {toks}")
PY
