#!/bin/sh
# The C unit tests under AddressSanitizer (with LeakSanitizer) and
# UndefinedBehaviorSanitizer, in a gcc build of its own. Any report fails the
# run: UBSan does not recover, ASan aborts.
#   tools/sanitize.sh [meson test args...]
set -eu
cd "$(dirname "$0")/.."
BUILD="${SANITIZE_BUILD:-$PWD/build-sanitize}"
if [ ! -f "$BUILD/build.ninja" ]; then
        CC="${CC:-gcc}" meson setup "$BUILD" . -Db_sanitize=address,undefined \
                -Dc_args=-fno-sanitize-recover=undefined -Dc_link_args=-fno-sanitize-recover=undefined \
                >/dev/null
fi
ninja -C "$BUILD" >/dev/null
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
exec meson test -C "$BUILD" --suite unit --print-errorlogs "$@"
