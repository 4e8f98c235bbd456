# Example programs (built by `make`, not installed) and `make demo`.
# They use only the public header and link against the library like any
# other program would.
noinst_PROGRAMS += examples/echo_server examples/echo_client examples/fdpass \
	examples/chan_pool

examples_echo_server_SOURCES = examples/echo_server.c
examples_echo_server_LDADD = libtdill.la
examples_echo_client_SOURCES = examples/echo_client.c
examples_echo_client_LDADD = libtdill.la
examples_fdpass_SOURCES = examples/fdpass.c
examples_fdpass_LDADD = libtdill.la
examples_chan_pool_SOURCES = examples/chan_pool.c
examples_chan_pool_LDADD = libtdill.la

# A porting example (see examples/legacy/README.md): a classic blocking
# thread-per-client server, and the same program converted to tdill. The
# first uses plain sockets and links nothing extra.
noinst_PROGRAMS += examples/legacy/blocking_server examples/legacy/tdill_server
examples_legacy_blocking_server_SOURCES = examples/legacy/blocking_server.c
examples_legacy_tdill_server_SOURCES = examples/legacy/tdill_server.c
examples_legacy_tdill_server_LDADD = libtdill.la

EXTRA_DIST += examples/demo.sh examples/legacy/README.md

# Runs the echo server, the echo client against it, fdpass and chan_pool;
# prints a summary and fails unless all of them worked.
.PHONY: demo
demo: examples/echo_server examples/echo_client examples/fdpass \
	examples/chan_pool
	$(SHELL) $(srcdir)/examples/demo.sh $(builddir)/examples
