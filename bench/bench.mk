# The benchmark (see bench/README.md). Built only on demand, by
# `make bench`, `make bench-quick` or `make bench-scaling`: never by `make`
# or `make check`.
#
# nng is optional and found at build time, not by configure:
# bench/nng-flags.sh finds its compiler and linker flags (or nothing), kept
# in bench/nng-cflags and bench/nng-libs, which are checked again at every
# bench build and rewritten only when the answer changes. gnuplot is
# optional too; the program looks for it when it writes the chart.
#
# libdill is built in only when make is given LIBDILL_PREFIX, the prefix
# libdill was installed under (headers in $PREFIX/include, the library in
# $PREFIX/lib, linked with an rpath): make bench LIBDILL_PREFIX=/opt/libdill.
# Its flags are kept in bench/libdill-flags, rewritten only when they
# change, so that giving or dropping LIBDILL_PREFIX rebuilds the program.
#
# More options for the program: make bench BENCH_FLAGS="--runs 3 --only pp".

EXTRA_PROGRAMS = bench/tdill-bench
bench_tdill_bench_SOURCES = \
	bench/bench.h \
	bench/report.h \
	bench/side.h \
	bench/main.c \
	bench/report.c \
	bench/chart.c \
	bench/side.c \
	bench/workloads.c \
	bench/overhead.c \
	bench/tpc.c \
	bench/raw.c \
	bench/tdill.c \
	bench/libdill.c \
	bench/nng.c
BENCH_NNG_CFLAGS = `cat bench/nng-cflags`
BENCH_NNG_LIBS = `cat bench/nng-libs`
BENCH_LIBDILL_CFLAGS = `sed 1q bench/libdill-flags`
BENCH_LIBDILL_LIBS = `sed 1d bench/libdill-flags`
bench_tdill_bench_CPPFLAGS = $(AM_CPPFLAGS) $(BENCH_NNG_CFLAGS) \
	$(BENCH_LIBDILL_CFLAGS)
bench_tdill_bench_CFLAGS = $(AM_CFLAGS) -O2
bench_tdill_bench_LDADD = $(BENCH_CORO_LIBS) libtdill.la $(BENCH_NNG_LIBS) \
	$(BENCH_LIBDILL_LIBS) -lm
bench_tdill_bench_DEPENDENCIES = $(BENCH_CORO_LIBS) libtdill.la bench/nng-libs \
	bench/libdill-flags
# No libtool wrapper script: the bench runs the real binary.
bench_tdill_bench_LDFLAGS = $(AM_LDFLAGS) -no-install
$(bench_tdill_bench_OBJECTS): bench/nng-cflags bench/libdill-flags
# With the coroutine front-end, tdill also runs ping-pong between two
# coroutines of one thread (the pp-coro row).
if ENABLE_CORO
bench_tdill_bench_CPPFLAGS += -DBENCH_CORO
BENCH_CORO_LIBS = libtdill_coro.la
else
BENCH_CORO_LIBS =
endif

# Each file is rewritten only when its answer changes, so that a detection
# with the same result rebuilds nothing.
bench/nng-libs: bench/nng-cflags
	@:
bench/nng-cflags: bench-nng-detect
	@$(MKDIR_P) bench
	@$(SHELL) $(srcdir)/bench/nng-flags.sh "$(CC)" >bench/nng-flags.tmp; \
	sed 1q bench/nng-flags.tmp >bench/nng-cflags.tmp; \
	sed 1d bench/nng-flags.tmp >bench/nng-libs.tmp; \
	for f in bench/nng-cflags bench/nng-libs; do \
	  if cmp -s $$f.tmp $$f; then rm -f $$f.tmp; else mv -f $$f.tmp $$f; fi; \
	done; rm -f bench/nng-flags.tmp; \
	if test -s bench/nng-libs && test -n "`cat bench/nng-libs`"; then \
	  echo "  BENCH    nng found: `cat bench/nng-libs`"; \
	else echo "  BENCH    nng not found: building without the nng backend"; fi

bench-nng-detect:

# Line 1: compiler flags, line 2: linker flags; both empty without
# LIBDILL_PREFIX. A prefix without libdill.h is an error, not a silent skip.
LIBDILL_PREFIX =
bench/libdill-flags: bench-libdill-detect
	@$(MKDIR_P) bench
	@if test -z "$(LIBDILL_PREFIX)"; then \
	  printf '\n\n' >bench/libdill-flags.tmp; \
	  echo "  BENCH    libdill not built: pass LIBDILL_PREFIX=/path/to/libdill/install"; \
	elif test -f "$(LIBDILL_PREFIX)/include/libdill.h"; then \
	  printf '%s\n%s\n' \
	    '-DHAVE_LIBDILL -DBENCH_LIBDILL_PREFIX="$(LIBDILL_PREFIX)" -I$(LIBDILL_PREFIX)/include' \
	    '-L$(LIBDILL_PREFIX)/lib -Wl,-rpath,$(LIBDILL_PREFIX)/lib -ldill' \
	    >bench/libdill-flags.tmp; \
	  echo "  BENCH    libdill from $(LIBDILL_PREFIX)"; \
	else \
	  echo "LIBDILL_PREFIX=$(LIBDILL_PREFIX): no include/libdill.h there" >&2; \
	  exit 1; \
	fi; \
	if cmp -s bench/libdill-flags.tmp bench/libdill-flags; then \
	  rm -f bench/libdill-flags.tmp; \
	else mv -f bench/libdill-flags.tmp bench/libdill-flags; fi

bench-libdill-detect:

BENCH_OUT = $(srcdir)/bench/results
BENCH_FLAGS =

bench: bench/tdill-bench$(EXEEXT)
	./bench/tdill-bench$(EXEEXT) --out $(BENCH_OUT) $(BENCH_FLAGS)

bench-quick: bench/tdill-bench$(EXEEXT)
	./bench/tdill-bench$(EXEEXT) --quick --out $(BENCH_OUT) $(BENCH_FLAGS)

bench-scaling: bench/tdill-bench$(EXEEXT)
	./bench/tdill-bench$(EXEEXT) --scaling --out $(BENCH_OUT) $(BENCH_FLAGS)

.PHONY: bench bench-quick bench-scaling bench-nng-detect bench-libdill-detect

EXTRA_DIST += bench/nng-flags.sh bench/README.md
CLEANFILES += bench/tdill-bench$(EXEEXT) bench/nng-cflags bench/nng-libs \
	bench/nng-flags.tmp bench/nng-cflags.tmp bench/nng-libs.tmp \
	bench/libdill-flags bench/libdill-flags.tmp
