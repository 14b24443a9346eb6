# Tests of the alslib ctypes binding: results against a NumPy brute force and the C
# program npy_search, zero-copy wrapping, save/load round trips, and an AlsError with the
# right code for every bad input. Run:
#   PYTHONPATH=examples/python /usr/bin/python3 -m unittest discover -s examples/python/tests -v
import os
import shutil
import subprocess
import tempfile
import threading
import unittest

import numpy as np

import alslib
from alslib import ALS, AlsError, FlatIndex, IVFIndex, Matrix

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".."))
NPY_SEARCH = os.environ.get("ALSLIB_NPY_SEARCH", os.path.join(ROOT, "build", "examples", "npy_search"))


def data(n, d, seed):
    return np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def write_bytes(path, raw):
    with open(path, "wb") as f:
        f.write(raw)


def brute(base, ids, queries, k, metric, exclude=()):
    """Top-k by NumPy in float64: (scores, ids), ties broken by smaller id."""
    b, q = base.astype(np.float64), queries.astype(np.float64)
    if metric == "ip":
        s = q @ b.T
        key = -s
    else:
        s = ((q[:, None, :] - b[None, :, :]) ** 2).sum(-1)
        key = s
    out_s, out_i = [], []
    for r in range(q.shape[0]):
        mask = np.isin(ids, list(exclude))
        kr = np.where(mask, np.inf, key[r])
        order = np.lexsort((ids, kr))[:k]
        out_s.append(s[r, order])
        out_i.append(ids[order])
    return np.array(out_s), np.array(out_i)


class SearchTest(unittest.TestCase):
    def check_against_brute(self, idx, base, ids, queries, k, metric, exclude=()):
        scores, got = idx.search(queries, k, exclude=list(exclude) or None)
        ref_s, ref_i = brute(base, ids, queries, k, metric, exclude)
        self.assertEqual(scores.shape, (queries.shape[0], k))
        self.assertEqual(got.dtype, np.int64)
        np.testing.assert_allclose(scores, ref_s, rtol=1e-4, atol=1e-4)
        # ids equal wherever the reference scores are not (near-)tied
        gaps = np.abs(np.diff(ref_s, axis=1)) > 1e-3
        clear = np.ones_like(ref_i, dtype=bool)
        clear[:, 1:] &= gaps
        clear[:, :-1] &= gaps
        np.testing.assert_array_equal(got[clear], ref_i[clear])

    def test_flat_ip_and_l2_equal_numpy(self):
        base, q = data(500, 16, 1), data(20, 16, 2)
        ids = np.arange(1000, 1500, dtype=np.int64)[::-1].copy()
        for metric in ("ip", "l2"):
            with FlatIndex(16, metric) as idx:
                idx.add(base, ids)
                self.assertEqual(len(idx), 500)
                self.assertEqual(idx.metric, metric)
                self.check_against_brute(idx, base, ids, q, 10, metric)
                self.check_against_brute(idx, base, ids, q, 5, metric, exclude=ids[:50])

    def test_ivf_full_probe_equals_flat(self):
        base, q = data(800, 8, 3), data(30, 8, 4)
        for metric in ("ip", "l2"):
            flat = FlatIndex(8, metric).add(base)
            ivf = IVFIndex(8, 16, metric)
            ivf.train(base).add(base)
            ivf.nprobe = 16
            self.assertEqual(ivf.nprobe, 16)
            fs, fi = flat.search(q, 7)
            vs, vi = ivf.search(q, 7)
            np.testing.assert_array_equal(fi, vi)
            np.testing.assert_array_equal(fs, vs)

    def test_padding_when_k_exceeds_size(self):
        idx = FlatIndex(4, "l2").add(data(3, 4, 5))
        s, i = idx.search(data(2, 4, 6), 5)
        self.assertTrue((i[:, 3:] == -1).all())
        self.assertTrue(np.isposinf(s[:, 3:]).all())

    def test_equal_to_c_program(self):
        if not os.access(NPY_SEARCH, os.X_OK):
            self.skipTest("%s not built" % NPY_SEARCH)
        tmp = tempfile.mkdtemp()
        try:
            base, q = data(300, 8, 7), data(6, 8, 8)
            np.save(os.path.join(tmp, "b.npy"), base)
            np.save(os.path.join(tmp, "q.npy"), q)
            for metric in ("ip", "l2"):
                out = os.path.join(tmp, "r.csv")
                vidx = os.path.join(tmp, "c.vidx")
                subprocess.run([NPY_SEARCH, "--base", os.path.join(tmp, "b.npy"), "--queries",
                                os.path.join(tmp, "q.npy"), "--k", "5", "--metric", metric,
                                "--out", out, "--save", vidx], check=True,
                               stdout=subprocess.DEVNULL)
                rows = np.loadtxt(out, delimiter=",", skiprows=1)
                c_ids = rows[:, 2].astype(np.int64).reshape(6, 5)
                c_scores = rows[:, 3].reshape(6, 5)
                s, i = FlatIndex(8, metric).add(base).search(q, 5)
                np.testing.assert_array_equal(i, c_ids)
                np.testing.assert_allclose(s, c_scores, rtol=1e-5, atol=1e-6)
                # the index file the C program wrote gives bit-identical results here
                s2, i2 = FlatIndex.load(vidx).search(q, 5)
                np.testing.assert_array_equal(i2, i)
                np.testing.assert_array_equal(s2, s)
        finally:
            shutil.rmtree(tmp)

    def test_save_load_round_trip(self):
        base, q = data(400, 8, 9), data(10, 8, 10)
        tmp = tempfile.mkdtemp()
        try:
            for idx in (FlatIndex(8, "l2").add(base, np.arange(400) * 3),
                        IVFIndex(8, 8, "ip", nprobe=3).train(base).add(base)):
                p = os.path.join(tmp, "i.vidx")
                idx.save(p)
                back = alslib.Index.load(p)
                self.assertIs(type(back), type(idx))
                self.assertEqual((len(back), back.dim, back.metric, back.nlist),
                                 (len(idx), idx.dim, idx.metric, idx.nlist))
                a, b = idx.search(q, 5), back.search(q, 5)
                np.testing.assert_array_equal(a[0], b[0])
                np.testing.assert_array_equal(a[1], b[1])
        finally:
            shutil.rmtree(tmp)

    def test_expand(self):
        base = data(300, 8, 11)
        idx = FlatIndex(8, "ip").add(base)
        seeds = base[:5]
        s, i = idx.expand(seeds, 10, 20, agg="max", exclude=range(5))
        self.assertEqual(len(i), 20)
        self.assertFalse(np.isin(i, np.arange(5)).any())
        self.assertTrue((np.diff(s) <= 0).all())
        # MAX aggregate = best similarity over seeds whose top-10 contains the id
        ss, si = idx.search(seeds, 10, exclude=range(5))
        best = {}
        for r in range(5):
            for sc, id_ in zip(ss[r], si[r]):
                best[id_] = max(best.get(id_, -np.inf), sc)
        for sc, id_ in zip(s, i):
            self.assertAlmostEqual(best[id_], sc, places=5)


class MatrixTest(unittest.TestCase):
    def test_zero_copy_for_float32_c_contiguous(self):
        a = data(50, 8, 12)
        m = Matrix(a)
        self.assertIs(m.array, a)
        self.assertEqual(m.data_pointer, a.ctypes.data)
        self.assertEqual(m.shape, (50, 8))
        # row slices keep contiguous rows: still no copy, the stride says so
        b = a[10:20]
        mb = Matrix(b)
        self.assertEqual(mb.data_pointer, b.ctypes.data)
        sub = np.zeros((10, 12), np.float32)[:, :8]
        ms = Matrix(sub)
        self.assertEqual((ms.data_pointer, ms.stride), (sub.ctypes.data, 12))

    def test_one_copy_otherwise(self):
        for a in (data(5, 4, 13).astype(np.float64), np.asfortranarray(data(5, 4, 13)),
                  data(5, 8, 13)[:, ::2]):
            m = Matrix(a)
            self.assertNotEqual(m.data_pointer, a.ctypes.data)
            self.assertTrue(m.array.flags.c_contiguous)
            np.testing.assert_array_equal(m.array, a.astype(np.float32))

    def test_misaligned_buffer_is_copied(self):
        # arrays rebuilt from pickled or network buffers may start at any byte; the library
        # reads floats in place, so those must be copied (once) to an aligned array
        a = data(40, 6, 21)
        raw = np.zeros(a.nbytes + 1, np.uint8)
        raw[1:] = a.view(np.uint8).ravel()
        u = np.frombuffer(raw.data, dtype=np.float32, count=a.size, offset=1).reshape(a.shape)
        self.assertFalse(u.flags.aligned)
        m = Matrix(u)
        self.assertNotEqual(m.data_pointer, u.ctypes.data)
        self.assertEqual(m.data_pointer % 4, 0)
        s1, i1 = FlatIndex(6, "ip").add(u).search(u[:5], 3)
        s2, i2 = FlatIndex(6, "ip").add(a).search(a[:5], 3)
        np.testing.assert_array_equal(i1, i2)
        np.testing.assert_array_equal(s1, s2)

    def test_array_kept_alive(self):
        m = Matrix(np.ones((1000, 4), np.float32) * 2)  # the only reference is the Matrix's
        idx = FlatIndex(4, "ip").add(m)
        s, i = idx.search(np.ones(4, np.float32), 1)
        self.assertEqual(s[0, 0], 8.0)
        m.close()
        m.close()  # idempotent


class ALSTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        rng = np.random.default_rng(14)
        n = 3000
        cls.users = rng.integers(0, 120, n) * 7
        cls.items = rng.integers(0, 60, n) + 1000
        cls.values = rng.integers(1, 5, n).astype(np.float32)
        cls.model = ALS(rank=6, maxIter=8, regParam=0.05, implicitPrefs=True, alpha=2.0,
                        seed=3, numThreads=2)
        cls.model.fit(cls.users, cls.items, cls.values)

    def test_factors_are_views(self):
        m = self.model
        uf, itf = m.user_factors, m.item_factors
        self.assertEqual(uf.shape, (len(np.unique(self.users)), 6))
        self.assertEqual(itf.shape, (len(np.unique(self.items)), 6))
        self.assertEqual(uf.dtype, np.float32)
        self.assertFalse(uf.flags.writeable)
        self.assertTrue(np.isfinite(uf).all() and np.abs(uf).sum() > 0)
        self.assertEqual(sorted(m.user_ids), sorted(np.unique(self.users)))
        # a view: the same memory on every access
        self.assertEqual(uf.ctypes.data, m.user_factors.ctypes.data)

    def test_recommend_equals_numpy_and_excludes_seen(self):
        m = self.model
        uf, itf, iids = m.user_factors, m.item_factors, m.item_ids
        for row in (0, 5, 17):
            u = int(m.user_ids[row])
            items, scores = m.recommend(u, 5)
            seen = set(self.items[self.users == u])
            self.assertFalse(seen & set(items.tolist()))
            s = itf.astype(np.float64) @ uf[row].astype(np.float64)
            s[np.isin(iids, list(seen))] = -np.inf
            order = np.lexsort((iids, -s))[:5]
            np.testing.assert_allclose(scores, s[order], rtol=1e-4, atol=1e-5)
            all_items, _ = m.recommend(u, 5, exclude_seen=False)
            self.assertEqual(len(all_items), 5)

    def test_predict(self):
        m = self.model
        u, i = m.user_ids[:4], m.item_ids[:4]
        p = m.predict(np.append(u, -5), np.append(i, 1000))
        ref = (m.user_factors[:4] * m.item_factors[:4]).sum(1)
        np.testing.assert_allclose(p[:4], ref, rtol=1e-4, atol=1e-5)
        self.assertTrue(np.isnan(p[4]))

    def test_fold_in_reproduces_training_factor(self):
        m = self.model
        for row in (0, 9):
            u = m.user_ids[row]
            sel = self.users == u
            f = m.fold_in(self.items[sel], self.values[sel])
            np.testing.assert_allclose(f, m.user_factors[row], atol=1e-4)
        m.fold_in([1000, 99999])
        self.assertEqual(m.last_fold_in_unknown, 1)

    def test_explicit_fit_from_csv(self):
        tmp = tempfile.mkdtemp()
        try:
            p = os.path.join(tmp, "r.csv")
            with open(p, "w") as f:
                f.write("user,item,rating\n")
                for u, i, v in zip(self.users[:500], self.items[:500], self.values[:500]):
                    f.write("%d,%d,%g\n" % (u, i, v))
            a = ALS(rank=4, maxIter=5, seed=1, numThreads=1).fit(
                p, options="header=1,value=rating")
            b = ALS(rank=4, maxIter=5, seed=1, numThreads=1).fit(
                self.users[:500], self.items[:500], self.values[:500])
            np.testing.assert_array_equal(a.user_factors, b.user_factors)
            np.testing.assert_array_equal(a.item_ids, b.item_ids)
        finally:
            shutil.rmtree(tmp)

    def test_save_load_round_trip(self):
        tmp = tempfile.mkdtemp()
        try:
            p = os.path.join(tmp, "m.als")
            self.model.save(p)
            with ALS.load(p) as back:
                self.assertEqual(back.rank, 6)
                np.testing.assert_array_equal(back.user_factors, self.model.user_factors)
                np.testing.assert_array_equal(back.item_ids, self.model.item_ids)
                u = int(self.model.user_ids[0])
                np.testing.assert_array_equal(back.recommend(u, 4, exclude_seen=False)[0],
                                              self.model.recommend(u, 4, exclude_seen=False)[0])
        finally:
            shutil.rmtree(tmp)

    def test_view_keeps_model_alive(self):
        m = ALS(rank=3, maxIter=2).fit([1, 2, 3], [1, 1, 2])
        uf = m.user_factors
        ref = uf.copy()
        del m
        np.testing.assert_array_equal(uf, ref)


class ErrorTest(unittest.TestCase):
    def assertCode(self, code, fn, *args, **kw):
        with self.assertRaises(AlsError) as cm:
            fn(*args, **kw)
        self.assertEqual(cm.exception.code, code, str(cm.exception))
        self.assertTrue(cm.exception.message)
        return cm.exception

    def setUp(self):
        self.tmp = tempfile.mkdtemp()

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def test_message_comes_from_library(self):
        e = self.assertCode(alslib.EDIM, FlatIndex(8).search, data(2, 3, 1), 1)
        self.assertIn("dimension", e.message)
        self.assertIn("-4", str(e))

    def test_matrix_errors(self):
        self.assertCode(alslib.EDIM, Matrix, np.zeros((2, 2, 2), np.float32))
        self.assertCode(alslib.EINVAL, Matrix, np.array([["a", "b"]]))
        m = Matrix(np.zeros((2, 2), np.float32))
        m.close()
        self.assertCode(alslib.ESTATE, lambda: m.shape)

    def test_index_create_errors(self):
        self.assertCode(alslib.ERANGE, FlatIndex, 0)
        self.assertCode(alslib.ERANGE, FlatIndex, 70000)
        self.assertCode(alslib.EINVAL, FlatIndex, 4, "cosine")
        self.assertCode(alslib.EINVAL, FlatIndex, 4, 7)
        self.assertCode(alslib.ERANGE, IVFIndex, 4, 0)
        self.assertCode(alslib.ERANGE, IVFIndex, 4, 4, nprobe=0)

    def test_add_search_errors(self):
        idx = FlatIndex(4, "l2")
        bad = data(3, 4, 1)
        bad[1, 2] = np.nan
        self.assertCode(alslib.EDIM, idx.add, data(3, 5, 1))
        self.assertCode(alslib.EINVAL, idx.add, bad)
        self.assertCode(alslib.EINVAL, idx.add, data(2, 4, 1), [1, -1])
        self.assertCode(alslib.EDIM, idx.add, data(2, 4, 1), [1, 2, 3])
        self.assertCode(alslib.EINVAL, idx.add, data(2, 4, 1), ["x", "y"])
        self.assertEqual(len(idx), 0)  # nothing added by a failed call
        idx.add(data(10, 4, 2))
        self.assertCode(alslib.ERANGE, idx.search, data(1, 4, 3), 0)
        self.assertCode(alslib.ERANGE, idx.search, data(1, 4, 3), -2)
        self.assertCode(alslib.EINVAL, idx.search, bad, 2)
        self.assertCode(alslib.EDIM, idx.search, data(1, 3, 3), 2)
        self.assertCode(alslib.EINVAL, idx.search, data(1, 4, 3), 2, exclude=[1], include=[2])
        self.assertCode(alslib.EINVAL, idx.set_param, "bogus", 1)
        self.assertCode(alslib.EINVAL, idx.set_param, 12345, 1)
        self.assertCode(alslib.ERANGE, idx.set_param, "num_threads", -1)

    def test_ivf_state_errors(self):
        ivf = IVFIndex(4, 8)
        self.assertFalse(ivf.is_trained)
        self.assertCode(alslib.ESTATE, ivf.add, data(10, 4, 1))
        self.assertCode(alslib.ESTATE, ivf.search, data(1, 4, 1), 3)
        self.assertCode(alslib.ESTATE, ivf.expand, data(1, 4, 1), 3, 3)
        self.assertCode(alslib.ERANGE, ivf.train, data(5, 4, 1))  # fewer rows than nlist
        self.assertCode(alslib.EDIM, ivf.train, data(50, 3, 1))
        ivf.train(data(50, 4, 1)).add(data(50, 4, 2))
        self.assertCode(alslib.ESTATE, ivf.train, data(50, 4, 1))  # not empty any more

    def test_expand_errors(self):
        l2 = FlatIndex(4, "l2").add(data(20, 4, 1))
        self.assertCode(alslib.EINVAL, l2.expand, data(2, 4, 2), 3, 5, agg="sum")
        self.assertCode(alslib.EINVAL, l2.expand, data(2, 4, 2), 3, 5, agg="median")
        self.assertCode(alslib.ERANGE, l2.expand, data(2, 4, 2), 3, 0)
        self.assertCode(alslib.ERANGE, l2.expand, data(2, 4, 2), 0, 5)
        self.assertCode(alslib.EDIM, l2.expand, data(2, 5, 2), 3, 5)

    def test_file_errors(self):
        missing = os.path.join(self.tmp, "nope")
        self.assertCode(alslib.ENOTFOUND, alslib.Index.load, missing)
        self.assertCode(alslib.ENOTFOUND, ALS.load, missing)
        self.assertCode(alslib.EINVAL, alslib.Index.load, 3.5)
        garbage = os.path.join(self.tmp, "garbage")
        with open(garbage, "wb") as f:
            f.write(b"not an index at all" * 10)
        self.assertCode(alslib.EFORMAT, alslib.Index.load, garbage)
        self.assertCode(alslib.EFORMAT, ALS.load, garbage)
        p = os.path.join(self.tmp, "i.vidx")
        FlatIndex(4).add(data(30, 4, 1)).save(p)
        raw = bytearray(read_bytes(p))
        corrupt = os.path.join(self.tmp, "corrupt.vidx")
        raw[len(raw) // 2] ^= 0xFF
        write_bytes(corrupt, raw)
        self.assertCode(alslib.EFORMAT, alslib.Index.load, corrupt)
        write_bytes(corrupt, raw[: len(raw) // 3])
        self.assertCode(alslib.EFORMAT, alslib.Index.load, corrupt)
        self.assertCode(alslib.EIO, FlatIndex(4).save, os.path.join(self.tmp, "no", "dir", "x"))
        m = ALS(rank=2, maxIter=1).fit([1, 2], [3, 4])
        mp = os.path.join(self.tmp, "m.als")
        m.save(mp)
        raw = bytearray(read_bytes(mp))
        raw[len(raw) - 5] ^= 0x55
        write_bytes(mp, raw)
        self.assertCode(alslib.EFORMAT, ALS.load, mp)

    def test_als_param_errors(self):
        self.assertCode(alslib.EINVAL, ALS, rnak=5)
        self.assertCode(alslib.ERANGE, ALS, rank=0)
        self.assertCode(alslib.ERANGE, ALS, rank=5000)
        self.assertCode(alslib.EINVAL, ALS, rank="ten")
        self.assertCode(alslib.ERANGE, ALS, regParam=-1)
        self.assertCode(alslib.EINVAL, ALS, implicitPrefs="maybe")
        self.assertCode(alslib.EINVAL, ALS, solver="lu")

    def test_als_fit_errors(self):
        m = ALS(rank=2, maxIter=2)
        self.assertCode(alslib.ESTATE, lambda: m.user_factors)
        self.assertCode(alslib.ESTATE, m.recommend, 1, 3)
        self.assertCode(alslib.ESTATE, m.fold_in, [1])
        self.assertCode(alslib.ESTATE, m.predict, [1], [1])
        self.assertCode(alslib.ESTATE, m.save, os.path.join(self.tmp, "m.als"))
        self.assertCode(alslib.EINVAL, m.fit, [1, 2], [3, 4], [1.0, float("nan")])
        self.assertCode(alslib.EDIM, m.fit, [1, 2], [3, 4, 5])
        self.assertCode(alslib.EDIM, m.fit, [1, 2], [3, 4], [1.0])
        self.assertCode(alslib.ERANGE, m.fit, [], [])
        self.assertCode(alslib.EINVAL, m.fit, [1, 2])
        self.assertCode(alslib.ENOTFOUND, m.fit, os.path.join(self.tmp, "none.csv"))
        bad = os.path.join(self.tmp, "bad.csv")
        with open(bad, "w") as f:
            f.write("1,2,3\n4,x5,1\n")
        self.assertCode(alslib.EFORMAT, m.fit, bad, options="ids=int")
        self.assertCode(alslib.EINVAL, m.fit, bad, options="colour=blue")
        m.fit([1, 2, 2], [3, 4, 3])
        self.assertCode(alslib.ENOTFOUND, m.recommend, 99, 3)
        self.assertCode(alslib.ERANGE, m.recommend, 1, 0)
        self.assertCode(alslib.EINVAL, m.fold_in, [3], [float("inf")])
        self.assertCode(alslib.EDIM, m.fold_in, [3, 4], [1.0])
        m.close()
        self.assertCode(alslib.ESTATE, m.recommend, 1, 3)

    def test_errors_are_per_thread(self):
        idx = FlatIndex(4).add(data(10, 4, 1))
        results = {}

        def work(name, fn, code):
            ok = True
            for _ in range(200):
                try:
                    fn()
                    ok = False
                except AlsError as e:
                    ok = ok and e.code == code and name in e.message
            results[name] = ok

        ts = [threading.Thread(target=work, args=("dimension", lambda: idx.search(
                  data(1, 3, 1), 1), alslib.EDIM)),
              threading.Thread(target=work, args=("k", lambda: idx.search(
                  data(1, 4, 1), 0), alslib.ERANGE))]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        self.assertEqual(results, {"dimension": True, "k": True})


if __name__ == "__main__":
    unittest.main()
