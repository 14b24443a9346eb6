# String ids: fit on names (arrays through als_ratings_add_named, or a CSV), the model
# answers in names; factor row r belongs to user_ids[r]; Ratings exposes its dictionaries;
# NUL bytes and mixes are refused; names survive save/load.
import os
import shutil
import tempfile
import unittest

import numpy as np

import alslib
from alslib import ALS, AlsError, Ratings


def first_appearance_codes(names):
    """The ids the library gives names: 0, 1, 2, ... in order of first appearance."""
    seen = {}
    return np.array([seen.setdefault(x, len(seen)) for x in names], dtype=np.int64), list(seen)


class NamesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        rng = np.random.default_rng(21)
        n = 2500
        cls.unames = np.array(["user-%03d" % k for k in rng.integers(0, 150, n)])
        cls.inames = np.array(["sku-é-%d" % k for k in rng.integers(0, 80, n)], dtype=object)
        cls.values = rng.integers(1, 4, n).astype(np.float32)
        params = dict(rank=5, maxIter=4, seed=2, numThreads=1, implicitPrefs=True)
        cls.named = ALS(**params).fit(cls.unames, cls.inames, cls.values)
        cls.ucodes, cls.ulist = first_appearance_codes(cls.unames.tolist())
        cls.icodes, cls.ilist = first_appearance_codes(cls.inames.tolist())
        cls.ints = ALS(**params).fit(cls.ucodes, cls.icodes, cls.values)

    def refused(self, code, fn, *a, **kw):
        with self.assertRaises(AlsError) as cm:
            fn(*a, **kw)
        self.assertEqual(cm.exception.code, code, str(cm.exception))
        return cm.exception

    def test_ids_are_the_names(self):
        m = self.named
        self.assertEqual(m.user_ids.dtype, object)
        self.assertTrue(all(isinstance(x, str) for x in m.user_ids))
        self.assertEqual(set(m.user_ids), set(self.unames.tolist()))
        self.assertEqual(set(m.item_ids), set(self.inames.tolist()))
        self.assertFalse(m.user_ids.flags.writeable)
        # the same training as integer ids in order of first appearance: identical factors
        np.testing.assert_array_equal(m.user_factors, self.ints.user_factors)
        np.testing.assert_array_equal(m.item_factors, self.ints.item_factors)
        self.assertEqual(m.user_ids.tolist(), [self.ulist[c] for c in self.ints.user_ids])
        self.assertEqual(self.ints.user_ids.dtype, np.int64)  # ints stay int64

    def test_row_r_belongs_to_user_ids_r(self):
        m = self.named
        for r in (0, 7, len(m.user_ids) - 1):
            name = m.user_ids[r]
            self.assertEqual(m.user_row(name), r)
            np.testing.assert_array_equal(m.factors_of(name), m.user_factors[r])
        for r in (0, 3):
            self.assertEqual(m.item_row(m.item_ids[r]), r)
            np.testing.assert_array_equal(m.item_factors_of([m.item_ids[r]]), m.item_factors[[r]])
        f = m.factors_of(list(m.user_ids[[4, 2, 4]]))
        np.testing.assert_array_equal(f, m.user_factors[[4, 2, 4]])
        e = self.refused(alslib.ENOTFOUND, m.factors_of, ["user-000", "nobody"])
        self.assertIn("nobody", e.message)
        self.refused(alslib.ENOTFOUND, m.user_row, "nobody")
        self.refused(alslib.EINVAL, m.user_row, 3)  # an integer for a model of names
        self.refused(alslib.EINVAL, self.ints.user_row, "user-000")  # and the reverse
        self.assertEqual(self.ints.user_row(int(self.ints.user_ids[5])), 5)
        self.refused(alslib.ENOTFOUND, self.ints.factors_of, [10 ** 9])

    def test_recommend_predict_fold_in_speak_names(self):
        m, ref = self.named, self.ints
        u = m.user_ids[3]
        items, scores = m.recommend(u, 5)
        ri, rs = ref.recommend(self.ulist.index(u), 5)
        self.assertEqual(items.tolist(), [self.ilist[c] for c in ri])
        np.testing.assert_array_equal(scores, rs)
        seen = set(self.inames[self.unames == u].tolist())
        self.assertFalse(seen & set(items.tolist()))
        p = m.predict([u, "nobody"], [items[0], items[0]])
        self.assertAlmostEqual(float(p[0]), float(scores[0]), places=5)
        self.assertTrue(np.isnan(p[1]))
        sel = self.unames == u
        f = m.fold_in(self.inames[sel].tolist() + ["unknown-item"], self.values[sel].tolist() + [1])
        np.testing.assert_allclose(f, m.factors_of(u), atol=1e-4)
        self.assertEqual(m.last_fold_in_unknown, 1)
        self.refused(alslib.ENOTFOUND, m.recommend, "nobody", 3)

    def test_ratings_from_csv_expose_dictionaries(self):
        tmp = tempfile.mkdtemp()
        try:
            p = os.path.join(tmp, "r.csv")
            with open(p, "w", encoding="utf-8") as f:
                f.write("user,item,n\n")
                for u, i, v in zip(self.unames, self.inames, self.values):
                    f.write("%s,%s,%g\n" % (u, i, v))
            r = Ratings.read_csv(p, {"header": 1, "value": "n"})
            self.assertEqual(len(r), len(self.unames))
            self.assertTrue(r.has_user_names and r.has_item_names)
            self.assertEqual(r.user_names.tolist(), self.ulist)
            self.assertEqual(r.item_names.tolist(), self.ilist)
            self.assertEqual(r.user_id(self.ulist[4]), 4)
            self.assertEqual(r.item_name(2), self.ilist[2])
            self.refused(alslib.ENOTFOUND, r.user_id, "nobody")
            self.refused(alslib.ENOTFOUND, r.user_name, 10 ** 6)
            users, items, vals = r.to_arrays()
            self.assertEqual(users.tolist(), self.unames.tolist())
            self.assertEqual(items.tolist(), self.inames.tolist())
            m = ALS(rank=5, maxIter=4, seed=2, numThreads=1, implicitPrefs=True).fit(r)
            np.testing.assert_array_equal(m.user_factors, self.named.user_factors)
            self.assertEqual(m.user_ids.tolist(), self.named.user_ids.tolist())
            # the same with fit(path, options)
            m2 = ALS(rank=5, maxIter=4, seed=2, numThreads=1, implicitPrefs=True).fit(
                p, options="header=1,value=n")
            self.assertEqual(m2.item_ids.tolist(), self.named.item_ids.tolist())
            self.refused(alslib.ESTATE, r.add, ["x"], ["y"])  # trained on: frozen
        finally:
            shutil.rmtree(tmp)

    def test_csv_with_named_users_and_integer_items(self):
        tmp = tempfile.mkdtemp()
        try:
            p = os.path.join(tmp, "r.csv")
            with open(p, "w") as f:
                f.write("acct-7,100\nacct-3,200\nacct-7,200\n00123,100\n")
            r = Ratings.read_csv(p)
            self.assertTrue(r.has_user_names)
            self.assertFalse(r.has_item_names)
            self.assertIsNone(r.item_names)
            m = ALS(rank=2, maxIter=2, numThreads=1).fit(r)
            self.assertEqual(m.user_ids.tolist(), ["acct-7", "acct-3", "00123"])
            self.assertEqual(m.item_ids.dtype, np.int64)
            self.assertEqual(sorted(m.item_ids.tolist()), [100, 200])
            items, _ = m.recommend("acct-3", 2)
            self.assertEqual(items.tolist(), [100, -1])  # an integer side pads with -1
            self.assertEqual(m.item_row(200), m.item_ids.tolist().index(200))
        finally:
            shutil.rmtree(tmp)

    def test_add_named_round_trip(self):
        r = Ratings(["b", "a", "b", "日本"], ["x", "y", "y", "x"], [1, 2, 3, 4])
        self.assertEqual(r.user_names.tolist(), ["b", "a", "日本"])
        self.assertEqual(r.item_names.tolist(), ["x", "y"])
        self.assertEqual((r.num_users, r.num_items, len(r)), (3, 2, 4))
        r.add(np.array(["c"]), np.array(["x"]), [5])
        self.assertEqual(r.user_id("c"), 3)
        u, i, v = r.to_arrays()
        self.assertEqual(u.tolist(), ["b", "a", "b", "日本", "c"])
        np.testing.assert_array_equal(v, [1, 2, 3, 4, 5])
        ints = Ratings([1, 2], [3, 4])
        self.assertIsNone(ints.user_names)
        self.assertFalse(ints.has_user_names)
        self.refused(alslib.ESTATE, ints.add, ["a"], ["b"])  # names after integer ids
        self.assertEqual(len(ints), 2)

    def test_bad_names_are_refused(self):
        m = ALS(rank=2, maxIter=1)
        e = self.refused(alslib.EINVAL, m.fit, ["a\0b", "c"], ["x", "y"])
        self.assertIn("NUL", e.message)
        self.refused(alslib.EINVAL, m.fit, ["a", "c"], [b"x\0", b"y"])
        self.refused(alslib.EINVAL, m.fit, ["a", "c"], [1, 2])  # names with integer ids
        self.refused(alslib.EINVAL, m.fit, ["a", 3], ["x", "y"])
        self.refused(alslib.EINVAL, m.fit, ["a", None], ["x", "y"])
        self.refused(alslib.EINVAL, m.fit, ["a", "b"], ["x", "y"], [1.0, float("nan")])
        self.refused(alslib.EINVAL, Ratings, ["\ud800"], ["x"])  # not encodable as UTF-8
        self.refused(alslib.EUNSUPPORTED, Ratings, ["a"], ["x"], times=[5])
        r = Ratings()
        self.refused(alslib.EINVAL, r.add, ["a", "b\0"], ["x", "y"])
        self.assertEqual(len(r), 0)  # nothing appended
        self.assertFalse(m.is_fitted)

    def test_names_survive_save_load(self):
        tmp = tempfile.mkdtemp()
        try:
            p = os.path.join(tmp, "m.als")
            self.named.save(p)
            self.assertTrue(os.path.exists(p + ".ids"))
            back = ALS.load(p)
            self.assertEqual(back.user_ids.tolist(), self.named.user_ids.tolist())
            self.assertEqual(back.item_ids.tolist(), self.named.item_ids.tolist())
            u = self.named.user_ids[0]
            np.testing.assert_array_equal(back.recommend(u, 4, exclude_seen=False)[0],
                                          self.named.recommend(u, 4, exclude_seen=False)[0])
            # a dictionary file of another training run is refused, not trusted
            q = os.path.join(tmp, "other.als")
            ALS(rank=5, maxIter=1, seed=9, numThreads=1).fit(["p", "q"], ["x", "y"]).save(q)
            shutil.copy(q + ".ids", p + ".ids")
            self.refused(alslib.EFORMAT, ALS.load, p)
            # saving a model of integer ids removes a stale dictionary file
            self.ints.save(p)
            self.assertFalse(os.path.exists(p + ".ids"))
            self.assertEqual(ALS.load(p).user_ids.dtype, np.int64)
        finally:
            shutil.rmtree(tmp)

    def test_export_npy_with_names(self):
        tmp = tempfile.mkdtemp()
        try:
            prefix = os.path.join(tmp, "f")
            self.named.export_npy(prefix)
            np.testing.assert_array_equal(np.load(prefix + "_users.npy"), self.named.user_factors)
            names = np.load(prefix + "_user_names.npy", allow_pickle=False)
            self.assertEqual(names.tolist(), self.named.user_ids.tolist())
            self.assertEqual(np.load(prefix + "_item_names.npy").tolist(),
                             self.named.item_ids.tolist())
            self.ints.export_npy(prefix + "i")
            np.testing.assert_array_equal(np.load(prefix + "i_user_ids.npy"), self.ints.user_ids)
            self.assertFalse(os.path.exists(prefix + "i_user_names.npy"))
        finally:
            shutil.rmtree(tmp)


if __name__ == "__main__":
    unittest.main()
