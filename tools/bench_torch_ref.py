#!/usr/bin/env python3
"""Times torch on the shapes of bench_kernels_cuda, for the vs_torch part of the GPU report:
torch.matmul (x @ w.T, bf16), F.scaled_dot_product_attention (decode: one query per sequence
over a dense KV of its context; prefill: causal) and a torch RMSNorm, per model shape. Each
call runs cold (L2 flushed before it, outside the events), median of the repeats, as the C++
bench does. Result names match bench_kernels_cuda's, so tools/merge_gpu_results.py can join
them. Usage: bench_torch_ref.py OUT.json [--quick] [--model NAME]...
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_shapes as S  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--model", action="append")
    a = p.parse_args()
    import torch
    import torch.nn.functional as F

    if not torch.cuda.is_available():
        raise SystemExit("bench_torch_ref: no CUDA device")
    dev = torch.device("cuda")
    props = torch.cuda.get_device_properties(0)
    l2 = getattr(props, "L2_cache_size", 50 << 20) or (50 << 20)
    flush = torch.empty(2 * l2, dtype=torch.uint8, device=dev)
    gen = torch.Generator(device=dev).manual_seed(1)

    def rnd(*shape, scale=1.0):
        return (torch.randn(*shape, device=dev, generator=gen, dtype=torch.float32) * scale).to(
            torch.bfloat16)

    def time_ms(fn, reps=20):
        fn()
        fn()
        times = []
        for i in range(reps):
            flush.fill_(i & 0xFF)
            a_, b_ = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            a_.record()
            fn()
            b_.record()
            b_.synchronize()
            times.append(a_.elapsed_time(b_))
        times.sort()
        return times[len(times) // 2]

    results = []

    def rec(family, model, name, batch, ctx, ms):
        results.append({"family": family, "model": model, "name": name, "batch": batch,
                        "ctx": ctx, "ms": ms})
        print(f"  {family:13s} {model:16s} {name:34s} {ms:9.4f} ms", file=sys.stderr)

    models = a.model or (S.QUICK["models"] if a.quick else list(S.MODELS))
    for name in models:
        if name not in S.MODELS:
            raise SystemExit(f"bench_torch_ref: unknown model {name}")
        H, nq, nkv, D, I, V = S.MODELS[name]
        gemm_ms = S.QUICK["gemm_ms"] if a.quick else S.GEMM_MS
        for proj, N, K in S.projections(H, nq, nkv, D, I, V):
            w = rnd(N, K, scale=0.02)
            x = rnd(max(gemm_ms), K)
            for M in gemm_ms:
                xm = x[:M]
                ms = time_ms(lambda: torch.matmul(xm, w.t()), 10 if M >= 2048 else 20)
                rec("gemm", name, f"{proj} M={M} N={N} K={K}", M, 0, ms)
            del w, x
        wn = rnd(H)
        for T in (S.QUICK["tokens"] if a.quick else S.TOKEN_COUNTS):
            x = rnd(T, H)

            def rms():
                xf = x.float()
                return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + 1e-5)).to(
                    torch.bfloat16) * wn
            rec("rmsnorm", name, f"rmsnorm T={T}", T, 0, time_ms(rms))
            if hasattr(F, "rms_norm"):
                rec("rmsnorm_fused", name, f"rmsnorm T={T}", T, 0,
                    time_ms(lambda: F.rms_norm(x, (H,), wn, 1e-5)))
        batches = S.QUICK["batches"] if a.quick else S.DECODE_BATCHES
        ctxs = S.QUICK["contexts"] if a.quick else S.CONTEXTS
        total = torch.cuda.get_device_properties(0).total_memory
        for B in batches:
            for C in ctxs:
                if B * C * nkv * D * 2 * 2 > 0.4 * total:
                    continue
                q = rnd(B, nq, 1, D)
                k = rnd(B, nkv, C, D)
                v = rnd(B, nkv, C, D)
                # GQA without materialising the repeated KV where torch supports it.
                try:
                    F.scaled_dot_product_attention(q, k, v, enable_gqa=True)
                    fn = lambda: F.scaled_dot_product_attention(q, k, v, enable_gqa=True)  # noqa: E731
                except TypeError:
                    kr, vr = k.repeat_interleave(nq // nkv, 1), v.repeat_interleave(nq // nkv, 1)
                    fn = lambda: F.scaled_dot_product_attention(q, kr, vr)  # noqa: E731
                rec("sdpa_decode", name, f"decode S={B} ctx={C}", B, C, time_ms(fn))
                del q, k, v
        for C in ctxs:
            q, k, v = rnd(1, nq, C, D), rnd(1, nkv, C, D), rnd(1, nkv, C, D)
            kr, vr = k.repeat_interleave(nq // nkv, 1), v.repeat_interleave(nq // nkv, 1)
            rec("sdpa_prefill", name, f"prefill S=1 ctx={C}", 1, C,
                time_ms(lambda: F.scaled_dot_product_attention(q, kr, vr, is_causal=True), 5))
            del q, k, v, kr, vr
        torch.cuda.empty_cache()
    out = {"device": props.name, "torch_version": torch.__version__, "quick": a.quick,
           "results": results}
    with open(a.out, "w") as f:
        json.dump(out, f, indent=1)
    print(f"bench_torch_ref: {len(results)} results -> {a.out}")


if __name__ == "__main__":
    main()
