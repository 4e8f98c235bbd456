#!/bin/sh
# Builds the API fuzzer (fuzz/fuzz_api.c) against the library's sources and
# runs it for a bounded time.
#
#   fuzz/run.sh [SECONDS]      (default: $FUZZ_SECONDS, else 60)
#
# Needs clang with libFuzzer (-fsanitize=fuzzer). The build and the corpus
# the run grows go to fuzz/build/ (FUZZ_BUILD to change); fuzz/corpus/ holds
# the seeds and is only read. Extra libFuzzer options: FUZZ_FLAGS.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
secs=${1:-${FUZZ_SECONDS:-60}}
build=${FUZZ_BUILD:-$here/build}
cc=${FUZZ_CC:-clang}

mkdir -p "$build/corpus"
echo "fuzz: building $build/fuzz_api"
# The library's own sources, not an installed library: the sanitizers and
# the coverage instrumentation must see its code. src/coro is not part of
# the core.
$cc -g -O1 -fno-omit-frame-pointer \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -I "$top/include" -I "$top/tests" -D_GNU_SOURCE -pthread \
    "$here/fuzz_api.c" "$top/tests/fdcount.c" "$top"/src/*.c \
    -o "$build/fuzz_api"

echo "fuzz: running for $secs s"
log="$build/fuzz.log"
set +e
ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:${ASAN_OPTIONS:-}" \
UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:${UBSAN_OPTIONS:-}" \
"$build/fuzz_api" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -print_funcs=0 -artifact_prefix="$build/" \
    ${FUZZ_FLAGS:-} "$build/corpus" "$here/corpus" >"$log" 2>&1
rc=$?
set -e
# The last status line has the coverage: "cov:" edges, "ft:" features.
grep -E '^#[0-9]+' "$log" | tail -n 1
grep -E '^(stat::|Done|SUMMARY|==[0-9]+==ERROR|fuzz_api:)' "$log" || true
echo "fuzz: corpus $(ls "$build/corpus" | wc -l) files in $build/corpus," \
     "log in $log"
if [ $rc -ne 0 ]; then
    echo "fuzz: FAILED (exit $rc); see $log and the crash-* file in $build"
    tail -n 40 "$log"
fi
exit $rc
