# The libraries' binary interface: what they export (checked by `make
# check`) and their ABI against the committed baselines (`make check-abi`,
# part of check-all). README "Versioning" says what changes need what.
TESTS += abi/exports.sh
EXTRA_DIST += abi/exports.sh abi/map.awk abi/check-abi.sh abi/libtdill.suppr \
	abi/libtdill.abi abi/libtdill_coro.abi

# `make check-abi`: abidiff of the built libraries against abi/*.abi; fails
# on an incompatible change, and on additions that the version scripts and
# -version-info do not reflect. `make abi-baseline` (at a release) rewrites
# abi/*.abi from the built libraries, refusing what check-abi refuses
# unless the soname changed.
check-abi: all
	@srcdir=$(srcdir) $(SHELL) $(srcdir)/abi/check-abi.sh check

abi-baseline: all
	@srcdir=$(srcdir) $(SHELL) $(srcdir)/abi/check-abi.sh baseline

.PHONY: check-abi abi-baseline
