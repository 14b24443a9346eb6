# The Dask sharded search (examples/python/dask_shards.py) equals one flat index exactly.
# Skipped when Debian's python3-distributed is not installed.
import os
import sys
import unittest

import numpy as np

sys.path.insert(0, os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")))

try:
    import distributed  # noqa: F401
    HAVE_DASK = True
except ImportError:
    HAVE_DASK = False

import alslib  # noqa: E402


@unittest.skipUnless(HAVE_DASK, "python3-distributed is not installed")
class DaskShardsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        import dask_shards
        cls.ds = dask_shards
        cls.client = dask_shards.start_cluster(2)

    @classmethod
    def tearDownClass(cls):
        cls.client.close()
        cls.client.cluster.close()

    def test_merged_equals_single_flat_index(self):
        rng = np.random.default_rng(5)
        vectors = rng.standard_normal((3000, 16)).astype(np.float32)
        vectors[100] = vectors[7]  # exact ties across shards: order by smaller id
        ids = rng.permutation(10 ** 6)[:3000].astype(np.int64)
        seed_rows = rng.choice(3000, 12, replace=False)
        seeds, excl = vectors[seed_rows], ids[seed_rows]
        for metric in ("ip", "l2"):
            ref = alslib.FlatIndex(16, metric).add(vectors, ids).search(seeds, 10, exclude=excl)
            got = self.ds.sharded_search(self.client, vectors, ids, seeds, 10, 5, metric,
                                         exclude=excl)
            np.testing.assert_array_equal(got[1], ref[1])
            np.testing.assert_array_equal(got[0], ref[0])

    def test_k_larger_than_a_shard_pads(self):
        vectors = np.random.default_rng(6).standard_normal((9, 4)).astype(np.float32)
        ids = np.arange(9, dtype=np.int64)
        ref = alslib.FlatIndex(4, "l2").add(vectors).search(vectors[:2], 12)
        got = self.ds.sharded_search(self.client, vectors, ids, vectors[:2], 12, 3, "l2")
        np.testing.assert_array_equal(got[1], ref[1])
        np.testing.assert_array_equal(got[0], ref[0])


if __name__ == "__main__":
    unittest.main()
