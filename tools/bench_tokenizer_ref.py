#!/usr/bin/env python3
"""Python `tokenizers` throughput on the same texts as bench/bench_tokenizer.cc.

  bench_tokenizer_ref.py TOKENIZER_JSON TEXT_FILE... [--repeat N] [--ids-out FILE]

Prints one line per text: `<file> encode_MBps=<x> decode_MBps=<y> tokens=<n>` (single call
to Tokenizer.encode on the whole text, no special tokens; MB = 1e6 bytes of input text).
"""
import argparse
import sys
import time

from tokenizers import Tokenizer


def best_time(fn, repeat):
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("tokenizer")
    ap.add_argument("texts", nargs="+")
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    tok = Tokenizer.from_file(a.tokenizer)
    for path in a.texts:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        nbytes = len(text.encode("utf-8"))
        ids = tok.encode(text, add_special_tokens=False).ids
        enc = best_time(lambda: tok.encode(text, add_special_tokens=False), a.repeat)
        dec = best_time(lambda: tok.decode(ids, skip_special_tokens=False), a.repeat)
        print(f"{path} encode_MBps={nbytes / enc / 1e6:.2f} decode_MBps={nbytes / dec / 1e6:.2f} "
              f"tokens={len(ids)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
