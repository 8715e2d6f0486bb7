#!/usr/bin/env python3
"""transformers generate on the bench shapes, random weights from a config (no download), for
the throughput/latency baseline of the GPU report. Per batch size: greedy generate of
--new-tokens tokens after --prompt-len random prompt ids (min_new_tokens = max_new_tokens, so
EOS never stops early); reports wall time, output tokens/s, time to first token (a generate of
one token) and mean time per further token.
Usage: bench_hf_generate.py OUT.json [--config bench/configs/llama-3-8b.json]
       [--batch 1 --batch 16 ...] [--prompt-len 512] [--new-tokens 128]
"""
import argparse
import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--config", default=os.path.join(ROOT, "bench", "configs", "llama-3-8b.json"))
    p.add_argument("--batch", type=int, action="append")
    p.add_argument("--prompt-len", type=int, default=512)
    p.add_argument("--new-tokens", type=int, default=128)
    p.add_argument("--attn", default="sdpa", help="attn_implementation (sdpa, eager, ...)")
    a = p.parse_args()
    import torch
    import transformers

    if not torch.cuda.is_available():
        raise SystemExit("bench_hf_generate: no CUDA device")
    with open(a.config) as f:
        cfg_dict = json.load(f)
    cfg = transformers.AutoConfig.for_model(cfg_dict.pop("model_type"), **{
        k: v for k, v in cfg_dict.items() if k not in ("architectures",)})
    torch.manual_seed(0)
    t0 = time.time()
    # Random init straight on the GPU in bf16; no checkpoint is read.
    with torch.device("cuda"):
        model = transformers.AutoModelForCausalLM.from_config(
            cfg, torch_dtype=torch.bfloat16, attn_implementation=a.attn)
    model.eval()
    load_s = time.time() - t0
    batches = a.batch or [1, 8, 32, 64, 128, 256]
    results = []
    for B in batches:
        ids = torch.randint(10, cfg.vocab_size - 10, (B, a.prompt_len), device="cuda")
        mask = torch.ones_like(ids)

        def gen(n):
            torch.cuda.synchronize()
            t = time.perf_counter()
            with torch.inference_mode():
                model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=n,
                               min_new_tokens=n, do_sample=False, pad_token_id=0)
            torch.cuda.synchronize()
            return time.perf_counter() - t

        try:
            gen(2)  # warm-up
            ttft = gen(1)
            total = gen(a.new_tokens)
        except torch.cuda.OutOfMemoryError:
            results.append({"batch": B, "error": "out of memory"})
            torch.cuda.empty_cache()
            continue
        r = {"batch": B, "prompt_len": a.prompt_len, "new_tokens": a.new_tokens,
             "wall_s": round(total, 4), "output_tokens_per_s": round(B * a.new_tokens / total, 2),
             "ttft_ms": round(ttft * 1e3, 3),
             "tpot_ms": round((total - ttft) / max(1, a.new_tokens - 1) * 1e3, 3)}
        results.append(r)
        print(f"  B={B:4d} {r['output_tokens_per_s']:10.1f} tok/s  TTFT {r['ttft_ms']:.1f} ms  "
              f"TPOT {r['tpot_ms']:.2f} ms", file=sys.stderr)
        torch.cuda.empty_cache()
    out = {"device": torch.cuda.get_device_properties(0).name, "torch_version": torch.__version__,
           "transformers_version": transformers.__version__, "config": os.path.basename(a.config),
           "attn_implementation": a.attn, "init_s": round(load_s, 2), "results": results}
    with open(a.out, "w") as f:
        json.dump(out, f, indent=1)
    print(f"bench_hf_generate: {len(results)} results -> {a.out}")


if __name__ == "__main__":
    main()
