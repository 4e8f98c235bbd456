# Check suites, one program per area; util.c holds the shared helpers.
if HAVE_CHECK
TU_SRC = tests/util.c tests/util.h
TU_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
TU_LDADD = libtdill.la $(CHECK_LIBS)

check_PROGRAMS += tests/test_handles
TESTS += tests/test_handles
tests_test_handles_SOURCES = tests/test_handles.c tests/raw_names_off.c \
	tests/raw_names_off.h $(TU_SRC)
tests_test_handles_CFLAGS = $(TU_CFLAGS)
tests_test_handles_LDADD = $(TU_LDADD)

check_PROGRAMS += tests/test_bytestream
TESTS += tests/test_bytestream
tests_test_bytestream_SOURCES = tests/test_bytestream.c $(TU_SRC)
tests_test_bytestream_CFLAGS = $(TU_CFLAGS)
tests_test_bytestream_LDADD = $(TU_LDADD)

check_PROGRAMS += tests/test_iolist
TESTS += tests/test_iolist
tests_test_iolist_SOURCES = tests/test_iolist.c $(TU_SRC)
tests_test_iolist_CFLAGS = $(TU_CFLAGS)
tests_test_iolist_LDADD = $(TU_LDADD)

check_PROGRAMS += tests/test_ipc
TESTS += tests/test_ipc
tests_test_ipc_SOURCES = tests/test_ipc.c $(TU_SRC)
tests_test_ipc_CFLAGS = $(TU_CFLAGS)
tests_test_ipc_LDADD = $(TU_LDADD)
endif

if HAVE_CHECK
check_PROGRAMS += tests/test_fdpass
TESTS += tests/test_fdpass
tests_test_fdpass_SOURCES = tests/test_fdpass.c $(TU_SRC)
tests_test_fdpass_CFLAGS = $(TU_CFLAGS)
tests_test_fdpass_LDADD = $(TU_LDADD)
endif

if HAVE_CHECK
check_PROGRAMS += tests/test_threads
TESTS += tests/test_threads
tests_test_threads_SOURCES = tests/test_threads.c $(TU_SRC)
tests_test_threads_CFLAGS = $(TU_CFLAGS)
tests_test_threads_LDADD = $(TU_LDADD)
endif

if HAVE_CHECK
check_PROGRAMS += tests/test_fork
TESTS += tests/test_fork
tests_test_fork_SOURCES = tests/test_fork.c $(TU_SRC)
tests_test_fork_CFLAGS = $(TU_CFLAGS)
tests_test_fork_LDADD = $(TU_LDADD)
endif

if HAVE_CHECK
check_PROGRAMS += tests/test_scale
TESTS += tests/test_scale
tests_test_scale_SOURCES = tests/test_scale.c $(TU_SRC)
tests_test_scale_CFLAGS = $(TU_CFLAGS)
tests_test_scale_LDADD = $(TU_LDADD)

check_PROGRAMS += tests/test_deadline
TESTS += tests/test_deadline
tests_test_deadline_SOURCES = tests/test_deadline.c $(TU_SRC)
tests_test_deadline_CFLAGS = $(TU_CFLAGS)
tests_test_deadline_LDADD = $(TU_LDADD)
endif
