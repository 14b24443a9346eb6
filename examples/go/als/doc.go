// Package als is the Go binding of libals and libvecidx: ALS matrix factorization with
// Spark MLlib's parameter names (Model) and exact / IVF-flat vector search (Index).
//
// Inputs are Go slices ([]float32 in a Matrix, []int64 ids); failures are *Error values
// with the library's Code (EINVAL, EDIM, ...) and Message. Every handle has Close(), which
// is safe to call twice; finalizers only catch handles that were never closed.
//
// Zero copy and the cgo pointer rules: a Matrix passed to a method is wrapped as a C
// als_matrix inside one C shim call (shim.c) and the wrap is destroyed before that call
// returns, so C never retains a pointer to Go memory. The same shim copies the thread-local
// error message (als_last_error) before returning, since a goroutine may change OS thread
// between two cgo calls.
package als
