#!/usr/bin/env python3
"""Writes the real-weight parity goldens: tests/data/real/<name>.json.

A developer tool, run once by hand (not in CI), after tools/fetch-models.sh:
    python3 -m venv .venv-golden && .venv-golden/bin/pip install torch transformers
    .venv-golden/bin/python tools/real_golden.py [--models qwen2.5-0.5b,gemma3-270m]

For each fetched model folder (~/.cache/ember/models/NAME, bf16 weights converted from the
model's GGUF) it loads transformers in float32 (the bf16 weights upcast exactly, so the
reference is transformers' math on the same weights) and records, per case:
  - the prompt: chat messages through the model's template (Qwen), or raw text (Gemma base),
    with the ids transformers' tokenizer gives, so that the test can check ember's template and
    tokenizer too;
  - the top-20 logits and the log-sum-exp at a few prompt positions;
  - a greedy continuation from transformers' own KV cache: at each step the chosen id, the
    top-20 logits, the log-sum-exp and the margin between the top two logits. ember's greedy ids
    must equal these up to the first step whose margin is below 1e-3 (a near-tie that float
    rounding may break either way).
tests/model/test_real_parity.cc compares ember's CPU forward pass against these numbers.
"""
import argparse
import hashlib
import json
import os
import sys

import torch
import transformers
from transformers import AutoModelForCausalLM, AutoTokenizer

TOPK = 20
STEPS = 24

# A paragraph long enough, repeated with variations, that the Gemma case crosses its 512-token
# sliding window: its sliding layers must then drop the oldest keys.
LONG_TEXT = " ".join(
    f"Section {i}. The history of the lighthouse at the harbour mouth is a long one: it was "
    f"rebuilt {i + 2} times, each time taller, after storms took the older towers, and the "
    f"keepers wrote in their logbooks about ships, weather and the price of oil."
    for i in range(14)) + " In summary, the lighthouse"

CASES = {
    "qwen2.5-0.5b": [
        {"name": "capital", "messages": [
            {"role": "user", "content": "What is the capital of France? Answer in one sentence."}]},
        {"name": "code", "messages": [
            {"role": "system", "content": "You are a careful Python programmer."},
            {"role": "user", "content": "Write a function that returns the n-th Fibonacci "
                                        "number iteratively."}]},
        {"name": "two-turn", "messages": [
            {"role": "user", "content": "Name three primary colours."},
            {"role": "assistant", "content": "Red, yellow and blue."},
            {"role": "user", "content": "Which of them is warmest, and why? 日本語でも一言。"}]},
    ],
    "gemma3-270m": [
        {"name": "capital", "text": "The capital of France is"},
        {"name": "story", "text": "Once upon a time, in a small village by the sea, there lived"},
        {"name": "long", "text": LONG_TEXT},
    ],
}


def cache_dir(name):
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(root, "ember", "models", name)


def topk(logits):
    v, i = torch.topk(logits, TOPK)
    return [[int(a), round(float(b), 6)] for a, b in zip(i, v)]


def lse(logits):
    return round(float(torch.logsumexp(logits.double(), dim=-1)), 6)


def prompt_ids(tok, case):
    if "messages" in case:
        text = tok.apply_chat_template(case["messages"], add_generation_prompt=True,
                                       tokenize=False)
        return text, tok(text, add_special_tokens=False)["input_ids"]
    return case["text"], tok(case["text"])["input_ids"]


def run_case(model, tok, case):
    text, ids = prompt_ids(tok, case)
    n = len(ids)
    with torch.no_grad():
        out = model(torch.tensor([ids]), use_cache=True)
        logits = out.logits[0].float()
        positions = sorted({n // 4, n // 2, n - 1})
        doc = {k: v for k, v in case.items() if k in ("name", "messages", "text")}
        doc.update({"prompt_text": text, "prompt_ids": ids, "positions": positions,
                    "prompt_topk": [topk(logits[p]) for p in positions],
                    "prompt_logsumexp": [lse(logits[p]) for p in positions]})
        past, last = out.past_key_values, logits[n - 1]
        greedy = []
        for _ in range(STEPS):
            top2 = torch.topk(last, 2).values
            step = {"id": int(torch.argmax(last)), "margin": round(float(top2[0] - top2[1]), 6),
                    "topk": topk(last), "logsumexp": lse(last)}
            greedy.append(step)
            out = model(torch.tensor([[step["id"]]]), past_key_values=past, use_cache=True)
            past, last = out.past_key_values, out.logits[0, -1].float()
        doc["greedy"] = greedy
    return doc


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default=",".join(CASES))
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "tests", "data",
                                                  "real"))
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    torch.manual_seed(0)
    for name in a.models.split(","):
        if name not in CASES:
            sys.exit(f"unknown model {name}; known: {', '.join(CASES)}")
        d = cache_dir(name)
        if not os.path.exists(os.path.join(d, "config.json")):
            sys.exit(f"{d}: not fetched; run tools/fetch-models.sh {name}")
        tok = AutoTokenizer.from_pretrained(d)
        model = AutoModelForCausalLM.from_pretrained(
            d, dtype=torch.float32, attn_implementation="eager").eval()
        with open(os.path.join(d, "ember-source.json")) as f:
            source = json.load(f)
        doc = {"description": "transformers float32 on the fetched bf16 model; see "
                              "tools/real_golden.py",
               "model": name, "source": source,
               "safetensors_sha256": sha256_of(os.path.join(d, "model.safetensors")),
               "topk": TOPK,
               "versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                            "python": sys.version.split()[0]},
               "cases": [run_case(model, tok, c) for c in CASES[name]]}
        path = os.path.join(a.out, f"{name}.json")
        with open(path, "w") as f:
            json.dump(doc, f, separators=(",", ":"), ensure_ascii=False)
            f.write("\n")
        margins = [s["margin"] for c in doc["cases"] for s in c["greedy"]]
        print(f"wrote {path} ({os.path.getsize(path)} bytes); smallest greedy margin "
              f"{min(margins):.4g}")


if __name__ == "__main__":
    main()
