package als

// #include <stdlib.h>
// #include "shim.h"
import "C"

import (
	"runtime"
	"unsafe"
)

// Metric of an index.
type Metric int

const (
	IP Metric = C.VECIDX_METRIC_IP // inner product, bigger is better
	L2 Metric = C.VECIDX_METRIC_L2 // squared Euclidean distance, smaller is better
)

// Agg is how Expand scores an id found by several seeds.
type Agg int

const (
	AggMax  Agg = C.VECIDX_AGG_MAX
	AggSum  Agg = C.VECIDX_AGG_SUM
	AggMean Agg = C.VECIDX_AGG_MEAN
)

// Integer parameter keys for Index.SetInt / Index.GetInt (VECIDX_PARAM_*).
const (
	ParamNprobe       = C.VECIDX_PARAM_NPROBE
	ParamSeed         = C.VECIDX_PARAM_SEED
	ParamKmeansIters  = C.VECIDX_PARAM_KMEANS_ITERS
	ParamTrainPerList = C.VECIDX_PARAM_TRAIN_PER_LIST
	ParamNumThreads   = C.VECIDX_PARAM_NUM_THREADS
	ParamSIMD         = C.VECIDX_PARAM_SIMD
)

// Index is a libvecidx index: exact (NewFlatIndex) or IVF-flat (NewIVFIndex).
//
// Concurrency: any number of goroutines may call Search and Expand at once on an index
// that is not being modified; Train, Add, SetInt and Close need exclusive use.
// Call Close when done; a finalizer frees a forgotten index, as a safety net only.
type Index struct {
	p *C.vecidx
}

// FlatIndex and IVFIndex name the two kinds; both are an *Index.
type (
	FlatIndex = Index
	IVFIndex  = Index
)

func newIndex(p *C.vecidx) *Index {
	x := &Index{p: p}
	runtime.SetFinalizer(x, (*Index).Close)
	return x
}

// NewFlatIndex creates an exact index of vectors of dim floats.
func NewFlatIndex(dim int, metric Metric) (*Index, error) {
	var msg msgBuf
	var p *C.vecidx
	if err := msg.err(C.goals_flat_create(&p, C.int64_t(dim), C.int(metric), msg.ptr())); err != nil {
		return nil, err
	}
	return newIndex(p), nil
}

// NewIVFIndex creates an IVF-flat index with nlist lists; Train it before Add.
func NewIVFIndex(dim int, metric Metric, nlist int) (*Index, error) {
	var msg msgBuf
	var p *C.vecidx
	if err := msg.err(C.goals_ivf_create(&p, C.int64_t(dim), C.int(metric), C.int64_t(nlist), msg.ptr())); err != nil {
		return nil, err
	}
	return newIndex(p), nil
}

// LoadIndex reads an index written by Save.
func LoadIndex(path string) (*Index, error) {
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	var msg msgBuf
	var p *C.vecidx
	if err := msg.err(C.goals_vecidx_load(&p, cpath, msg.ptr())); err != nil {
		return nil, err
	}
	return newIndex(p), nil
}

// Close frees the index. Calling it again, or on nil, is a no-op.
func (x *Index) Close() error {
	if x == nil || x.p == nil {
		return nil
	}
	C.vecidx_destroy(x.p)
	x.p = nil
	runtime.SetFinalizer(x, nil)
	return nil
}

func (x *Index) live() error {
	if x == nil || x.p == nil {
		return argError(EINVAL, "index is closed")
	}
	return nil
}

// Dim, Size, Metric, Kind ("flat" or "ivf"), Nlist and IsTrained describe the index.
func (x *Index) Dim() int {
	if x.live() != nil {
		return 0
	}
	defer runtime.KeepAlive(x)
	return int(C.vecidx_dim(x.p))
}

func (x *Index) Size() int {
	if x.live() != nil {
		return 0
	}
	defer runtime.KeepAlive(x)
	return int(C.vecidx_size(x.p))
}

func (x *Index) Metric() Metric {
	if x.live() != nil {
		return -1
	}
	defer runtime.KeepAlive(x)
	return Metric(C.vecidx_metric(x.p))
}

func (x *Index) Kind() string {
	if x.live() != nil {
		return ""
	}
	defer runtime.KeepAlive(x)
	if C.vecidx_kind(x.p) == C.VECIDX_KIND_IVF {
		return "ivf"
	}
	return "flat"
}

func (x *Index) Nlist() int {
	if x.live() != nil {
		return 0
	}
	defer runtime.KeepAlive(x)
	return int(C.vecidx_nlist(x.p))
}

func (x *Index) IsTrained() bool {
	if x.live() != nil {
		return false
	}
	defer runtime.KeepAlive(x)
	return C.vecidx_is_trained(x.p) != 0
}

// SetInt sets a parameter (Param*); SetNprobe is SetInt(ParamNprobe, n).
func (x *Index) SetInt(key int, value int64) error {
	if err := x.live(); err != nil {
		return err
	}
	var msg msgBuf
	rc := C.goals_vecidx_set_int(x.p, C.int(key), C.int64_t(value), msg.ptr())
	runtime.KeepAlive(x)
	return msg.err(rc)
}

func (x *Index) SetNprobe(n int) error { return x.SetInt(ParamNprobe, int64(n)) }

// GetInt reads a parameter (Param*).
func (x *Index) GetInt(key int) (int64, error) {
	if err := x.live(); err != nil {
		return 0, err
	}
	var msg msgBuf
	var v C.int64_t
	rc := C.goals_vecidx_get_int(x.p, C.int(key), &v, msg.ptr())
	runtime.KeepAlive(x)
	return int64(v), msg.err(rc)
}

// Train trains the coarse quantizer (IVF) on the rows of v; for a flat index it only
// checks v.
func (x *Index) Train(v Matrix) error {
	if err := x.live(); err != nil {
		return err
	}
	if err := v.check(); err != nil {
		return err
	}
	var msg msgBuf
	rc := C.goals_vecidx_train(x.p, f32ptr(v.Data), C.int64_t(v.Rows), C.int64_t(v.Cols), msg.ptr())
	runtime.KeepAlive(v.Data)
	runtime.KeepAlive(x)
	return msg.err(rc)
}

// Add copies the rows of v into the index with the given ids (len(ids) == v.Rows, no id
// -1), or with consecutive ids from Size() when ids is nil.
func (x *Index) Add(v Matrix, ids []int64) error {
	if err := x.live(); err != nil {
		return err
	}
	if err := v.check(); err != nil {
		return err
	}
	if ids != nil && len(ids) != v.Rows {
		return argError(EDIM, "add: %d ids for %d rows", len(ids), v.Rows)
	}
	var msg msgBuf
	rc := C.goals_vecidx_add(x.p, f32ptr(v.Data), C.int64_t(v.Rows), C.int64_t(v.Cols), i64ptr(ids), msg.ptr())
	runtime.KeepAlive(v.Data)
	runtime.KeepAlive(ids)
	runtime.KeepAlive(x)
	return msg.err(rc)
}

// Search returns the k best results of each query row, row-major (queries.Rows x k),
// best first; missing results have id -1 and score -Inf (IP) or +Inf (L2). Ids in
// exclude are never returned.
func (x *Index) Search(queries Matrix, k int, exclude []int64) (scores []float32, ids []int64, err error) {
	return x.search(queries, k, exclude, C.VECIDX_FILTER_EXCLUDE)
}

// SearchOnly is Search restricted to the ids in include.
func (x *Index) SearchOnly(queries Matrix, k int, include []int64) (scores []float32, ids []int64, err error) {
	return x.search(queries, k, include, C.VECIDX_FILTER_INCLUDE)
}

func (x *Index) search(q Matrix, k int, fids []int64, mode C.int) ([]float32, []int64, error) {
	if err := x.live(); err != nil {
		return nil, nil, err
	}
	if err := q.check(); err != nil {
		return nil, nil, err
	}
	n := 0
	if k > 0 {
		n = q.Rows * k
	}
	// at least one element, so that C sees real buffers and checks k and nq itself
	scores := make([]float32, n+1)[:n]
	ids := make([]int64, n+1)[:n]
	var msg msgBuf
	rc := C.goals_vecidx_search(x.p, f32ptr(q.Data), C.int64_t(q.Rows), C.int64_t(q.Cols), C.int64_t(k),
		i64ptr(fids), C.int64_t(len(fids)), mode, f32ptr(scores[:1]), i64ptr(ids[:1]), msg.ptr())
	runtime.KeepAlive(q.Data)
	runtime.KeepAlive(fids)
	runtime.KeepAlive(scores)
	runtime.KeepAlive(ids)
	runtime.KeepAlive(x)
	if err := msg.err(rc); err != nil {
		return nil, nil, err
	}
	return scores, ids, nil
}

// Expand merges the k nearest neighbours of every seed row into one audience scored by
// agg, skipping ids in exclude (e.g. the seeds), and returns at most n ids, best first.
func (x *Index) Expand(seeds Matrix, k int, agg Agg, exclude []int64, n int) (ids []int64, scores []float32, err error) {
	if err := x.live(); err != nil {
		return nil, nil, err
	}
	if err := seeds.check(); err != nil {
		return nil, nil, err
	}
	if n < 1 {
		return nil, nil, argError(ERANGE, "expand: n_out %d < 1", n)
	}
	ids = make([]int64, n)
	scores = make([]float32, n)
	var found C.int64_t
	var msg msgBuf
	rc := C.goals_vecidx_expand(x.p, f32ptr(seeds.Data), C.int64_t(seeds.Rows), C.int64_t(seeds.Cols),
		C.int64_t(k), C.int(agg), i64ptr(exclude), C.int64_t(len(exclude)), C.VECIDX_FILTER_EXCLUDE,
		C.int64_t(n), i64ptr(ids), f32ptr(scores), &found, msg.ptr())
	runtime.KeepAlive(seeds.Data)
	runtime.KeepAlive(exclude)
	runtime.KeepAlive(ids)
	runtime.KeepAlive(scores)
	runtime.KeepAlive(x)
	if err := msg.err(rc); err != nil {
		return nil, nil, err
	}
	return ids[:found], scores[:found], nil
}

// Save writes the index atomically (vecidx binary format).
func (x *Index) Save(path string) error {
	if err := x.live(); err != nil {
		return err
	}
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	var msg msgBuf
	rc := C.goals_vecidx_save(x.p, cpath, msg.ptr())
	runtime.KeepAlive(x)
	return msg.err(rc)
}
