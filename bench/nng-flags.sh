#!/bin/sh
# Finds nng for the benchmark, at build time, without configure.
# Usage: nng-flags.sh CC
# Prints two lines: the compiler flags, then the linker flags. Both are
# empty when nng (libnng-dev) is not installed; the benchmark then builds
# without its nng backend and says so when it runs.
cc=${1:-cc}
if pkg-config --exists nng 2>/dev/null; then
    echo "-DHAVE_NNG `pkg-config --cflags nng`"
    pkg-config --libs nng
    exit 0
fi
# Debian's libnng-dev ships no nng.pc: try to build and link a program.
tmp=${TMPDIR:-/tmp}/tdill-nng-check.$$
trap 'rm -f "$tmp.c" "$tmp"' EXIT INT TERM
printf '#include <nng/nng.h>\nint main(void) { return !nng_version(); }\n' \
    >"$tmp.c"
if $cc "$tmp.c" -o "$tmp" -lnng -pthread >/dev/null 2>&1; then
    echo "-DHAVE_NNG"
    echo "-lnng"
else
    echo
    echo
fi
