#!/usr/bin/env bash
# ember on a real model on the CPU, side by side with llama.cpp and transformers in the same run:
# load time, prefill of a 512-token prompt, batch-1 decode, output tokens/s of 16 sequences at
# once, and peak RSS. One JSON line per engine and setting goes to OUT/results.jsonl, the raw
# outputs beside it.
#
#   tools/bench-real-cpu.sh OUT [MODEL]          (MODEL: a fetched name, default qwen2.5-0.5b)
#
# Prefill and batch-1 decode are measured in ROUNDS rounds (default 3) that alternate the
# engines, and each figure is the median of its rounds: a small VM's speed drifts by 30% over
# minutes, and alternating puts every engine in every phase.
#
# Optional, each left out (with a line saying so) when unset:
#   LLAMA_CPP_BIN=DIR    llama.cpp's llama-bench and llama-batched-bench (built from the
#                        llama-cpp-python sdist)
#   LLAMA_CPP_GGUF=FILE  the same weights as a bf16 GGUF (llama.cpp's convert_hf_to_gguf.py
#                        --outtype bf16 on the fetched folder)
#   REF_PYTHON=PY        a Python with torch and transformers (tools/bench_hf_cpu.py)
# THREADS (default: all cores) is the same for every engine.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:?usage: tools/bench-real-cpu.sh OUT [MODEL]}
MODEL=${2:-qwen2.5-0.5b}
THREADS=${THREADS:-$(nproc)}
ROUNDS=${ROUNDS:-3}
EMBER=${EMBER:-build/tools/ember}
PROMPTS=../shared/assets/prompts/arena-hard-v0.1.question.jsonl
mkdir -p "$OUT"
RES=$OUT/results.jsonl
: > "$RES"
DIR=$("$EMBER" inspect --model "$MODEL" | awk '/^model/ {print $2}')
LLAMA=0
if [ -n "${LLAMA_CPP_BIN:-}" ] && [ -n "${LLAMA_CPP_GGUF:-}" ]; then LLAMA=1; fi

# Prompts long enough to cut to 512 tokens: the arena-hard ones over 3000 characters (kept out
# of OUT: they are the shared assets' text, not results).
LONG=$(mktemp --suffix .jsonl)
trap 'rm -f "$LONG"' EXIT
python3 - "$PROMPTS" "$LONG" <<'EOF'
import json, sys
with open(sys.argv[2], "w") as out:
    for line in open(sys.argv[1]):
        p = json.loads(line)["prompt"]
        if len(p) > 3000:
            out.write(json.dumps({"prompt": p}) + "\n")
EOF

peak_rss_gb() { awk '/Maximum resident/ {printf "%.3f", $6 / 1e6}' "$1"; }
jget() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$@"; }
median() { sort -g | awk '{v[NR]=$1} END {print v[int((NR + 1) / 2)]}'; }

# 1. Prefill and batch-1 decode, engines alternating.
for r in $(seq 1 "$ROUNDS"); do
  for inputs in f32 bf16; do
    common=(--model "$MODEL" --threads "$THREADS" --cpu-matmul-inputs "$inputs")
    # A fresh process: nothing of the prompt is cached.
    "$EMBER" bench "${common[@]}" --prompts "$LONG" --concurrency 1 --requests 1 \
      --max-tokens 1 --max-prompt-tokens 512 --max-batched-tokens 1024 \
      --json "$OUT/ember-$inputs-prefill-$r.json" > /dev/null 2>&1
    jget "$OUT/ember-$inputs-prefill-$r.json" '512 / (d["ttft_ms"]["p50"] / 1000)' \
      >> "$OUT/ember-$inputs-prefill.txt"
    "$EMBER" bench "${common[@]}" --prompts "$PROMPTS" --concurrency 1 --requests 4 \
      --max-tokens 128 --max-prompt-tokens 128 --ignore-eos \
      --json "$OUT/ember-$inputs-decode-$r.json" > /dev/null 2>&1
    jget "$OUT/ember-$inputs-decode-$r.json" '1000 / d["itl_ms"]["p50"]' \
      >> "$OUT/ember-$inputs-decode.txt"
  done
  if [ "$LLAMA" = 1 ]; then
    "$LLAMA_CPP_BIN/llama-bench" -m "$LLAMA_CPP_GGUF" -p 512 -n 128 -t "$THREADS" -r 1 -o json \
      > "$OUT/llama-bench-$r.json" 2> /dev/null
    jget "$OUT/llama-bench-$r.json" 'next(x["avg_ts"] for x in d if x["n_prompt"] == 512)' \
      >> "$OUT/llama-prefill.txt"
    jget "$OUT/llama-bench-$r.json" 'next(x["avg_ts"] for x in d if x["n_gen"] == 128)' \
      >> "$OUT/llama-decode.txt"
  fi
done

# 2. Load time, 16 sequences at once, peak RSS.
for inputs in f32 bf16; do
  tag=ember-$inputs
  common=(--model "$MODEL" --threads "$THREADS" --cpu-matmul-inputs "$inputs")
  # Load: the second of two loads (the page cache warm, as on a miner's restart).
  for i in 1 2; do
    "$EMBER" generate "${common[@]}" --prompt-ids 1 --max-tokens 1 2> "$OUT/$tag-load.txt" > /dev/null
  done
  load_s=$(sed -n 's/.* in \([0-9.]*\) s;.*/\1/p' "$OUT/$tag-load.txt")
  /usr/bin/time -v "$EMBER" bench "${common[@]}" --prompts "$PROMPTS" --concurrency 16 \
    --requests 16 --max-tokens 128 --max-prompt-tokens 128 --ignore-eos --kv-cache-gb 1 \
    --json "$OUT/$tag-c16.json" > "$OUT/$tag-c16.txt" 2> "$OUT/$tag-c16.time"
  python3 - "$OUT/$tag-c16.json" "$tag" "$load_s" "$(median < "$OUT/$tag-prefill.txt")" \
    "$(median < "$OUT/$tag-decode.txt")" "$(peak_rss_gb "$OUT/$tag-c16.time")" "$DIR" \
    >> "$RES" <<'EOF'
import json, os, sys
c16 = json.load(open(sys.argv[1]))
d = sys.argv[7]
weights = sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d)
              if f.endswith(".safetensors"))
cfg = json.load(open(os.path.join(d, "config.json")))
kv_token = 2 * cfg["num_hidden_layers"] * cfg["num_key_value_heads"] * \
    cfg.get("head_dim", cfg["hidden_size"] // cfg["num_attention_heads"]) * 4  # f32 cache
kv = c16["kv_cache_blocks"] * c16["block_size"] * kv_token
print(json.dumps({
    "engine": sys.argv[2], "backend": c16["backend"], "load_s": float(sys.argv[3]),
    "prefill_tokens": 512, "prefill_tok_s": round(float(sys.argv[4]), 1),
    "decode_tok_s": round(float(sys.argv[5]), 1),
    "batch": 16, "batch_output_tok_s": round(c16["output_tokens_per_s"], 1),
    "peak_rss_gb": float(sys.argv[6]), "weights_gb": round(weights / 1e9, 3),
    "kv_cache_gb": round(kv / 1e9, 3),
    "rss_over_weights_and_kv": round(float(sys.argv[6]) / ((weights + kv) / 1e9), 3)}))
EOF
done

if [ "$LLAMA" = 1 ]; then
  /usr/bin/time -v "$LLAMA_CPP_BIN/llama-batched-bench" -m "$LLAMA_CPP_GGUF" -t "$THREADS" \
    -c 8192 -b 2048 -npp 128 -ntg 128 -npl 16 --output-format jsonl \
    > "$OUT/llama-batched.jsonl" 2> "$OUT/llama-batched.time"
  python3 - "$OUT" "$(median < "$OUT/llama-prefill.txt")" "$(median < "$OUT/llama-decode.txt")" \
    "$(peak_rss_gb "$OUT/llama-batched.time")" >> "$RES" <<'EOF'
import json, sys
out = sys.argv[1]
bench = json.load(open(f"{out}/llama-bench-1.json"))
batched = [json.loads(l) for l in open(f"{out}/llama-batched.jsonl") if l.startswith("{")][-1]
print(json.dumps({
    "engine": "llama.cpp", "backend": bench[0].get("cpu_info", ""),
    "build": bench[0].get("build_commit"), "load_s": None,
    "prefill_tokens": 512, "prefill_tok_s": round(float(sys.argv[2]), 1),
    "decode_tok_s": round(float(sys.argv[3]), 1),
    "batch": 16, "batch_output_tok_s": round(16 * 128 / batched["t"], 1),
    "peak_rss_gb": float(sys.argv[4])}))
EOF
else
  echo "llama.cpp: left out (set LLAMA_CPP_BIN and LLAMA_CPP_GGUF)" | tee -a "$OUT/notes.txt"
fi

if [ -n "${REF_PYTHON:-}" ]; then
  for dtype in bfloat16 float32; do
    "$REF_PYTHON" tools/bench_hf_cpu.py "$DIR" --dtype "$dtype" --threads "$THREADS" \
      2> "$OUT/transformers-$dtype.log" | tail -1 >> "$RES"
  done
else
  echo "transformers: left out (set REF_PYTHON)" | tee -a "$OUT/notes.txt"
fi
cat "$RES"
