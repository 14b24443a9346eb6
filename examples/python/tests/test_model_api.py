# What users of `implicit` and Faiss expect: similar_items / similar_users (cosine, the
# query excluded), batch recommend with filter_items, recommend for a folded-in user,
# normalize, the training loss, a progress callback that can cancel, show_progress,
# ranking metrics and splits on Ratings, export_npy; one result order (best first, equal
# scores by smaller id), checked against NumPy.
import contextlib
import io
import os
import shutil
import tempfile
import unittest

import numpy as np

import alslib
from alslib import ALS, AlsError, Ratings


def topk(scores, ids, k, banned=()):
    """Best first, equal scores by smaller id; (ids, scores) padded with -1 / -inf."""
    s = np.where(np.isin(ids, list(banned)), -np.inf, scores.astype(np.float64))
    order = np.lexsort((ids, -s))
    order = [j for j in order if np.isfinite(s[j])][:k]
    out_i = np.full(k, -1, np.int64)
    out_s = np.full(k, -np.inf)
    out_i[:len(order)] = ids[order]
    out_s[:len(order)] = s[order]
    return out_i, out_s


class ModelAPITest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        rng = np.random.default_rng(31)
        n = 5000
        cls.users = rng.integers(0, 200, n) * 3 + 1
        cls.items = rng.integers(0, 120, n) + 500
        cls.values = rng.integers(1, 6, n).astype(np.float32)
        cls.m = ALS(rank=8, maxIter=6, regParam=0.05, implicitPrefs=True, alpha=2.0, seed=5,
                    numThreads=2).fit(cls.users, cls.items, cls.values)

    def refused(self, code, fn, *a, **kw):
        with self.assertRaises(AlsError) as cm:
            fn(*a, **kw)
        self.assertEqual(cm.exception.code, code, str(cm.exception))
        return cm.exception

    def assertClose(self, got_ids, got_scores, ref_ids, ref_scores):
        np.testing.assert_allclose(got_scores, ref_scores, rtol=1e-4, atol=1e-5)
        # ids equal where the reference scores are not near-tied
        rs = np.asarray(ref_scores, np.float64)
        gap = np.abs(np.diff(rs)) > 1e-4
        clear = np.ones(len(rs), bool)
        clear[1:] &= gap
        clear[:-1] &= gap
        np.testing.assert_array_equal(np.asarray(got_ids)[clear], np.asarray(ref_ids)[clear])

    def test_similar_items_is_cosine_without_the_query(self):
        m = self.m
        f = m.item_factors.astype(np.float64)
        fn = f / np.maximum(np.linalg.norm(f, axis=1, keepdims=True), 1e-30)
        ids = m.item_ids
        for item in (ids[0], ids[17], ids[-1]):
            got_i, got_s = m.similar_items(item, 6)
            self.assertEqual(got_i.shape, (6,))
            self.assertNotIn(item, got_i.tolist())
            r = m.item_row(item)
            ref_i, ref_s = topk(fn @ fn[r], ids, 6, banned=[item])
            self.assertClose(got_i, got_s, ref_i, ref_s)
            self.assertTrue((np.diff(got_s) <= 0).all())
            self.assertTrue((got_s <= 1.0001).all())
        bi, bs = m.similar_items(ids[[0, 17]], 6)
        self.assertEqual(bi.shape, (2, 6))
        np.testing.assert_array_equal(bi[1], m.similar_items(ids[17], 6)[0])
        # k beyond the catalogue pads
        pi, ps = m.similar_items(ids[0], len(ids) + 3)
        self.assertEqual((pi[-4:] == -1).sum(), 4)
        self.assertTrue(np.isneginf(ps[-4:]).all())
        self.refused(alslib.ENOTFOUND, m.similar_items, 99999, 3)
        self.refused(alslib.ERANGE, m.similar_items, ids[0], 0)
        self.refused(alslib.ERANGE, m.similar_items, ids[0], 2 ** 62)  # no buffer holds it

    def test_negative_item_ids_are_recommended(self):
        # only -1 marks padding: items with other negative ids come back like any other
        rng = np.random.default_rng(7)
        users = rng.integers(0, 50, 2000)
        items = rng.integers(-100, 30, 2000)
        items[items == -1] = -2
        m = ALS(rank=4, maxIter=4, implicitPrefs=True, seed=1, numThreads=1).fit(users, items)
        try:
            ids, scores = m.recommend(int(users[0]), 10, exclude_seen=False)
            self.assertEqual(len(ids), 10)
            self.assertTrue((ids != -1).all())
            self.assertTrue((ids < 0).any(), "no negative item id among the top 10")
            self.assertTrue(np.all(np.diff(scores) <= 0))
        finally:
            m.close()

    def test_huge_k_is_a_range_error(self):
        m, u = self.m, int(self.m.user_ids[0])
        self.refused(alslib.ERANGE, m.recommend, u, 2 ** 62)
        self.refused(alslib.ERANGE, m.recommend, factors=m.factors_of(u), k=2 ** 62)
        idx = alslib.FlatIndex(8).add(m.item_factors)
        self.refused(alslib.ERANGE, idx.search, m.user_factors[:2], 2 ** 62)
        # a k beyond the catalogue is fine: padding
        items, scores = m.recommend(u, len(m.item_ids) + 5, exclude_seen=False)
        self.assertEqual((items[-5:] == -1).sum(), 5)
        self.assertEqual(sorted(items[:-5].tolist()), sorted(m.item_ids.tolist()))

    def test_similar_users(self):
        m = self.m
        f = m.user_factors.astype(np.float64)
        fn = f / np.maximum(np.linalg.norm(f, axis=1, keepdims=True), 1e-30)
        u = m.user_ids[9]
        got_i, got_s = m.similar_users(u, 5)
        ref_i, ref_s = topk(fn @ fn[9], m.user_ids, 5, banned=[u])
        self.assertClose(got_i, got_s, ref_i, ref_s)

    def test_batch_recommend_equals_single_and_filters(self):
        m = self.m
        users = m.user_ids[[3, 0, 50, 3]]
        banned = m.item_ids[:10]
        bi, bs = m.recommend(users, 7, filter_items=banned)
        self.assertEqual((bi.shape, bs.shape), ((4, 7), (4, 7)))
        for j, u in enumerate(users):
            si, ss = m.recommend(int(u), 7, filter_items=banned)
            np.testing.assert_array_equal(bi[j], si)
            np.testing.assert_array_equal(bs[j], ss)
            self.assertFalse(np.isin(si, banned).any())
            seen = self.items[self.users == u]
            self.assertFalse(np.isin(si, seen).any())
            # against NumPy: x_u . y_i over unseen, unfiltered items
            s = m.item_factors.astype(np.float64) @ m.factors_of(u).astype(np.float64)
            ri, rs = topk(s, m.item_ids, 7, banned=set(seen.tolist()) | set(banned.tolist()))
            self.assertClose(si, ss, ri, rs)
        # without exclusions the top item is the best score overall
        ai, as_ = m.recommend(users, 3, exclude_seen=False)
        for j, u in enumerate(users):
            s = m.item_factors @ m.factors_of(u)
            self.assertAlmostEqual(float(as_[j, 0]), float(s.max()), places=4)

    def test_recommend_for_a_folded_in_user(self):
        m = self.m
        new_items = m.item_ids[[1, 5, 9, 30]]
        f = m.fold_in(new_items, [3, 1, 2, 5])
        got_i, got_s = m.recommend(factors=f, k=8, filter_items=new_items)
        s = m.item_factors.astype(np.float64) @ f.astype(np.float64)
        ref_i, ref_s = topk(s, m.item_ids, 8, banned=new_items)
        self.assertClose(got_i, got_s, ref_i, ref_s)
        two_i, two_s = m.recommend(factors=np.stack([f, f]), k=8)
        self.assertEqual(two_i.shape, (2, 8))
        np.testing.assert_array_equal(two_i[0], two_i[1])
        self.refused(alslib.EDIM, m.recommend, factors=f[:3], k=3)
        self.refused(alslib.EINVAL, m.recommend, m.user_ids[0], 3, factors=f)

    def test_ties_break_by_smaller_id(self):
        # items 900 and 7 have the same history, hence bit-identical factors; 900 appears
        # first in the data, so rows and ids disagree on the order: results follow the id
        rng = np.random.default_rng(3)
        u = rng.integers(0, 50, 800)
        i = rng.integers(100, 140, 800)
        buyers = np.arange(0, 50, 2)
        u = np.concatenate([buyers, buyers, u])
        i = np.concatenate([np.full(25, 900), np.full(25, 7), i])
        m = ALS(rank=4, maxIter=3, seed=1, numThreads=1).fit(u, i)
        self.assertLess(m.item_row(900), m.item_row(7))
        np.testing.assert_array_equal(m.item_factors_of(900), m.item_factors_of(7))
        for user in (1, 3, 5):  # never saw 7 or 900
            ids, scores = m.recommend(user, 40)
            pos = {x: j for j, x in enumerate(ids.tolist())}
            self.assertLess(pos[7], pos[900])
            self.assertEqual(scores[pos[7]], scores[pos[900]])
        sim, sc = m.similar_items(120, 40)
        lst = sim.tolist()
        self.assertLess(lst.index(7), lst.index(900))
        fi, _ = m.recommend(factors=m.factors_of(1), k=40)
        self.assertLess(fi.tolist().index(7), fi.tolist().index(900))

    def test_normalize(self):
        x = np.random.default_rng(2).standard_normal((20, 6)).astype(np.float32)
        x[4] = 0
        y = alslib.normalize(x)
        self.assertIsNot(y, x)
        np.testing.assert_allclose(np.linalg.norm(y[np.arange(20) != 4], axis=1), 1, rtol=1e-6)
        self.assertTrue((y[4] == 0).all())
        np.testing.assert_allclose(y, x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True),
                                                     1e-30), rtol=1e-6)
        self.assertEqual(alslib.normalize(x[0]).shape, (6,))
        z = x.copy()
        self.assertIs(alslib.normalize(z, copy=False), z)
        np.testing.assert_array_equal(z, y)
        self.refused(alslib.EINVAL, alslib.normalize, x.astype(np.float64), copy=False)
        bad = x.copy()
        bad[2, 2] = np.nan
        self.refused(alslib.EINVAL, alslib.normalize, bad)
        # cosine search: normalized vectors in an inner-product index
        idx = alslib.FlatIndex(6, "ip").add(y)
        s, i = idx.search(y[:3], 1)
        np.testing.assert_array_equal(i[:, 0], [0, 1, 2])

    def test_loss_history(self):
        m = ALS(rank=6, maxIter=5, seed=1, numThreads=2, implicitPrefs=True, computeLoss=True)
        m.fit(self.users, self.items, self.values)
        loss = m.loss_history
        self.assertEqual(loss.shape, (5,))
        self.assertTrue(np.isfinite(loss).all())
        # each ALS half-step minimizes the objective exactly: the loss never goes up
        self.assertTrue((np.diff(loss) <= 1e-6 * abs(loss[0])).all(), loss)
        self.assertEqual(m.loss, loss[-1])
        self.refused(alslib.ESTATE, lambda: self.m.loss_history)  # computeLoss was off

    def test_progress_callback_and_cancel(self):
        calls = []

        def cb(it, max_iter, seconds, loss):
            calls.append((it, max_iter, seconds, loss))
            return it == 2

        m = ALS(rank=4, maxIter=6, seed=1, numThreads=1)
        m.fit(self.users, self.items, callback=cb)
        self.assertEqual([c[0] for c in calls], [1, 2])
        self.assertTrue(all(c[1] == 6 and c[2] >= 0 and np.isnan(c[3]) for c in calls))
        self.assertTrue(m.canceled)
        self.assertTrue(m.is_fitted)  # the factors of iteration 2
        ref = ALS(rank=4, maxIter=2, seed=1, numThreads=1).fit(self.users, self.items)
        np.testing.assert_array_equal(m.user_factors, ref.user_factors)
        self.assertFalse(ref.canceled)
        self.assertEqual(len(m.recommend(int(m.user_ids[0]), 3)[0]), 3)

    def test_cancel_from_another_thread(self):
        import threading
        m = ALS(rank=4, maxIter=2, seed=1, numThreads=1).fit(self.users, self.items)
        before = m.user_factors.copy()
        started, out = threading.Event(), {}

        def cb(it, *rest):
            started.set()
            return it >= 500  # a bound, should cancel() not work

        def run():
            try:
                m.set_param("maxIter", 100000)
                m.fit(self.users, self.items, callback=cb)
                out["done"] = True
            except AlsError as e:
                out["error"] = e

        t = threading.Thread(target=run, daemon=True)
        t.start()
        self.assertTrue(started.wait(60))
        m.cancel()
        t.join(60)
        self.assertFalse(t.is_alive())
        self.assertEqual(out["error"].code, alslib.ECANCELED, out)
        np.testing.assert_array_equal(m.user_factors, before)  # the model from before
        m.cancel()  # no fit running: nothing happens

    def test_callback_exception_propagates_and_keeps_the_model(self):
        m = ALS(rank=4, maxIter=5, seed=1, numThreads=1).fit(self.users, self.items)
        before = m.user_factors.copy()

        class Stop(Exception):
            pass

        def cb(it, *rest):
            if it == 2:
                raise Stop("user code failed")

        m.set_param("seed", 2)
        with self.assertRaises(Stop):
            m.fit(self.users, self.items, callback=cb)
        np.testing.assert_array_equal(m.user_factors, before)

    def test_show_progress_draws_on_stderr(self):
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()) as out:
            ALS(rank=4, maxIter=3, numThreads=1, computeLoss=True).fit(
                self.users, self.items, show_progress=True)
        text = err.getvalue()
        self.assertIn("3/3", text)
        self.assertIn("loss", text)
        self.assertTrue(text.endswith("\n"))
        self.assertEqual(out.getvalue(), "")
        quiet = io.StringIO()
        with contextlib.redirect_stderr(quiet):
            ALS(rank=4, maxIter=2, numThreads=1).fit(self.users, self.items)
        self.assertEqual(quiet.getvalue(), "")

    def test_splits_and_ranking_metrics(self):
        r = Ratings(self.users, self.items, self.values)
        train, test = r.split(0.8, seed=3)
        self.assertEqual(len(train) + len(test), len(r))
        self.assertTrue(0.7 * len(r) < len(train) < 0.9 * len(r))
        again = r.split(0.8, seed=3)
        self.assertEqual((len(again[0]), len(again[1])), (len(train), len(test)))
        m = ALS(rank=8, maxIter=5, implicitPrefs=True, alpha=2.0, seed=1, numThreads=2).fit(train)
        k = 10
        got = m.evaluate(test, k=k)
        self.assertEqual(set(got), {"precision", "recall", "map", "ndcg", "auc", "users"})
        # precision / recall recomputed from recommend(): same definition as als_eval_ranking
        tu, ti, _ = test.to_arrays()
        ru, ri, _ = train.to_arrays()
        known = set(m.user_ids.tolist())
        prec, rec, n = [], [], 0
        for u in np.unique(tu):
            # T_u: the user's distinct test items that are not among their training items
            t = set(ti[tu == u].tolist()) - set(ri[ru == u].tolist())
            if u not in known or not t:
                continue
            items, _ = m.recommend(int(u), k)
            hits = len(t & set(items.tolist()))
            prec.append(hits / k)
            rec.append(hits / min(k, len(t)))
            n += 1
        self.assertEqual(got["users"], n)
        self.assertAlmostEqual(got["precision"], np.mean(prec), places=9)
        self.assertAlmostEqual(got["recall"], np.mean(rec), places=9)
        self.assertTrue(0.0 <= got["auc"] <= 1.0)  # random data: no signal to find
        # the same with test given as arrays
        same = m.evaluate((tu, ti), k=k)
        self.assertAlmostEqual(same["precision"], got["precision"], places=12)
        # leave-last-out: one test row per user at most, each user keeps a train row
        tr2, te2 = r.split_last(1)
        u2, _, _ = te2.to_arrays()
        self.assertEqual(len(u2), len(np.unique(u2)))
        self.assertEqual(len(tr2) + len(te2), len(r))
        self.refused(alslib.ERANGE, r.split, 1.5)
        self.refused(alslib.ESTATE, r.split_time, 10)  # no timestamps

    def test_split_time(self):
        t = np.arange(len(self.users), dtype=np.int64) * 10
        r = Ratings(self.users, self.items, self.values, times=t)
        tr, te = r.split_time(t[4000])
        self.assertEqual((len(tr), len(te)), (4000, len(t) - 4000))
        d = np.datetime64("2020-01-01") + t.astype("timedelta64[s]")
        rd = Ratings(self.users, self.items, times=d)
        a, b = rd.split_time(np.datetime64("2020-01-01") + np.timedelta64(40000, "s"))
        self.assertEqual(len(a), 4000)

    def test_named_split_and_evaluate(self):
        un = np.array(["u%d" % x for x in self.users])
        it = np.array(["i%d" % x for x in self.items])
        r = Ratings(un, it, self.values)
        train, test = r.split(0.8, seed=3)
        self.assertEqual(train.user_names.tolist(), r.user_names.tolist())
        m = ALS(rank=8, maxIter=5, implicitPrefs=True, alpha=2.0, seed=1, numThreads=2).fit(train)
        got = m.evaluate(test, k=10)
        # the same split with integer ids gives the same metrics
        ri = Ratings(self.users, self.items, self.values)
        tri, tei = ri.split(0.8, seed=3)
        mi = ALS(rank=8, maxIter=5, implicitPrefs=True, alpha=2.0, seed=1, numThreads=2).fit(tri)
        ref = mi.evaluate(tei, k=10)
        self.assertEqual(got["users"], ref["users"])
        self.assertAlmostEqual(got["ndcg"], ref["ndcg"], places=5)
        tu, ti, _ = test.to_arrays()
        self.assertAlmostEqual(m.evaluate((tu, ti), k=10)["ndcg"], got["ndcg"], places=12)
        # ratings with a dictionary of their own are refused, not misread
        other = Ratings(un[::-1].copy(), it[::-1].copy())
        self.refused(alslib.EINVAL, m.evaluate, other)

    def test_group_by_user(self):
        rng = np.random.default_rng(5)
        n = 3000
        u = rng.integers(0, 400, n) * 3 - 50
        i = rng.integers(0, 90, n)
        v = rng.integers(1, 6, n).astype(np.float32)
        r = Ratings(u, i, v)
        fit = lambda rr: ALS(rank=6, maxIter=3, implicitPrefs=True, seed=2, numThreads=2).fit(rr)
        before = fit(r)
        self.assertIs(r.group_by_user(), r)
        # reference: users by first appearance, a stable sort of the rows
        first = {}
        for k, x in enumerate(u.tolist()):
            first.setdefault(x, k)
        order = sorted(range(n), key=lambda k: (first[u[k]], k))
        gu, gi, gv = r.to_arrays()
        self.assertEqual(gu.tolist(), u[order].tolist())
        self.assertEqual(gi.tolist(), i[order].tolist())
        self.assertEqual(gv.tolist(), v[order].tolist())
        after = fit(r)  # the fit reads the grouped rows in place: the same bits
        self.assertEqual(after.user_factors.tobytes(), before.user_factors.tobytes())
        self.assertEqual(after.item_factors.tobytes(), before.item_factors.tobytes())

    def test_rmse(self):
        m = ALS(rank=6, maxIter=8, regParam=0.1, seed=1, numThreads=2)
        r = Ratings(self.users, self.items, self.values)
        tr, te = r.split(0.8, seed=1)
        m.fit(tr)
        tu, ti, tv = te.to_arrays()
        p = m.predict(tu, ti)
        ok = ~np.isnan(p)
        ref = np.sqrt(np.mean((p[ok].astype(np.float64) - tv[ok]) ** 2))
        self.assertAlmostEqual(m.rmse(te), ref, places=4)

    def test_export_npy(self):
        tmp = tempfile.mkdtemp()
        try:
            prefix = os.path.join(tmp, "m")
            self.m.export_npy(prefix)
            np.testing.assert_array_equal(np.load(prefix + "_users.npy"), self.m.user_factors)
            np.testing.assert_array_equal(np.load(prefix + "_items.npy"), self.m.item_factors)
            np.testing.assert_array_equal(np.load(prefix + "_user_ids.npy"), self.m.user_ids)
            np.testing.assert_array_equal(np.load(prefix + "_item_ids.npy"), self.m.item_ids)
            self.refused(alslib.ESTATE, ALS().export_npy, prefix)
        finally:
            shutil.rmtree(tmp)


if __name__ == "__main__":
    unittest.main()
