# Check suites: one program per area of the contract (SPEC.md), all built on
# the shared helpers in tests/util.c. Every test runs in its own process
# (Check's fork mode) and uses its own temporary directory.
if HAVE_CHECK
TU_SRC = tests/util.c tests/util.h tests/fdcount.c tests/fdcount.h
TU_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
TU_LDADD = libtdill.la $(CHECK_LIBS)

TU_CHECKS = tests/test_handles tests/test_bytestream tests/test_iolist \
	tests/test_fdwait \
	tests/test_listen_connect tests/test_addresses tests/test_mem \
	tests/test_fromfd tests/test_close tests/test_mode_peercred \
	tests/test_resources tests/test_fdpass tests/test_threads \
	tests/test_fork tests/test_scale tests/test_deadline tests/test_chan \
	tests/test_choose tests/test_chan_threads tests/test_chan_stress \
	tests/test_msg
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

tests_test_listen_connect_SOURCES = tests/test_listen_connect.c $(TU_SRC)
tests_test_listen_connect_CFLAGS = $(TU_CFLAGS)
tests_test_listen_connect_LDADD = $(TU_LDADD)

tests_test_addresses_SOURCES = tests/test_addresses.c $(TU_SRC)
tests_test_addresses_CFLAGS = $(TU_CFLAGS)
tests_test_addresses_LDADD = $(TU_LDADD)

tests_test_mem_SOURCES = tests/test_mem.c $(TU_SRC)
tests_test_mem_CFLAGS = $(TU_CFLAGS)
tests_test_mem_LDADD = $(TU_LDADD)

tests_test_fromfd_SOURCES = tests/test_fromfd.c $(TU_SRC)
tests_test_fromfd_CFLAGS = $(TU_CFLAGS)
tests_test_fromfd_LDADD = $(TU_LDADD)

tests_test_close_SOURCES = tests/test_close.c $(TU_SRC)
tests_test_close_CFLAGS = $(TU_CFLAGS)
tests_test_close_LDADD = $(TU_LDADD)

tests_test_mode_peercred_SOURCES = tests/test_mode_peercred.c $(TU_SRC)
tests_test_mode_peercred_CFLAGS = $(TU_CFLAGS)
tests_test_mode_peercred_LDADD = $(TU_LDADD)

tests_test_resources_SOURCES = tests/test_resources.c $(TU_SRC)
tests_test_resources_CFLAGS = $(TU_CFLAGS)
tests_test_resources_LDADD = $(TU_LDADD)

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

# The channel suites (test_chan, test_choose, test_chan_threads) share
# tests/chan_util.c.
CT_SRC = tests/chan_util.c tests/chan_util.h $(TU_SRC)

tests_test_chan_SOURCES = tests/test_chan.c $(CT_SRC)
tests_test_chan_CFLAGS = $(TU_CFLAGS)
tests_test_chan_LDADD = $(TU_LDADD)

tests_test_choose_SOURCES = tests/test_choose.c $(CT_SRC)
tests_test_choose_CFLAGS = $(TU_CFLAGS)
tests_test_choose_LDADD = $(TU_LDADD)

tests_test_chan_threads_SOURCES = tests/test_chan_threads.c $(CT_SRC)
tests_test_chan_threads_CFLAGS = $(TU_CFLAGS)
tests_test_chan_threads_LDADD = $(TU_LDADD)

tests_test_chan_stress_SOURCES = tests/test_chan_stress.c $(TU_SRC)
tests_test_chan_stress_CFLAGS = $(TU_CFLAGS)
tests_test_chan_stress_LDADD = $(TU_LDADD)

tests_test_fdwait_SOURCES = tests/test_fdwait.c $(TU_SRC)
tests_test_fdwait_CFLAGS = $(TU_CFLAGS)
tests_test_fdwait_LDADD = $(TU_LDADD)

tests_test_msg_SOURCES = tests/test_msg.c $(TU_SRC)
tests_test_msg_CFLAGS = $(TU_CFLAGS)
tests_test_msg_LDADD = $(TU_LDADD)
endif
