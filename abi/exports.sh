#!/bin/sh
# Checks what each shared library exports; run by "make check" (TESTS in
# abi/abi.mk). For libtdill and libtdill_coro:
#
#  - every symbol the library defines and exports carries a version, and
#    the version is the node its version script puts it in;
#  - the exports are exactly the names the version script lists, and all of
#    them start with tdill_;
#  - every function the public header marks TDILL_EXPORT is in the script.
#
# Runs in the build directory; the scripts and headers are found through
# $srcdir (set by automake's test driver), so a VPATH build works too.
# Builds without shared libraries (configure --disable-shared, as the
# sanitizer builds are) have nothing to check: skipped. So is libtdill_coro
# after configure --disable-coro. gcov's own symbols (--coverage) are not
# ours and are ignored. Exit status: 0 pass, 1 fail, 77 skip.

: "${srcdir:=$(dirname "$0")/..}"
me=abi/exports.sh
fail=0
checked=0

if ! command -v readelf >/dev/null 2>&1; then
    echo "$me: SKIP: readelf is not installed (binutils)"
    exit 77
fi

problem() {
    echo "$me: $*"
    fail=1
}

# Prints "name version" for each name a version script lists, sorted.
script_names() {
    awk -f "$srcdir/abi/map.awk" "$1" | LC_ALL=C sort
}

# Prints "name version" for each symbol a shared library defines and
# exports, sorted; an unversioned one has the version "-".
# The version definitions themselves (absolute symbols named after each
# node) are left out.
library_names() {
    nodes=$(readelf -W -V "$1" | sed -n '/\.gnu\.version_d/,/^$/p' |
        sed -n 's/.*Flags: none .*Name: //p' | tr '\n' ' ')
    readelf -W --dyn-syms "$1" | awk -v nodes=" $nodes" '
        $1 ~ /^[0-9]+:$/ && $7 != "UND" && ($5 == "GLOBAL" || $5 == "WEAK" || $5 == "UNIQUE") {
            n = $8; v = "-"
            if ((i = index(n, "@")) > 0) {
                v = substr(n, i + 1); sub(/^@/, "", v); n = substr(n, 1, i - 1)
            }
            if (n == v || n ~ /^__gcov_/) next
            if ($7 == "ABS" && v == "-" && index(nodes, " " n " ")) next
            print n, v }' | LC_ALL=C sort
}

# Prints the names the header declares TDILL_EXPORT, sorted.
header_names() {
    grep -v '^[[:space:]]*#' "$1" | tr '\n' ' ' |
        grep -o 'TDILL_EXPORT[^;{(]*(' |
        sed -e 's/[[:space:]]*($//' -e 's/.*[^A-Za-z0-9_]//' | LC_ALL=C sort -u
}

check_library() {
    lib=$1 map=$2 header=$3
    if [ ! -f "$map" ] || [ ! -f "$header" ]; then
        problem "cannot find $map or $header under srcdir=$srcdir"
        return
    fi
    checked=$((checked + 1))
    script_names "$map" > "$tmp/want"
    library_names "$lib" > "$tmp/have"
    if [ ! -s "$tmp/want" ]; then
        problem "${map#$srcdir/} lists no symbols"
        return
    fi

    for n in $(awk '$2 == "-" { print $1 }' "$tmp/have"); do
        problem "$lib exports $n without a version"
    done
    extra=$(awk '$2 != "-"' "$tmp/have" | comm -23 - "$tmp/want")
    [ -z "$extra" ] ||
        problem "$lib exports, under these versions, what ${map#$srcdir/}" \
            "does not list:" $extra
    missing=$(comm -23 "$tmp/want" "$tmp/have")
    [ -z "$missing" ] ||
        problem "${map#$srcdir/} lists what $lib does not export under" \
            "that version:" $missing

    for n in $(cut -d' ' -f1 "$tmp/want"); do
        case $n in
        tdill_*) ;;
        *) problem "${map#$srcdir/}: $n does not start with tdill_" ;;
        esac
    done
    for n in $(header_names "$header"); do
        grep -q "^$n " "$tmp/want" ||
            problem "${header#$srcdir/} exports $n but ${map#$srcdir/} does not list it"
    done
    echo "$me: $lib: $(wc -l < "$tmp/have") symbols"
}

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

if [ ! -f .libs/libtdill.so ]; then
    echo "$me: SKIP: no shared libtdill in .libs (configure --disable-shared)"
    exit 77
fi
check_library .libs/libtdill.so "$srcdir/src/libtdill.map" \
    "$srcdir/include/tdill.h"
if [ -f .libs/libtdill_coro.so ]; then
    check_library .libs/libtdill_coro.so "$srcdir/src/coro/libtdill_coro.map" \
        "$srcdir/include/tdill_coro.h"
fi

if [ $fail -ne 0 ]; then
    echo "$me: FAIL"
    exit 1
fi
echo "$me: PASS: $checked libraries export exactly their version scripts"
exit 0
