# Bad ids are refused with AlsError(EINVAL) and a message naming the culprit, never
# truncated or wrapped: fractional floats, NaN, inf, uint64 >= 2^63, bools, strings where
# integers are needed, mixes of junk. Exact integers in float arrays (3.0) are accepted.
import unittest

import numpy as np

import alslib
from alslib import ALS, AlsError, FlatIndex


class IdRulesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        rng = np.random.default_rng(4)
        cls.u = rng.integers(0, 40, 600)
        cls.i = rng.integers(0, 30, 600) + 100
        cls.m = ALS(rank=4, maxIter=2, seed=1, numThreads=1).fit(cls.u, cls.i)

    def refused(self, fn, *args, code=alslib.EINVAL, text=None, **kw):
        with self.assertRaises(AlsError) as cm:
            fn(*args, **kw)
        self.assertEqual(cm.exception.code, code, str(cm.exception))
        if text is not None:
            self.assertIn(text, cm.exception.message)
        return cm.exception

    def test_fit_refuses_bad_ids(self):
        m = ALS(rank=2, maxIter=1)
        cases = [
            ([1.5, 2.0], "1.5"),
            ([1.0, float("nan")], "nan"),
            (np.array([1.0, np.inf]), "inf"),
            (np.array([1, 2 ** 63], dtype=np.uint64), str(2 ** 63)),
            (np.array([1, 2 ** 64 - 1], dtype=np.uint64), str(2 ** 64 - 1)),
            (np.array([True, False]), "bool"),
            ([1, True], "bool"),
            ([1, None], "None"),
            ([1, "a"], "mixes names"),
            (np.array([1, "a"], dtype=object), "mixes names"),
            (np.array([1, 2.5], dtype=object), "2.5"),
            ([1, 2 ** 63], "does not fit int64"),
            (np.array([2.0 ** 60, 1.0]), "exactly"),
            (np.array([2.0 ** 25, 1.0], dtype=np.float32), "exactly"),
            (np.array([1 + 1j, 2]), "dtype"),
            ([1, {"x": 1}], "dict"),
        ]
        for users, text in cases:
            with self.subTest(users=users):
                self.refused(m.fit, users, [5, 6], text=text)
                self.refused(m.fit, [5, 6], users, text=text)
        self.assertFalse(m.is_fitted)

    def test_nothing_is_truncated(self):
        # before: np.require(..., int64) made 1.5 -> 1 and 2**64-1 -> -1 without a word
        m = ALS(rank=2, maxIter=1, seed=1, numThreads=1)
        self.refused(m.fit, np.array([1.5, 1.9, 2.2]), [1, 2, 3])
        self.refused(alslib.Ratings, [1, 2], np.array([0.5, 3.0]))

    def test_exact_floats_and_small_types_are_ids(self):
        u = self.u.astype(np.float64)
        a = ALS(rank=4, maxIter=2, seed=1, numThreads=1).fit(u, self.i.astype(np.float32))
        np.testing.assert_array_equal(a.user_factors, self.m.user_factors)
        np.testing.assert_array_equal(a.item_ids, self.m.item_ids)
        self.assertEqual(a.user_ids.dtype, np.int64)
        b = ALS(rank=4, maxIter=2, seed=1, numThreads=1).fit(
            self.u.astype(np.uint8), self.i.astype(np.uint16))
        np.testing.assert_array_equal(b.user_factors, self.m.user_factors)
        c = ALS(rank=4, maxIter=2, seed=1, numThreads=1).fit(
            list(map(int, self.u)), [np.int32(x) for x in self.i])
        np.testing.assert_array_equal(c.user_factors, self.m.user_factors)
        big = np.array([2 ** 63 - 1, -2 ** 63, 5], dtype=np.int64)
        d = ALS(rank=2, maxIter=1, numThreads=1).fit(big, [1, 2, 3])
        self.assertEqual(sorted(d.user_ids.tolist()), sorted(big.tolist()))
        e = ALS(rank=2, maxIter=1, numThreads=1).fit(
            np.array([2 ** 63 - 1, 7], dtype=np.uint64), [1, 2])
        self.assertIn(2 ** 63 - 1, e.user_ids.tolist())

    def test_model_calls_refuse_bad_ids(self):
        m, user = self.m, int(self.m.user_ids[0])
        self.refused(m.recommend, 1.5, 3, text="1.5")
        self.refused(m.recommend, float(user) + 0.5, 3)
        self.refused(m.recommend, True, 3, text="bool")
        self.refused(m.recommend, "alice", 3, text="integer ids")
        self.refused(m.recommend, user, 2.5, text="k must be an integer")
        self.refused(m.recommend, [user, 1.5], 3)
        self.refused(m.predict, [user], [100.5])
        self.refused(m.fold_in, [100, float("nan")])
        self.refused(m.fold_in, np.array([100, 2 ** 63], dtype=np.uint64))
        self.refused(m.similar_items, [100.25])
        self.refused(m.factors_of, [True])
        self.refused(m.recommend, user, 3, filter_items=[100.5])
        # exact floats work like the integers
        np.testing.assert_array_equal(m.recommend(float(user), 3)[0], m.recommend(user, 3)[0])
        self.assertEqual(m.user_row(np.float64(user)), m.user_row(user))

    def test_index_refuses_bad_ids(self):
        x = np.random.default_rng(1).standard_normal((4, 3)).astype(np.float32)
        idx = FlatIndex(3)
        self.refused(idx.add, x, [0, 1, 2, 3.5], text="3.5")
        self.refused(idx.add, x, np.array([0, 1, 2, 2 ** 63], dtype=np.uint64))
        self.refused(idx.add, x, np.ones(4, dtype=bool), text="bool")
        self.refused(idx.add, x, ["a", "b", "c", "d"], text="names")
        self.assertEqual(len(idx), 0)
        idx.add(x, [10.0, 11.0, 12.0, 13.0])
        self.refused(idx.search, x, 2, exclude=[10.5])
        self.refused(idx.search, x, 2, include=[True])
        self.refused(idx.search, x, 1.5)
        self.refused(idx.expand, x, 2, 3.5)
        self.refused(FlatIndex, 3.5)
        s, ids = idx.search(x, 1, exclude={10, 11})
        self.assertFalse(np.isin(ids, [10, 11]).any())
        self.assertEqual(ids.dtype, np.int64)

    def test_nested_ids_are_a_dimension_error(self):
        self.refused(ALS(rank=2).fit, [[1, 2], [3, 4]], [1, 2], code=alslib.EDIM)
        self.refused(ALS(rank=2).fit, np.zeros((2, 2), np.int64), [1, 2], code=alslib.EDIM)


if __name__ == "__main__":
    unittest.main()
