#!/bin/sh
# Checks tdill's man pages; run by "make check" (TESTS in man/man.mk).
#
#  - every real page passes "mandoc -T lint -W warning" without a message;
#  - every alias page is a single ".so man3/PAGE" line naming a real page;
#  - every page in man/ is installed (listed in man/man.mk);
#  - every public function in include/tdill.h has a page under its tdill_
#    name and under its plain libdill name.
#
# Pages are found through $srcdir (set by automake's test driver), so this
# works from a VPATH build such as "make distcheck". Exit status: 0 pass,
# 1 fail, 77 skip (mandoc is not installed).

: "${srcdir:=$(dirname "$0")/..}"
mandir=$srcdir/man
header=$srcdir/include/tdill.h
me=man/lint.sh

if ! command -v mandoc >/dev/null 2>&1; then
    echo "$me: SKIP: mandoc is not installed (apt-get install mandoc)"
    exit 77
fi
if [ ! -f "$mandir/man.mk" ] || [ ! -f "$header" ]; then
    echo "$me: FAIL: cannot find the sources under srcdir=$srcdir"
    exit 1
fi

fail=0
npages=0
naliases=0
nfuncs=0

problem() {
    echo "$me: $*"
    fail=1
}

for page in "$mandir"/*.[37]; do
    name=${page##*/}
    if ! grep -q "man/$name\([[:space:]]\|\$\)" "$mandir/man.mk"; then
        problem "$name is not listed in man/man.mk, so it is not installed"
    fi
    first=$(sed -n 1p "$page")
    case $first in
    .so\ *)
        naliases=$((naliases + 1))
        if [ "$(wc -l < "$page")" -ne 1 ]; then
            problem "$name: an alias page must be one .so line"
        fi
        target=${first#.so }
        case $target in
        man3/*.3 | man7/*.7) ;;
        *) problem "$name: .so target '$target' is not man3/PAGE.3" ;;
        esac
        tfile=$mandir/${target##*/}
        if [ ! -f "$tfile" ]; then
            problem "$name: .so target '$target' does not exist"
        elif sed -n 1p "$tfile" | grep -q '^\.so '; then
            problem "$name: .so target '$target' is itself an alias"
        fi
        ;;
    *)
        npages=$((npages + 1))
        out=$(mandoc -T lint -W warning "$page" 2>&1)
        rc=$?
        if [ -n "$out" ] || [ $rc -ne 0 ]; then
            echo "$out"
            problem "$name: mandoc -T lint -W warning reported problems (exit $rc)"
        fi
        ;;
    esac
done

funcs=$(grep -o 'tdill_[a-z_]*(' "$header" | sed 's/($//' | sort -u)
for f in $funcs; do
    nfuncs=$((nfuncs + 1))
    plain=${f#tdill_}
    for n in "$f" "$plain"; do
        if [ ! -f "$mandir/$n.3" ]; then
            problem "no page for $n (declared in include/tdill.h)"
        fi
    done
    if ! grep -q "^#define $plain $f\$" "$header"; then
        problem "include/tdill.h has no plain-name macro for $f"
    fi
done

if [ $fail -ne 0 ]; then
    echo "$me: FAIL"
    exit 1
fi
echo "$me: PASS: $npages pages lint-clean (mandoc -T lint -W warning)," \
    "$naliases aliases resolve, $nfuncs functions documented under both names"
exit 0
