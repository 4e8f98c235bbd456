# Safety suites (tests/safety/): tdill inside a larger program. pthread_cancel
# in every blocking call, fork at any moment, exit with threads blocked,
# closed standard descriptors, and dlopen/dlclose cycles from a host that
# does not link tdill.
if HAVE_CHECK
SF_SRC = tests/safety/safety.c tests/safety/safety.h $(TU_SRC)
# With the coroutine front-end, the fork and exit tests cover coroutines too.
if ENABLE_CORO
SF_CORO_CPPFLAGS = -DSF_CORO
SF_CORO_LDADD = libtdill_coro.la
else
SF_CORO_CPPFLAGS =
SF_CORO_LDADD =
endif

SF_CHECKS = tests/safety/test_cancel_stream tests/safety/test_cancel_ipc \
	tests/safety/test_fork_any_time tests/safety/test_exit_stdio \
	tests/safety/test_unload
check_PROGRAMS += $(SF_CHECKS)
TESTS += $(SF_CHECKS)

tests_safety_test_cancel_stream_SOURCES = tests/safety/test_cancel_stream.c \
	$(SF_SRC)
tests_safety_test_cancel_stream_CFLAGS = $(TU_CFLAGS)
tests_safety_test_cancel_stream_LDADD = $(TU_LDADD)

tests_safety_test_cancel_ipc_SOURCES = tests/safety/test_cancel_ipc.c \
	$(SF_SRC)
tests_safety_test_cancel_ipc_CFLAGS = $(TU_CFLAGS)
tests_safety_test_cancel_ipc_LDADD = $(TU_LDADD)

# With the coroutine front-end, fork is also tried while coroutines and
# bundles are being closed (SF_CORO).
tests_safety_test_fork_any_time_SOURCES = tests/safety/test_fork_any_time.c \
	$(SF_SRC)
tests_safety_test_fork_any_time_CPPFLAGS = $(AM_CPPFLAGS) $(SF_CORO_CPPFLAGS)
tests_safety_test_fork_any_time_CFLAGS = $(TU_CFLAGS)
tests_safety_test_fork_any_time_LDADD = $(SF_CORO_LDADD) $(TU_LDADD)

# With the coroutine front-end, a coroutine also sleeps at exit (SF_CORO).
tests_safety_test_exit_stdio_SOURCES = tests/safety/test_exit_stdio.c \
	$(SF_SRC)
tests_safety_test_exit_stdio_CPPFLAGS = $(AM_CPPFLAGS) $(SF_CORO_CPPFLAGS)
tests_safety_test_exit_stdio_CFLAGS = $(TU_CFLAGS)
tests_safety_test_exit_stdio_LDADD = $(SF_CORO_LDADD) $(TU_LDADD)

# The plugin: a shared object that links libtdill, never installed.
# test_unload, which links no tdill, loads it and libtdill from the build
# tree; the run path lets the plugin find the uninstalled libtdill.
check_LTLIBRARIES = tests/safety/libplugin.la
tests_safety_libplugin_la_SOURCES = tests/safety/plugin.c
tests_safety_libplugin_la_LIBADD = libtdill.la
tests_safety_libplugin_la_LDFLAGS = -module -avoid-version -rpath /nowhere \
	-no-undefined -Wl,-rpath,$(abs_top_builddir)/.libs

tests_safety_test_unload_SOURCES = tests/safety/test_unload.c
tests_safety_test_unload_CPPFLAGS = \
	-DSF_PLUGIN_PATH='"$(abs_top_builddir)/tests/safety/.libs/libplugin.so"' \
	-DSF_TDILL_PATH='"$(abs_top_builddir)/.libs/libtdill.so"'
tests_safety_test_unload_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_safety_test_unload_LDADD = $(CHECK_LIBS) -ldl
EXTRA_tests_safety_test_unload_DEPENDENCIES = tests/safety/libplugin.la \
	libtdill.la
endif
