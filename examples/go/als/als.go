package als

// #include <stdlib.h>
// #include "shim.h"
import "C"

import (
	"runtime"
	"unsafe"
)

// Options are the ALS parameters with Spark MLlib's names. Start from DefaultOptions():
// the zero value is not the default (RegParam 0 and Rank 0 are not Spark's defaults).
type Options struct {
	Rank          int     // factors per user/item, [1, 1024]; Spark default 10
	MaxIter       int     // iterations, [0, 100000]; default 10
	RegParam      float64 // lambda, [0, 1e9]; default 0.1
	ImplicitPrefs bool    // implicit feedback (confidence 1 + Alpha |r|); default false
	Alpha         float64 // implicit confidence scale, [0, 1e9]; default 1.0
	Nonnegative   bool    // NNLS solves; default false
	Seed          int64   // factor initialisation seed; default 0
	NumThreads    int     // 0 = all cores; default 0
}

// DefaultOptions returns Spark's defaults.
func DefaultOptions() Options {
	return Options{Rank: 10, MaxIter: 10, RegParam: 0.1, Alpha: 1.0}
}

// Model is an ALS model (libals). Call Close when done; a finalizer frees a forgotten
// model as a safety net only. Read-only methods (factors, Predict, Recommend, FoldIn,
// Save) may run concurrently; Fit, SetParam and Close need exclusive use.
type Model struct {
	p *C.als_model
}

func newModel(p *C.als_model) *Model {
	m := &Model{p: p}
	runtime.SetFinalizer(m, (*Model).Close)
	return m
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// NewALS creates an unfitted model with the given options.
func NewALS(o Options) (*Model, error) {
	var msg msgBuf
	var p *C.als_model
	if err := msg.err(C.goals_model_create(&p, msg.ptr())); err != nil {
		return nil, err
	}
	m := newModel(p)
	ints := []struct {
		key int
		v   int64
	}{
		{C.ALS_PARAM_RANK, int64(o.Rank)}, {C.ALS_PARAM_MAX_ITER, int64(o.MaxIter)},
		{C.ALS_PARAM_IMPLICIT, b2i(o.ImplicitPrefs)}, {C.ALS_PARAM_NONNEGATIVE, b2i(o.Nonnegative)},
		{C.ALS_PARAM_SEED, o.Seed}, {C.ALS_PARAM_NUM_THREADS, int64(o.NumThreads)},
	}
	for _, kv := range ints {
		if err := msg.err(C.goals_set_int(p, C.int(kv.key), C.int64_t(kv.v), msg.ptr())); err != nil {
			m.Close()
			return nil, err
		}
	}
	for _, kv := range []struct {
		key int
		v   float64
	}{{C.ALS_PARAM_REG, o.RegParam}, {C.ALS_PARAM_ALPHA, o.Alpha}} {
		if err := msg.err(C.goals_set_double(p, C.int(kv.key), C.double(kv.v), msg.ptr())); err != nil {
			m.Close()
			return nil, err
		}
	}
	return m, nil
}

// LoadModel reads a model written by Save.
func LoadModel(path string) (*Model, error) {
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	var msg msgBuf
	var p *C.als_model
	if err := msg.err(C.goals_model_load(&p, cpath, msg.ptr())); err != nil {
		return nil, err
	}
	return newModel(p), nil
}

// Close frees the model. Calling it again, or on nil, is a no-op.
func (m *Model) Close() error {
	if m == nil || m.p == nil {
		return nil
	}
	C.als_model_destroy(m.p)
	m.p = nil
	runtime.SetFinalizer(m, nil)
	return nil
}

func (m *Model) live() error {
	if m == nil || m.p == nil {
		return argError(EINVAL, "model is closed")
	}
	return nil
}

// SetParam sets any parameter by its Spark or libals name (als_set_param), e.g.
// SetParam("solver", "cg").
func (m *Model) SetParam(name, value string) error {
	if err := m.live(); err != nil {
		return err
	}
	cn, cv := C.CString(name), C.CString(value)
	defer C.free(unsafe.Pointer(cn))
	defer C.free(unsafe.Pointer(cv))
	var msg msgBuf
	rc := C.goals_set_param(m.p, cn, cv, msg.ptr())
	runtime.KeepAlive(m)
	return msg.err(rc)
}

// Rank is the number of factor columns.
func (m *Model) Rank() int {
	if m.live() != nil {
		return 0
	}
	var msg msgBuf
	var v C.int64_t
	C.goals_get_int(m.p, C.ALS_PARAM_RANK, &v, msg.ptr())
	runtime.KeepAlive(m)
	return int(v)
}

// Fit trains on (users[i], items[i], values[i]) rows; values nil means 1.0 each.
// Duplicate (user, item) rows add up, as in Spark.
func (m *Model) Fit(users, items []int64, values []float32) error {
	if err := m.live(); err != nil {
		return err
	}
	if len(users) != len(items) || (values != nil && len(values) != len(users)) {
		return argError(EDIM, "fit: %d users, %d items, %d values", len(users), len(items), len(values))
	}
	var msg msgBuf
	rc := C.goals_fit(m.p, C.int64_t(len(users)), i64ptr(users), i64ptr(items), f32ptr(values), msg.ptr())
	runtime.KeepAlive(users)
	runtime.KeepAlive(items)
	runtime.KeepAlive(values)
	runtime.KeepAlive(m)
	return msg.err(rc)
}

// IsFitted reports whether the model has factors.
func (m *Model) IsFitted() bool {
	if m.live() != nil {
		return false
	}
	defer runtime.KeepAlive(m)
	return C.als_model_is_fitted(m.p) != 0
}

// UserFactors returns a copy of the user factors (one row per UserIDs entry).
func (m *Model) UserFactors() Matrix {
	if m.live() != nil {
		return Matrix{}
	}
	defer runtime.KeepAlive(m)
	return copyMatrix(C.als_model_user_factors(m.p))
}

// ItemFactors returns a copy of the item factors (one row per ItemIDs entry).
func (m *Model) ItemFactors() Matrix {
	if m.live() != nil {
		return Matrix{}
	}
	defer runtime.KeepAlive(m)
	return copyMatrix(C.als_model_item_factors(m.p))
}

func copyIDs(p *C.int64_t, n int) []int64 {
	out := make([]int64, n)
	if p != nil && n > 0 {
		copy(out, unsafe.Slice((*int64)(unsafe.Pointer(p)), n))
	}
	return out
}

// UserIDs is the id of each UserFactors row (a copy).
func (m *Model) UserIDs() []int64 {
	if m.live() != nil {
		return nil
	}
	defer runtime.KeepAlive(m)
	return copyIDs(C.als_model_user_ids(m.p), int(C.als_matrix_rows(C.als_model_user_factors(m.p))))
}

// ItemIDs is the id of each ItemFactors row (a copy).
func (m *Model) ItemIDs() []int64 {
	if m.live() != nil {
		return nil
	}
	defer runtime.KeepAlive(m)
	return copyIDs(C.als_model_item_ids(m.p), int(C.als_matrix_rows(C.als_model_item_factors(m.p))))
}

// UserRow / ItemRow give the factor row of an id, or -1 if it was not in training.
func (m *Model) UserRow(id int64) int {
	if m.live() != nil {
		return -1
	}
	defer runtime.KeepAlive(m)
	return int(C.als_model_user_row(m.p, C.int64_t(id)))
}

func (m *Model) ItemRow(id int64) int {
	if m.live() != nil {
		return -1
	}
	defer runtime.KeepAlive(m)
	return int(C.als_model_item_row(m.p, C.int64_t(id)))
}

// Predict scores (users[i], items[i]) pairs; NaN where the user or item is unknown.
func (m *Model) Predict(users, items []int64) ([]float32, error) {
	if err := m.live(); err != nil {
		return nil, err
	}
	if len(users) != len(items) {
		return nil, argError(EDIM, "predict: %d users, %d items", len(users), len(items))
	}
	out := make([]float32, len(users))
	var msg msgBuf
	rc := C.goals_predict(m.p, C.int64_t(len(users)), i64ptr(users), i64ptr(items), f32ptr(out), msg.ptr())
	runtime.KeepAlive(users)
	runtime.KeepAlive(items)
	runtime.KeepAlive(out)
	runtime.KeepAlive(m)
	if err := msg.err(rc); err != nil {
		return nil, err
	}
	return out, nil
}

// Recommend returns the top-k items for a known user, best first (padded with id -1 and
// score -Inf), never recommending the item ids in exclude (typically the user's seen items).
func (m *Model) Recommend(user int64, k int, exclude []int64) (items []int64, scores []float32, err error) {
	if err := m.live(); err != nil {
		return nil, nil, err
	}
	n := k
	if n < 0 {
		n = 0
	}
	items = make([]int64, n+1)[:n] // never a NULL buffer: C checks k itself
	scores = make([]float32, n+1)[:n]
	var msg msgBuf
	rc := C.goals_recommend(m.p, C.int64_t(user), C.int64_t(k), i64ptr(exclude), C.int64_t(len(exclude)),
		i64ptr(items[:1]), f32ptr(scores[:1]), msg.ptr())
	runtime.KeepAlive(exclude)
	runtime.KeepAlive(items)
	runtime.KeepAlive(scores)
	runtime.KeepAlive(m)
	if err := msg.err(rc); err != nil {
		return nil, nil, err
	}
	return items, scores, nil
}

// FoldIn computes the factor of a user unseen in training from their items (values nil
// means 1.0 each), with the solve training uses for a user row. ignored counts the items
// the model does not know.
func (m *Model) FoldIn(items []int64, values []float32) (factor []float32, ignored int, err error) {
	if err := m.live(); err != nil {
		return nil, 0, err
	}
	if values != nil && len(values) != len(items) {
		return nil, 0, argError(EDIM, "fold_in: %d items, %d values", len(items), len(values))
	}
	rank := m.Rank()
	factor = make([]float32, rank)
	var msg msgBuf
	rc := C.goals_fold_in(m.p, C.int64_t(len(items)), i64ptr(items), f32ptr(values), f32ptr(factor), msg.ptr())
	runtime.KeepAlive(items)
	runtime.KeepAlive(values)
	runtime.KeepAlive(factor)
	runtime.KeepAlive(m)
	if rc < 0 {
		return nil, 0, msg.err(C.int(rc))
	}
	return factor, int(rc), nil
}

// Save writes the model atomically (als binary format).
func (m *Model) Save(path string) error {
	if err := m.live(); err != nil {
		return err
	}
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	var msg msgBuf
	rc := C.goals_model_save(m.p, cpath, msg.ptr())
	runtime.KeepAlive(m)
	return msg.err(rc)
}
