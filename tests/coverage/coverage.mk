# Coverage tests (tests/coverage/): the edges of src/ that the suites of
# the other areas do not reach, mostly the kernel or the allocator refusing
# (inject.c, failmalloc.c), fork at awkward moments and the coroutine
# front-end's limits. Part of `make check`; `make coverage` measures them
# with the rest (see notes/coverage.md).
if HAVE_CHECK
COV_CHECKS = tests/coverage/test_edges tests/coverage/test_fork_state \
	tests/coverage/test_chan_edges tests/coverage/test_msg_edges
check_PROGRAMS += $(COV_CHECKS)
TESTS += $(COV_CHECKS)

# Like failmalloc.c, inject.c replaces C library functions for the whole
# program, so it is built without the sanitizers.
check_LIBRARIES += tests/coverage/libinject.a
tests_coverage_libinject_a_SOURCES = tests/coverage/inject.c \
	tests/coverage/inject.h
tests_coverage_libinject_a_CFLAGS = -Wall -Wextra -pthread -g
COV_LDADD = tests/coverage/libinject.a tests/reliability/libfailmalloc.a \
	$(TU_LDADD)

tests_coverage_test_edges_SOURCES = tests/coverage/test_edges.c \
	$(REL_SRC)
tests_coverage_test_edges_CFLAGS = $(TU_CFLAGS)
tests_coverage_test_edges_LDADD = $(COV_LDADD)

tests_coverage_test_fork_state_SOURCES = tests/coverage/test_fork_state.c \
	$(REL_SRC)
tests_coverage_test_fork_state_CFLAGS = $(TU_CFLAGS)
tests_coverage_test_fork_state_LDADD = $(COV_LDADD)

tests_coverage_test_chan_edges_SOURCES = tests/coverage/test_chan_edges.c \
	$(REL_SRC)
tests_coverage_test_chan_edges_CFLAGS = $(TU_CFLAGS)
tests_coverage_test_chan_edges_LDADD = $(COV_LDADD)

tests_coverage_test_msg_edges_SOURCES = tests/coverage/test_msg_edges.c \
	$(REL_SRC)
tests_coverage_test_msg_edges_CFLAGS = $(TU_CFLAGS)
tests_coverage_test_msg_edges_LDADD = $(COV_LDADD)

if ENABLE_CORO
check_PROGRAMS += tests/coverage/test_coro_limits
TESTS += tests/coverage/test_coro_limits
tests_coverage_test_coro_limits_SOURCES = \
	tests/coverage/test_coro_limits.c $(REL_SRC)
tests_coverage_test_coro_limits_CFLAGS = $(TU_CFLAGS)
tests_coverage_test_coro_limits_LDADD = libtdill_coro.la $(COV_LDADD)
endif
endif
