package als

// #include <stdlib.h>
// #include "shim.h"
import "C"

import (
	"runtime"
	"unsafe"
)

// Matrix is a dense row-major float32 matrix: element (i, j) is Data[i*Cols+j].
//
// Passing a Matrix to a method does not copy Data: the binding wraps the slice as a C
// als_matrix for the length of that one cgo call only, then destroys the wrap before the
// call returns, so C never keeps a pointer to Go memory (the cgo pointer rules). Data that
// the library must keep (vectors added to an index) is copied by the library itself.
type Matrix struct {
	Data       []float32
	Rows, Cols int
}

// NewMatrix returns a zero-filled rows x cols matrix.
func NewMatrix(rows, cols int) Matrix {
	return Matrix{Data: make([]float32, rows*cols), Rows: rows, Cols: cols}
}

// MatrixOf views data as a matrix with cols columns (rows = len(data) / cols), no copy.
func MatrixOf(data []float32, cols int) (Matrix, error) {
	if cols < 1 || len(data)%cols != 0 {
		return Matrix{}, argError(EDIM, "%d floats do not make rows of %d columns", len(data), cols)
	}
	return Matrix{Data: data, Rows: len(data) / cols, Cols: cols}, nil
}

// Row returns row i as a sub-slice of Data (no copy).
func (m Matrix) Row(i int) []float32 { return m.Data[i*m.Cols : (i+1)*m.Cols] }

func (m Matrix) check() error {
	if m.Rows < 0 || m.Cols < 0 {
		return argError(ERANGE, "matrix has negative size %d x %d", m.Rows, m.Cols)
	}
	if len(m.Data) != m.Rows*m.Cols {
		return argError(EDIM, "matrix data holds %d floats, %d x %d needs %d",
			len(m.Data), m.Rows, m.Cols, m.Rows*m.Cols)
	}
	return nil
}

// NormalizeRows scales each row to unit L2 norm in place (cosine = inner product after).
func (m Matrix) NormalizeRows() error {
	if err := m.check(); err != nil {
		return err
	}
	var msg msgBuf
	rc := C.goals_normalize_rows(f32ptr(m.Data), C.int64_t(m.Rows), C.int64_t(m.Cols), msg.ptr())
	runtime.KeepAlive(m.Data)
	return msg.err(rc)
}

// ReadNpy reads a 2-D float32 (or float64) .npy file into a new Go matrix.
func ReadNpy(path string) (Matrix, error) {
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	var msg msgBuf
	var data *C.float
	var rows, cols C.int64_t
	if err := msg.err(C.goals_read_npy(&data, &rows, &cols, cpath, msg.ptr())); err != nil {
		return Matrix{}, err
	}
	m := NewMatrix(int(rows), int(cols))
	if data != nil {
		copy(m.Data, unsafe.Slice((*float32)(unsafe.Pointer(data)), len(m.Data)))
		C.free(unsafe.Pointer(data))
	}
	return m, nil
}

// WriteNpy writes m as a .npy file ('<f4', C order), atomically.
func (m Matrix) WriteNpy(path string) error {
	if err := m.check(); err != nil {
		return err
	}
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	var msg msgBuf
	rc := C.goals_write_npy(f32ptr(m.Data), C.int64_t(m.Rows), C.int64_t(m.Cols), cpath, msg.ptr())
	runtime.KeepAlive(m.Data)
	return msg.err(rc)
}

// copyMatrix copies a C matrix (any stride) into a new Go matrix.
func copyMatrix(cm *C.als_matrix) Matrix {
	if cm == nil {
		return Matrix{}
	}
	rows, cols := int(C.als_matrix_rows(cm)), int(C.als_matrix_cols(cm))
	stride := int(C.als_matrix_stride(cm))
	m := NewMatrix(rows, cols)
	src := C.als_matrix_data_const(cm)
	if src == nil || rows == 0 || cols == 0 {
		return m
	}
	all := unsafe.Slice((*float32)(unsafe.Pointer(src)), (rows-1)*stride+cols)
	for i := 0; i < rows; i++ {
		copy(m.Data[i*cols:(i+1)*cols], all[i*stride:i*stride+cols])
	}
	return m
}
