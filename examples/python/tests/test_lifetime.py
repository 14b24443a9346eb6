# Memory handed out by the binding never outlives its owner: factor and id views read
# after close(), a `with` block or a refit equal a copy taken before (under `make sanitize`
# the reads are memcpy's that ASan checks), and a closed model with no view left is freed
# at once. Run:
#   PYTHONPATH=examples/python /usr/bin/python3 -m unittest discover -s examples/python/tests -v
import gc
import os
import shutil
import tempfile
import unittest
import weakref

import numpy as np

import alslib
from alslib import ALS, AlsError


def ratings(seed, n=4000, users=300, items=200):
    rng = np.random.default_rng(seed)
    return (rng.integers(0, users, n), rng.integers(0, items, n) + 10 ** 6,
            rng.integers(1, 5, n).astype(np.float32))


def churn(shape_seed=99):
    """Allocate and free model-sized buffers so that freed memory gets reused."""
    for s in range(3):
        u, i, v = ratings(shape_seed + s)
        ALS(rank=8, maxIter=1, seed=s + 7, numThreads=1).fit(u, i, v).close()


class ViewLifetimeTest(unittest.TestCase):
    def fitted(self, seed=1, **kw):
        u, i, v = ratings(seed)
        return ALS(rank=8, maxIter=2, seed=seed, numThreads=1, implicitPrefs=True, **kw).fit(u, i, v)

    def snapshot(self, m):
        views = (m.user_factors, m.item_factors, m.user_ids, m.item_ids)
        return views, [x.tobytes() for x in views]

    def assertViewsEqual(self, views, copies):
        for name, x, ref in zip(("user_factors", "item_factors", "user_ids", "item_ids"),
                                views, copies):
            # tobytes() is a memcpy: under ASan a read of freed memory fails right here
            self.assertTrue(x.tobytes() == ref, "%s view no longer shows its values" % name)

    def test_views_survive_close(self):
        m = self.fitted()
        views, copies = self.snapshot(m)
        m.close()
        gc.collect()
        churn()
        self.assertViewsEqual(views, copies)
        with self.assertRaises(AlsError) as cm:
            m.user_factors
        self.assertEqual(cm.exception.code, alslib.ESTATE)

    def test_views_survive_with_block(self):
        with self.fitted(seed=2) as m:
            views, copies = self.snapshot(m)
        churn()
        self.assertViewsEqual(views, copies)
        self.assertTrue(m.closed)

    def test_views_survive_refit(self):
        m = self.fitted(seed=3)
        views, copies = self.snapshot(m)
        u, i, v = ratings(3)
        for seed in (4, 5):
            m.set_param("seed", seed)
            m.fit(u, i, v)
        churn()
        self.assertViewsEqual(views, copies)
        # the model itself has the new factors: same shape, other values
        self.assertEqual(m.user_factors.shape, views[0].shape)
        self.assertFalse(m.user_factors.tobytes() == copies[0], "refit changed nothing")
        np.testing.assert_array_equal(m.user_ids, views[2])

    def test_derived_arrays_survive(self):
        # slices, transposes and np.asarray of a view keep the model alive too
        m = self.fitted(seed=6)
        uf = m.user_factors
        parts = [uf[10:20], uf.T, np.asarray(uf)[::2], m.item_ids[5:]]
        copies = [p.copy() for p in parts]
        del uf
        m.close()
        del m
        gc.collect()
        churn()
        for p, c in zip(parts, copies):
            np.testing.assert_array_equal(p, c)

    def test_views_of_loaded_model_survive_close(self):
        tmp = tempfile.mkdtemp()
        try:
            p = os.path.join(tmp, "m.als")
            self.fitted(seed=7).save(p)
            m = ALS.load(p)
            views, copies = self.snapshot(m)
            m.close()
            churn()
            self.assertViewsEqual(views, copies)
        finally:
            shutil.rmtree(tmp)

    def test_failed_refit_keeps_model(self):
        m = self.fitted(seed=8)
        views, copies = self.snapshot(m)
        with self.assertRaises(AlsError):
            m.fit([1, 2], [3, 4], [1.0, float("nan")])
        self.assertViewsEqual(views, copies)
        self.assertTrue(m.user_factors.tobytes() == copies[0], "the model changed")
        self.assertEqual(len(m.recommend(int(m.user_ids[0]), 3)[0]), 3)

    def test_freed_when_the_last_view_goes(self):
        m = self.fitted(seed=9)
        keeper = weakref.ref(m._k)
        uf = m.user_factors
        m.close()
        gc.collect()
        self.assertIsNotNone(keeper(), "a live view must keep the library model")
        del uf
        self.assertIsNone(keeper(), "the library model must be freed with its last view")
        # and with no view, close() frees at once (reference counting, no GC needed)
        m2 = self.fitted(seed=10)
        k2 = weakref.ref(m2._k)
        m2.close()
        self.assertIsNone(k2())

    def test_refit_frees_the_previous_model_without_views(self):
        m = self.fitted(seed=11)
        first = weakref.ref(m._k)
        u, i, v = ratings(11)
        m.fit(u, i, v)
        self.assertIsNone(first(), "nothing referenced the old model: refit must free it")

    def test_refit_keeps_every_parameter(self):
        m = ALS(rank=5, maxIter=3, regParam=0.25, alpha=3.5, implicitPrefs=True, seed=2 ** 62 + 1,
                solver="cg", cgSteps=4, regScaling="none", numThreads=1, nonnegative=True)
        before = m.params
        u, i, v = ratings(14)
        m.fit(u, i, v)
        self.assertEqual(m.params, before)
        self.assertEqual(before["seed"], 2 ** 62 + 1)
        ref = ALS(rank=5, maxIter=3, regParam=0.25, alpha=3.5, implicitPrefs=True,
                  seed=2 ** 62 + 1, solver="cg", cgSteps=4, regScaling="none", numThreads=1,
                  nonnegative=True).fit(u, i, v)
        m.fit(u, i, v)  # a second fit: the same parameters, the same factors
        np.testing.assert_array_equal(m.user_factors, ref.user_factors)

    def test_fold_in_uses_the_fitted_rank(self):
        # set_param changes the next fit only: the factors of this model keep rank 8, and
        # fold_in's output must have room for all of them
        m = self.fitted(seed=12)
        m.set_param("rank", 3)
        self.assertEqual(m.rank, 8)
        f = m.fold_in(m.item_ids[:5])
        self.assertEqual(f.shape, (8,))
        self.assertEqual(m.fit(*ratings(12)).rank, 3)

    def test_ratings_closed_after_fit_still_serve_the_model(self):
        u, i, v = ratings(13)
        r = alslib.Ratings(u, i, v)
        m = ALS(rank=4, maxIter=2, seed=1, numThreads=1).fit(r)
        user = int(m.user_ids[0])
        before = m.recommend(user, 5)
        r.close()
        churn()
        after = m.recommend(user, 5)
        np.testing.assert_array_equal(before[0], after[0])
        seen = set(i[u == user].tolist())
        self.assertFalse(seen & set(after[0].tolist()))

    def test_concurrent_close_during_search_is_safe(self):
        # a call in progress holds the handle: close() from another thread cannot free it
        import threading
        base = np.random.default_rng(3).standard_normal((20000, 32)).astype(np.float32)
        idx = alslib.FlatIndex(32, "ip").add(base)
        out = {}

        def search():
            try:
                out["r"] = idx.search(base[:200], 5)
            except AlsError as e:
                out["e"] = e

        t = threading.Thread(target=search)
        t.start()
        idx.close()
        t.join()
        if "r" in out:
            scores, ids = out["r"]
            self.assertEqual(ids.shape, (200, 5))
            self.assertTrue(((ids >= 0) & (ids < 20000)).all() and np.isfinite(scores).all())
        else:
            self.assertEqual(out["e"].code, alslib.ESTATE)


if __name__ == "__main__":
    unittest.main()
