//go:build !libals_pkgconfig

package als

// Build against the libraries of this source tree (make lib), found through an rpath.
// With -tags libals_pkgconfig, cgo_pkgconfig.go uses an installed copy instead.

// #cgo CFLAGS: -I${SRCDIR}/../../../include
// #cgo LDFLAGS: -L${SRCDIR}/../../../lib -Wl,-rpath,${SRCDIR}/../../../lib -lvecidx -lals
import "C"
