#!/usr/bin/env python3
"""Reference encodings/decodings from the Python `tokenizers` package (pinned in
tools/requirements-test.txt), for ember's tokenizer tests.

  tokenizer_reference.py encode TOKENIZER_JSON INPUT_JSON [--add-special]
      INPUT_JSON: a JSON list of strings; prints a JSON list of id lists.
  tokenizer_reference.py decode TOKENIZER_JSON INPUT_JSON [--skip-special]
      INPUT_JSON: a JSON list of id lists; prints a JSON list of strings.
"""
import argparse
import json
import sys

from tokenizers import Tokenizer


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["encode", "decode"])
    ap.add_argument("tokenizer")
    ap.add_argument("input")
    ap.add_argument("--add-special", action="store_true")
    ap.add_argument("--skip-special", action="store_true")
    a = ap.parse_args()
    tok = Tokenizer.from_file(a.tokenizer)
    with open(a.input, encoding="utf-8") as f:
        items = json.load(f)
    if a.mode == "encode":
        out = [tok.encode(t, add_special_tokens=a.add_special).ids for t in items]
    else:
        out = [tok.decode(ids, skip_special_tokens=a.skip_special) for ids in items]
    json.dump(out, sys.stdout, ensure_ascii=True)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
