#!/usr/bin/env python3
"""Writes the sentence-encoder goldens: tests/data/encoder/<name>.json.

A developer tool, run once by hand (not in CI), after tools/fetch-models.sh all-minilm-l6-v2
all-mpnet-base-v2:
    .venv-golden/bin/pip install sentence-transformers
    .venv-golden/bin/python tools/encoder_golden.py [--models all-minilm-l6-v2,all-mpnet-base-v2]

For each fetched sentence-transformers folder (~/.cache/ember/models/NAME) it records:
  - "embed": real prompts from ../shared/assets/prompts (short, accented, CJK, and some longer
    than the model's max_seq_length, so truncation is exercised) with the ids the model's own
    tokenizer gives them under sentence-transformers' truncation, and the embedding
    SentenceTransformer.encode returns (mean pooling, normalized), in float32;
  - "tokenize": many more prompts with their ids only (the WordPiece test compares ember's ids).
tests/encoder/test_sentence_encoder_parity.cc and tests/text/test_wordpiece.cc read them.
"""
import argparse
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROMPTS = os.path.join(ROOT, "..", "shared", "assets", "prompts")


def jsonl_texts(rel, field=None):
    out = []
    with open(os.path.join(PROMPTS, rel), encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            v = json.loads(line)
            if field == "turns":
                out.extend(v["turns"])
            elif field:
                out.append(v[field])
            else:
                out.append(v)
    return out


def corpus():
    en = jsonl_texts("oasst/en_100_text.jsonl")
    multi = jsonl_texts("oasst/multilingual-60.jsonl")
    arena = jsonl_texts("arena-hard-v0.1.question.jsonl", "prompt")
    mt = jsonl_texts("mt-bench/mt_bench.question.jsonl", "turns")
    # Embedding cases: varied and a few long enough to be truncated at 256 / 384 tokens.
    long_arena = sorted(arena, key=len, reverse=True)
    embed = en[:8] + multi[:40:5] + arena[:2] + long_arena[:2] + [
        "", "   ", "ÀÉÎÕÜ naïve café 中文字符 テスト 한국어", "[CLS] literal [SEP] <s> and </s> and <mask> and [UNK]",
        "Tabs\tand\nnewlines\r\nand\u00a0no-break\u2003em spaces, zero\u200bwidth, \u0000nul"]
    tokenize = en + multi + arena[:60] + mt[:40] + embed[-5:]
    return embed, tokenize


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="all-minilm-l6-v2,all-mpnet-base-v2")
    args = ap.parse_args()
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(max(1, os.cpu_count() or 1))
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    embed_texts, tok_texts = corpus()
    for name in args.models.split(","):
        path = os.path.join(cache, "ember", "models", name)
        if not os.path.isdir(path):
            sys.exit(f"{path}: not fetched (run tools/fetch-models.sh {name})")
        model = SentenceTransformer(path, device="cpu")
        tok = model.tokenizer
        max_len = model.max_seq_length

        def ids(texts):
            enc = tok(texts, truncation="longest_first", max_length=max_len, padding=False)
            return enc["input_ids"]

        emb = model.encode(embed_texts, batch_size=8, convert_to_numpy=True,
                           normalize_embeddings=False)
        out = {
            "model": name,
            "max_seq_length": max_len,
            "dim": int(emb.shape[1]),
            "embed": [{"text": t, "ids": i, "embedding": [float(x) for x in e]}
                      for t, i, e in zip(embed_texts, ids(embed_texts), emb)],
            "tokenize": [{"text": t, "ids": i} for t, i in zip(tok_texts, ids(tok_texts))],
        }
        dst = os.path.join(ROOT, "tests", "data", "encoder", f"{name}.json")
        with open(dst, "w", encoding="utf-8") as f:
            json.dump(out, f, ensure_ascii=False, separators=(",", ":"))
            f.write("\n")
        print(f"{dst}: {len(out['embed'])} embeddings of {out['dim']}, "
              f"{len(out['tokenize'])} tokenized texts")


if __name__ == "__main__":
    main()
