# The model's kept training interactions (libals 1.2, keepInteractions): items_of_user and
# users_of_items against the rows given to fit, recommend(exclude_seen) through them equal
# to the exclusion by hand, and the same after save/load (where no ratings are left).
import os
import shutil
import tempfile
import unittest

import numpy as np

from alslib import ALS, AlsError


class InteractionsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        rng = np.random.default_rng(7)
        n = 4000
        cls.users = rng.integers(0, 150, n) * 5 - 7
        cls.items = rng.integers(0, 90, n) * 2 + 1000
        cls.values = rng.integers(1, 4, n).astype(np.float32)
        cls.m = ALS(rank=6, maxIter=4, regParam=0.05, implicitPrefs=True, alpha=2.0, seed=3,
                    numThreads=2).fit(cls.users, cls.items, cls.values)
        cls.tmp = tempfile.mkdtemp(prefix="alslib-inter-")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def check(self, m):
        self.assertEqual(m.num_interactions, len(self.users))
        for u in np.unique(self.users)[:40]:
            items, vals = m.items_of_user(int(u))
            sel = self.users == u
            np.testing.assert_array_equal(items, self.items[sel])  # training order
            np.testing.assert_array_equal(vals, self.values[sel])
        for target in ([1000], [1002, 1004, 1178], [99999]):
            got = m.users_of_items(target)
            buyers = set(self.users[np.isin(self.items, target)].tolist())
            self.assertEqual(set(got.tolist()), buyers)
            self.assertEqual(len(got), len(buyers))
        # exclude_seen through the kept rows: the top-k of the unseen items, by hand
        U, V = m.user_factors.astype(np.float64), m.item_factors.astype(np.float64)
        uids, iids = m.user_ids, m.item_ids
        batch = np.unique(self.users)[:25]
        ids, scores = m.recommend(batch, k=7, exclude_seen=True)
        for j, u in enumerate(batch):
            s = V @ U[np.flatnonzero(uids == u)[0]]
            s[np.isin(iids, self.items[self.users == u])] = -np.inf
            order = np.lexsort((iids, -s))[:7]
            np.testing.assert_allclose(scores[j], s[order], rtol=1e-4, atol=1e-5)
            seen = set(self.items[self.users == u].tolist())
            self.assertFalse(seen & set(ids[j].tolist()))

    def test_kept_interactions(self):
        self.check(self.m)

    def test_after_save_and_load(self):
        path = os.path.join(self.tmp, "m.als")
        self.m.save(path)
        loaded = ALS.load(path)
        self.check(loaded)

    def test_keep_off_refuses(self):
        m = ALS(rank=4, maxIter=2, implicitPrefs=True, seed=1, numThreads=2,
                keepInteractions=False).fit(self.users, self.items, self.values)
        self.assertEqual(m.num_interactions, 0)
        with self.assertRaises(AlsError):
            m.items_of_user(int(self.users[0]))
        with self.assertRaises(AlsError):
            m.users_of_items([1000])
        # recommend still excludes through the ratings kept by the binding
        ids, _ = m.recommend(int(self.users[0]), k=5, exclude_seen=True)
        self.assertFalse(set(self.items[self.users == self.users[0]].tolist()) & set(ids.tolist()))

    def test_names(self):
        users = np.array(["u%03d" % (u % 97) for u in range(600)], dtype=object)
        items = np.array(["i%02d" % (u * 7 % 41) for u in range(600)], dtype=object)
        m = ALS(rank=4, maxIter=2, implicitPrefs=True, seed=1, numThreads=2).fit(users, items)
        got, vals = m.items_of_user("u005")
        self.assertEqual(list(got), list(items[users == "u005"]))
        self.assertTrue(np.all(vals == 1.0))
        buyers = m.users_of_items(["i00", "nope"])
        self.assertEqual(set(buyers.tolist()), set(users[items == "i00"].tolist()))


if __name__ == "__main__":
    unittest.main()
