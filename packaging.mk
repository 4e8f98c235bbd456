# `make check-packages` (part of check-all): builds the Debian packages
# (debian/) twice from the working tree and requires identical .debs, runs
# lintian, installs them and builds a program against them with pkg-config
# and with CMake; see .ci/packages. A tree without debian/ (a release
# tarball) skips it.
check-packages:
	@if test -x $(srcdir)/.ci/packages && test -d $(srcdir)/debian; then \
	  $(srcdir)/.ci/packages; \
	else echo "check-packages: no debian/ in this tree; skipped"; fi

.PHONY: check-packages
