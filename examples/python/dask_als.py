"""ALS past one machine, on Dask: the ratings are sharded by user across the workers and
never move; every iteration the driver sends the item factors (and their Gramian, for
implicit feedback) to the workers, each worker solves its users and sends back its
partial item normal equations, and the driver sums them and solves the items.

    model = fit_dask(client, shards, implicitPrefs=True, rank=10, maxIter=10, seed=7)

shards: one entry per shard, each a Dask future or delayed object (or a plain tuple, which
is scattered) holding (users, items, values) arrays (values may be None: 1.0 each), every
user in exactly one shard. The result is an alslib.ALS, equal to
ALS(**params).fit(concatenation of the shards in order) to rounding (docs/scale-out.md,
tests/test_dask_als.py): same initial factors from the seed, same Spark semantics
(confidence 1 + alpha |r|, preference r > 0, regParam x n or regParam, items solved first,
then users). Only factors and normal equations cross the network, never interactions.

    PYTHONPATH=examples/python ALSLIB_PATH=$PWD/lib \\
        /usr/bin/python3 examples/python/dask_als.py --users 20000 --items 2000 --shards 3

Needs Debian's python3-distributed. The building blocks are alslib.shard (libals's
als_shard_* calls); each task here is a few lines around one of them.
"""
import argparse
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

# What this process received as a worker, for tests and for the curious: one entry per
# task (kind, sizes of what came in). Workers keep it in their own process.
_LOG = []


def worker_log(clear=False):
    """The entries of this process's tasks (run on workers with client.run(worker_log));
    clear=True empties the log afterwards."""
    out = list(_LOG)
    if clear:
        del _LOG[:]
    return out


def _note(kind, **info):
    _LOG.append(dict(info, kind=kind))


class _Shard:
    """One shard on its worker: the arrays it was given and the alslib.Ratings built from
    them (lazily again after unpickling: Dask pickles an object only to spill it to disk or
    to move it, and the driver pins every task of a shard to the shard's worker)."""

    def __init__(self, users, items, values):
        self.arrays = (users, items, values)
        self._ratings = None
        self._ids = None

    @property
    def ratings(self):
        if self._ratings is None:
            import alslib
            self._ratings = alslib.Ratings(*self.arrays)
        return self._ratings

    def ids(self):
        """(user ids, item ids) in the shard's own order (first appearance)."""
        if self._ids is None:
            from alslib import shard
            self._ids = (shard.shard_ids(self.ratings, shard.USERS),
                         shard.shard_ids(self.ratings, shard.ITEMS))
        return self._ids

    def nbytes(self):
        return sum(a.nbytes for a in self.arrays if a is not None)

    def __getstate__(self):
        return {"arrays": self.arrays}

    def __setstate__(self, state):
        self.arrays = state["arrays"]
        self._ratings = None
        self._ids = None


try:  # Dask's memory accounting: the arrays plus the library's copy (12 bytes a row)
    from dask.sizeof import sizeof as _sizeof

    @_sizeof.register(_Shard)
    def _sizeof_shard(s):
        return s.nbytes() + 12 * len(s.arrays[0])
except ImportError:  # pragma: no cover - dask is needed for fit_dask anyway
    pass


_HOLDERS = {}


def _holder(params):
    """An alslib.ALS holding these parameters (cached per process)."""
    import alslib
    key = tuple(sorted(params.items()))
    h = _HOLDERS.get(key)
    if h is None:
        h = _HOLDERS[key] = alslib.ALS(**params)
    return h


# ------------------------------------------------------------------ worker tasks

def _open_shard(data):
    users, items = np.asarray(data[0]), np.asarray(data[1])
    values = None if len(data) < 3 or data[2] is None else np.asarray(data[2])
    s = _Shard(users, items, values)
    uids, iids = s.ids()  # builds the Ratings: bad ids or values fail here
    _note("open", rows=len(users), users=uids.copy(), items=len(iids), nbytes=s.nbytes())
    return s


def _shard_info(s):
    uids, iids = s.ids()
    return uids, iids, len(s.arrays[0])


def _init_users(s, params, rows):
    from alslib import shard
    _note("init", rows=len(rows))
    return shard.init_factors(_holder(params), shard.USERS, rows)


def _item_equations(s, U, params):
    from alslib import shard
    h = _holder(params)
    eq = shard.item_equations(h, s.ratings, U, gram=bool(params.get("implicitPrefs")))
    _note("equations", user_factors=U.shape)
    return eq.A, eq.b, eq.counts, eq.gram


def _solve_users(s, V, G, gpos, params):
    from alslib import shard
    _note("solve_users", item_factors=V.shape, gram=None if G is None else G.shape,
          rows_picked=len(gpos))
    _, iids = s.ids()
    _, U = shard.solve_users(_holder(params), s.ratings, iids, V[gpos], G)
    return U


# ------------------------------------------------------------------ the driver

def _as_futures(client, shards):
    """Every shard as a future held by one worker."""
    import dask
    from distributed import Future
    out = [None] * len(shards)
    lazy = [k for k, s in enumerate(shards) if dask.is_dask_collection(s)]
    plain = [k for k, s in enumerate(shards)
             if not isinstance(s, Future) and not dask.is_dask_collection(s)]
    if lazy:
        for k, f in zip(lazy, client.compute([shards[k] for k in lazy])):
            out[k] = f
    if plain:
        for k, f in zip(plain, client.scatter([tuple(shards[k]) for k in plain], hash=False)):
            out[k] = f
    for k, s in enumerate(shards):
        if isinstance(s, Future):
            out[k] = s
    return out


def _locate(client, futures):
    """The worker holding each future (waits for them)."""
    from distributed import wait
    wait(futures)
    bad = [f for f in futures if f.status != "finished"]
    if bad:
        bad[0].result()  # raises the shard's own error
    who = client.who_has(futures)
    return [sorted(who[f.key])[0] for f in futures]


def _positions(order, ids, what):
    """Positions of ids in order (every id must be there)."""
    srt = np.argsort(order, kind="stable")
    so = order[srt]
    pos = np.minimum(np.searchsorted(so, ids), max(len(so) - 1, 0))
    if len(ids) and (len(so) == 0 or (so[pos] != ids).any()):
        from alslib import AlsError, EINVAL
        j = int(np.flatnonzero(so[pos] != ids)[0]) if len(so) else 0
        raise AlsError(EINVAL, "%s: id %d is missing" % (what, ids[j]))
    return srt[pos]


def fit_dask(client, shards, *, user_order=None, item_order=None, callback=None, stats=None,
             **als_params):
    """Fit ALS on user shards held by Dask workers -> alslib.ALS (see the module docstring).

    als_params: Spark's / libals's parameter names, as alslib.ALS takes them (solver must
    be cholesky). The row order of the result and the initial factors are those of
    ALS.fit on the concatenation of the shards in order; user_order / item_order (all user
    / item ids, in the order of first appearance of another single-process ratings set)
    make them that set's instead, e.g. the original file's.
    callback(iteration, max_iter, seconds): called on the driver after each iteration; a
    true return stops there (the model gets that iteration's factors).
    stats: a dict, filled with what crossed the network (bytes_down / bytes_up per
    iteration, shard placement)."""
    import alslib
    from alslib import AlsError, EINVAL, EUNSUPPORTED, shard
    from alslib._ids import int_ids
    holder = alslib.ALS(**als_params)  # bad names or values fail here, on the driver
    params = holder.params
    if params["solver"] != 0 and not params["nonnegative"]:
        raise AlsError(EUNSUPPORTED, "fit_dask: solver cg is not supported (it warm-starts "
                       "from state the shards do not keep): use solver cholesky")
    if not shards:
        raise AlsError(EINVAL, "fit_dask: no shards")
    implicit, rank, iters = bool(params["implicitPrefs"]), params["rank"], params["maxIter"]

    data = _as_futures(client, list(shards))
    where = _locate(client, data)

    def on(k, fn, *args):
        # every task of shard k runs where shard k is, and nowhere else
        return client.submit(fn, *args, workers=[where[k]], allow_other_workers=False,
                             pure=False)

    S = len(data)
    states = [on(k, _open_shard, data[k]) for k in range(S)]
    infos = client.gather([on(k, _shard_info, states[k]) for k in range(S)])
    uids = [i[0] for i in infos]
    iids = [i[1] for i in infos]
    allu = np.concatenate(uids)
    if len(np.unique(allu)) != len(allu):
        seen = {}
        for k, u in enumerate(uids):
            for x in u.tolist():
                if x in seen:
                    raise AlsError(EINVAL, "fit_dask: user %d is in shards %d and %d: shard "
                                   "the ratings by user" % (x, seen[x], k))
                seen[x] = k
    # the single-process fit's row numbers of every user and item
    if user_order is None:
        offs = np.cumsum([0] + [len(u) for u in uids])
        urows = [offs[k] + np.arange(len(uids[k]), dtype=np.int64) for k in range(S)]
    else:
        uo = int_ids(user_order, "user_order")
        if len(uo) != len(allu) or len(np.unique(uo)) != len(uo):
            raise AlsError(EINVAL, "fit_dask: user_order must list every user of the shards "
                           "once (%d ids for %d users)" % (len(uo), len(allu)))
        urows = [_positions(uo, u, "user_order") for u in uids]
    alli = np.concatenate(iids)
    if item_order is None:
        _, first = np.unique(alli, return_index=True)
        item_ids = alli[np.sort(first)]
    else:
        item_ids = int_ids(item_order, "item_order")
        if len(np.unique(item_ids)) != len(item_ids) or len(item_ids) != len(np.unique(alli)):
            raise AlsError(EINVAL, "fit_dask: item_order must list every item of the shards "
                           "once")
    gpos = [_positions(item_ids, i, "item_order") for i in iids]
    ni, P = len(item_ids), shard.packed_size(rank)

    gpos_f = [client.scatter(gpos[k], workers=[where[k]], hash=False) for k in range(S)]
    rows_f = [client.scatter(urows[k], workers=[where[k]], hash=False) for k in range(S)]
    U = [on(k, _init_users, states[k], params, rows_f[k]) for k in range(S)]
    V = shard.init_factors(holder, shard.ITEMS, np.arange(ni, dtype=np.int64))
    if stats is not None:
        stats.update(shards=S, workers=sorted(set(where)), placement=list(where),
                     items=ni, users=len(allu), rank=rank, bytes_down=[], bytes_up=[])
    t0 = time.time()
    for it in range(1, iters + 1):
        # items, from the shards' current user factors
        A = np.zeros((ni, P))
        b = np.zeros((ni, rank))
        cnt = np.zeros(ni, dtype=np.int64)
        G = np.zeros((rank, rank))
        eqs = [on(k, _item_equations, states[k], U[k], params) for k in range(S)]
        up = 0
        for k, f in enumerate(eqs):  # summed in shard order: the same bits every run
            a, bb, c, g = f.result()
            A[gpos[k]] += a  # a shard's items are distinct: plain fancy-index adds
            b[gpos[k]] += bb
            cnt[gpos[k]] += c
            if g is not None:
                G += g
            up += a.nbytes + bb.nbytes + c.nbytes + (0 if g is None else g.nbytes)
        del eqs
        V = shard.solve_items(holder, A, b, cnt, G if implicit else None)
        gv = shard.gram(holder, V) if implicit else None
        # users, from the new item factors: V goes to every worker once
        V_f = client.scatter(V, broadcast=True, hash=False)
        U = [on(k, _solve_users, states[k], V_f, gv, gpos_f[k], params) for k in range(S)]
        if stats is not None:
            nw = len(set(where))
            stats["bytes_down"].append(nw * (V.nbytes + (0 if gv is None else gv.nbytes)))
            stats["bytes_up"].append(up)
        if callback is not None and callback(it, iters, time.time() - t0):
            break
    # bring the factors back, in the single-process fit's row order
    Us = client.gather(U)
    Uall = np.zeros((len(allu), rank), dtype=np.float32)
    ids = np.zeros(len(allu), dtype=np.int64)
    for k in range(S):
        Uall[urows[k]] = Us[k]
        ids[urows[k]] = uids[k]
    if stats is not None:
        stats["bytes_factors_back"] = Uall.nbytes + ids.nbytes
    return holder.set_factors(ids, Uall, item_ids, V)


def start_cluster(n_workers):
    """A LocalCluster of worker processes that can import alslib and this module."""
    from dask_shards import start_cluster as start
    return start(n_workers)


def synthetic(n_users, n_items, per_user, seed=0, implicit=True):
    """(users, items, values) with popular items (Zipf-like) and a few repeats."""
    rng = np.random.default_rng(seed)
    users = np.repeat(np.arange(n_users, dtype=np.int64), per_user)
    pop = 1.0 / np.arange(1, n_items + 1) ** 0.8
    items = rng.choice(n_items, len(users), p=pop / pop.sum()).astype(np.int64)
    if implicit:
        values = rng.integers(1, 5, len(users)).astype(np.float32)
    else:
        values = rng.integers(1, 6, len(users)).astype(np.float32)
    return users, items, values


def shard_by_user(users, items, values, n_shards):
    """Split arrays into n_shards (users, items, values) shards, by hash of the user,
    keeping the rows' order within each shard."""
    h = (users * 0x9E3779B1) % n_shards
    return [(users[h == k], items[h == k], values[h == k]) for k in range(n_shards)]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--users", type=int, default=20000)
    ap.add_argument("--items", type=int, default=2000)
    ap.add_argument("--per-user", type=int, default=20)
    ap.add_argument("--rank", type=int, default=10)
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--shards", type=int, default=3)
    a = ap.parse_args(argv)
    import alslib
    u, i, v = synthetic(a.users, a.items, a.per_user)
    parts = shard_by_user(u, i, v, a.shards)
    client = start_cluster(min(a.shards, os.cpu_count() or 1))
    try:
        workers = sorted(client.scheduler_info()["workers"])
        futs = [client.scatter([p], workers=[workers[k % len(workers)]], hash=False)[0]
                for k, p in enumerate(parts)]
        params = dict(implicitPrefs=True, rank=a.rank, maxIter=a.iters, seed=1)
        st = {}
        t = time.time()
        m = fit_dask(client, futs, stats=st, **params)
        td = time.time() - t
        cat = [np.concatenate([p[c] for p in parts]) for c in range(3)]
        t = time.time()
        ref = alslib.ALS(**params).fit(*cat)
        ts = time.time() - t
        d = np.abs(m.user_factors - ref.user_factors).max() / np.abs(ref.user_factors).max()
        print("fit_dask: %d shards, %.2f s; one process: %.2f s; max relative difference %.2g"
              % (a.shards, td, ts, d))
        print("per iteration: %.1f MB down (item factors), %.1f MB up (normal equations)"
              % (st["bytes_down"][0] / 1e6, st["bytes_up"][0] / 1e6))
    finally:
        client.close()
        client.cluster.close()


if __name__ == "__main__":
    main()
