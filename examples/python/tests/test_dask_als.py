# The distributed ALS fit: alslib.shard (the als_shard_* calls) and the Dask driver
# examples/python/dask_als.py. The distributed fit must equal ALS.fit on the concatenation
# of the shards from the same seed: factors within 1e-4 (max |d| / max |ref|), the same ids
# in the same row order, the same P@10; and each worker must hold only its own shard.
# The Dask tests are skipped when Debian's python3-distributed is not installed.
import os
import sys
import tempfile
import unittest

import numpy as np

sys.path.insert(0, os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")))

try:
    import distributed  # noqa: F401
    HAVE_DASK = True
except ImportError:
    HAVE_DASK = False

import alslib  # noqa: E402
from alslib import ALS, AlsError, Ratings, shard  # noqa: E402

NU, NI, PER_USER, NS = 2000, 300, 12, 3


def make_data(seed=3):
    """2000 users x 300 items: 10 taste groups of users, each with 30 favourite items (70%
    of a user's rows), the rest popular items; values 1..5 with 3% zeros and 2% -1; a few
    repeated pairs; 20% of the rows held out for the ranking metrics. Ids are not row numbers (users 7u + 3, items 11i + 5)."""
    rng = np.random.default_rng(seed)
    users = np.repeat(np.arange(NU, dtype=np.int64), PER_USER)
    pop = 1.0 / np.arange(1, NI + 1) ** 0.7
    items = rng.choice(NI, len(users), p=pop / pop.sum()).astype(np.int64)
    fav = rng.random(len(users)) < 0.7
    taste = rng.permutation(NI).reshape(10, NI // 10)
    items[fav] = taste[users[fav] % 10, rng.integers(0, NI // 10, int(fav.sum()))]
    values = rng.integers(1, 6, len(users)).astype(np.float32)
    odd = rng.random(len(users))
    values[odd < 0.05] = 0.0  # implicit: no preference, no weight
    values[odd < 0.02] = -1.0  # implicit: preference 0 with confidence 1 + alpha
    perm = rng.permutation(len(users))  # the rows in no particular order
    users, items, values = users[perm] * 7 + 3, items[perm] * 11 + 5, values[perm]
    test = rng.random(len(users)) < 0.2
    train = ~test
    return (users[train], items[train], values[train]), (users[test], items[test], values[test])


def by_user(users, items, values, n):
    """n shards by user (hash), rows in their original order within each shard."""
    h = (users * 2654435761) % n
    return [(users[h == k], items[h == k], values[h == k]) for k in range(n)]


def concat(shards):
    return tuple(np.concatenate([s[c] for s in shards]) for c in range(3))


def rel(a, b):
    return float(np.abs(np.asarray(a) - np.asarray(b)).max() / np.abs(np.asarray(b)).max())


IMPLICIT = dict(implicitPrefs=True, rank=8, maxIter=10, regParam=0.05, alpha=2.0, seed=11,
                numThreads=1)
EXPLICIT = dict(implicitPrefs=False, rank=8, maxIter=10, regParam=0.1, seed=12, numThreads=1)


class ShardCallsTest(unittest.TestCase):
    """The binding's wrappers of the als_shard calls, in one process (no Dask)."""

    @classmethod
    def setUpClass(cls):
        (u, i, v), _ = make_data(5)
        keep = u < 7 * 400  # a smaller problem
        cls.shards = by_user(u[keep], i[keep], v[keep], NS)
        cls.all = concat(cls.shards)

    def loop(self, params):
        """The driver's loop by hand; returns (user ids, U, item ids, V) in the fit's order."""
        h = ALS(**params)
        R = [Ratings(*s) for s in self.shards]
        uids = [shard.shard_ids(r, shard.USERS) for r in R]
        iids = [shard.shard_ids(r, shard.ITEMS) for r in R]
        alli = np.concatenate(iids)
        _, first = np.unique(alli, return_index=True)
        items = alli[np.sort(first)]
        pos = {x: j for j, x in enumerate(items.tolist())}
        gpos = [np.array([pos[x] for x in ii.tolist()]) for ii in iids]
        offs = np.cumsum([0] + [len(x) for x in uids])
        U = [shard.init_factors(h, shard.USERS, offs[k] + np.arange(len(uids[k])))
             for k in range(NS)]
        V = shard.init_factors(h, shard.ITEMS, np.arange(len(items)))
        rank, implicit = params["rank"], params["implicitPrefs"]
        for _ in range(params["maxIter"]):
            A = np.zeros((len(items), shard.packed_size(rank)))
            b = np.zeros((len(items), rank))
            c = np.zeros(len(items), np.int64)
            G = np.zeros((rank, rank))
            for k in range(NS):
                eq = shard.item_equations(h, R[k], U[k])
                np.testing.assert_array_equal(eq.item_ids, iids[k])
                A[gpos[k]] += eq.A
                b[gpos[k]] += eq.b
                c[gpos[k]] += eq.counts
                G += eq.gram
            V = shard.solve_items(h, A, b, c, G if implicit else None)
            gv = shard.gram(h, V)
            U = [shard.solve_users(h, R[k], items, V, gv)[1] for k in range(NS)]
        return np.concatenate(uids), np.concatenate(U), items, V

    def test_loop_equals_fit(self):
        for params in (IMPLICIT, EXPLICIT, dict(EXPLICIT, nonnegative=True),
                       dict(IMPLICIT, regScaling="none", maxIter=0)):
            with self.subTest(params=params):
                ref = ALS(**params).fit(*self.all)
                uids, U, iids, V = self.loop(params)
                np.testing.assert_array_equal(uids, ref.user_ids)
                np.testing.assert_array_equal(iids, ref.item_ids)
                self.assertLessEqual(rel(U, ref.user_factors), 1e-4)
                self.assertLessEqual(rel(V, ref.item_factors), 1e-4)
                if params["maxIter"] == 0:  # the initial factors: bit for bit
                    np.testing.assert_array_equal(U, ref.user_factors)
                    np.testing.assert_array_equal(V, ref.item_factors)

    def test_users_from_final_items_bitwise(self):
        ref = ALS(**IMPLICIT).fit(*self.all)
        off = 0
        for s in self.shards:
            ids, U = shard.solve_users(ALS(**IMPLICIT), Ratings(*s), ref.item_ids,
                                       ref.item_factors)
            n = len(ids)
            np.testing.assert_array_equal(ids, ref.user_ids[off:off + n])
            np.testing.assert_array_equal(U, ref.user_factors[off:off + n])
            off += n

    def test_unpack_and_by_hand(self):
        r = Ratings(*self.shards[0])
        U = np.random.default_rng(0).standard_normal((r.num_users, 4)).astype(np.float32)
        eq = shard.item_equations(dict(rank=4), r, U, gram=False)
        self.assertIsNone(eq.gram)
        full = shard.unpack_upper(eq.A, 4)
        uids = shard.shard_ids(r, shard.USERS)
        row = {x: j for j, x in enumerate(uids.tolist())}
        u, i, v = self.shards[0]
        j = 3
        sel = i == eq.item_ids[j]
        X = U[[row[x] for x in u[sel].tolist()]].astype(np.float64)
        np.testing.assert_allclose(full[j], X.T @ X, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(eq.b[j], X.T @ v[sel].astype(np.float64), rtol=1e-12)
        self.assertEqual(eq.counts[j], sel.sum())

    def test_set_factors_model(self):
        ref = ALS(**IMPLICIT).fit(*self.all)
        m = ALS.from_factors(ref.user_ids, ref.user_factors, ref.item_ids, ref.item_factors,
                             **IMPLICIT)
        self.assertTrue(m.is_fitted)
        np.testing.assert_array_equal(m.user_factors, ref.user_factors)
        u = int(ref.user_ids[5])
        np.testing.assert_array_equal(m.recommend(u, 10, exclude_seen=False)[0],
                                      ref.recommend(u, 10, exclude_seen=False)[0])
        tr = Ratings(*self.all)
        m2 = ALS(**IMPLICIT).set_factors(ref.user_ids, ref.user_factors, ref.item_ids,
                                          ref.item_factors, ratings=tr)
        np.testing.assert_array_equal(m2.recommend(u, 10)[0], ref.recommend(u, 10)[0])
        with tempfile.TemporaryDirectory() as d:
            p = os.path.join(d, "m.als")
            m2.save(p)
            back = ALS.load(p)
            np.testing.assert_array_equal(back.item_factors, ref.item_factors)
            self.assertEqual(back.params["alpha"], 2.0)

    def test_refusals(self):
        r = Ratings(*self.shards[0])
        with self.assertRaises(AlsError) as cm:
            shard.solve_users(dict(rank=8, solver="cg"), r, np.arange(3), np.zeros((3, 8)))
        self.assertEqual(cm.exception.code, alslib.EUNSUPPORTED)
        with self.assertRaises(AlsError) as cm:  # the shard's items are not all there
            shard.solve_users(dict(rank=8), r, np.arange(3), np.zeros((3, 8)))
        self.assertEqual(cm.exception.code, alslib.ENOTFOUND)
        with self.assertRaises(AlsError) as cm:
            ALS(rank=2).set_factors([1, 1], np.ones((2, 2)), [5], np.ones((1, 2)))
        self.assertEqual(cm.exception.code, alslib.EINVAL)
        with self.assertRaises(AlsError) as cm:
            ALS(rank=3).set_factors([1, 2], np.ones((2, 2)), [5], np.ones((1, 2)))
        self.assertEqual(cm.exception.code, alslib.EDIM)
        with self.assertRaises(AlsError) as cm:
            shard.shard_ids(Ratings(["a"], ["b"]), shard.USERS)
        self.assertEqual(cm.exception.code, alslib.EINVAL)


@unittest.skipUnless(HAVE_DASK, "python3-distributed is not installed (apt-get install -y "
                     "python3-distributed): the Dask fit is not tested")
class DaskFitTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        import dask_als
        cls.da = dask_als
        cls.client = dask_als.start_cluster(NS)  # processes, 1 thread each, no dashboard
        cls.client.wait_for_workers(NS)
        cls.workers = sorted(cls.client.scheduler_info()["workers"])
        cls.train, cls.test = make_data()
        cls.shards = by_user(*cls.train, NS)
        cls.all = concat(cls.shards)
        # shard k lives on worker k, and only there
        cls.futures = [cls.client.scatter([s], workers=[w], hash=False)[0]
                       for s, w in zip(cls.shards, cls.workers)]

    @classmethod
    def tearDownClass(cls):
        cls.client.close()
        cls.client.cluster.close()

    def check_equal(self, params):
        stats = {}
        m = self.da.fit_dask(self.client, self.futures, stats=stats, **params)
        ref = ALS(**params).fit(*self.all)
        np.testing.assert_array_equal(m.user_ids, ref.user_ids)
        np.testing.assert_array_equal(m.item_ids, ref.item_ids)
        self.assertLessEqual(rel(m.user_factors, ref.user_factors), 1e-4)
        self.assertLessEqual(rel(m.item_factors, ref.item_factors), 1e-4)
        got = m.evaluate(self.test, k=10, train=self.all)
        want = ref.evaluate(self.test, k=10, train=self.all)
        self.assertEqual(got["users"], want["users"])
        self.assertGreater(want["precision"], 0.0)
        # one near-tie flipped in one user's top 10 would move P@10 by 1 / (10 x users)
        self.assertAlmostEqual(got["precision"], want["precision"],
                               delta=0.5 / (10 * want["users"]))
        self.assertAlmostEqual(got["ndcg"], want["ndcg"], places=4)
        # what crossed the network: factors and normal equations only
        rank = params["rank"]
        self.assertEqual(stats["placement"], self.workers)
        self.assertEqual(stats["bytes_down"][0], NS * (NI * rank * 4 + (
            rank * rank * 8 if params.get("implicitPrefs") else 0)))
        return m, ref, stats

    def test_implicit_equals_single_process(self):
        self.check_equal(IMPLICIT)

    def test_explicit_equals_single_process(self):
        self.check_equal(EXPLICIT)

    def test_each_worker_holds_only_its_shard(self):
        self.client.run(self.da.worker_log, clear=True)  # only this fit's tasks below
        m, _, stats = self.check_equal(dict(IMPLICIT, maxIter=3))
        logs = self.client.run(self.da.worker_log)
        shard_users = [set(s[0].tolist()) for s in self.shards]
        n_items = [len(np.unique(s[1])) for s in self.shards]
        for k, w in enumerate(self.workers):
            log = logs[w]
            opened = [e for e in log if e["kind"] == "open"]
            self.assertTrue(opened, "worker %s opened no shard" % w)
            for e in opened:  # only its own shard's rows, every time
                self.assertEqual(set(e["users"].tolist()), shard_users[k])
                self.assertEqual(e["rows"], len(self.shards[k][0]))
            for e in log:  # per iteration: factors only
                if e["kind"] == "solve_users":
                    self.assertEqual(e["item_factors"], (NI, e["item_factors"][1]))
                    self.assertEqual(e["rows_picked"], n_items[k])
                if e["kind"] == "equations":
                    self.assertEqual(e["user_factors"][0], len(shard_users[k]))
        # no shard (nor any state built from one) ever went from one worker to another
        shard_keys = {f.key for f in self.futures}
        incoming = self.client.run(lambda dask_worker: [  # (named so since 2022.10)
            k for e in getattr(dask_worker, "transfer_incoming_log",
                               getattr(dask_worker, "incoming_transfer_log", []))
            for k in e["keys"]])
        for w, keys in incoming.items():
            for key in keys:
                self.assertNotIn(key, shard_keys)
                self.assertNotIn("_open_shard", str(key))
        has = self.client.has_what()
        for k, f in enumerate(self.futures):
            for w in self.workers:
                self.assertEqual(f.key in has[w], w == self.workers[k])
        # ratings rows are 20 bytes; the normal equations per shard are 8 (k (k+1)/2 + k + 1)
        # bytes per item it touches, plus k x k doubles
        r = IMPLICIT["rank"]
        self.assertEqual(stats["bytes_up"][0], sum(
            8 * n * (r * (r + 1) // 2 + r + 1) + 8 * r * r for n in n_items))

    def test_delayed_shards_and_original_order(self):
        import dask
        parts = [dask.delayed(tuple)(s) for s in self.shards]
        params = dict(IMPLICIT, maxIter=4)
        u, i, v = self.train  # the rows in their original (unsharded) order
        ref = ALS(**params).fit(u, i, v)
        _, fu = np.unique(u, return_index=True)
        _, fi = np.unique(i, return_index=True)
        m = self.da.fit_dask(self.client, parts, user_order=u[np.sort(fu)],
                             item_order=i[np.sort(fi)], **params)
        np.testing.assert_array_equal(m.user_ids, ref.user_ids)
        np.testing.assert_array_equal(m.item_ids, ref.item_ids)
        self.assertLessEqual(rel(m.user_factors, ref.user_factors), 1e-4)
        self.assertLessEqual(rel(m.item_factors, ref.item_factors), 1e-4)

    def test_deterministic(self):
        a = self.da.fit_dask(self.client, self.futures, **dict(IMPLICIT, maxIter=3))
        b = self.da.fit_dask(self.client, self.futures, **dict(IMPLICIT, maxIter=3))
        np.testing.assert_array_equal(a.user_factors, b.user_factors)
        np.testing.assert_array_equal(a.item_factors, b.item_factors)

    def test_refusals(self):
        with self.assertRaises(AlsError) as cm:
            self.da.fit_dask(self.client, self.futures, solver="cg")
        self.assertEqual(cm.exception.code, alslib.EUNSUPPORTED)
        s0 = self.shards[0]
        twice = [s0, (s0[0][:5], s0[1][:5], s0[2][:5])]  # a user in two shards
        with self.assertRaises(AlsError) as cm:
            self.da.fit_dask(self.client, twice, maxIter=1)
        self.assertEqual(cm.exception.code, alslib.EINVAL)
        self.assertIn("shards 0 and 1", cm.exception.message)

    def test_callback_stops(self):
        seen = []
        m = self.da.fit_dask(self.client, self.futures, callback=lambda it, n, t: (
            seen.append(it), it == 2)[1], **dict(EXPLICIT, maxIter=10))
        self.assertEqual(seen, [1, 2])
        ref = ALS(**dict(EXPLICIT, maxIter=2)).fit(*self.all)
        self.assertLessEqual(rel(m.user_factors, ref.user_factors), 1e-4)


if __name__ == "__main__":
    unittest.main()
