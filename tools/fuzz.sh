#!/bin/sh
# libFuzzer harnesses (tests/fuzz): build the -Dfuzz=true clang build, then
#   tools/fuzz.sh [SECONDS] [harness...]   fuzz each harness for SECONDS
#                                          (default 300), one after another
#   tools/fuzz.sh --regress [harness...]   run each over its committed corpus
#                                          only (fast; for CI)
# Harness names: reference auth_header manifest sif config layers recipe
# elf_deps ld_cache image_path sh_subset.
# New inputs go to a scratch dir ($FUZZ_WORK, default /tmp/sing-fuzz), never
# into the repo; crashes are saved there as crash-* files. One line per
# harness; exit status 1 when any harness found a crash.
set -eu
cd "$(dirname "$0")/.."
SRC=$(pwd)
BUILD="${FUZZ_BUILD:-$PWD/build-fuzz}"
WORK="${FUZZ_WORK:-/tmp/sing-fuzz}"
ALL="reference auth_header manifest sif config layers recipe elf_deps ld_cache image_path sh_subset"

regress=0
seconds=300
if [ "${1:-}" = "--regress" ]; then
        regress=1
        shift
elif [ -n "${1:-}" ] && [ "$1" -eq "$1" ] 2>/dev/null; then
        seconds=$1
        shift
fi
[ $# -gt 0 ] && harnesses="$*" || harnesses=$ALL

if [ ! -f "$BUILD/build.ninja" ]; then
        CC=clang meson setup "$BUILD" "$SRC" -Dfuzz=true >/dev/null
fi
# Quiet when it builds; the compiler's messages when it does not.
ninja -C "$BUILD" >"$BUILD/ninja.out" 2>&1 || {
	cat "$BUILD/ninja.out"
	exit 1
}

# Leaks are bugs too; small inputs keep a run fast; UBSan stops at the first.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

failed=0
for h in $harnesses; do
        bin="$BUILD/tests/fuzz/fuzz_$h"
        corpus="$SRC/tests/fuzz/corpus/$h"
        if [ ! -x "$bin" ] || [ ! -d "$corpus" ]; then
                echo "$h: no such harness or corpus" >&2
                failed=1
                continue
        fi
        dict=""
        [ -f "$SRC/tests/fuzz/$h.dict" ] && dict="-dict=$SRC/tests/fuzz/$h.dict"
        mkdir -p "$WORK/$h/corpus" "$WORK/$h/artifacts"
        log="$WORK/$h/log"
        if [ $regress = 1 ]; then
                # Every committed input once: no mutation, no new files.
                set +e
                "$bin" -runs=0 -artifact_prefix="$WORK/$h/artifacts/" "$corpus" >"$log" 2>&1
                rc=$?
                set -e
                n=$(ls "$corpus" | wc -l)
                if [ $rc = 0 ]; then
                        echo "$h: ok ($n inputs)"
                else
                        echo "$h: FAILED on the committed corpus (see $log)"
                        failed=1
                fi
                continue
        fi
        # The scratch corpus comes first: libFuzzer writes new inputs there;
        # the committed one is only read.
        set +e
        "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
                -artifact_prefix="$WORK/$h/artifacts/" $dict \
                "$WORK/$h/corpus" "$corpus" >"$log" 2>&1
        rc=$?
        set -e
        execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
        cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
        if [ $rc = 0 ]; then
                echo "$h: ok, ${execs:-?} execs in ${seconds}s, ${cov:-cov: ?}"
        else
                art=$(ls "$WORK/$h/artifacts" 2>/dev/null | head -1)
                echo "$h: FINDING (exit $rc) after ${execs:-?} execs: $WORK/$h/artifacts/$art (log $log)"
                failed=1
        fi
done
exit $failed
