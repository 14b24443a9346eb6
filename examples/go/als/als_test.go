package als

import (
	"errors"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"sync"
	"testing"
)

func randMatrix(rng *rand.Rand, rows, cols int) Matrix {
	m := NewMatrix(rows, cols)
	for i := range m.Data {
		m.Data[i] = float32(rng.NormFloat64())
	}
	return m
}

// bruteForce: top-k by a float64 reference, ties by smaller id, skipping excluded ids.
func bruteForce(base Matrix, ids []int64, q []float32, k int, metric Metric, excl map[int64]bool) ([]int64, []float64) {
	type cand struct {
		id int64
		s  float64
	}
	var cs []cand
	for i := 0; i < base.Rows; i++ {
		if excl[ids[i]] {
			continue
		}
		var s float64
		for j, v := range base.Row(i) {
			if metric == IP {
				s += float64(v) * float64(q[j])
			} else {
				d := float64(v) - float64(q[j])
				s += d * d
			}
		}
		cs = append(cs, cand{ids[i], s})
	}
	sort.Slice(cs, func(a, b int) bool {
		if cs[a].s != cs[b].s {
			if metric == IP {
				return cs[a].s > cs[b].s
			}
			return cs[a].s < cs[b].s
		}
		return cs[a].id < cs[b].id
	})
	out, sc := []int64{}, []float64{}
	for i := 0; i < k && i < len(cs); i++ {
		out = append(out, cs[i].id)
		sc = append(sc, cs[i].s)
	}
	return out, sc
}

func wantCode(t *testing.T, err error, code int) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("want *Error code %d, got %v", code, err)
	}
	if e.Code != code {
		t.Fatalf("want code %d (%s), got %d: %s", code, StatusText(code), e.Code, e.Message)
	}
	if e.Message == "" {
		t.Fatalf("code %d has an empty message", code)
	}
}

func TestSearchMatchesBruteForce(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	const n, dim, nq, k = 500, 16, 20, 10
	base := randMatrix(rng, n, dim)
	ids := make([]int64, n)
	for i := range ids {
		ids[i] = int64(1000 + 3*i)
	}
	q := randMatrix(rng, nq, dim)
	for _, metric := range []Metric{IP, L2} {
		idx, err := NewFlatIndex(dim, metric)
		if err != nil {
			t.Fatal(err)
		}
		defer idx.Close()
		if err := idx.Add(base, ids); err != nil {
			t.Fatal(err)
		}
		if idx.Size() != n || idx.Dim() != dim || idx.Metric() != metric || idx.Kind() != "flat" {
			t.Fatalf("describe: size %d dim %d metric %d kind %s", idx.Size(), idx.Dim(), idx.Metric(), idx.Kind())
		}
		excl := []int64{ids[0], ids[7], ids[100]}
		exclSet := map[int64]bool{}
		for _, e := range excl {
			exclSet[e] = true
		}
		for pass, ex := range [][]int64{nil, excl} {
			scores, got, err := idx.Search(q, k, ex)
			if err != nil {
				t.Fatal(err)
			}
			if len(scores) != nq*k || len(got) != nq*k {
				t.Fatalf("result sizes %d %d", len(scores), len(got))
			}
			set := map[int64]bool{}
			if pass == 1 {
				set = exclSet
			}
			for r := 0; r < nq; r++ {
				wid, wsc := bruteForce(base, ids, q.Row(r), k, metric, set)
				for j := 0; j < k; j++ {
					if got[r*k+j] != wid[j] {
						t.Fatalf("metric %d pass %d q %d rank %d: id %d want %d", metric, pass, r, j, got[r*k+j], wid[j])
					}
					if d := math.Abs(float64(scores[r*k+j]) - wsc[j]); d > 1e-3*(1+math.Abs(wsc[j])) {
						t.Fatalf("score %g want %g", scores[r*k+j], wsc[j])
					}
				}
			}
		}
		// include filter: only the listed ids come back
		only := []int64{ids[5], ids[6]}
		_, got, err := idx.SearchOnly(q, 4, only)
		if err != nil {
			t.Fatal(err)
		}
		for r := 0; r < nq; r++ {
			for j := 0; j < 4; j++ {
				id := got[r*4+j]
				if j < 2 && id != only[0] && id != only[1] || j >= 2 && id != -1 {
					t.Fatalf("include filter row %d: %v", r, got[r*4:r*4+4])
				}
			}
		}
	}
}

func TestPaddingWhenKExceedsSize(t *testing.T) {
	idx, _ := NewFlatIndex(2, L2)
	defer idx.Close()
	if err := idx.Add(Matrix{Data: []float32{0, 0, 1, 1}, Rows: 2, Cols: 2}, nil); err != nil {
		t.Fatal(err)
	}
	scores, ids, err := idx.Search(Matrix{Data: []float32{0, 0}, Rows: 1, Cols: 2}, 4, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ids[0] != 0 || ids[1] != 1 || ids[2] != -1 || ids[3] != -1 || !math.IsInf(float64(scores[3]), 1) {
		t.Fatalf("padding: %v %v", ids, scores)
	}
}

func TestIVFFullProbeEqualsFlat(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	const n, dim, nlist = 2000, 8, 16
	base := randMatrix(rng, n, dim)
	q := randMatrix(rng, 30, dim)
	for _, metric := range []Metric{IP, L2} {
		flat, _ := NewFlatIndex(dim, metric)
		defer flat.Close()
		ivf, err := NewIVFIndex(dim, metric, nlist)
		if err != nil {
			t.Fatal(err)
		}
		defer ivf.Close()
		if ivf.IsTrained() {
			t.Fatal("untrained IVF reports trained")
		}
		if err := ivf.Train(base); err != nil {
			t.Fatal(err)
		}
		if err := flat.Add(base, nil); err != nil {
			t.Fatal(err)
		}
		if err := ivf.Add(base, nil); err != nil {
			t.Fatal(err)
		}
		if err := ivf.SetNprobe(nlist); err != nil {
			t.Fatal(err)
		}
		if v, _ := ivf.GetInt(ParamNprobe); v != nlist || ivf.Nlist() != nlist || ivf.Kind() != "ivf" {
			t.Fatalf("nprobe %d nlist %d kind %s", v, ivf.Nlist(), ivf.Kind())
		}
		fs, fi, err := flat.Search(q, 10, []int64{3})
		if err != nil {
			t.Fatal(err)
		}
		is, ii, err := ivf.Search(q, 10, []int64{3})
		if err != nil {
			t.Fatal(err)
		}
		for i := range fi {
			if fi[i] != ii[i] || fs[i] != is[i] {
				t.Fatalf("metric %d entry %d: flat %d %g ivf %d %g", metric, i, fi[i], fs[i], ii[i], is[i])
			}
		}
	}
}

func TestExpand(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	base := randMatrix(rng, 300, 8)
	idx, _ := NewFlatIndex(8, IP)
	defer idx.Close()
	if err := idx.Add(base, nil); err != nil {
		t.Fatal(err)
	}
	seedIDs := []int64{1, 2, 3}
	seeds := NewMatrix(3, 8)
	for i, id := range seedIDs {
		copy(seeds.Row(i), base.Row(int(id)))
	}
	ids, scores, err := idx.Expand(seeds, 20, AggMax, seedIDs, 25)
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) == 0 || len(ids) > 25 || len(ids) != len(scores) {
		t.Fatalf("expand sizes %d %d", len(ids), len(scores))
	}
	for i, id := range ids {
		if id >= 1 && id <= 3 {
			t.Fatalf("seed %d in its own audience", id)
		}
		if i > 0 && scores[i] > scores[i-1] {
			t.Fatalf("not best first at %d", i)
		}
	}
	if _, _, err := idx.Expand(seeds, 5, AggSum, nil, 0); CodeOf(err) != ERANGE {
		t.Fatalf("n=0: %v", err)
	}
}

func TestIndexSaveLoad(t *testing.T) {
	rng := rand.New(rand.NewSource(4))
	base := randMatrix(rng, 400, 12)
	q := randMatrix(rng, 5, 12)
	idx, _ := NewIVFIndex(12, L2, 4)
	defer idx.Close()
	if err := idx.Train(base); err != nil {
		t.Fatal(err)
	}
	if err := idx.Add(base, nil); err != nil {
		t.Fatal(err)
	}
	idx.SetNprobe(2)
	path := filepath.Join(t.TempDir(), "x.vecidx")
	if err := idx.Save(path); err != nil {
		t.Fatal(err)
	}
	back, err := LoadIndex(path)
	if err != nil {
		t.Fatal(err)
	}
	defer back.Close()
	s1, i1, _ := idx.Search(q, 7, nil)
	s2, i2, err := back.Search(q, 7, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range i1 {
		if i1[i] != i2[i] || s1[i] != s2[i] {
			t.Fatalf("loaded index differs at %d", i)
		}
	}
	if back.Size() != 400 || back.Nlist() != 4 {
		t.Fatalf("loaded size %d nlist %d", back.Size(), back.Nlist())
	}
}

func TestErrors(t *testing.T) {
	idx, err := NewFlatIndex(4, IP)
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	if err := idx.Add(NewMatrix(3, 4), nil); err != nil {
		t.Fatal(err)
	}
	// wrong dimension: the library's own EDIM and message
	_, _, err = idx.Search(NewMatrix(1, 5), 3, nil)
	wantCode(t, err, EDIM)
	wantCode(t, idx.Add(NewMatrix(2, 3), nil), EDIM)
	// data length does not match rows x cols: found by the binding
	wantCode(t, idx.Add(Matrix{Data: make([]float32, 7), Rows: 2, Cols: 4}, nil), EDIM)
	// k = 0
	_, _, err = idx.Search(NewMatrix(1, 4), 0, nil)
	wantCode(t, err, ERANGE)
	// NaN
	nan := NewMatrix(1, 4)
	nan.Data[2] = float32(math.NaN())
	_, _, err = idx.Search(nan, 3, nil)
	wantCode(t, err, EINVAL)
	wantCode(t, idx.Add(nan, nil), EINVAL)
	// id -1
	wantCode(t, idx.Add(NewMatrix(1, 4), []int64{-1}), EINVAL)
	// bad constructor arguments
	_, err = NewFlatIndex(0, IP)
	wantCode(t, err, ERANGE)
	_, err = NewFlatIndex(4, Metric(7))
	wantCode(t, err, EINVAL)
	// untrained IVF
	ivf, _ := NewIVFIndex(4, IP, 2)
	defer ivf.Close()
	wantCode(t, ivf.Add(NewMatrix(1, 4), nil), ESTATE)
	_, _, err = ivf.Search(NewMatrix(1, 4), 1, nil)
	wantCode(t, err, ESTATE)
	wantCode(t, ivf.Train(NewMatrix(1, 4)), ERANGE) // fewer rows than nlist
	wantCode(t, ivf.SetInt(ParamNprobe, 0), ERANGE)
	wantCode(t, ivf.SetInt(12345, 1), EINVAL)
	// missing files
	_, err = LoadIndex(filepath.Join(t.TempDir(), "missing.vecidx"))
	wantCode(t, err, ENOTFOUND)
	_, err = LoadModel(filepath.Join(t.TempDir(), "missing.als"))
	wantCode(t, err, ENOTFOUND)
	// a foreign file
	junk := filepath.Join(t.TempDir(), "junk")
	os.WriteFile(junk, []byte("not an index at all, just some bytes...................."), 0o644)
	_, err = LoadIndex(junk)
	wantCode(t, err, EFORMAT)
	// errors.Is on the code, and the Error() text
	_, _, err = idx.Search(NewMatrix(1, 5), 3, nil)
	if !errors.Is(err, &Error{Code: EDIM}) || errors.Is(err, &Error{Code: ERANGE}) {
		t.Fatalf("errors.Is: %v", err)
	}
	if err.Error() == "" {
		t.Fatal("empty Error()")
	}
	// ALS errors
	m, _ := NewALS(DefaultOptions())
	defer m.Close()
	_, _, err = m.Recommend(1, 5, nil)
	wantCode(t, err, ESTATE)
	wantCode(t, m.Fit(nil, nil, nil), ERANGE)
	wantCode(t, m.Fit([]int64{1}, []int64{2}, []float32{float32(math.Inf(1))}), EINVAL)
	wantCode(t, m.SetParam("noSuchParam", "1"), EINVAL)
	wantCode(t, m.Save(filepath.Join(t.TempDir(), "m.als")), ESTATE)
	o := DefaultOptions()
	o.Rank = 0
	_, err = NewALS(o)
	wantCode(t, err, ERANGE)
}

func TestCloseTwiceIsSafe(t *testing.T) {
	idx, _ := NewFlatIndex(3, IP)
	if err := idx.Close(); err != nil {
		t.Fatal(err)
	}
	if err := idx.Close(); err != nil {
		t.Fatal(err)
	}
	_, _, err := idx.Search(NewMatrix(1, 3), 1, nil)
	wantCode(t, err, EINVAL)
	m, _ := NewALS(DefaultOptions())
	m.Close()
	m.Close()
	wantCode(t, m.Fit([]int64{1}, []int64{1}, nil), EINVAL)
	var nilIdx *Index
	nilIdx.Close()
	// forgotten handles are freed by their finalizers without harm
	for i := 0; i < 50; i++ {
		x, _ := NewFlatIndex(8, L2)
		x.Add(NewMatrix(10, 8), nil)
		y, _ := NewALS(DefaultOptions())
		_ = y
	}
	runtime.GC()
	runtime.GC()
}

// Many goroutines search one index at once; every result equals the serial one. The
// goroutines also provoke errors, to check each sees its own message.
func TestConcurrentSearch(t *testing.T) {
	rng := rand.New(rand.NewSource(5))
	base := randMatrix(rng, 3000, 32)
	q := randMatrix(rng, 64, 32)
	idx, _ := NewFlatIndex(32, IP)
	defer idx.Close()
	idx.SetInt(ParamNumThreads, 2)
	if err := idx.Add(base, nil); err != nil {
		t.Fatal(err)
	}
	ws, wi, err := idx.Search(q, 10, []int64{0})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for r := 0; r < 10; r++ {
				s, i, err := idx.Search(q, 10, []int64{0})
				if err != nil {
					errs <- err
					return
				}
				for j := range i {
					if i[j] != wi[j] || s[j] != ws[j] {
						errs <- &Error{Code: EINTERNAL, Message: "concurrent result differs"}
						return
					}
				}
				_, _, err = idx.Search(NewMatrix(1, 31+g%2*2), 1, nil) // 31 or 33 columns
				if CodeOf(err) != EDIM || err.(*Error).Message == "" {
					errs <- err
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// synthetic implicit data: two user groups, each buying from its own item block.
func synthRatings(rng *rand.Rand) (users, items []int64, values []float32) {
	for u := int64(0); u < 60; u++ {
		lo := int64(0)
		if u%2 == 1 {
			lo = 20
		}
		for n := 0; n < 8; n++ {
			users = append(users, u)
			items = append(items, lo+int64(rng.Intn(20)))
			values = append(values, float32(1+rng.Intn(3)))
		}
	}
	return
}

func TestALSFitRecommendFoldIn(t *testing.T) {
	rng := rand.New(rand.NewSource(6))
	users, items, values := synthRatings(rng)
	o := DefaultOptions()
	o.Rank, o.MaxIter, o.ImplicitPrefs, o.Alpha, o.RegParam, o.Seed, o.NumThreads = 6, 8, true, 2, 0.05, 42, 2
	m, err := NewALS(o)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.Fit(users, items, values); err != nil {
		t.Fatal(err)
	}
	if !m.IsFitted() || m.Rank() != 6 {
		t.Fatalf("fitted %v rank %d", m.IsFitted(), m.Rank())
	}
	uf, itf := m.UserFactors(), m.ItemFactors()
	if uf.Rows != 60 || uf.Cols != 6 || len(m.UserIDs()) != 60 || itf.Rows != len(m.ItemIDs()) || itf.Cols != 6 {
		t.Fatalf("factor shapes %dx%d %dx%d", uf.Rows, uf.Cols, itf.Rows, itf.Cols)
	}
	// recommend for user 4 (group 0), excluding seen items
	seen := map[int64]bool{}
	var seenList []int64
	var uItems []int64
	var uVals []float32
	for i := range users {
		if users[i] == 4 {
			if !seen[items[i]] {
				seenList = append(seenList, items[i])
			}
			seen[items[i]] = true
			uItems = append(uItems, items[i])
			uVals = append(uVals, values[i])
		}
	}
	recs, scores, err := m.Recommend(4, 5, seenList)
	if err != nil {
		t.Fatal(err)
	}
	for i, it := range recs {
		if seen[it] {
			t.Fatalf("recommended seen item %d", it)
		}
		if it >= 20 {
			t.Errorf("user of group 0 got item %d of group 1", it)
		}
		if i > 0 && scores[i] > scores[i-1] {
			t.Fatal("recommendations not best first")
		}
	}
	// predict agrees with the factors
	pred, err := m.Predict([]int64{4}, []int64{recs[0]})
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(float64(pred[0]-scores[0])) > 1e-4 {
		t.Fatalf("predict %g vs recommend %g", pred[0], scores[0])
	}
	_, _, err = m.Recommend(999, 5, nil)
	wantCode(t, err, ENOTFOUND)
	_, _, err = m.Recommend(4, 0, nil)
	wantCode(t, err, ERANGE)
	// fold-in of user 4's own rows reproduces the trained factor
	f, ignored, err := m.FoldIn(append(uItems, 12345), append(uVals, 1))
	if err != nil {
		t.Fatal(err)
	}
	if ignored != 1 {
		t.Fatalf("ignored %d, want 1", ignored)
	}
	want := uf.Row(m.UserRow(4))
	for j := range want {
		if math.Abs(float64(f[j]-want[j])) > 1e-3*(1+math.Abs(float64(want[j]))) {
			t.Fatalf("fold-in %v, trained %v", f, want)
		}
	}
	_, _, err = m.FoldIn([]int64{1}, []float32{float32(math.NaN())})
	wantCode(t, err, EINVAL)

	// save / load round trip
	path := filepath.Join(t.TempDir(), "m.als")
	if err := m.Save(path); err != nil {
		t.Fatal(err)
	}
	back, err := LoadModel(path)
	if err != nil {
		t.Fatal(err)
	}
	defer back.Close()
	bu := back.UserFactors()
	for i := range uf.Data {
		if bu.Data[i] != uf.Data[i] {
			t.Fatal("loaded user factors differ")
		}
	}
	r2, s2, err := back.Recommend(4, 5, seenList)
	if err != nil {
		t.Fatal(err)
	}
	for i := range recs {
		if r2[i] != recs[i] || s2[i] != scores[i] {
			t.Fatal("loaded model recommends differently")
		}
	}
	// the factors feed an index: item lookalikes by cosine
	itf.NormalizeRows()
	idx, _ := NewFlatIndex(itf.Cols, IP)
	defer idx.Close()
	if err := idx.Add(itf, m.ItemIDs()); err != nil {
		t.Fatal(err)
	}
}

func TestNpyRoundTrip(t *testing.T) {
	m := Matrix{Data: []float32{1, 2, 3, 4, 5, 6}, Rows: 2, Cols: 3}
	path := filepath.Join(t.TempDir(), "m.npy")
	if err := m.WriteNpy(path); err != nil {
		t.Fatal(err)
	}
	back, err := ReadNpy(path)
	if err != nil {
		t.Fatal(err)
	}
	if back.Rows != 2 || back.Cols != 3 || back.Data[5] != 6 {
		t.Fatalf("npy: %+v", back)
	}
	_, err = ReadNpy(filepath.Join(t.TempDir(), "none.npy"))
	wantCode(t, err, ENOTFOUND)
	if Version() == "" {
		t.Fatal("no version")
	}
}
