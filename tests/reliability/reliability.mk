# Reliability tests (tests/reliability/): fault injection and a stress test,
# part of `make check`; and the API fuzzer (fuzz/), run only by `make fuzz`.
if HAVE_CHECK
REL_SRC = tests/reliability/rel.c tests/reliability/rel.h $(TU_SRC)

REL_CHECKS = tests/reliability/test_stress tests/reliability/test_peers tests/reliability/test_hostile \
	tests/reliability/test_nofile tests/reliability/test_nomem
check_PROGRAMS += $(REL_CHECKS)
TESTS += $(REL_CHECKS)

tests_reliability_test_stress_SOURCES = tests/reliability/test_stress.c \
	tests/reliability/stress.h tests/reliability/stress_frames.c \
	tests/reliability/stress_conns.c tests/reliability/stress_xfer.c \
	tests/reliability/stress_ops.c $(REL_SRC)
tests_reliability_test_stress_CFLAGS = $(TU_CFLAGS)
tests_reliability_test_stress_LDADD = $(TU_LDADD)

tests_reliability_test_peers_SOURCES = tests/reliability/test_peers.c \
	$(REL_SRC)
tests_reliability_test_peers_CFLAGS = $(TU_CFLAGS)
tests_reliability_test_peers_LDADD = $(TU_LDADD)

tests_reliability_test_hostile_SOURCES = tests/reliability/test_hostile.c \
	$(REL_SRC)
tests_reliability_test_hostile_CFLAGS = $(TU_CFLAGS)
tests_reliability_test_hostile_LDADD = $(TU_LDADD)

tests_reliability_test_nofile_SOURCES = tests/reliability/test_nofile.c \
	$(REL_SRC)
tests_reliability_test_nofile_CFLAGS = $(TU_CFLAGS)
tests_reliability_test_nofile_LDADD = $(TU_LDADD)

# failmalloc.c replaces malloc and friends for the whole program. It is
# built without the sanitizers: their runtimes call malloc before they are
# initialized, and an instrumented malloc would crash there.
check_LIBRARIES = tests/reliability/libfailmalloc.a
tests_reliability_libfailmalloc_a_SOURCES = tests/reliability/failmalloc.c \
	tests/reliability/failmalloc.h
tests_reliability_libfailmalloc_a_CFLAGS = -Wall -Wextra -pthread -g
tests_reliability_test_nomem_SOURCES = tests/reliability/test_nomem.c \
	$(REL_SRC)
tests_reliability_test_nomem_CFLAGS = $(TU_CFLAGS)
tests_reliability_test_nomem_LDADD = tests/reliability/libfailmalloc.a \
	$(TU_LDADD)
endif

# `make fuzz [FUZZ_SECONDS=60]`: builds the API fuzzer (fuzz/fuzz_api.c) with
# clang's libFuzzer against the library's sources and runs it for that long
# (fuzz/run.sh); its build and grown corpus go to fuzz/build (`make
# clean-fuzz` removes them). Not part of `make check`.
FUZZ_SECONDS = 60
EXTRA_DIST += fuzz/fuzz_api.c fuzz/run.sh fuzz/make_corpus.py \
	fuzz/corpus/listen_connect_accept_fd fuzz/corpus/looped_list \
	fuzz/corpus/odd_paths fuzz/corpus/pair_send_recv \
	fuzz/corpus/raw_peer_fds fuzz/corpus/stale_handle
fuzz:
	FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_BUILD=$(abs_top_builddir)/fuzz/build \
	  $(SHELL) $(top_srcdir)/fuzz/run.sh
clean-fuzz:
	rm -rf $(abs_top_builddir)/fuzz/build
.PHONY: fuzz clean-fuzz
