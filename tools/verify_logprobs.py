#!/usr/bin/env python3
"""Today's validators' logprob check, reproduced against a running `ember serve`.

A developer tool, run by hand (CI keeps the committed goldens instead of installing torch). Two
phases, because the client side needs the openai SDK and bittensor's Keypair (the repo's .venv)
and the reference side needs torch and transformers (a reference venv such as .venv-golden):

  1. query: asks the server as a validator does (docs: ../shared/docs/validators-today.md §1-2):
     the openai SDK with an httpx request hook that adds Epistula v2 headers signed by a fresh
     sr25519 validator key, X-Client-Timeout, and copies of the body fields; streamed, seeded,
     temperature 0.7 in `sampling_parameters`, logprobs with top_logprobs=10; CONCURRENCY
     requests at once. Saves every chunk (token, logprob, top_logprobs, arrival time).
       .venv/bin/python tools/verify_logprobs.py query --url http://127.0.0.1:8091 \\
           --miner-hotkey SS58 --concurrency 16 --out replies.json
  2. score: re-runs the model in float32 with transformers as the reference and scores each reply
     as validators-today.md §4 says: up to 30 random positions of the reply plus the end; at
     each, the reference's top-10 log-probabilities after the prompt and the reply's text so far
     (the assistant message continued); similarity = cosine of the two logprob vectors over the
     tokens both top-10 lists hold x (common tokens / 10); contains = the chunk's token is in
     both lists; at the end of a reply that stopped (finish "stop"), the reference's top-10 must
     hold an end-of-turn token. Prints one JSON summary (and writes it with --summary).
       .venv-golden/bin/python tools/verify_logprobs.py score --model ~/.cache/ember/models/qwen2.5-0.5b \\
           --replies replies.json --summary summary.json

The thresholds validators apply: mean similarity >= 0.90 and mean contains >= 0.92 per reply.
"""
import argparse
import json
import math
import os
import random
import statistics
import sys
import time
import uuid as uuidlib

PROMPTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "assets",
                       "prompts", "arena-hard-v2.0.question.jsonl")


# ---------------------------------------------------------------------------------------------
# query


def epistula_hook(validator, miner_hotkey, timeout_s):
    import hashlib

    def hook(request):
        body = request.read()
        ts = int(time.time() * 1000)
        uid = str(uuidlib.uuid4())
        digest = hashlib.sha256(body).hexdigest()
        message = f"{digest}.{uid}.{ts}.{miner_hotkey}"
        request.headers["Epistula-Version"] = "2"
        request.headers["Epistula-Timestamp"] = str(ts)
        request.headers["Epistula-Uuid"] = uid
        request.headers["Epistula-Signed-By"] = validator.ss58_address
        request.headers["Epistula-Signed-For"] = miner_hotkey
        request.headers["Epistula-Request-Signature"] = "0x" + validator.sign(message.encode()).hex()
        interval = math.ceil(ts / 10000) * 10000
        for i, n in enumerate((interval - 1, interval, interval + 1)):
            request.headers[f"Epistula-Secret-Signature-{i}"] = \
                "0x" + validator.sign(f"{float(n)}.{miner_hotkey}".encode()).hex()
        request.headers["X-Client-Timeout"] = str(timeout_s)
        # The validators' hook copies the top-level body fields into headers as Python prints them.
        try:
            for k, v in json.loads(body).items():
                if k not in ("messages", "model", "stream"):
                    request.headers[k] = str(v)
        except ValueError:
            pass

    return hook


def load_prompts(n, seed):
    rows = [json.loads(line) for line in open(PROMPTS, encoding="utf-8")]
    rows = [r for r in rows if len(r["prompt"]) < 1500]  # keep the reference re-runs short
    random.Random(seed).shuffle(rows)
    return [r["prompt"] for r in rows[:n]]


def query_one(client, model, prompt, seed, max_tokens, temperature):
    messages = [{"role": "user", "content": prompt}]
    t0 = time.monotonic()
    chunks, finish = [], None
    stream = client.chat.completions.create(
        model=model, messages=messages, stream=True, logprobs=True, top_logprobs=10,
        extra_body={"seed": seed, "task": "InferenceTask",
                    "sampling_parameters": {"temperature": temperature, "top_p": 0.95,
                                            "max_new_tokens": max_tokens, "do_sample": True}})
    for ev in stream:
        for c in ev.choices:
            if c.finish_reason:
                finish = c.finish_reason
            if c.logprobs and c.logprobs.content:
                for e in c.logprobs.content:
                    chunks.append({"text": c.delta.content or "", "token": e.token, "logprob": e.logprob,
                                   "top": [[t.token, t.logprob] for t in e.top_logprobs],
                                   "t": time.monotonic() - t0})
    return {"messages": messages, "seed": seed, "max_tokens": max_tokens, "finish": finish,
            "chunks": chunks, "seconds": time.monotonic() - t0}


def cmd_query(a):
    import concurrent.futures
    import httpx
    import openai
    from bittensor_wallet import Keypair

    validator = Keypair.create_from_mnemonic(Keypair.generate_mnemonic())
    hook = epistula_hook(validator, a.miner_hotkey, a.timeout)
    http_client = httpx.Client(event_hooks={"request": [hook]}, timeout=a.timeout)
    client = openai.OpenAI(base_url=a.url.rstrip("/") + "/v1", api_key="validator", http_client=http_client,
                           max_retries=0)
    model = a.model or client.models.list().data[0].id
    prompts = load_prompts(a.requests, a.seed)
    with concurrent.futures.ThreadPoolExecutor(a.concurrency) as pool:
        futs = [pool.submit(query_one, client, model, p, a.seed + i, a.max_tokens, a.temperature)
                for i, p in enumerate(prompts)]
        replies = [f.result() for f in futs]
    json.dump({"url": a.url, "model": model, "concurrency": a.concurrency, "replies": replies},
              open(a.out, "w"), indent=1)
    print(f"{len(replies)} replies, {sum(len(r['chunks']) for r in replies)} chunks -> {a.out}")


# ---------------------------------------------------------------------------------------------
# score


def cosine(a, b):
    na, nb = math.sqrt(sum(x * x for x in a)), math.sqrt(sum(x * x for x in b))
    return sum(x * y for x, y in zip(a, b)) / (na * nb) if na > 0 and nb > 0 else 0.0


class Reference:
    def __init__(self, model_dir):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
        torch.set_grad_enabled(False)
        self.torch = torch
        self.tok = AutoTokenizer.from_pretrained(model_dir)
        self.model = AutoModelForCausalLM.from_pretrained(model_dir, torch_dtype=torch.float32).eval()
        gen = json.load(open(os.path.join(model_dir, "generation_config.json")))
        eos = gen.get("eos_token_id", [])
        self.eos = set(eos if isinstance(eos, list) else [eos]) | {self.tok.eos_token_id}
        self.cache = {}

    def ids(self, messages, prefix):
        convo = messages + [{"role": "assistant", "content": prefix}]
        out = self.tok.apply_chat_template(convo, tokenize=True, continue_final_message=True)
        return list(out["input_ids"] if isinstance(out, dict) or hasattr(out, "keys") else out)

    def top10(self, ids):
        key = tuple(ids)
        if key not in self.cache:
            logits = self.model(self.torch.tensor([ids])).logits[0, -1].float()
            lp = self.torch.log_softmax(logits, dim=-1)
            v, i = self.torch.topk(lp, 10)
            self.cache[key] = [(int(t), float(x)) for t, x in zip(i, v)]
        return self.cache[key]

    def token_str(self, i):
        return self.tok.decode([i])


def score_reply(ref, reply, rng):
    chunks = reply["chunks"]
    if not chunks:
        return None
    positions = sorted(rng.sample(range(len(chunks)), min(30, len(chunks))))
    sims, contains = [], []
    text = [c["text"] for c in chunks]
    for p in positions:
        ids = ref.ids(reply["messages"], "".join(text[:p]))
        theirs = {ref.token_str(i): lp for i, lp in ref.top10(ids)}
        mine = {t: lp for t, lp in chunks[p]["top"][:10]}
        common = [t for t in mine if t in theirs]
        sim = cosine([mine[t] for t in common], [theirs[t] for t in common]) * len(common) / 10 if common else 0.0
        sims.append(sim)
        contains.append(1.0 if chunks[p]["token"] in mine and chunks[p]["token"] in theirs else 0.0)
    eos_ok = True
    if reply["finish"] == "stop" and len(chunks) < reply["max_tokens"]:
        ids = ref.ids(reply["messages"], "".join(text))
        eos_ok = any(i in ref.eos for i, _ in ref.top10(ids))
    return {"positions": len(positions), "similarity": statistics.mean(sims), "contains": statistics.mean(contains),
            "min_similarity": min(sims), "eos_in_reference_top10": eos_ok, "tokens": len(chunks),
            "finish": reply["finish"]}


def chunk_gaps(replies):
    gaps = []
    for r in replies:
        ts = [c["t"] for c in r["chunks"]]
        gaps += [b - a for a, b in zip(ts, ts[1:])]
    return gaps


def cmd_score(a):
    data = json.load(open(a.replies))
    ref = Reference(a.model)
    rng = random.Random(a.seed)
    scores = []
    for r in data["replies"]:
        s = score_reply(ref, r, rng)
        if s:
            scores.append(s)
            print(json.dumps(s), flush=True)
    gaps = sorted(chunk_gaps(data["replies"]))
    q = lambda f: gaps[min(len(gaps) - 1, int(f * len(gaps)))] if gaps else None  # noqa: E731
    summary = {
        "model": data["model"], "concurrency": data["concurrency"], "replies": len(scores),
        "mean_similarity": statistics.mean(s["similarity"] for s in scores),
        "min_reply_similarity": min(s["similarity"] for s in scores),
        "mean_contains": statistics.mean(s["contains"] for s in scores),
        "min_reply_contains": min(s["contains"] for s in scores),
        "eos_checks_failed": sum(not s["eos_in_reference_top10"] for s in scores),
        "passing_replies": sum(s["similarity"] >= 0.90 and s["contains"] >= 0.92 for s in scores),
        "chunk_gap_p50_s": q(0.5), "chunk_gap_p99_s": q(0.99),
        "chunk_gap_std_s": statistics.pstdev(gaps) if gaps else None,
    }
    print(json.dumps(summary, indent=1))
    if a.summary:
        json.dump(summary, open(a.summary, "w"), indent=1)
    ok = summary["mean_similarity"] >= a.min_similarity and summary["mean_contains"] >= a.min_contains
    return 0 if ok else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    q = sub.add_parser("query", help="ask a running ember serve as a validator does")
    q.add_argument("--url", default="http://127.0.0.1:8091")
    q.add_argument("--miner-hotkey", required=True, help="the server's SS58 hotkey (its Signed-For)")
    q.add_argument("--model", default="", help="model name to send (default: the first of /v1/models)")
    q.add_argument("--requests", type=int, default=16)
    q.add_argument("--concurrency", type=int, default=1)
    q.add_argument("--max-tokens", type=int, default=64)
    q.add_argument("--temperature", type=float, default=0.7)
    q.add_argument("--timeout", type=float, default=600)
    q.add_argument("--seed", type=int, default=1)
    q.add_argument("--out", required=True)
    s = sub.add_parser("score", help="score saved replies with transformers as the reference")
    s.add_argument("--model", required=True, help="the model folder ember serves")
    s.add_argument("--replies", required=True)
    s.add_argument("--summary", default="")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--min-similarity", type=float, default=0.999)
    s.add_argument("--min-contains", type=float, default=1.0)
    a = ap.parse_args()
    if a.cmd == "query":
        cmd_query(a)
        return 0
    return cmd_score(a)


if __name__ == "__main__":
    sys.exit(main())
