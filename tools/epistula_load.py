#!/usr/bin/env python3
"""Load as today's validators make it: N concurrent streamed /v1/chat/completions requests, each
signed with Epistula v2 (validators-today.md §1-2) by a bittensor Keypair and asking for
logprobs with top_logprobs=10, against a running `ember serve`. Counts errors and reports the
gaps between successive SSE chunks of each reply (p50, p99, standard deviation; the validator's
smoothness factor is 1 - std of a reply's chunk times), time to first chunk, and throughput.

  ember serve --port 8091 --workers 512 --max-batch 256 &      # demo model: no --model
  .venv/bin/python tools/epistula_load.py --url http://127.0.0.1:8091 \\
      --miner-hotkey <the hotkey ember serve printed> --concurrency 256 --out bench/results/DIR

Needs httpx and bittensor_wallet (tools/requirements-test.txt). Exit status 1 if any request
failed."""
import argparse
import asyncio
import hashlib
import json
import math
import os
import platform
import statistics
import sys
import time
import uuid


def percentile(xs, q):
    if not xs:
        return float("nan")
    s = sorted(xs)
    k = (len(s) - 1) * q
    lo, hi = math.floor(k), math.ceil(k)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def epistula_headers(keypair, body, signed_for):
    ts = round(time.time() * 1000)
    uid = str(uuid.uuid4())
    digest = hashlib.sha256(body).hexdigest()
    return {
        "Epistula-Version": "2",
        "Epistula-Timestamp": str(ts),
        "Epistula-Uuid": uid,
        "Epistula-Signed-By": keypair.ss58_address,
        "Epistula-Signed-For": signed_for,
        "Epistula-Request-Signature": "0x" + keypair.sign(f"{digest}.{uid}.{ts}.{signed_for}").hex(),
        "X-Client-Timeout": "60",
        "Content-Type": "application/json",
    }


async def one_request(client, args, keypair, i, start_gate):
    body = json.dumps({
        "model": args.model, "messages": [{"role": "user", "content": f"Request {i}: tell me a story."}],
        "stream": True, "max_tokens": args.max_tokens, "logprobs": True, "top_logprobs": 10,
        "seed": 1000 + i, "task": "InferenceTask",
        "sampling_parameters": {"temperature": 0.7, "top_p": 0.95, "max_new_tokens": args.max_tokens,
                                "do_sample": True},
    }).encode()
    await start_gate.wait()
    headers = epistula_headers(keypair, body, args.miner_hotkey)
    t0 = time.perf_counter()
    times, lp_chunks, done = [], 0, False
    try:
        async with client.stream("POST", f"{args.url}/v1/chat/completions", content=body,
                                 headers=headers) as r:
            if r.status_code != 200:
                text = (await r.aread()).decode(errors="replace")
                return {"ok": False, "error": f"HTTP {r.status_code}: {text[:200]}"}
            async for line in r.aiter_lines():
                if not line.startswith("data: "):
                    continue
                data = line[6:]
                if data == "[DONE]":
                    done = True
                    break
                chunk = json.loads(data)
                if "error" in chunk:
                    return {"ok": False, "error": f"in-band error: {data[:200]}"}
                choices = chunk.get("choices") or []
                if not choices or not choices[0].get("delta", {}).get("content"):
                    continue  # the role chunk and the final finish_reason chunk carry no token
                times.append(time.perf_counter())
                lp = choices[0].get("logprobs") or {}
                content = lp.get("content") or []
                if content and len(content[0].get("top_logprobs") or []) == 10:
                    lp_chunks += 1
    except Exception as e:  # a transport error is a failed request, not a crash of the tool
        return {"ok": False, "error": f"{type(e).__name__}: {e}"}
    if not done:
        return {"ok": False, "error": "stream ended without [DONE]"}
    gaps = [b - a for a, b in zip(times, times[1:])]
    return {"ok": True, "ttfc": (times[0] - t0) if times else None, "total": time.perf_counter() - t0,
            "chunks": len(times), "lp_chunks": lp_chunks, "gaps": gaps}


async def run(args):
    import httpx
    from bittensor_wallet import Keypair
    keypair = Keypair.create_from_mnemonic(Keypair.generate_mnemonic())
    limits = httpx.Limits(max_connections=args.concurrency, max_keepalive_connections=args.concurrency)
    timeout = httpx.Timeout(120, connect=10)
    async with httpx.AsyncClient(limits=limits, timeout=timeout) as client:
        gate = asyncio.Event()
        tasks = [asyncio.create_task(one_request(client, args, keypair, i, gate)) for i in range(args.concurrency)]
        await asyncio.sleep(0.2)
        t0 = time.perf_counter()
        gate.set()
        results = await asyncio.gather(*tasks)
        wall = time.perf_counter() - t0
    return results, wall


def summarize(results, wall, args):
    ok = [r for r in results if r["ok"]]
    errors = [r["error"] for r in results if not r["ok"]]
    gaps = [g for r in ok for g in r["gaps"]]
    per_reply_std = [statistics.pstdev(r["gaps"]) for r in ok if len(r["gaps"]) >= 2]
    chunks = sum(r["chunks"] for r in ok)
    ttfc = [r["ttfc"] for r in ok if r["ttfc"] is not None]
    return {
        "requests": len(results), "ok": len(ok), "errors": len(errors), "error_samples": errors[:5],
        "concurrency": args.concurrency, "max_tokens": args.max_tokens, "wall_s": round(wall, 3),
        "chunks": chunks, "chunks_with_10_top_logprobs": sum(r["lp_chunks"] for r in ok),
        "chunks_per_s": round(chunks / wall, 1) if wall > 0 else None,
        "chunk_gap_s": {
            "n": len(gaps), "p50": percentile(gaps, 0.5), "p99": percentile(gaps, 0.99),
            "mean": statistics.fmean(gaps) if gaps else None,
            "std": statistics.pstdev(gaps) if len(gaps) >= 2 else None, "max": max(gaps) if gaps else None,
        },
        "per_reply_gap_std_s": {"mean": statistics.fmean(per_reply_std) if per_reply_std else None,
                                "p99": percentile(per_reply_std, 0.99)},
        "time_to_first_chunk_s": {"p50": percentile(ttfc, 0.5), "p99": percentile(ttfc, 0.99)},
        "client": {"python": platform.python_version(), "host": platform.node(), "cpus": os.cpu_count()},
    }


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", default="http://127.0.0.1:8091")
    p.add_argument("--miner-hotkey", required=True, help="SS58 hotkey `ember serve` printed (Epistula-Signed-For)")
    p.add_argument("--model", default="ember-demo")
    p.add_argument("--concurrency", type=int, default=256)
    p.add_argument("--max-tokens", type=int, default=64)
    p.add_argument("--out", help="folder for result.json (and the summary printed)")
    args = p.parse_args()
    results, wall = asyncio.run(run(args))
    summary = summarize(results, wall, args)
    text = json.dumps(summary, indent=2)
    print(text)
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "result.json"), "w") as f:
            f.write(text + "\n")
    sys.exit(1 if summary["errors"] else 0)


if __name__ == "__main__":
    main()
