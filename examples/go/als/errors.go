package als

// #include "shim.h"
import "C"

import (
	"errors"
	"fmt"
	"unsafe"
)

// Status codes shared by libals and libvecidx (ALS_E* in als.h).
const (
	EINVAL       = -1  // invalid argument: nil, unknown key, NaN/Inf value
	ENOMEM       = -2  // allocation failed or a size overflows
	ERANGE       = -3  // a value is outside its documented bounds
	EDIM         = -4  // shapes do not match
	ESTATE       = -5  // the handle is not in a state that allows the call
	EIO          = -6  // the operating system failed a file operation
	EFORMAT      = -7  // a file or text is malformed, truncated or corrupt
	ECANCELED    = -8  // a callback asked to stop
	ENOTFOUND    = -9  // an id, key or file does not exist
	EUNSUPPORTED = -10 // valid request this build or CPU cannot serve
	EINTERNAL    = -11 // a bug in the library
)

// Error is a failure reported by the C library (Code < 0, an ALS_E* value) or found by
// the binding before calling it. Message is the library's message for that call.
type Error struct {
	Code    int
	Message string
}

func (e *Error) Error() string {
	return fmt.Sprintf("als: %s (%s)", e.Message, StatusText(e.Code))
}

// Is makes errors.Is(err, &Error{Code: als.EDIM}) match on the code alone.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code && (t.Message == "" || t.Message == e.Message)
}

// StatusText is the library's short description of a status code (als_strerror).
func StatusText(code int) string {
	return C.GoString(C.als_strerror(C.int(code)))
}

// CodeOf returns the Code of an *Error in err's chain, 0 if err is nil, or EINTERNAL
// for a foreign error.
func CodeOf(err error) int {
	if err == nil {
		return 0
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// msgBuf receives the thread-local message inside the failing cgo call (see shim.c).
type msgBuf [C.GOALS_MSG_CAP]C.char

func (b *msgBuf) ptr() *C.char { return &b[0] }

func (b *msgBuf) err(rc C.int) error {
	if rc >= 0 {
		return nil
	}
	return &Error{Code: int(rc), Message: C.GoString(b.ptr())}
}

func argError(code int, format string, a ...interface{}) error {
	return &Error{Code: code, Message: fmt.Sprintf(format, a...)}
}

// Version is the runtime version string of libals, e.g. "1.0.0".
func Version() string { return C.GoString(C.als_version_string()) }

// helpers for slices handed to C for the length of one call

func f32ptr(s []float32) *C.float {
	if len(s) == 0 {
		return nil
	}
	return (*C.float)(unsafe.Pointer(&s[0]))
}

func i64ptr(s []int64) *C.int64_t {
	if len(s) == 0 {
		return nil
	}
	return (*C.int64_t)(unsafe.Pointer(&s[0]))
}
