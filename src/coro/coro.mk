# The coroutine front-end, libtdill_coro (configure --disable-coro drops it).
# It links against libtdill and uses nothing of it but exported symbols.
if ENABLE_CORO
include_HEADERS += include/tdill_coro.h
pkgconfig_DATA += tdill_coro.pc
lib_LTLIBRARIES += libtdill_coro.la
libtdill_coro_la_SOURCES = \
	src/coro/coro.h src/coro/san.h \
	src/coro/ctx.c \
	src/coro/sched.c \
	src/coro/timer.c \
	src/coro/wait.c \
	src/coro/stack.c \
	src/coro/go.c \
	src/coro/bundle.c
# NB: the plain names (bundle, go, ...) are macros; our own code has
# struct fields with those names.
libtdill_coro_la_CPPFLAGS = $(AM_CPPFLAGS) -DTDILL_DISABLE_RAW_NAMES
libtdill_coro_la_CFLAGS = $(AM_CFLAGS) $(TLS_CFLAGS) -fvisibility=hidden
libtdill_coro_la_LIBADD = libtdill.la
libtdill_coro_la_LDFLAGS = -version-info 0:0:0 -no-undefined -Wl,-z,nodelete \
	-Wl,--version-script=$(srcdir)/src/coro/libtdill_coro.map \
	-Wl,--exclude-libs,libgcov.a
EXTRA_libtdill_coro_la_DEPENDENCIES = src/coro/libtdill_coro.map

# The libdill drop-in: libdill.h in its own folder, out of the default
# include path so that it never hides a real libdill, and the pkg-config
# module tdill_libdill that puts that folder first (README "Coroutines").
compatdir = $(includedir)/tdill/compat
compat_HEADERS = include/compat/libdill.h
pkgconfig_DATA += tdill_libdill.pc

# libdill-style programs built unmodified against the drop-in header: the
# plain names, and the dill_ names with DILL_DISABLE_RAW_NAMES. No
# _GNU_SOURCE, and a missing declaration is an error, so they also prove
# that the header includes what libdill.h includes.
COMPAT_CPPFLAGS = -I$(top_srcdir)/include/compat -I$(top_srcdir)/include
COMPAT_CFLAGS = $(AM_CFLAGS) -Werror=implicit-function-declaration
check_PROGRAMS += tests/compat/libdill_prog tests/compat/dill_names
TESTS += tests/compat/libdill_prog tests/compat/dill_names
tests_compat_libdill_prog_SOURCES = tests/compat/libdill_prog.c
tests_compat_libdill_prog_CPPFLAGS = $(COMPAT_CPPFLAGS)
tests_compat_libdill_prog_CFLAGS = $(COMPAT_CFLAGS)
tests_compat_libdill_prog_LDADD = libtdill_coro.la libtdill.la
tests_compat_dill_names_SOURCES = tests/compat/dill_names.c
tests_compat_dill_names_CPPFLAGS = $(COMPAT_CPPFLAGS)
tests_compat_dill_names_CFLAGS = $(COMPAT_CFLAGS)
tests_compat_dill_names_LDADD = libtdill_coro.la libtdill.la

# An example: an echo server and its clients, all coroutines.
noinst_PROGRAMS += examples/coro/echo_coro
examples_coro_echo_coro_SOURCES = examples/coro/echo_coro.c
examples_coro_echo_coro_LDADD = libtdill_coro.la libtdill.la

if HAVE_CHECK
check_PROGRAMS += tests/coro/test_coro
TESTS += tests/coro/test_coro
tests_coro_test_coro_SOURCES = \
	tests/coro/test_coro.c tests/coro/test_cancel.c \
	tests/coro/test_bundle.c tests/coro/test_threads.c \
	tests/coro/test_chan.c \
	tests/coro/go_args.c tests/coro/go_args_O0.c \
	tests/coro/raw_names_off.c tests/coro/coro_tests.h $(TU_SRC)
tests_coro_test_coro_CFLAGS = $(TU_CFLAGS)
tests_coro_test_coro_LDADD = libtdill_coro.la $(TU_LDADD)
endif

# Context-switch cost against a thread wake-up: built, run by hand.
noinst_PROGRAMS += tests/coro/switch_cost
tests_coro_switch_cost_SOURCES = tests/coro/switch_cost.c
tests_coro_switch_cost_LDADD = libtdill_coro.la libtdill.la
endif
# Distributed in every tarball, also one made after configure --disable-coro.
EXTRA_DIST += src/coro/libtdill_coro.map
