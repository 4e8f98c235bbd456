#!/bin/sh
# Compares the ABI of the freshly built shared libraries with the committed
# baselines, abi/<library>.abi (libabigail's abidw). Run from the build
# directory by `make check-abi` (MODE=check) and `make abi-baseline`
# (MODE=baseline); README "Versioning" gives the policy. For each library:
#
#  - no change: pass (baseline: the file is rewritten, e.g. after a
#    revision bump);
#  - an incompatible change (a symbol removed or moved to another version
#    node, a function's type or a struct's size or layout changed, ...):
#    fail. `abi-baseline` accepts it only together with a new soname
#    (-version-info current+1:0:0);
#  - only additions: pass if every added symbol is in a version node the
#    baseline does not have, and the libtool age grew with the soname kept
#    (-version-info current+1:0:age+1); otherwise fail;
#  - the soname differs from the baseline's: fail (the baseline describes
#    another ABI; refresh it with `make abi-baseline`).
#
# libtdill's tdill__* symbols are left out of the comparison
# (abi/libtdill.suppr): they serve libtdill_coro of the same release only.
# Exit status: 0 pass, 1 fail.

mode=${1:-check}
: "${srcdir:=$(dirname "$0")/..}"
me="abi/check-abi.sh"
abidir=$srcdir/abi
fail=0

# --type-id-style hash, no locations and no paths keep the committed
# baselines stable under edits that change no interface.
abidw_flags="--no-comp-dir-path --no-show-locs --drop-undefined-syms
    --no-elf-needed --type-id-style hash"

for tool in abidw abidiff readelf; do
    if ! command -v $tool >/dev/null 2>&1; then
        echo "$me: $tool is not installed (apt-get install abigail-tools binutils)"
        exit 1
    fi
done

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

problem() {
    echo "$me: $*"
    fail=1 bad=1
}

# Prints a real name's libtool numbers "major age revision":
# lib.so.M.A.R is -version-info C:R:A with M = C - A.
numbers() {
    echo "${1#*.so.}" | tr . ' '
}

# compare LIBRARY [SUPPRESSIONS]: checks .libs/LIBRARY.so against
# abi/LIBRARY.abi; in baseline mode, rewrites abi/LIBRARY.abi when the
# change is one a release may make.
compare() {
    lib=$1 suppr=${2:+--suppressions $2} bad=0
    base=$abidir/$lib.abi
    if [ ! -f ".libs/$lib.so" ]; then
        problem "no .libs/$lib.so: run make first (and configure with --enable-shared)"
        return
    fi
    real=$(basename "$(readlink -f ".libs/$lib.so")")
    if ! readelf -S ".libs/$real" | grep -q '\.debug_info'; then
        problem ".libs/$real has no debug info: configure with -g in CFLAGS (the default)"
        return
    fi
    # The source paths are made relative to the top of the tree, as an
    # in-tree build names them.
    (cd .libs && abidw $abidw_flags "$real") > "$tmp/raw.abi" || {
        problem "abidw failed on .libs/$real"
        return
    }
    sed "s|\(<abi-instr [^>]*path='\)[^']*\(src/[^']*'\)|\1\2|" \
        "$tmp/raw.abi" > "$tmp/$lib.abi"
    if [ ! -f "$base" ]; then
        if [ "$mode" = baseline ]; then
            cp "$tmp/$lib.abi" "$base" && echo "$me: $lib: new baseline $base"
        else
            problem "$lib: no baseline $base (make abi-baseline)"
        fi
        return
    fi
    base_real=$(sed -n "1s/.* path='\([^']*\)'.*/\1/p" "$base")
    set -- $(numbers "$base_real")
    base_major=$1 base_age=$2
    set -- $(numbers "$real")
    major=$1 age=$2

    abidiff --no-default-suppression $suppr "$base" "$tmp/$lib.abi" \
        > "$tmp/report" 2>&1
    rc=$?
    if [ $((rc & 3)) -ne 0 ]; then
        cat "$tmp/report"
        problem "$lib: abidiff failed (exit $rc)"
        return
    fi
    kind=same
    if [ $((rc & 12)) -ne 0 ]; then
        kind=added
        abidiff --no-default-suppression --no-added-syms $suppr \
            "$base" "$tmp/$lib.abi" > /dev/null 2>&1 || kind=incompatible
    fi

    if [ "$major" != "$base_major" ]; then
        if [ "$mode" = baseline ]; then
            [ "$kind" = same ] || cat "$tmp/report"
            cp "$tmp/$lib.abi" "$base" &&
                echo "$me: $lib: new soname ($base_real -> $real); baseline rewritten"
        else
            [ "$kind" = same ] || cat "$tmp/report"
            problem "$lib: the soname changed ($base_real -> $real) since the" \
                "baseline; record the new ABI with make abi-baseline"
        fi
        return
    fi

    case $kind in
    incompatible)
        cat "$tmp/report"
        problem "$lib: incompatible ABI change against $base_real (report" \
            "above). Undo it, or make it a new soname: -version-info" \
            "current+1:0:0 and make abi-baseline (README \"Versioning\")"
        return
        ;;
    added)
        cat "$tmp/report"
        # Each added symbol appears as name@@VERSION (or name@VERSION).
        old_nodes=" $(grep -o " version='[^']*'" "$base" |
            sed "s/.*='\(.*\)'/\1/" | sort -u | tr '\n' ' ')"
        grep '^  \[A\]' "$tmp/report" > "$tmp/added"
        while read -r line; do
            sym=$(echo "$line" | grep -o '[A-Za-z0-9_]*@@*[A-Za-z0-9_.]*' | tail -n 1)
            node=${sym##*@}
            if [ -z "$sym" ]; then
                problem "$lib: added without a version: $line"
                continue
            fi
            case $old_nodes in
            *" $node "*)
                problem "$lib: ${sym%%@*} was added to $node, a node the" \
                    "baseline already has; give it a new node in the version script" ;;
            esac
        done < "$tmp/added"
        if [ "$age" -le "$base_age" ]; then
            problem "$lib: interfaces were added but the libtool age did not" \
                "grow ($base_real -> $real): -version-info current+1:0:age+1"
        fi
        [ $bad -eq 0 ] && echo "$me: $lib: compatible additions, reflected in the version script and -version-info"
        ;;
    same)
        echo "$me: $lib: ABI unchanged since $base_real"
        ;;
    esac
    if [ "$mode" = baseline ] && [ $bad -eq 0 ]; then
        cp "$tmp/$lib.abi" "$base" && echo "$me: $lib: baseline rewritten"
    fi
}

compare libtdill "$abidir/libtdill.suppr"
if [ -f .libs/libtdill_coro.so ]; then
    compare libtdill_coro
else
    echo "$me: libtdill_coro is not built (configure --disable-coro); not checked"
fi

if [ $fail -ne 0 ]; then
    echo "$me: FAIL"
    exit 1
fi
exit 0
