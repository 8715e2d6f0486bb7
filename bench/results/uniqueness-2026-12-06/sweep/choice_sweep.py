"""How the choice among candidates that pass the floor trades distance for relevance, replayed
offline on the candidate pool (candidate_pool.py) and judged as tools/uniqueness-eval judges
(all-mpnet-base-v2 against the 2026-12-05 greedy and typical miners' replies to the same 50
prompts). Rows: the candidates (B = built-in styles, mixed placement; N = the format styles), the
anchors (the greedy reply, then the pool's unstyled replies at temperature 0.7), what the
relevance bar is relative to (the best candidate; the greedy anchor; the candidates' median), its
ratio, and the choice: `farthest` (the candidate whose nearest anchor is farthest), or
`reward T` (the best relevance x 1 / (1 + exp(-40 (d - T))), d the distance to the nearest
anchor: the validators' reward with their sigmoid moved to T, as --select-target-distance T).
The adaptive finish rule and the loop-free pool are as in sweep.py.
  .venv-golden/bin/python bench/results/uniqueness-2026-12-06/sweep/choice_sweep.py POOL.jsonl [EMBEDDINGS.npz]
The second argument caches the embeddings (about 10 minutes of encoding on 2 cores).
"""
import itertools, math, os, sys
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tuning_pool import load

base, base_finish, pool, E = load(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None)

def simulate(pick, n_anchor, bar, ratio, target, min_lp=-2.5):
    res = []
    for uid, e in E.items():
        cs = pool[uid]
        q, g, typ, ce = e[0], e[1], e[2:10], e[10:]
        idx = pick(cs)
        pa = [i for i, c in enumerate(cs) if c["kind"] == "anchor"][:n_anchor - 1]
        rel = {i: float(q @ ce[i]) for i in idx}
        ref = {"best": max(rel.values()), "anchor": float(q @ g), "median": sorted(rel.values())[len(rel) // 2]}[bar]
        med = sorted(cs[i]["tokens"] for i in idx)[len(idx) // 2]
        ok = [i for i in idx if cs[i]["lp"] >= min_lp and cs[i]["text"].strip() and rel[i] >= ratio * ref
              and not (cs[i]["tokens"] < 16 and cs[i]["tokens"] * 4 < med)]
        stock_cut = base_finish[(uid, "greedy")] == "length" or any(cs[i]["finish"] == "length" for i in pa)
        fin = [i for i in ok if cs[i]["finish"] == "stop"]
        choice = (ok if stock_cut else (fin or ok)) or idx
        dist = lambda i: min([1 - float(ce[i] @ g)] + [1 - float(ce[i] @ ce[a]) for a in pa])
        if target:
            ch = max(choice, key=lambda i: max(rel[i], 0) / (1 + math.exp(-40 * (dist(i) - target))))
        else:
            ch = max(choice, key=dist)
        res.append((1 - float(ce[ch] @ g) >= 0.2, min(1 - float(ce[ch] @ t) for t in typ) >= 0.1, rel[ch], float(q @ g)))
    a = np.array(res, dtype=float)
    return a[:, 0].mean(), a[:, 1].mean(), a[:, 2].mean(), a[:, 3].mean()


def built(n):
    return lambda cs: [i for i, c in enumerate(cs) if c["kind"] != "anchor" and not c["style"].startswith("new:")][:n] + \
        [i for i, c in enumerate(cs) if c["style"].startswith("new:")]


print("| candidates | anchors | bar relative to | ratio | choice | >= 0.2 from greedy | >= 0.1 from every typical | relevance (greedy) |")
print("|---|---|---|---|---|---|---|---|")
rows = [(b, na, bar, r, t) for b, na in itertools.product([8, 12], [1, 3])
        for bar, r, t in [(bar, r, 0) for bar in ["best", "anchor", "median"] for r in [0.78, 0.85]] +
        [("best", r, t) for r in [0.6, 0.7, 0.78] for t in [0, 0.1, 0.15, 0.2, 0.25]]]
for b, na, bar, ratio, target in rows:
    g2, t1, rel, grel = simulate(built(b), na, bar, ratio, target)
    print(f"| B{b}+N4 | {na} | {bar} | {ratio} | {f'reward {target}' if target else 'farthest'} | {g2:.2f} | {t1:.2f} | "
          f"{rel:.3f} ({grel:.3f}) |")
