"""Selection rules replayed offline on the candidate pool (candidate_pool.py), judged as
tools/uniqueness-eval judges: all-mpnet-base-v2, distance to the 2026-12-05 greedy and typical
miners' replies (the same prompts). Each row: which candidates (B = built-in styles, mixed
placement; N = the format styles), how many anchors (the greedy reply, then the pool's two at
temperature 0.7; 0 = the candidates' centroid), the finish rule (strict: a finished candidate
beats any cut at max_tokens; adaptive: not when the stock reply reached max_tokens itself), and
the relevance ratio. The loop check of the floor is left out (no candidate here loops).
  .venv-golden/bin/python bench/results/uniqueness-2026-12-06/sweep/sweep.py POOL.jsonl [EMBEDDINGS.npz]
"""
import itertools, os, sys
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tuning_pool import load

base, base_finish, pool, E = load(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None)


def simulate(pick, n_anchor, rule, ratio, min_lp=-2.5):
    res = []
    for uid, e in E.items():
        cs = pool[uid]
        q, g, typ, ce = e[0], e[1], e[2:10], e[10:]
        idx = pick(cs)
        pool_anchors = [i for i, c in enumerate(cs) if c["kind"] == "anchor"]
        anchors = ([g] + [ce[i] for i in pool_anchors])[:n_anchor]
        rel = {i: float(q @ ce[i]) for i in idx}
        best = max(rel.values())
        med = sorted(cs[i]["tokens"] for i in idx)[len(idx) // 2]
        ok = [i for i in idx if cs[i]["lp"] >= min_lp and cs[i]["text"].strip() and rel[i] >= ratio * best
              and not (cs[i]["tokens"] < 16 and cs[i]["tokens"] * 4 < med)]
        fin = [i for i in ok if cs[i]["finish"] == "stop"]
        stock_cut = n_anchor > 0 and (base_finish[(uid, "greedy")] == "length" or
                                      any(cs[i]["finish"] == "length" for i in pool_anchors[:n_anchor - 1]))
        choice = (ok if rule == "adaptive" and stock_cut else (fin or ok)) or idx
        if anchors:
            score = lambda i: min(1 - float(ce[i] @ a) for a in anchors)
        else:
            cen = np.mean([ce[i] for i in idx], 0)
            cen /= np.linalg.norm(cen)
            score = lambda i: 1 - float(ce[i] @ cen)
        ch = max(choice, key=score)
        res.append((1 - abs(float(ce[ch] @ g)) >= 0.2, min(1 - abs(float(ce[ch] @ t)) for t in typ) >= 0.1,
                    rel[ch], float(q @ g)))
    a = np.array(res, dtype=float)
    return len(a), a[:, 0].mean(), a[:, 1].mean(), a[:, 2].mean(), a[:, 3].mean()


def built(n, new=False):
    return lambda cs: [i for i, c in enumerate(cs) if c["kind"] != "anchor" and not c["style"].startswith("new:")][:n] + \
        ([i for i, c in enumerate(cs) if c["style"].startswith("new:")] if new else [])


def system_only(n):
    return lambda cs: [i for i, c in enumerate(cs) if c["kind"] == "sys" and not c["style"].startswith("new:")][:n]


picks = {"B6 system": system_only(6), "B8": built(8), "B12": built(12), "B4+N4": built(4, True), "B8+N4": built(8, True),
         "B12+N4": built(12, True)}
print("| candidates | anchors | finish rule | relevance ratio | prompts | >= 0.2 from greedy | >= 0.1 from every typical | relevance (greedy) |")
print("|---|---|---|---|---|---|---|---|")
for (name, pick), n_anchor, rule, ratio in itertools.product(picks.items(), [0, 1, 3], ["strict", "adaptive"],
                                                             [0.7, 0.78, 0.8]):
    n, g2, t1, rel, grel = simulate(pick, n_anchor, rule, ratio)
    print(f"| {name} | {n_anchor} | {rule} | {ratio} | {n} | {g2:.2f} | {t1:.2f} | {rel:.3f} ({grel:.3f}) |")
