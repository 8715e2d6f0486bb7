"""The tuning set both sweeps replay: the 2026-12-05 greedy and typical miners' replies (and how
each ended), the 50 prompts they answered, a candidate pool (candidate_pool.py) grouped by
prompt, and every text of a step embedded in the judge's space: per prompt, the prompt, the
greedy reply, the eight typical ones, then the pool's candidates in pool order. Run from the
repository root."""
import collections, importlib.machinery, importlib.util, json, os

spec = importlib.util.spec_from_loader("ue", importlib.machinery.SourceFileLoader("ue", "tools/uniqueness-eval"))
ue = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ue)


def load(pool_path, cache=None):
    """(base texts, base finish reasons, pool by uid, embeddings by uid); `cache` (.npz) keeps
    the embeddings between runs (about 10 minutes of encoding on 2 cores)."""
    import numpy as np
    base, base_finish = {}, {}
    for l in open("bench/results/uniqueness-2026-12-05/replies.jsonl"):
        x = json.loads(l)
        base[(x["uid"], x["config"])] = x["text"]
        base_finish[(x["uid"], x["config"])] = x.get("finish")
    prompts = {p["uid"]: p["prompt"] for p in
               ue.load_prompts("../shared/assets/prompts/arena-hard-v2.0.question.jsonl", 50, 1500, 20261205)}
    pool = collections.defaultdict(list)
    for l in open(pool_path):
        x = json.loads(l)
        pool[x["uid"]].append(x)
    if cache and os.path.exists(cache):
        return base, base_finish, pool, dict(np.load(cache))
    from sentence_transformers import SentenceTransformer
    enc = SentenceTransformer(ue.model_dir("all-mpnet-base-v2"), device="cpu")
    E = {uid: enc.encode([prompts[uid], base[(uid, "greedy")]] + [base[(uid, f"typical-{k}")] for k in range(8)] +
                         [c["text"] for c in cs], normalize_embeddings=True) for uid, cs in pool.items()}
    if cache:
        np.savez(cache, **E)
    return base, base_finish, pool, E
