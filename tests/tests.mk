# Check suites: one program per area of the contract (SPEC.md), all built on
# the shared helpers in tests/util.c. Every test runs in its own process
# (Check's fork mode) and uses its own temporary directory.
if HAVE_CHECK
TU_SRC = tests/util.c tests/util.h
TU_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
TU_LDADD = libtdill.la $(CHECK_LIBS)

TU_CHECKS = tests/test_handles tests/test_bytestream tests/test_iolist \
	tests/test_ipc tests/test_fdpass tests/test_threads tests/test_fork \
	tests/test_scale tests/test_deadline
check_PROGRAMS += $(TU_CHECKS)
TESTS += $(TU_CHECKS)

# raw_names_off.c is compiled with TDILL_DISABLE_RAW_NAMES (it defines it).
tests_test_handles_SOURCES = tests/test_handles.c tests/raw_names_off.c \
	tests/raw_names_off.h $(TU_SRC)
tests_test_handles_CFLAGS = $(TU_CFLAGS)
tests_test_handles_LDADD = $(TU_LDADD)

tests_test_bytestream_SOURCES = tests/test_bytestream.c $(TU_SRC)
tests_test_bytestream_CFLAGS = $(TU_CFLAGS)
tests_test_bytestream_LDADD = $(TU_LDADD)

tests_test_iolist_SOURCES = tests/test_iolist.c $(TU_SRC)
tests_test_iolist_CFLAGS = $(TU_CFLAGS)
tests_test_iolist_LDADD = $(TU_LDADD)

tests_test_ipc_SOURCES = tests/test_ipc.c $(TU_SRC)
tests_test_ipc_CFLAGS = $(TU_CFLAGS)
tests_test_ipc_LDADD = $(TU_LDADD)

tests_test_fdpass_SOURCES = tests/test_fdpass.c $(TU_SRC)
tests_test_fdpass_CFLAGS = $(TU_CFLAGS)
tests_test_fdpass_LDADD = $(TU_LDADD)

tests_test_threads_SOURCES = tests/test_threads.c $(TU_SRC)
tests_test_threads_CFLAGS = $(TU_CFLAGS)
tests_test_threads_LDADD = $(TU_LDADD)

tests_test_fork_SOURCES = tests/test_fork.c $(TU_SRC)
tests_test_fork_CFLAGS = $(TU_CFLAGS)
tests_test_fork_LDADD = $(TU_LDADD)

tests_test_scale_SOURCES = tests/test_scale.c $(TU_SRC)
tests_test_scale_CFLAGS = $(TU_CFLAGS)
tests_test_scale_LDADD = $(TU_LDADD)

tests_test_deadline_SOURCES = tests/test_deadline.c $(TU_SRC)
tests_test_deadline_CFLAGS = $(TU_CFLAGS)
tests_test_deadline_LDADD = $(TU_LDADD)
endif
