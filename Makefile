# libals + libvecidx. GNU make, no configure step. See README.md.
# The version lives once, in include/als.h.
VERSION_MAJOR := $(shell sed -n 's/^\#define ALS_VERSION_MAJOR \([0-9]*\).*/\1/p' include/als.h)
VERSION_MINOR := $(shell sed -n 's/^\#define ALS_VERSION_MINOR \([0-9]*\).*/\1/p' include/als.h)
VERSION_PATCH := $(shell sed -n 's/^\#define ALS_VERSION_PATCH \([0-9]*\).*/\1/p' include/als.h)
VERSION := $(VERSION_MAJOR).$(VERSION_MINOR).$(VERSION_PATCH)

PREFIX ?= /usr/local
EXEC_PREFIX ?= $(PREFIX)
BINDIR ?= $(EXEC_PREFIX)/bin
LIBDIR ?= $(EXEC_PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
DOCDIR ?= $(PREFIX)/share/doc/libals
# the Python package alslib, in Debian's layout: on python3's path for PREFIX=/usr; Debian's python3
# reads /usr/local/lib/python3.X/dist-packages instead, so with /usr/local set PYTHONDIR or PYTHONPATH
PYTHONDIR ?= $(PREFIX)/lib/python3/dist-packages
DESTDIR ?=
INSTALL ?= install
INSTALL_DATA ?= $(INSTALL) -m 644
INSTALL_LIB ?= $(INSTALL) -m 755

CC ?= cc
CXX ?= c++
CFLAGS ?= -O2 -g
WERROR ?= 1
# BLIS ships no .pc file on Debian; the alternatives links make <blis.h> and -lblis work.
BLIS_CFLAGS ?= $(shell pkg-config --cflags blis 2>/dev/null)
BLIS_LIBS ?= $(shell pkg-config --libs blis 2>/dev/null || echo -lblis)
CMOCKA_LIBS ?= $(shell pkg-config --libs cmocka 2>/dev/null || echo -lcmocka)

BUILD ?= build
LIBOUT ?= lib
SAN_FLAGS ?=

WARN := -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes -Wmissing-prototypes
ifeq ($(WERROR),1)
WARN += -Werror
endif
BASE_CFLAGS := -std=c11 -D_POSIX_C_SOURCE=200809L -Iinclude -Isrc $(WARN) -fopenmp $(SAN_FLAGS)
LIB_CFLAGS := $(BASE_CFLAGS) -fPIC -fvisibility=hidden $(BLIS_CFLAGS)

# Core objects: the public ones belong to libals only; the hidden helpers (kernels,
# top-k, checksums, file helpers) are linked into each shared library, never exported.
CORE_PUB := src/core/error.c src/core/matrix.c src/core/npy.c src/core/version.c
CORE_HID := src/core/alloc.c src/core/idmap.c src/core/errfmt.c src/core/crc32.c src/core/fileio.c src/core/cpu.c \
            src/core/topk.c src/core/kernel_ref.c src/core/kernel_avx2.c src/core/kernel_avx512.c \
            src/core/scan.c src/core/panels.c
ALS_SRC := $(wildcard src/als/*.c)
VECIDX_SRC := $(wildcard src/vecidx/*.c)

obj = $(patsubst src/%.c,$(BUILD)/obj/%.o,$(1))
ALS_OBJ := $(call obj,$(CORE_PUB) $(CORE_HID) $(ALS_SRC))
VECIDX_OBJ := $(call obj,$(VECIDX_SRC))
VECIDX_SO_OBJ := $(VECIDX_OBJ) $(call obj,$(CORE_HID))

ALS_SO := $(LIBOUT)/libals.so.$(VERSION)
VECIDX_SO := $(LIBOUT)/libvecidx.so.$(VERSION)
LIBS_ALL := $(ALS_SO) $(LIBOUT)/libals.so.$(VERSION_MAJOR) $(LIBOUT)/libals.so $(LIBOUT)/libals.a \
            $(VECIDX_SO) $(LIBOUT)/libvecidx.so.$(VERSION_MAJOR) $(LIBOUT)/libvecidx.so $(LIBOUT)/libvecidx.a \
            $(LIBOUT)/als.pc $(LIBOUT)/vecidx.pc

TESTS := $(patsubst tests/%.c,$(BUILD)/tests/%,$(wildcard tests/test_*.c))
EXAMPLES := $(patsubst examples/%.c,$(BUILD)/examples/%,$(wildcard examples/*.c))
# The lookalike program: several files in examples/lookalike/, installed as `lookalike`.
LOOKALIKE := $(BUILD)/examples/lookalike
LOOKALIKE_SRC := $(wildcard examples/lookalike/*.c)
BENCH := $(BUILD)/bench/bench_search $(BUILD)/bench/gen_clustered $(BUILD)/bench/bench_als $(BUILD)/bench/bench_exact \
         $(BUILD)/bench/bench_ivf_build $(BUILD)/bench/bench_scale \
         $(BUILD)/bench/gen_implicit $(BUILD)/bench/bench_expand
# Programs link the shared libraries in $(LIBOUT) and find them through a relative rpath.
PROG_CFLAGS := $(BASE_CFLAGS)
PROG_LDFLAGS = -L$(LIBOUT) -Wl,-rpath,$(abspath $(LIBOUT)) -lvecidx -lals -lm

.PHONY: all lib check test bench demo examples install uninstall headercheck sanitize \
        valgrind clean deps deps-bench deps-demo abi-list abi-libs abi-baseline abi-check
.DEFAULT_GOAL := all

all: lib $(EXAMPLES) $(LOOKALIKE)
lib: $(LIBS_ALL)

# The ALS row solve relies on loop vectorization and FMA contraction (its hot loops are
# multiversioned); ALS promises no bit-identity across CPUs, unlike the search kernels.
$(BUILD)/obj/als/solve.o: EXTRA := -O3 -ffp-contract=fast -fno-tree-loop-distribute-patterns
$(BUILD)/obj/als/fit.o: EXTRA := -O3
# no contraction: the batched and the one-row Cholesky must give the same bits
$(BUILD)/obj/als/chol.o: EXTRA := -O3 -ffp-contract=off -fno-math-errno
$(BUILD)/obj/core/kernel_avx2.o: EXTRA := -mavx2 -mfma
$(BUILD)/obj/core/kernel_avx512.o: EXTRA := -mavx512f -mavx512vl -mavx512dq -mavx512bw -mavx2 -mfma
$(BUILD)/obj/%.o: src/%.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(LIB_CFLAGS) $(CFLAGS) $(EXTRA) -DALS_BUILDING_LIBRARY -DVECIDX_BUILDING_LIBRARY -MMD -MP -c $< -o $@

$(ALS_SO): $(ALS_OBJ) src/als.map
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(SAN_FLAGS) -fopenmp -shared -Wl,-soname,libals.so.$(VERSION_MAJOR) \
	  -Wl,--version-script,src/als.map -Wl,--no-undefined -o $@ $(ALS_OBJ) $(LDFLAGS) $(BLIS_LIBS) -lm
$(VECIDX_SO): $(VECIDX_SO_OBJ) src/vecidx.map $(LIBOUT)/libals.so
	$(CC) $(CFLAGS) $(SAN_FLAGS) -fopenmp -shared -Wl,-soname,libvecidx.so.$(VERSION_MAJOR) \
	  -Wl,--version-script,src/vecidx.map -Wl,--no-undefined -o $@ $(VECIDX_SO_OBJ) \
	  -L$(LIBOUT) $(LDFLAGS) -lals -lm
$(LIBOUT)/%.so.$(VERSION_MAJOR): $(LIBOUT)/%.so.$(VERSION)
	ln -sf $(<F) $@
$(LIBOUT)/%.so: $(LIBOUT)/%.so.$(VERSION_MAJOR)
	ln -sf $(<F) $@
# Static archives: libvecidx.a holds only its own objects; the hidden core helpers come
# from libals.a, which a static link needs anyway (-lvecidx -lals).
$(LIBOUT)/libals.a: $(ALS_OBJ)
	@mkdir -p $(@D)
	rm -f $@ && $(AR) rcs $@ $^
$(LIBOUT)/libvecidx.a: $(VECIDX_OBJ)
	@mkdir -p $(@D)
	rm -f $@ && $(AR) rcs $@ $^
PC_SED = sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' \
	    -e 's|@VERSION@|$(VERSION)|g'
$(LIBOUT)/%.pc: pkgconfig/%.pc.in include/als.h
	@mkdir -p $(@D)
	$(PC_SED) $< > $@

$(BUILD)/tests/%: tests/%.c tests/testutil.h $(LIBS_ALL)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(PROG_CFLAGS) $(CFLAGS) -Itests -MMD -MP $< -o $@ $(LDFLAGS) $(PROG_LDFLAGS) $(CMOCKA_LIBS) -lpthread
$(BUILD)/examples/%: examples/%.c $(LIBS_ALL)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(PROG_CFLAGS) $(CFLAGS) -MMD -MP $< -o $@ $(LDFLAGS) $(PROG_LDFLAGS)
$(LOOKALIKE): $(LOOKALIKE_SRC) examples/lookalike/lookalike.h $(LIBS_ALL)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(PROG_CFLAGS) $(CFLAGS) -DLK_DOCDIR='"$(abspath docs)"' $(LOOKALIKE_SRC) -o $@ $(LDFLAGS) $(PROG_LDFLAGS)
$(BUILD)/bench/%: tests/bench/%.c tests/bench/bench_util.h $(LIBS_ALL)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(PROG_CFLAGS) $(CFLAGS) -MMD -MP $< -o $@ $(LDFLAGS) $(PROG_LDFLAGS)

DATA ?= $(CURDIR)/../shared/data
# Build every example and run the self-contained ones (the MovieLens one when the data is there).
examples: $(EXAMPLES) $(LOOKALIKE)
	@echo "== examples: vecidx_basic"; $(BUILD)/examples/vecidx_basic
	@if [ -f "$(DATA)/ml-100k/u.data" ]; then echo "== examples: als_movielens"; \
	  OMP_NUM_THREADS=2 $(BUILD)/examples/als_movielens "$(DATA)/ml-100k/u.data"; \
	else echo "== examples: als_movielens skipped: $(DATA)/ml-100k/u.data is absent"; fi

deps:
	@sh scripts/deps.sh build
deps-bench:
	@sh scripts/deps.sh bench

# Tests run with fixed thread counts; each suite prints cmocka's summary.
check test: deps
	@$(MAKE) --no-print-directory lib $(TESTS) $(EXAMPLES) $(LOOKALIKE)
	@fail=0; for t in $(TESTS); do \
	  echo "== $$t"; OMP_NUM_THREADS=2 BLIS_NUM_THREADS=1 ALS_TEST_DATA=$(DATA) \
	    $(TEST_WRAP) $$t || fail=1; done; \
	  $(MAKE) --no-print-directory faults || fail=1; \
	  echo "== tests/test_lookalike.sh"; OMP_NUM_THREADS=2 BLIS_NUM_THREADS=1 \
	    LOOKALIKE_WRAP="$(TEST_WRAP)" sh tests/test_lookalike.sh $(LOOKALIKE) "$(DATA)" || fail=1; \
	  if /usr/bin/python3 -c 'import numpy' 2>/dev/null; then \
	    echo "== examples/python/tests (python3 -m unittest)"; \
	    plog=$(BUILD)/python-tests.log; mkdir -p $(BUILD); \
	    pyenv="PYTHONPATH=examples/python ALSLIB_PATH=$(abspath $(LIBOUT)) ALSLIB_NPY_SEARCH=$(abspath $(BUILD))/examples/npy_search"; \
	    if [ -n "$(SAN_FLAGS)" ]; then pyenv="$$pyenv LD_PRELOAD=$$($(CC) -print-file-name=libasan.so) ASAN_OPTIONS=detect_leaks=0 PYTHONMALLOC=malloc"; fi; \
	    env $$pyenv OMP_NUM_THREADS=2 BLIS_NUM_THREADS=1 /usr/bin/python3 -X faulthandler -m unittest discover \
	      -s examples/python/tests -v >$$plog 2>&1; prc=$$?; cat $$plog; \
	    awk '/ \.\.\. ok$$/ {p++} / \.\.\. (FAIL|ERROR)$$/ {f++} /^(FAIL|ERROR): / {e++} \
	      END {if (f < e) f = e; printf "python: %d passed, %d failed\n", p, f}' $$plog; \
	    [ $$prc -eq 0 ] || fail=1; \
	  else echo "python: skipped (python3-numpy not installed)"; fi; \
	  if [ -z "$(SAN_FLAGS)" ]; then \
	    echo "== tests/test_install.sh"; sh tests/test_install.sh || fail=1; \
	    echo "== tests/test_abi_gate.sh"; sh tests/test_abi_gate.sh || fail=1; fi; \
	  if command -v go >/dev/null 2>&1; then \
	    if [ -n "$(SAN_FLAGS)" ]; then echo "go: skipped (the Go binding links lib/, not sanitizer builds)"; \
	    else echo "== examples/go (go test ./...)"; glog=$(abspath $(BUILD))/go-tests.log; mkdir -p $(BUILD); \
	      (cd examples/go && GOFLAGS=-mod=mod GOPROXY=off GOCACHE=$(abspath $(BUILD))/gocache \
	        GOPATH=$(abspath $(BUILD))/gopath OMP_NUM_THREADS=2 BLIS_NUM_THREADS=1 \
	        go test -count=1 -v ./...) >$$glog 2>&1; grc=$$?; cat $$glog; \
	      echo "go: $$(grep -c -- '--- PASS' $$glog) passed, $$(grep -c -- '--- FAIL' $$glog) failed"; \
	      [ $$grc -eq 0 ] || fail=1; \
	      echo "== tests/test_go_consumer.sh"; GOCACHE=$(abspath $(BUILD))/gocache sh tests/test_go_consumer.sh || fail=1; fi; \
	  else echo "go: skipped (golang-go not installed)"; echo "go-consumer: skipped (golang-go not installed)"; fi; \
	  $(MAKE) --no-print-directory headercheck || fail=1; \
	  if [ $$fail -ne 0 ]; then echo "check: FAILED"; exit 1; fi; echo "check: all suites passed"

headercheck:
	@for h in include/*.h; do \
	  printf '#include "%s"\nint main(void){return 0;}\n' $$(basename $$h) | \
	    $(CC) -std=c11 -Wall -Wextra -Wpedantic -Werror -Iinclude -x c - -o /dev/null || exit 1; \
	  printf '#include "%s"\nint main(){return 0;}\n' $$(basename $$h) | \
	    $(CXX) -std=c++11 -Wall -Wextra -Wpedantic -Werror -Iinclude -x c++ - -o /dev/null || exit 1; \
	  echo "headercheck: $$h ok (C11, C++11)"; done

sanitize: deps
	@$(MAKE) --no-print-directory check BUILD=build/san LIBOUT=build/san/lib \
	  SAN_FLAGS="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer" \
	  TEST_WRAP="env ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1"

valgrind: deps
	@$(MAKE) --no-print-directory check TEST_WRAP="valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite"

deps-demo:
	@sh scripts/deps.sh demo

demo: deps-demo lib $(LOOKALIKE)
	@sh examples/demo.sh $(LOOKALIKE)

# BENCH_ONLY=search or BENCH_ONLY=als runs one of the two benchmarks (default: both).
# BENCH_ONLY=exact: IVF exact mode against flat search, and mapped against copying loads.
# BENCH_ONLY=expand runs only the audience-expansion benchmark at the seed's scale (minutes;
# never part of the default run). BENCH_ONLY=als-scale: ALS at 876 M and 193 M interactions
# and 100 M CSV rows through lookalike train (tens of minutes, 13 GB of data; not default).
bench: deps-bench lib $(BENCH) $(LOOKALIKE)
	@only=$${BENCH_ONLY:-}; fail=0; \
	case "$$only" in ""|search|als|als-scale|expand|exact|ivfbuild|scale) ;; *) echo "bench: BENCH_ONLY is search, als, als-scale, expand, exact, ivfbuild or scale"; exit 2;; esac; \
	if [ "$$only" = als-scale ]; then sh tests/bench/run_als_scale.sh $(BUILD)/bench $(LOOKALIKE) || fail=1; exit $$fail; fi; \
	if [ "$$only" = ivfbuild ]; then sh tests/bench/run_ivfbuild.sh $(BUILD)/bench || fail=1; exit $$fail; fi; \
	if [ "$$only" = scale ]; then sh tests/bench/run_scale.sh $(BUILD)/bench || fail=1; exit $$fail; fi; \
	if [ "$$only" = exact ]; then for a in "1000000 5000 4000 5" "1000000 5000 4000 20" "1000000 5000 4000 5 --uniform" \
	    "4470000 20000 8461 5 --mmap $(BUILD)/bench/exact.vidx" "4470000 20000 8461 20"; do \
	  OMP_NUM_THREADS=2 $(BUILD)/bench/bench_exact $$a || fail=1; done; exit $$fail; fi; \
	if [ "$$only" = expand ]; then sh tests/bench/run_expand.sh $(BUILD)/bench || fail=1; exit $$fail; fi; \
	if [ "$$only" != als ]; then sh tests/bench/run.sh $(BUILD)/bench || fail=1; fi; \
	if [ "$$only" != search ]; then sh tests/bench/run_als.sh $(BUILD)/bench || fail=1; fi; \
	exit $$fail

# ABI gate (docs/ABI.md): the libraries built with debug info and compared with the
# committed baseline in docs/abi/ by libabigail; any difference but added symbols fails
# (libabigail reports layout changes with exit 4, so any non-zero exit fails), and so does
# a symbol missing from the committed export lists. `make abi-baseline` refreshes them.
ABI_DIR ?= docs/abi
ABI_BUILD ?= build/abi
ABI_SO = $(ABI_BUILD)/lib/lib$(1).so.$(VERSION)
abi-libs:
	@$(MAKE) --no-print-directory lib BUILD=$(ABI_BUILD) LIBOUT=$(ABI_BUILD)/lib CFLAGS="-g -Og" >/dev/null
abi-baseline: abi-libs
	@mkdir -p $(ABI_DIR)
	@for l in als vecidx; do \
	  abidw --headers-dir include --out-file $(ABI_DIR)/lib$$l.abi $(call ABI_SO,$$l) || exit 1; \
	  nm -D --defined-only $(call ABI_SO,$$l) | awk '$$2 == "T" {print $$3}' | sort > $(ABI_DIR)/lib$$l.syms; \
	  echo "abi-baseline: $(ABI_DIR)/lib$$l.abi, $(ABI_DIR)/lib$$l.syms"; done
abi-check: abi-libs
	@command -v abidiff >/dev/null || { echo "abi-check: abidiff missing: apt-get install -y abigail-tools"; exit 1; }
	@fail=0; for l in als vecidx; do \
	  if abidiff --no-added-syms --headers-dir2 include $(ABI_DIR)/lib$$l.abi $(call ABI_SO,$$l) \
	       > $(ABI_BUILD)/lib$$l.abidiff 2>&1; then echo "abi-check: lib$$l matches the baseline"; \
	  else echo "abi-check: lib$$l differs from $(ABI_DIR)/lib$$l.abi:"; sed 's/^/    /' $(ABI_BUILD)/lib$$l.abidiff; fail=1; fi; \
	  nm -D --defined-only $(call ABI_SO,$$l) | awk '$$2 == "T" {print $$3}' | sort > $(ABI_BUILD)/lib$$l.syms; \
	  gone=$$(comm -23 $(ABI_DIR)/lib$$l.syms $(ABI_BUILD)/lib$$l.syms); \
	  if [ -n "$$gone" ]; then echo "abi-check: lib$$l no longer exports: $$gone"; fail=1; fi; \
	  added=$$(comm -13 $(ABI_DIR)/lib$$l.syms $(ABI_BUILD)/lib$$l.syms); \
	  if [ -n "$$added" ]; then echo "abi-check: lib$$l adds (fine in a minor release; refresh with make abi-baseline): $$added"; fi; \
	done; exit $$fail

# The exported symbols: nothing but als_* / vecidx_*.
abi-list: lib
	@nm -D --defined-only $(ALS_SO) | awk '{print $$3}' | sort
	@nm -D --defined-only $(VECIDX_SO) | awk '{print $$3}' | sort

install: lib $(LOOKALIKE)
	$(INSTALL) -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(PKGCONFIGDIR) $(DESTDIR)$(BINDIR)
	$(INSTALL_DATA) include/als.h include/vecidx.h $(DESTDIR)$(INCLUDEDIR)/
	$(INSTALL_LIB) $(ALS_SO) $(VECIDX_SO) $(DESTDIR)$(LIBDIR)/
	$(INSTALL_DATA) $(LIBOUT)/libals.a $(LIBOUT)/libvecidx.a $(DESTDIR)$(LIBDIR)/
	ln -sf libals.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libals.so.$(VERSION_MAJOR)
	ln -sf libals.so.$(VERSION_MAJOR) $(DESTDIR)$(LIBDIR)/libals.so
	ln -sf libvecidx.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libvecidx.so.$(VERSION_MAJOR)
	ln -sf libvecidx.so.$(VERSION_MAJOR) $(DESTDIR)$(LIBDIR)/libvecidx.so
	# the .pc files name this install's PREFIX/LIBDIR, whatever `make` was run with
	$(PC_SED) pkgconfig/als.pc.in > $(DESTDIR)$(PKGCONFIGDIR)/als.pc
	$(PC_SED) pkgconfig/vecidx.pc.in > $(DESTDIR)$(PKGCONFIGDIR)/vecidx.pc
	# the program, relinked against the installed libraries (no build-tree rpath)
	$(CC) $(CPPFLAGS) $(PROG_CFLAGS) $(CFLAGS) -DLK_DOCDIR='"$(DOCDIR)"' $(LOOKALIKE_SRC) -o $(DESTDIR)$(BINDIR)/lookalike \
	  $(LDFLAGS) -L$(LIBOUT) -Wl,-rpath,$(LIBDIR) -lvecidx -lals -lm
	# the documentation
	$(INSTALL) -d $(DESTDIR)$(DOCDIR)
	$(INSTALL_DATA) README.md $(wildcard docs/*.md) $(DESTDIR)$(DOCDIR)/
	# the Python package, told where the libraries are (alslib/_config.py)
	$(INSTALL) -d $(DESTDIR)$(PYTHONDIR)/alslib
	$(INSTALL_DATA) $(filter-out %/_config.py,$(wildcard examples/python/alslib/*.py)) $(DESTDIR)$(PYTHONDIR)/alslib/
	printf '# written by make install\nLIBDIR = "%s"\n' '$(LIBDIR)' > $(DESTDIR)$(PYTHONDIR)/alslib/_config.py

uninstall:
	rm -f $(DESTDIR)$(INCLUDEDIR)/als.h $(DESTDIR)$(INCLUDEDIR)/vecidx.h
	rm -f $(DESTDIR)$(LIBDIR)/libals.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libals.so.$(VERSION_MAJOR) \
	      $(DESTDIR)$(LIBDIR)/libals.so $(DESTDIR)$(LIBDIR)/libals.a
	rm -f $(DESTDIR)$(LIBDIR)/libvecidx.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libvecidx.so.$(VERSION_MAJOR) \
	      $(DESTDIR)$(LIBDIR)/libvecidx.so $(DESTDIR)$(LIBDIR)/libvecidx.a
	rm -f $(DESTDIR)$(PKGCONFIGDIR)/als.pc $(DESTDIR)$(PKGCONFIGDIR)/vecidx.pc
	rm -f $(DESTDIR)$(BINDIR)/lookalike
	rm -f $(DESTDIR)$(DOCDIR)/README.md $(addprefix $(DESTDIR)$(DOCDIR)/,$(notdir $(wildcard docs/*.md)))
	rmdir $(DESTDIR)$(DOCDIR) 2>/dev/null || true
	rm -f $(addprefix $(DESTDIR)$(PYTHONDIR)/alslib/,$(notdir $(wildcard examples/python/alslib/*.py)) _config.py)
	rm -rf $(DESTDIR)$(PYTHONDIR)/alslib/__pycache__
	rmdir $(DESTDIR)$(PYTHONDIR)/alslib 2>/dev/null || true

clean:
	rm -rf $(BUILD) bench-out demo-out
	find lib -mindepth 1 ! -name README.md -delete

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

# ===================================================================== fuzz (begin)
# libFuzzer harnesses, one per untrusted input: tests/fuzz/, docs/testing.md "Fuzzing".
# clang with libFuzzer (libclang-rt-14-dev); the library sources (and, for the lookalike
# harness, examples/lookalike/*.c) are compiled into every harness with ASan + UBSan.
#   make fuzz         each harness FUZZ_TIME s (600), FUZZ_JOBS at a time (2); fails on any
#                     crash, leak, timeout or out-of-memory; one summary line per harness
#   make fuzz-smoke   the same for 60 s per harness (CI: about 4.5 minutes on 2 cores)
#   make fuzz-build   only the harnesses and the seed corpora
# FUZZ_ONLY="npy csv" runs some harnesses; FUZZ_ARGS="-dict=..." adds libFuzzer flags.
.PHONY: fuzz fuzz-smoke fuzz-build
FUZZ_CC ?= clang
FUZZ_TIME ?= 600
FUZZ_JOBS ?= 2
FUZZ_DIR ?= $(BUILD)/fuzz
FUZZ_ONLY ?=
FUZZ_ARGS ?=
FUZZ_SAN ?= -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_OPT ?= -O1 -g
FUZZ_CFLAGS := -std=c11 -D_POSIX_C_SOURCE=200809L -Iinclude -Isrc -fopenmp $(FUZZ_OPT) $(FUZZ_SAN)
FUZZ_LIB_OBJ := $(patsubst src/%.c,$(FUZZ_DIR)/obj/%.o,$(wildcard src/core/*.c src/als/*.c src/vecidx/*.c))
FUZZ_NAMES := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BINS := $(patsubst %,$(FUZZ_DIR)/bin/fuzz_%,$(FUZZ_NAMES))
FUZZ_LINK = $(FUZZ_LIB_OBJ) $(LDFLAGS) $(BLIS_LIBS) -lm
FUZZ_LK = -Iexamples/lookalike -Dmain=lookalike_main $(LOOKALIKE_SRC)

# per-object flags as the library build's EXTRA (the kernels need their ISA flags)
$(FUZZ_DIR)/obj/core/kernel_avx2.o: FUZZ_EXTRA := -mavx2 -mfma
$(FUZZ_DIR)/obj/core/kernel_avx512.o: FUZZ_EXTRA := -mavx512f -mavx512vl -mavx512dq -mavx512bw -mavx2 -mfma
$(FUZZ_DIR)/obj/als/solve.o: FUZZ_EXTRA := -ffp-contract=fast
$(FUZZ_DIR)/obj/als/chol.o: FUZZ_EXTRA := -ffp-contract=off -fno-math-errno
$(FUZZ_DIR)/obj/%.o: src/%.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link $(FUZZ_EXTRA) $(BLIS_CFLAGS) \
	  -DALS_BUILDING_LIBRARY -DVECIDX_BUILDING_LIBRARY -MMD -MP -c $< -o $@
$(FUZZ_DIR)/bin/fuzz_lookalike: tests/fuzz/fuzz_lookalike.c tests/fuzz/fuzz_util.h tests/fuzz/lk_fixture.h \
    $(LOOKALIKE_SRC) examples/lookalike/lookalike.h $(FUZZ_LIB_OBJ)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -Itests/fuzz $< $(FUZZ_LK) -o $@ $(FUZZ_LINK)
$(FUZZ_DIR)/bin/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz_util.h $(FUZZ_LIB_OBJ)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -Itests/fuzz $< -o $@ $(FUZZ_LINK)
$(FUZZ_DIR)/bin/make_corpus: tests/fuzz/make_corpus.c tests/fuzz/lk_fixture.h $(LOOKALIKE_SRC) $(FUZZ_LIB_OBJ)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -Itests/fuzz $< $(FUZZ_LK) -o $@ $(FUZZ_LINK)

fuzz-build: $(FUZZ_BINS) $(FUZZ_DIR)/bin/make_corpus
	@sh tests/fuzz/make_corpus.sh $(FUZZ_DIR)/bin/make_corpus $(FUZZ_DIR)/seeds
fuzz: fuzz-build
	@FUZZ_ARGS="$(FUZZ_ARGS)" sh tests/fuzz/run.sh $(FUZZ_DIR) $(FUZZ_TIME) $(FUZZ_JOBS) \
	  $(if $(FUZZ_ONLY),$(FUZZ_ONLY),$(FUZZ_NAMES))
fuzz-smoke:
	@$(MAKE) --no-print-directory fuzz FUZZ_TIME=60
# ===================================================================== fuzz (end)

# ---- Robustness suites (docs/testing.md): allocation-failure injection, ThreadSanitizer,
# crash safety of saves. `make check` runs `faults` (and test_crash_safety, like every
# tests/test_*.c); `make sanitize` runs them under ASan+UBSan with leak detection.
.PHONY: faults faults-lib tsan crash-test
FAULTS_BUILD = $(BUILD)/faults
FAULTS_INJ = $(FAULTS_BUILD)/inj/libfaultinj.so
FAULTS_SWEEP = $(FAULTS_BUILD)/fault_sweep
# Under `make valgrind` the sweep runs unwrapped (its own live-allocation check still
# applies; thousands of runs under valgrind would take many minutes).
FAULTS_WRAP ?= $(if $(findstring valgrind,$(TEST_WRAP)),,$(TEST_WRAP))
# A copy of both libraries in $(FAULTS_BUILD)/lib whose every allocation goes through
# libfaultinj (tests/faults/inject.h is force-included; src/ is unchanged).
$(FAULTS_INJ): tests/faults/faultinj.c tests/faults/faultinj.h
	@mkdir -p $(@D)
	$(CC) -std=c11 -O2 -g -Wall -Wextra -Werror -fPIC -shared $(SAN_FLAGS) $< -o $@ -lpthread -ldl
faults-lib: $(FAULTS_INJ)
	@$(MAKE) --no-print-directory lib BUILD=$(FAULTS_BUILD) LIBOUT=$(FAULTS_BUILD)/lib \
	  CPPFLAGS="-include $(abspath tests/faults/inject.h)" \
	  LDFLAGS="-L$(abspath $(FAULTS_BUILD)/inj) -Wl,-rpath,$(abspath $(FAULTS_BUILD)/inj) -lfaultinj"
$(FAULTS_SWEEP): tests/faults/fault_sweep.c tests/faults/faultinj.h tests/testutil.h $(FAULTS_INJ) \
                 $(FAULTS_BUILD)/lib/libals.so.$(VERSION) $(FAULTS_BUILD)/lib/libvecidx.so.$(VERSION)
	$(CC) $(PROG_CFLAGS) $(CFLAGS) -Itests -Itests/faults $< -o $@ \
	  -L$(FAULTS_BUILD)/lib -Wl,-rpath,$(abspath $(FAULTS_BUILD)/lib) -lvecidx -lals \
	  -L$(FAULTS_BUILD)/inj -Wl,-rpath,$(abspath $(FAULTS_BUILD)/inj) -lfaultinj $(CMOCKA_LIBS) -lm -lpthread
faults: $(FAULTS_INJ)
	@$(MAKE) --no-print-directory faults-lib >/dev/null
	@$(MAKE) --no-print-directory $(FAULTS_SWEEP)
	@echo "== $(FAULTS_SWEEP)"; OMP_NUM_THREADS=2 OMP_WAIT_POLICY=passive BLIS_NUM_THREADS=1 \
	  $(FAULTS_WRAP) $(FAULTS_SWEEP)

# ThreadSanitizer: both libraries and tests/test_tsan.c built with -fsanitize=thread in
# $(TSAN_BUILD). libgomp is not instrumented: the test sets every handle's thread count to
# 1 and makes its own concurrency with pthreads. (solve.c builds no target_clones under
# -fsanitize=thread: their ifunc resolvers would run before the TSan runtime is up.)
TSAN_BUILD ?= build/tsan
TSAN_SAN = -fsanitize=thread -fno-omit-frame-pointer
TSAN_OPTS ?= halt_on_error=1:second_deadlock_stack=1:history_size=4
tsan:
	@$(MAKE) --no-print-directory lib $(TSAN_BUILD)/tests/test_tsan BUILD=$(TSAN_BUILD) \
	  LIBOUT=$(TSAN_BUILD)/lib SAN_FLAGS="$(TSAN_SAN)" CFLAGS="-O1 -g" >/dev/null
	@echo "== $(TSAN_BUILD)/tests/test_tsan (TSAN_OPTIONS=$(TSAN_OPTS))"; \
	  TSAN_OPTIONS="$(TSAN_OPTS)" OMP_NUM_THREADS=1 BLIS_NUM_THREADS=1 $(TSAN_BUILD)/tests/test_tsan

# Crash safety: a child saving an index and a model over the same paths, killed with
# SIGKILL at random moments (CRASH_TRIALS trials each; `make check` runs 60).
CRASH_TRIALS ?= 200
crash-test:
	@$(MAKE) --no-print-directory lib $(BUILD)/tests/test_crash_safety
	@echo "== $(BUILD)/tests/test_crash_safety (CRASH_TRIALS=$(CRASH_TRIALS))"; \
	  CRASH_TRIALS=$(CRASH_TRIALS) OMP_NUM_THREADS=2 BLIS_NUM_THREADS=1 $(TEST_WRAP) $(BUILD)/tests/test_crash_safety
