# The libraries' binary interface: what they export, checked by `make
# check` against the version scripts. README "Versioning" says what
# changes need what.
TESTS += abi/exports.sh
EXTRA_DIST += abi/exports.sh
