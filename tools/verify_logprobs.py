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
     tokens both top-10 lists hold x (common tokens / 10), 0 when the lists' lengths differ;
     contains = the chunk's text is in its own top list and in the reference's; at the end of a
     reply that stopped (finish "stop"), the reference's top-10 must hold an end-of-turn token.
     Positions as apex's LogitsRewardModel picks them: 0, 28 random ones of 1..n-2, and the end. Prints one JSON summary (and writes it with --summary).
       .venv-golden/bin/python tools/verify_logprobs.py score --model ~/.cache/ember/models/qwen2.5-0.5b \\
           --replies replies.json --summary summary.json

The thresholds validators applied in 2025: mean similarity >= 0.86 and mean contains >= 0.96
per reply (validators-today.md quotes an earlier 0.90 / 0.92).
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


def load_prompts(n, seed, ascii_only=False):
    rows = [json.loads(line) for line in open(PROMPTS, encoding="utf-8")]
    rows = [r for r in rows if len(r["prompt"]) < 1500]  # keep the reference re-runs short
    if ascii_only:  # English prompts: replies rarely split characters across tokens
        rows = [r for r in rows if r["prompt"].isascii()]
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
    prompts = load_prompts(a.requests, a.seed, a.ascii_only)
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

    def prime(self, ids):
        """One forward over a whole reply: every position whose re-tokenized prefix is a prefix of
        these ids reads its row from here instead of running the model again (the result is the
        same: a causal model's row depends on the tokens before it only)."""
        logits = self.model(self.torch.tensor([ids])).logits[0].float()
        lp = self.torch.log_softmax(logits, dim=-1)
        v, i = self.torch.topk(lp, 10, dim=-1)
        for n in range(1, len(ids) + 1):
            self.cache[tuple(ids[:n])] = [(int(t), float(x)) for t, x in zip(i[n - 1], v[n - 1])]

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
    """One reply, as the validators' LogitsRewardModel scores it (apex, 2025): positions 0, 28
    random ones of 1..n-2, and the end; at each, similarity (0 unless both top lists have the same
    length) and contains (the chunk's *text* is in its own top list and in the reference's)."""
    chunks = reply["chunks"]
    n = len(chunks)
    if n < 10:
        return None
    positions = sorted(rng.sample(range(1, n - 1), min(n, 30) - 2) + [0])
    sims, contains, agree = [], [], []
    exact_sims, exact_contains = [], []  # where the validator's context is the miner's (below)
    text = [c["text"] for c in chunks]
    tokens = [c["token"] for c in chunks]
    ref.cache.clear()
    ref.prime(ref.ids(reply["messages"], "".join(text)))
    prompt_ids = ref.ids(reply["messages"], "")
    for p in positions:
        ids = ref.ids(reply["messages"], "".join(text[:p]))
        theirs = {ref.token_str(i): lp for i, lp in ref.top10(ids)}
        mine = {t: lp for t, lp in chunks[p]["top"]}
        common = [t for t in mine if t in theirs]
        sim = 0.0
        if len(mine) == len(theirs) and common:
            sim = max(0.0, min(1.0, cosine([mine[t] for t in common], [theirs[t] for t in common]) *
                               len(common) / len(theirs)))
        sims.append(sim)
        contains.append(1.0 if text[p] in mine and text[p] in theirs else 0.0)
        # Whether the two lists agree on the drawn token (both hold it or neither does): a miss
        # that only the draw explains (a temperature-0.7 token ranked below 10 in both lists)
        # counts against `contains` for any engine, not against the logprobs.
        agree.append(1.0 if (chunks[p]["token"] in mine) == (chunks[p]["token"] in theirs) else 0.0)
        # The validator rebuilds the context from the chunks' text and re-tokenizes it. That is
        # the context the miner sampled from only when the re-tokenization gives back the miner's
        # own tokens: after a token that ends inside a UTF-8 character the text lacks the
        # character's first bytes (no engine can stream them as text), and a sampled split such
        # as "文" + "字" re-tokenizes as "文字". Elsewhere the scores measure the logprobs alone.
        canonical = [ref.token_str(i) for i in ids[len(prompt_ids):]]
        if ids[:len(prompt_ids)] == prompt_ids and canonical == tokens[:p] and text[p] == tokens[p]:
            exact_sims.append(sim)
            if text[p] in mine:  # the draw landed in the top 10, so `contains` tests the lists
                exact_contains.append(contains[-1])
    eos_ok = True
    if reply["finish"] == "stop" and n < reply["max_tokens"]:
        ids = ref.ids(reply["messages"], "".join(text))
        eos_ok = any(i in ref.eos for i, _ in ref.top10(ids))
    drawn_outside = sum(chunks[p]["token"] not in {t for t, _ in chunks[p]["top"]} for p in positions)
    return {"positions": len(positions), "similarity": statistics.mean(sims), "contains": statistics.mean(contains),
            "min_similarity": min(sims), "lists_agree_on_token": statistics.mean(agree),
            "exact_context_positions": len(exact_sims), "exact_context_similarity": exact_sims,
            "exact_context_contains_in_top10": exact_contains,
            "drawn_outside_own_top10": drawn_outside, "eos_in_reference_top10": eos_ok, "tokens": n,
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
            print(json.dumps({k: v for k, v in s.items() if not isinstance(v, list)}), flush=True)
    gaps = sorted(chunk_gaps(data["replies"]))
    q = lambda f: gaps[min(len(gaps) - 1, int(f * len(gaps)))] if gaps else None  # noqa: E731
    summary = {
        "model": data["model"], "concurrency": data["concurrency"], "replies": len(scores),
        "mean_similarity": statistics.mean(s["similarity"] for s in scores),
        "min_reply_similarity": min(s["similarity"] for s in scores),
        "mean_contains": statistics.mean(s["contains"] for s in scores),
        "min_reply_contains": min(s["contains"] for s in scores),
        "mean_lists_agree_on_token": statistics.mean(s["lists_agree_on_token"] for s in scores),
        "exact_context_positions": sum(s["exact_context_positions"] for s in scores),
        "exact_context_mean_similarity": statistics.mean(x for s in scores for x in s["exact_context_similarity"]),
        "exact_context_min_similarity": min(x for s in scores for x in s["exact_context_similarity"]),
        "exact_context_mean_contains_when_drawn_in_top10":
            statistics.mean(x for s in scores for x in s["exact_context_contains_in_top10"]),
        "positions_drawn_outside_own_top10": sum(s["drawn_outside_own_top10"] for s in scores),
        "positions": sum(s["positions"] for s in scores),
        "eos_checks_failed": sum(not s["eos_in_reference_top10"] for s in scores),
        "passing_replies": sum(s["similarity"] >= 0.86 and s["contains"] >= 0.96 for s in scores),
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
    q.add_argument("--ascii-only", action="store_true", help="only prompts written in ASCII (English)")
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
