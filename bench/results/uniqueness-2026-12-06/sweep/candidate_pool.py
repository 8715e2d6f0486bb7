"""The candidate pool of the sweep: for each of the 50 prompts of uniqueness-2026-12-05, 12 replies
styled from the built-in set of that day (even system-placed, odd after the prompt), 4 with six
format styles (tried here, added to the built-in set after), and 2 unstyled replies at
temperature 0.7 (anchors); temperature 0.9, top_p 0.95, 96 tokens, with each reply's mean token
logprob. Run from the repository root with a build whose builtin_styles.cc has the twenty:
  .venv-golden/bin/python bench/results/uniqueness-2026-12-06/sweep/candidate_pool.py OUT.jsonl
"""
import importlib.machinery, importlib.util, json, os, re, random, sys, tempfile, concurrent.futures as cf, time, urllib.request
spec = importlib.util.spec_from_loader("ue", importlib.machinery.SourceFileLoader("ue", "tools/uniqueness-eval"))
ue = importlib.util.module_from_spec(spec); spec.loader.exec_module(ue)
src = open("net/unique/builtin_styles.cc").read()
styles = re.findall(r'\{"([a-z-]+)", "((?:[^"\\]|\\.)*)", 1\}', src)[:20]
NEW = [("dialogue", "Write the answer as a short dialogue between a curious student and an expert that covers everything the user asked, accurately."),
       ("table", "Where it fits, organise the key information in a compact markdown table, then add a one-line takeaway. Stay accurate and on the question."),
       ("practitioner", "Answer in the first person as an experienced practitioner explaining how you would handle this, with concrete specifics. Be accurate."),
       ("headings", "Split the answer into two or three sections with short markdown headings (## ...). Keep every part accurate and on the question."),
       ("glossary-first", "Start by defining the two or three key terms in one line each, then answer the question fully using them."),
       ("quick-then-deep", "Give the direct answer in the first line, then a deeper explanation of why and how, with a concrete detail or example.")]
out = sys.argv[1]
prompts = ue.load_prompts("../shared/assets/prompts/arena-hard-v2.0.question.jsonl", 50, 1500, 20261205)
done = set()
if os.path.exists(out):
    done = {json.loads(l)["uid"] for l in open(out)}
wallet = tempfile.mkdtemp()
ember = "build/tools/ember"
ue.new_hotkey(ember, wallet, "miner")
srv = ue.Serve(ember, "qwen2.5-0.5b", wallet, ["--max-tokens", "96", "--kv-cache-gb", "1"], out + ".serve.log")
def chat(msgs, temp, seed, top_p=0.95):
    body = {"model": "qwen2.5-0.5b", "messages": msgs, "max_tokens": 96, "temperature": temp, "top_p": top_p, "seed": seed, "logprobs": True}
    req = urllib.request.Request(f"http://127.0.0.1:{srv.port}/v1/chat/completions", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=900) as r:
        o = json.load(r)
    ch = o["choices"][0]
    lps = [t["logprob"] for t in (ch.get("logprobs") or {}).get("content", [])]
    return ch["message"]["content"], ch["finish_reason"], sum(max(x, -30) for x in lps) / max(len(lps), 1), len(lps)
f = open(out, "a")
t0 = time.time()
with cf.ThreadPoolExecutor(18) as pool:
    for i, p in enumerate(prompts):
        if p["uid"] in done: continue
        rng = random.Random(1000 + i)
        jobs = []
        def styled(place, name, text, seed):
            msgs = [{"role": "system", "content": text}, {"role": "user", "content": p["prompt"]}] if place == "sys" else \
                   [{"role": "user", "content": p["prompt"] + "\n\n(" + text + ")"}]
            jobs.append((place, name, pool.submit(chat, msgs, 0.9, seed)))
        for k in range(12):
            name, text = rng.choice(styles)
            styled("sys" if k % 2 == 0 else "after", name, text, 300 + k)
        for k in range(4):
            name, text = rng.choice(NEW)
            styled("sys" if k % 2 == 0 else "after", "new:" + name, text, 400 + k)
        for k in range(2):
            jobs.append(("anchor", "-", pool.submit(chat, [{"role": "user", "content": p["prompt"]}], 0.7, 5000 + k)))
        for kind, name, fu in jobs:
            t, fin, lp, n = fu.result()
            f.write(json.dumps({"uid": p["uid"], "kind": kind, "style": name, "text": t, "finish": fin, "lp": lp, "tokens": n}) + "\n")
        f.flush()
        print(i, round(time.time() - t0), flush=True)
srv.stop()
