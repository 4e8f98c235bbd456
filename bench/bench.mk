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
# More options for the program: make bench BENCH_FLAGS="--runs 3 --only pp".

EXTRA_PROGRAMS = bench/tdill-bench
bench_tdill_bench_SOURCES = \
	bench/bench.h \
	bench/report.h \
	bench/side.h \
	bench/main.c \
	bench/report.c \
	bench/side.c \
	bench/workloads.c \
	bench/overhead.c \
	bench/raw.c \
	bench/tdill.c \
	bench/nng.c
BENCH_NNG_CFLAGS = `cat bench/nng-cflags`
BENCH_NNG_LIBS = `cat bench/nng-libs`
bench_tdill_bench_CPPFLAGS = $(AM_CPPFLAGS) $(BENCH_NNG_CFLAGS)
bench_tdill_bench_CFLAGS = $(AM_CFLAGS) -O2
bench_tdill_bench_LDADD = $(BENCH_CORO_LIBS) libtdill.la $(BENCH_NNG_LIBS) -lm
bench_tdill_bench_DEPENDENCIES = $(BENCH_CORO_LIBS) libtdill.la bench/nng-libs
# No libtool wrapper script: the bench runs the real binary.
bench_tdill_bench_LDFLAGS = $(AM_LDFLAGS) -no-install
$(bench_tdill_bench_OBJECTS): bench/nng-cflags
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

BENCH_OUT = $(srcdir)/bench/results
BENCH_FLAGS =

bench: bench/tdill-bench$(EXEEXT)
	./bench/tdill-bench$(EXEEXT) --out $(BENCH_OUT) $(BENCH_FLAGS)

bench-quick: bench/tdill-bench$(EXEEXT)
	./bench/tdill-bench$(EXEEXT) --quick --out $(BENCH_OUT) $(BENCH_FLAGS)

bench-scaling: bench/tdill-bench$(EXEEXT)
	./bench/tdill-bench$(EXEEXT) --scaling --out $(BENCH_OUT) $(BENCH_FLAGS)

.PHONY: bench bench-quick bench-scaling bench-nng-detect

EXTRA_DIST += bench/nng-flags.sh bench/README.md
CLEANFILES += bench/tdill-bench$(EXEEXT) bench/nng-cflags bench/nng-libs \
	bench/nng-flags.tmp bench/nng-cflags.tmp bench/nng-libs.tmp
