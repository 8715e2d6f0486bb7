#!/usr/bin/env python3
"""Checks a folder written by tools/gguf_to_hf.py against transformers' own GGUF loader.

A developer tool, run by hand (not in CI); it needs torch and transformers:
    python3 -m venv .venv-golden && .venv-golden/bin/pip install torch transformers gguf accelerate
    .venv-golden/bin/python tools/check_gguf_conversion.py MODEL_DIR MODEL.gguf

transformers reads a GGUF with its own dequantizer, tensor-name map, config map and tokenizer
builder, none of them shared with gguf_to_hf.py, so agreement is evidence both are right:
  * the tokenizers encode the same ids on English, code, CJK, emoji, whitespace runs and
    control-token text (and on the llama.cpp tokenizer tests given with --tests);
  * the logits agree: against transformers' float32 weights they differ only by the bf16
    rounding of ours, and once transformers' weights are rounded to bf16 too they match closely;
  * greedy generation from the converted folder reads sensibly (printed for a person to judge).
"""
import argparse
import json
import os
import sys

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

TEXTS = [
    "The capital of France is",
    "Hello world",
    " Hello world",
    "Hello  world   with    runs     of      spaces",
    "\tTabs\t\tand\n\nnewlines\n\n\n",
    "def fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\n",
    "for (int i = 0; i < n; ++i) { sum += a[i] * b[i]; }",
    "東京は日本の首都です。北京是中国的首都。서울은 한국의 수도입니다.",
    "Emoji: 🦙🚀👍🏽 👨‍👩‍👧 and symbols ∀x∈ℝ: x² ≥ 0",
    "<b>bold</b> <table><tr><td>cell</td></tr></table>",
    "Numbers 1234567890 3.14159 1e-6 0x1F",
    "Ünïcödé façade naïve café résumé",
    "   leading spaces and trailing   ",
    "<start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n",
    "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n",
    "\u0000 control \u0007 chars \u00ad soft hyphen \u200b zero width",
    "",
]


def llama_cpp_tests(path):
    """Inputs of a llama.cpp tokenizer test file (NAME.inp), texts split by a marker line."""
    with open(path, encoding="utf-8") as f:
        texts = f.read().split("\n__ggml_vocab_test__\n")
    return [t for t in texts if t != ""]


def compare_tokenizers(mine, theirs, texts):
    same = round_trips = 0
    for text in texts:
        a = mine(text)["input_ids"]
        b = theirs(text)["input_ids"]
        if a == b:
            same += 1
        else:
            print(f"  tokenizer MISMATCH on {text[:50]!r}:\n    mine   {a[:24]}\n"
                  f"    theirs {b[:24]}")
        plain = mine(text, add_special_tokens=False)["input_ids"]
        round_trips += mine.decode(plain) == text
    print(f"  tokenizer: {same}/{len(texts)} texts encode to the same ids; "
          f"{round_trips}/{len(texts)} decode back to the text")
    return same == len(texts)


def logits(model, ids):
    with torch.no_grad():
        return model(torch.tensor([ids])).logits[0].float()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model_dir")
    ap.add_argument("gguf")
    ap.add_argument("--tests", action="append", default=[],
                    help="a llama.cpp tokenizer test input (.inp) to encode as well")
    ap.add_argument("--prompt", help="greedy-generation prompt (default: by architecture)")
    ap.add_argument("--chat", action="store_true", help="send --prompt through the chat template")
    ap.add_argument("--new-tokens", type=int, default=40)
    args = ap.parse_args()
    torch.manual_seed(0)
    gguf_dir, gguf_name = os.path.split(os.path.abspath(args.gguf))
    config = json.load(open(os.path.join(args.model_dir, "config.json")))

    mine_tok = AutoTokenizer.from_pretrained(args.model_dir)
    their_tok = AutoTokenizer.from_pretrained(gguf_dir, gguf_file=gguf_name)
    texts = list(TEXTS)
    for path in args.tests:
        texts += llama_cpp_tests(path)
    tok_ok = compare_tokenizers(mine_tok, their_tok, texts)

    mine = AutoModelForCausalLM.from_pretrained(args.model_dir, dtype=torch.float32).eval()
    prompt = args.prompt
    if prompt is None:
        chat = "chat_template" in json.load(
            open(os.path.join(args.model_dir, "tokenizer_config.json")))
        prompt = "What is the capital of France?" if chat else "The capital of France is"
        args.chat = chat
    if args.chat:
        ids = mine_tok.apply_chat_template([{"role": "user", "content": prompt}],
                                           add_generation_prompt=True, tokenize=True)
        if hasattr(ids, "keys"):
            ids = ids["input_ids"]
    else:
        ids = mine_tok(prompt)["input_ids"]
    with torch.no_grad():
        out = mine.generate(torch.tensor([ids]), max_new_tokens=args.new_tokens,
                            do_sample=False)
    text = mine_tok.decode(out[0, len(ids):], skip_special_tokens=True)
    print(f"  greedy ({'chat' if args.chat else 'plain'}) {prompt!r} -> {text!r}")
    seq = out[0].tolist()
    mine_logits = logits(mine, seq)
    del mine

    theirs = AutoModelForCausalLM.from_pretrained(gguf_dir, gguf_file=gguf_name,
                                                  dtype=torch.float32).eval()
    their_logits = logits(theirs, seq)
    diff = (mine_logits - their_logits).abs()
    top_same = (mine_logits.argmax(-1) == their_logits.argmax(-1)).float().mean().item()
    print(f"  logits vs transformers' GGUF load (f32 weights), {len(seq)} positions x "
          f"{mine_logits.shape[-1]}: max |diff| {diff.max().item():.4f}, mean "
          f"{diff.mean().item():.5f}, logit range {their_logits.abs().max().item():.1f}, "
          f"argmax agreement {top_same:.3f}")
    with torch.no_grad():
        for p in theirs.parameters():
            p.copy_(p.bfloat16().float())
    their_bf16 = logits(theirs, seq)
    diff16 = (mine_logits - their_bf16).abs()
    print(f"  logits vs transformers' GGUF load rounded to bf16: max |diff| "
          f"{diff16.max().item():.6f}, mean {diff16.mean().item():.7f}")
    seen = {k: getattr(theirs.config, k, None) for k in
            ("rope_parameters", "layer_types", "query_pre_attn_scalar", "sliding_window")}
    print(f"  transformers' config from the GGUF: {seen}")
    print(f"  ours: tie_word_embeddings={config.get('tie_word_embeddings')} "
          f"vocab_size={config.get('vocab_size')}")
    return 0 if tok_ok else 1


if __name__ == "__main__":
    sys.exit(main())
