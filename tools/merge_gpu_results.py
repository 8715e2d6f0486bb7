#!/usr/bin/env python3
"""Assembles bench/results/YYYY-MM-DD-DEVICE.json from the parts a GPU run writes.

Parts (each optional except --kernels):
  --kernels  bench_kernels_cuda's JSON: device, measured ceilings, roofline, per-kernel results
  --torch    tools/bench_torch_ref.py's JSON: the same shapes through torch
  --hf       tools/bench_hf_generate.py's JSON: transformers generate throughput/latency
  --e2e      `ember bench --json` output (or bench_decode_graph's JSON) for the end-to-end figures
  --decode   bench_decode_graph's JSON: decode-step time eager vs CUDA graphs

vs_torch compares like with like: each torch result is joined to the ember kernel result of
the same family, model and case, and the ratio torch_ms / ember_ms is reported (above 1: ember
is faster), per case and as a per-family median. Stdlib only.
"""
import argparse
import datetime
import json
import re
import statistics
import subprocess
import sys

# ember kernel family -> torch family of bench_torch_ref.py
TORCH_FAMILY = {"gemm": "gemm", "rmsnorm": "rmsnorm", "attn_decode": "sdpa_decode",
                "attn_prefill": "sdpa_prefill"}


def case_key(name):
    """The case part of a result name: ember's decode names carry ' splits=N', torch's do not."""
    return re.sub(r"\s+splits=\d+", "", name).strip()


def load(path, what):
    if not path:
        return None
    try:
        with open(path) as f:
            return json.load(f)
    except OSError as e:
        raise SystemExit(f"merge_gpu_results: {what} {path}: {e.strerror}")
    except json.JSONDecodeError as e:
        raise SystemExit(f"merge_gpu_results: {what} {path}: not valid JSON ({e})")


def device_slug(name):
    return re.sub(r"-+", "-", re.sub(r"[^A-Za-z0-9]+", "-", name)).strip("-") or "gpu"


def vs_torch(kernels, torch):
    ours = {}
    for r in kernels.get("results", []):
        fam = TORCH_FAMILY.get(r.get("family"))
        if fam:
            ours[(fam, r.get("model"), case_key(r.get("name", "")))] = r
    cases, by_family = [], {}
    for t in torch.get("results", []):
        key = (t.get("family"), t.get("model"), case_key(t.get("name", "")))
        e = ours.get(key)
        if not e or not e.get("ms") or not t.get("ms"):
            continue
        ratio = t["ms"] / e["ms"]
        cases.append({"family": key[0], "model": key[1], "name": key[2], "ember_ms": e["ms"],
                      "torch_ms": t["ms"], "torch_over_ember": round(ratio, 4)})
        by_family.setdefault(key[0], []).append(ratio)
    summary = {f: {"median_torch_over_ember": round(statistics.median(v), 4), "cases": len(v)}
               for f, v in sorted(by_family.items())}
    return {"torch_version": torch.get("torch_version"), "summary": summary, "cases": cases}


def git_rev():
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def merge(kernels, torch=None, hf=None, e2e=None, decode=None, command="", rev=None, date=None):
    if kernels is None:
        raise ValueError("the kernels part is required")
    for key in ("device", "measured_hbm_gbps", "measured_bf16_tflops", "roofline"):
        if key not in kernels:
            raise ValueError(f"kernels part lacks '{key}'")
    date = date or datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
    out = {
        "device": kernels["device"],
        "date": date,
        "command": command,
        "git_rev": rev or git_rev(),
        "measured_hbm_gbps": kernels["measured_hbm_gbps"],
        "measured_bf16_tflops": kernels["measured_bf16_tflops"],
        "roofline": {k: kernels["roofline"].get(k) for k in
                     ("decode_b1_bw_fraction", "decode_attention_bw_fraction",
                      "rmsnorm_bw_fraction", "prefill_gemm_fraction")},
        "e2e": e2e,
        "vs_torch": vs_torch(kernels, torch) if torch else None,
        "hf_generate": hf,
        "decode_graphs": decode,
        "kernels": kernels.get("results", []),
    }
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--kernels", required=True)
    p.add_argument("--torch")
    p.add_argument("--hf")
    p.add_argument("--e2e")
    p.add_argument("--decode")
    p.add_argument("--command", default="")
    p.add_argument("--git-rev")
    p.add_argument("--date")
    p.add_argument("--out-dir", default="bench/results")
    p.add_argument("--out", help="explicit output path (default OUT_DIR/DATE-DEVICE.json)")
    a = p.parse_args(argv)
    try:
        merged = merge(load(a.kernels, "--kernels"), load(a.torch, "--torch"), load(a.hf, "--hf"),
                       load(a.e2e, "--e2e"), load(a.decode, "--decode"), a.command, a.git_rev,
                       a.date)
    except ValueError as e:
        raise SystemExit(f"merge_gpu_results: {e}")
    path = a.out or f"{a.out_dir}/{merged['date']}-{device_slug(merged['device'])}.json"
    with open(path, "w") as f:
        json.dump(merged, f, indent=2)
        f.write("\n")
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
