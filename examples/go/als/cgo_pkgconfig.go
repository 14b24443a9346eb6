//go:build libals_pkgconfig

package als

// Build against an installed copy (make install): go build -tags libals_pkgconfig, with
// PKG_CONFIG_PATH=$PREFIX/lib/pkgconfig for a non-system prefix. pkg-config's flags carry
// no rpath: add CGO_LDFLAGS="-Wl,-rpath,$PREFIX/lib" (or run ldconfig) so the binary finds
// libals.so.1 and libvecidx.so.1 at run time. See README.md, "From another module".

// #cgo pkg-config: vecidx als
import "C"
