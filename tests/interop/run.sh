#!/bin/sh
# Wire interoperability of tdill's message sockets with libdill's: a tdill
# process sends messages to a libdill process, which echoes them back, for
# prefixes of every length in both byte orders and for suffixes of several
# lengths. Needs a libdill install (libdill is not in Debian; build it from
# its source outside this tree):
#     make check-interop LIBDILL_PREFIX=/path/to/libdill/install
# Arguments: LIBDILL_PREFIX TOP_SRCDIR TOP_BUILDDIR.
set -e
prefix=$1 src=$2 build=$3
if [ -z "$prefix" ]; then
    echo "check-interop: skipped: no libdill (make check-interop LIBDILL_PREFIX=...)"
    exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cc=${CC:-cc}
$cc -O1 -o "$work/echo" "$src/tests/interop/libdill_echo.c" \
    -I"$prefix/include" -L"$prefix/lib" -Wl,-rpath,"$prefix/lib" -ldill
$cc -O1 -o "$work/tdill" "$src/tests/interop/tdill_side.c" \
    -I"$src/include" -L"$build/.libs" -Wl,-rpath,"$build/.libs" -ltdill
n=0
for proto in "prefix 1" "prefix 2" "prefix 3" "prefix 4" "prefix 8" \
             "prefix -1" "prefix -2" "prefix -4" "prefix -8" \
             "suffix |" "suffix END" "suffix 0123456789abcdefghijklmnopqrstuv"; do
    set -- $proto
    "$work/tdill" "$work/echo" "$work/sock" "$1" "$2" 200 || {
        echo "check-interop: FAIL: $proto"
        exit 1
    }
    n=$((n + 1))
done
echo "check-interop: PASS: $n protocols, 200 messages each way with libdill"
