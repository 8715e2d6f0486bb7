#!/usr/bin/env python3
"""Writes tests/data/token_text.json: how vLLM names each token in logprobs entries, for the
real tokenizers in ../shared/assets/tokenizers (run by hand with the repo's .venv).

vLLM's rule (vllm/tokenizers/detokenizer_utils.py, convert_ids_list_to_tokens): the id decoded
alone with the transformers default skip_special_tokens=False, so bytes that are not valid UTF-8
on their own become U+FFFD; then the leading spaces a SentencePiece piece's "\u2581" markers
stand for are restored where the decoder stripped them. Written here from that description with
the tokenizers library (the one transformers' fast tokenizers wrap).

Usage: .venv/bin/python tools/token_text_reference.py [--assets ../shared/assets]
"""
import argparse
import json
import os

from tokenizers import Tokenizer

NAMES = ["llama3", "qwen3", "phi3", "mistral-v0.3"]
MARKER = "\u2581"


def vllm_token_text(tok, i):
    text = tok.decode([i], skip_special_tokens=False)
    raw = tok.id_to_token(i) or ""
    markers = len(raw) - len(raw.lstrip(MARKER))
    existing = len(text) - len(text.lstrip(" "))
    return " " * (markers - existing) + text if markers > existing else text


def main():
    ap = argparse.ArgumentParser()
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--assets", default=os.path.join(here, "..", "..", "shared", "assets"))
    ap.add_argument("--out", default=os.path.join(here, "..", "tests", "data", "token_text.json"))
    a = ap.parse_args()
    out = {}
    for name in NAMES:
        tok = Tokenizer.from_file(os.path.join(a.assets, "tokenizers", name, "tokenizer.json"))
        n = tok.get_vocab_size(with_added_tokens=True)
        ids = sorted(set(list(range(300)) + list(range(300, n, 499)) + [n - 1]))
        out[name] = {str(i): vllm_token_text(tok, i) for i in ids}
    with open(a.out, "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, indent=0, sort_keys=False)
        f.write("\n")
    print(f"wrote {a.out}: " + ", ".join(f"{k} {len(v)}" for k, v in out.items()))


if __name__ == "__main__":
    main()
