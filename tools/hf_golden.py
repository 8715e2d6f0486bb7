#!/usr/bin/env python3
"""Writes the Hugging Face parity goldens: tests/data/golden/<arch>-<dtype>.json.

A developer tool, run once by hand (not in CI):
    python3 -m venv .venv-golden && .venv-golden/bin/pip install torch transformers
    .venv-golden/bin/python tools/hf_golden.py --ember build/tools/ember

For each architecture and weight dtype it makes a random model with `ember make-model` (fixed
arguments and seed, so the C++ test rebuilds the same bytes), loads it with transformers in
float32 (bf16 weights upcast exactly, so the reference is transformers' math on ember's
weights), and records logits of prefills of several lengths and of decode steps that follow a
prefill through past_key_values. For bf16 it also records transformers' own bf16-compute logits.
tests/model/test_hf_parity.cc compares ember's CPU forward pass against these numbers.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import torch
import transformers
from transformers import AutoModelForCausalLM

ARCHS = ["llama", "mistral", "qwen2", "qwen3", "phi3", "gemma2", "gemma3"]
DTYPES = ["f32", "bf16"]
MAKE_ARGS = {"hidden": 64, "layers": 2, "heads": 4, "kv-heads": 2, "intermediate": 128,
             "vocab": 512, "seed": 20240601}
# Config fields the test overrides after loading, to cover features make-model leaves off.
# Gemma: a window shorter than the longest prompt, so its sliding layers differ from the global
# ones; Gemma 2's soft-caps near the size of the random model's scores and logits, so that
# tanh bends them (the real 50 and 30 would leave them linear).
OVERRIDES = {"mistral": {"sliding_window": 8},
             "gemma2": {"sliding_window": 8, "attn_logit_softcapping": 0.02,
                        "final_logit_softcapping": 1.0},
             "gemma3": {"sliding_window": 8}}
PROMPT_LENS = [1, 7, 33]
DECODE_AFTER = 7     # decode steps follow the prefill of this prompt
DECODE_IDS = [5, 300, 77, 419]
COL_STRIDE = 4       # keep every 4th vocab column: files stay small, every region is covered


def prompt_ids(n, vocab):
    return [(i * 37 + 11) % (vocab - 3) for i in range(n)]


def rows_for(n):
    return sorted({0, n // 2, n - 1})


def pick(logits_2d, rows, cols):
    return [[round(float(logits_2d[r][c]), 8) for c in cols] for r in rows]


TOP_LOGPROBS = 20


def top_logprobs(logits_2d, rows):
    """Per row, the top-20 [id, log-probability] of the float32 log-softmax: what an OpenAI
    endpoint's top_logprobs report and what today's validators compare."""
    lp = torch.log_softmax(logits_2d.float(), dim=-1)
    out = []
    for r in rows:
        v, i = torch.topk(lp[r], TOP_LOGPROBS)
        out.append([[int(a), round(float(b), 8)] for a, b in zip(i, v)])
    return out


def run(model, args, cols):
    vocab = args["vocab"]
    out = {"prefills": [], "decode": None}
    with torch.no_grad():
        for n in PROMPT_LENS:
            ids = prompt_ids(n, vocab)
            logits = model(torch.tensor([ids])).logits[0].float()
            rows = rows_for(n)
            out["prefills"].append({"ids": ids, "rows": rows, "logits": pick(logits, rows, cols),
                                    "top_logprobs": top_logprobs(logits, rows)})
        ids = prompt_ids(DECODE_AFTER, vocab)
        res = model(torch.tensor([ids]), use_cache=True)
        past = res.past_key_values
        steps, step_lps = [], []
        for t in DECODE_IDS:
            res = model(torch.tensor([[t]]), past_key_values=past, use_cache=True)
            past = res.past_key_values
            steps.append(pick(res.logits[0].float(), [0], cols)[0])
            step_lps.append(top_logprobs(res.logits[0].float(), [0])[0])
        out["decode"] = {"prefill_ids": ids, "ids": DECODE_IDS, "logits": steps,
                         "top_logprobs": step_lps}
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ember", required=True, help="path to the ember binary")
    ap.add_argument("--archs", default=",".join(ARCHS),
                    help="comma-separated architectures to (re)write; default: all")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "tests", "data",
                                                  "golden"))
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    torch.manual_seed(0)
    for arch in a.archs.split(","):
        if arch not in ARCHS:
            sys.exit(f"unknown architecture {arch}; known: {', '.join(ARCHS)}")
        for dtype in DTYPES:
            with tempfile.TemporaryDirectory() as d:
                cmd = [a.ember, "make-model", "--arch", arch, "--out", d, "--dtype", dtype]
                for k, v in MAKE_ARGS.items():
                    cmd += [f"--{k}", str(v)]
                subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
                overrides = OVERRIDES.get(arch, {})
                if overrides:
                    with open(os.path.join(d, "config.json")) as f:
                        cfg = json.load(f)
                    cfg.update(overrides)
                    with open(os.path.join(d, "config.json"), "w") as f:
                        json.dump(cfg, f, indent=2)
                cols = list(range(0, MAKE_ARGS["vocab"], COL_STRIDE))
                model = AutoModelForCausalLM.from_pretrained(
                    d, dtype=torch.float32, attn_implementation="eager").eval()
                doc = {
                    "description": "Logits of transformers on a random `ember make-model` model; "
                                   "see tools/hf_golden.py",
                    "arch": arch, "dtype": dtype, "make_model_args": MAKE_ARGS,
                    "config_overrides": overrides, "cols": cols,
                    "versions": {"torch": torch.__version__,
                                 "transformers": transformers.__version__,
                                 "python": sys.version.split()[0]},
                    "hf_f32": run(model, MAKE_ARGS, cols),
                }
                if dtype == "bf16":
                    m16 = AutoModelForCausalLM.from_pretrained(
                        d, dtype=torch.bfloat16, attn_implementation="eager").eval()
                    doc["hf_bf16_compute"] = run(m16, MAKE_ARGS, cols)
            path = os.path.join(a.out, f"{arch}-{dtype}.json")
            with open(path, "w") as f:
                json.dump(doc, f, separators=(",", ":"))
                f.write("\n")
            print(f"wrote {path} ({os.path.getsize(path)} bytes)")


if __name__ == "__main__":
    main()
