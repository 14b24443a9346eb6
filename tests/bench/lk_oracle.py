#!/usr/bin/python3
"""The best lift any route could reach on a `lookalike gen` log: a ceiling for backtest.

Rebuilds the generator's hidden truth from its seed (examples/lookalike/gen.c: each user's
activity weight and community, each item's communities and popularity; the same splitmix64
stream, in the same order), then scores the eligible users of each target item the way
`lookalike backtest` counts (examples/lookalike/eval.c: targets = the --top-items items
with the most buyers in the training part, seeds = their buyers there, new buyers = later
buyers known to the model who had not bought it, lift = hits / (size x new buyers' share
of the eligible users), summed over the targets) with three scores:

  oracle        true activity x P(the item | the user's true community): the generator's
                own purchase probability, not reachable from data
  rate_x_truth  observed activity (training purchases) x the same true probability
  rate_x_post   observed activity x P(the item | community), the community unknown and
                weighted by its posterior given the user's training purchases (the true
                item-community table assumed known): what a route that learned the
                communities perfectly from the log could reach
and `popular` (training purchases alone) as a check: it must equal backtest's popular line.

Usage: lk_oracle.py LOG.csv [users=20000 items=1000 communities=20 seed=1
       item_communities=1 affinity=0.8 heavy_affinity=-1 zipf=1 split=2024-10-19
       top_items=20 sizes=100,250,1000,5000] (the gen options of the log)."""
import collections
import csv
import sys

import numpy as np

M64 = (1 << 64) - 1


class Rng:  # gen.c's splitmix64 stream
    def __init__(self, state):
        self.s = state & M64

    def next(self):
        self.s = (self.s + 0x9E3779B97F4A7C15) & M64
        z = self.s
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
        return z ^ (z >> 31)

    def unif(self):
        return (self.next() >> 11) * 2.0 ** -53


def truth(nu, ni, nc, seed, mc, zipf):
    r = Rng(seed * 0x2545F4914F6CDD1D + 1)
    w, uc = np.zeros(nu), np.zeros(nu, int)
    for u in range(nu):
        w[u] = min((1.0 - r.unif()) ** -0.5, 100.0)
        uc[u] = r.next() % nc
    order = list(range(ni))
    for i in range(ni - 1, 0, -1):
        j = r.next() % (i + 1)
        order[i], order[j] = order[j], order[i]
    iw = np.zeros(ni)
    for k in range(ni):
        iw[order[k]] = 1.0 / (k + 1.0) ** zipf
    icomm, mw = np.zeros((ni, mc), int), np.zeros((ni, mc))
    for i in range(ni):
        icomm[i, 0] = i if i < nc else r.next() % nc
        mw[i, 0] = 1.0
    r2 = Rng(r.s ^ 0x5851F42D4C957F2D)
    for i in range(ni):
        for m in range(1, mc):
            while True:
                c = r2.next() % nc
                if c not in icomm[i, :m]:
                    break
            icomm[i, m], mw[i, m] = c, 1.0 / (m + 1)
    pic = np.zeros((nc, ni))
    for i in range(ni):
        for m in range(mc):
            pic[icomm[i, m], i] += iw[i] * mw[i, m]
    return w, uc, pic / pic.sum(1, keepdims=True), iw / iw.sum()


def main():
    a = dict(x.split("=", 1) for x in sys.argv[2:])
    nu, ni = int(a.get("users", 20000)), int(a.get("items", 1000))
    nc, seed = int(a.get("communities", 20)), int(a.get("seed", 1))
    mc, aff = int(a.get("item_communities", 1)), float(a.get("affinity", 0.8))
    heavy, zipf = float(a.get("heavy_affinity", -1)), float(a.get("zipf", 1.0))
    split, ntop = a.get("split", "2024-10-19"), int(a.get("top_items", 20))
    sizes = [int(x) for x in a.get("sizes", "100,250,1000,5000").split(",")]
    w, uc, pic, pi = truth(nu, ni, nc, seed, mc, zipf)
    affu = aff + (heavy - aff) * np.log(w) / np.log(100.0) if heavy >= 0 else np.full(nu, aff)
    tr, te = collections.defaultdict(set), collections.defaultdict(set)
    act, items_of = collections.Counter(), collections.defaultdict(list)
    for row in csv.DictReader(open(sys.argv[1])):
        u, i = int(row["user_id"]), int(row["item_id"])
        if row["date"] < split:
            tr[i].add(u)
            act[u] += 1
            items_of[u].append(i)
        else:
            te[i].add(u)
    known = np.array(sorted(act))
    cnt = np.array([act[u] for u in known], float)
    # the posterior over communities of each known user from their training purchases
    post = np.zeros((len(known), nc))
    for k, u in enumerate(known):
        ll = np.zeros(nc)
        for i in items_of[u]:
            ll += np.log(affu[u] * pic[:, i] + (1 - affu[u]) * pi[i])
        p = np.exp(ll - ll.max())
        post[k] = p / p.sum()
    tops = sorted(tr, key=lambda i: (-len(tr[i]), i))[:ntop]
    hits = collections.defaultdict(lambda: np.zeros(len(sizes)))
    rnd = np.zeros(len(sizes))
    for i in tops:
        el = np.array([u not in tr[i] for u in known])
        users = known[el]
        new = np.array([u in te[i] for u in users])
        p_true = affu[users] * pic[uc[users], i] + (1 - affu[users]) * pi[i]
        p_post = affu[users] * (post[el] @ pic[:, i]) + (1 - affu[users]) * pi[i]
        scores = {"oracle": w[users] * p_true, "rate_x_truth": cnt[el] * p_true,
                  "rate_x_post": cnt[el] * p_post, "popular": cnt[el]}
        for name, s in scores.items():
            order = np.lexsort((users, -s))
            for q, n in enumerate(sizes):
                hits[name][q] += new[order[:n]].sum()
        for q, n in enumerate(sizes):
            rnd[q] += n * new.sum() / len(users)
    print("lift over random at", ",".join(map(str, sizes)))
    for name, h in hits.items():
        print("%-13s %s" % (name, "  ".join("%.2f" % (h[q] / rnd[q]) for q in range(len(sizes)))))


if __name__ == "__main__":
    main()
