//go:build libals_pkgconfig

package als

// Build against an installed copy (make install): go build -tags libals_pkgconfig.

// #cgo pkg-config: vecidx als
import "C"
