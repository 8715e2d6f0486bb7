#!/usr/bin/env python3
"""transformers on the CPU, the side-by-side baseline of tools/bench-real-cpu.sh: one JSON line
with load time, prefill tokens/s of one N-token prompt, batch-1 decode tokens/s, the output
tokens/s of B sequences generated together, and peak RSS (this process).

Usage: bench_hf_cpu.py MODEL_DIR [--dtype bfloat16|float32] [--threads 2] [--prefill 512]
       [--decode 128] [--batch 16] [--batch-prompt 128] [--batch-new 128]
Prompts are fixed pseudo-random token ids (no tokenizer), greedy, EOS ignored.
"""
import argparse
import json
import resource
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--dtype", default="bfloat16")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--prefill", type=int, default=512)
    ap.add_argument("--decode", type=int, default=128)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--batch-prompt", type=int, default=128)
    ap.add_argument("--batch-new", type=int, default=128)
    a = ap.parse_args()
    import torch
    from transformers import AutoModelForCausalLM

    torch.set_num_threads(a.threads)
    t0 = time.time()
    model = AutoModelForCausalLM.from_pretrained(a.model, dtype=getattr(torch, a.dtype)).eval()
    load_s = time.time() - t0
    vocab = model.config.vocab_size
    ids = lambda n, salt: [(i * 7919 + salt * 104729 + 11) % (vocab - 1000) + 500 for i in range(n)]

    def timed(fn):
        t = time.time()
        fn()
        return time.time() - t

    with torch.no_grad():
        x = torch.tensor([ids(a.prefill, 1)])
        model(x[:, :32])  # warm-up
        prefill_s = min(timed(lambda: model(x)) for _ in range(2))
        gen = dict(do_sample=False, min_new_tokens=a.decode, max_new_tokens=a.decode,
                   pad_token_id=0)
        p = torch.tensor([ids(32, 2)])
        first = timed(lambda: model.generate(p, **{**gen, "min_new_tokens": 1,
                                                    "max_new_tokens": 1}))
        total = timed(lambda: model.generate(p, **gen))
        decode_tps = (a.decode - 1) / (total - first)
        pb = torch.tensor([ids(a.batch_prompt, 10 + b) for b in range(a.batch)])
        genb = dict(do_sample=False, min_new_tokens=a.batch_new, max_new_tokens=a.batch_new,
                    pad_token_id=0)
        batch_s = timed(lambda: model.generate(pb, attention_mask=torch.ones_like(pb), **genb))
    print(json.dumps({
        "engine": "transformers", "dtype": a.dtype, "threads": a.threads,
        "load_s": round(load_s, 2),
        "prefill_tokens": a.prefill, "prefill_tok_s": round(a.prefill / prefill_s, 1),
        "decode_tok_s": round(decode_tps, 1),
        "batch": a.batch, "batch_output_tok_s": round(a.batch * a.batch_new / batch_s, 1),
        "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6, 3),
        "torch": torch.__version__}))


if __name__ == "__main__":
    main()
