# Man pages: hand-written mdoc(7) sources, installed as they are.
# The tdill_*.3 pages hold the text; every other name (the libdill name of
# each function, and functions that share a page) is a one-line ".so"
# alias, so that "man ipc_connect" and "man tdill_ipc_connect" both work.
# man/lint.sh checks all of it during "make check".

man_pages3 = \
	man/tdill_brecv.3 \
	man/tdill_bsend.3 \
	man/tdill_chdone.3 \
	man/tdill_fdin.3 \
	man/tdill_fdclean.3 \
	man/tdill_chmake.3 \
	man/tdill_choose.3 \
	man/tdill_chrecv.3 \
	man/tdill_chsend.3 \
	man/tdill_hclose.3 \
	man/tdill_ipc_accept.3 \
	man/tdill_ipc_close.3 \
	man/tdill_ipc_connect.3 \
	man/tdill_ipc_done.3 \
	man/tdill_ipc_fromfd.3 \
	man/tdill_ipc_listen.3 \
	man/tdill_ipc_listen_mode.3 \
	man/tdill_ipc_listener_fromfd.3 \
	man/tdill_ipc_pair.3 \
	man/tdill_ipc_peercred.3 \
	man/tdill_ipc_recvfd.3 \
	man/tdill_ipc_sendfd.3 \
	man/tdill_now.3 \
	man/tdill_hown.3 \
	man/tdill_mrecv.3 \
	man/tdill_msend.3 \
	man/tdill_prefix_attach.3 \
	man/tdill_prefix_detach.3 \
	man/tdill_suffix_attach.3 \
	man/tdill_suffix_detach.3

man_aliases3 = \
	man/brecv.3 \
	man/brecvl.3 \
	man/bsend.3 \
	man/bsendl.3 \
	man/chdone.3 \
	man/fdin.3 \
	man/fdout.3 \
	man/tdill_fdout.3 \
	man/fdclean.3 \
	man/chmake.3 \
	man/chmake_mem.3 \
	man/choose.3 \
	man/chrecv.3 \
	man/chsend.3 \
	man/hclose.3 \
	man/ipc_accept.3 \
	man/ipc_accept_mem.3 \
	man/ipc_close.3 \
	man/ipc_connect.3 \
	man/ipc_connect_mem.3 \
	man/ipc_done.3 \
	man/ipc_fromfd.3 \
	man/ipc_fromfd_mem.3 \
	man/ipc_listen.3 \
	man/ipc_listen_mem.3 \
	man/ipc_listen_mode.3 \
	man/ipc_listener_fromfd.3 \
	man/ipc_listener_fromfd_mem.3 \
	man/ipc_pair.3 \
	man/ipc_pair_mem.3 \
	man/ipc_peercred.3 \
	man/ipc_recvfd.3 \
	man/ipc_sendfd.3 \
	man/now.3 \
	man/tdill_brecvl.3 \
	man/tdill_bsendl.3 \
	man/tdill_chmake_mem.3 \
	man/tdill_ipc_accept_mem.3 \
	man/tdill_ipc_connect_mem.3 \
	man/tdill_ipc_fromfd_mem.3 \
	man/tdill_ipc_listen_mem.3 \
	man/tdill_ipc_listener_fromfd_mem.3 \
	man/tdill_ipc_pair_mem.3 \
	man/hown.3 \
	man/mrecv.3 \
	man/mrecvl.3 \
	man/msend.3 \
	man/msendl.3 \
	man/prefix_attach.3 \
	man/prefix_attach_mem.3 \
	man/prefix_detach.3 \
	man/suffix_attach.3 \
	man/suffix_attach_mem.3 \
	man/suffix_detach.3 \
	man/tdill_mrecvl.3 \
	man/tdill_msendl.3 \
	man/tdill_prefix_attach_mem.3 \
	man/tdill_suffix_attach_mem.3

dist_man3_MANS = $(man_pages3) $(man_aliases3)
dist_man7_MANS = man/tdill.7

# The coroutine front-end's pages, installed with libtdill_coro.
coro_man_pages3 = \
	man/tdill_bundle.3 \
	man/tdill_go.3 \
	man/tdill_msleep.3 \
	man/tdill_yield.3

coro_man_aliases3 = \
	man/bundle.3 \
	man/bundle_go.3 \
	man/bundle_go_mem.3 \
	man/bundle_mem.3 \
	man/bundle_wait.3 \
	man/coroutine.3 \
	man/go.3 \
	man/go_mem.3 \
	man/msleep.3 \
	man/yield.3 \
	man/tdill_bundle_go.3 \
	man/tdill_bundle_go_mem.3 \
	man/tdill_bundle_mem.3 \
	man/tdill_bundle_wait.3 \
	man/tdill_coroutine.3 \
	man/tdill_go_mem.3

coro_man_pages7 = man/tdill_coro.7

# NB: a dist_ variable set under a condition is distributed only in that
# condition, so EXTRA_DIST carries the pages into every tarball, also one
# made after configure --disable-coro.
if ENABLE_CORO
dist_man3_MANS += $(coro_man_pages3) $(coro_man_aliases3)
dist_man7_MANS += $(coro_man_pages7)
endif
EXTRA_DIST += $(coro_man_pages3) $(coro_man_aliases3) $(coro_man_pages7)

TESTS += man/lint.sh
EXTRA_DIST += man/lint.sh
