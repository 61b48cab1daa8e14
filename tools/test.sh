#!/bin/sh
# The whole test suite, as root on Debian 12, from a checkout anywhere:
# dependencies, build, C unit tests (meson test --suite unit), install into
# a prefix under /tmp with the starter setuid root, then the integration
# tests (meson test --suite integration: pytest), which run every
# user-facing case as a normal user.
#   tools/test.sh [pytest args...]
set -eu
cd "$(dirname "$0")/.."
tools/deps.sh --test
PREFIX="${SING_PREFIX:-/tmp/sing-prefix}"
export SING_PREFIX="$PREFIX"
rm -rf build-test
meson setup build-test --prefix="$PREFIX" --sysconfdir="$PREFIX/etc" >/dev/null
ninja -C build-test
meson test -C build-test --suite unit --print-errorlogs
# The same unit tests under ASan + UBSan, every fuzz harness over its
# committed corpus, and the static checks (clang-tidy, cppcheck, format).
tools/sanitize.sh
tools/fuzz.sh --regress
tools/lint.sh
# /tmp is root-owned and sticky, so a root-owned prefix below it is one the
# starter accepts and every user can reach.
rm -rf "$PREFIX"
meson install -C build-test --quiet
chmod 755 "$PREFIX"
# The benchmark in smoke mode (tiny image, one run): it keeps working.
# Timings are printed, never asserted.
bench/run.sh --smoke
# The unprivileged tools' integration tests under ASan + UBSan.
tools/sanitize-integration.sh
# The integration suite, through meson test (tests/integration/meson.build);
# this script's arguments go to pytest, each one quoted.
args=""
for a in "$@"; do
	args="$args '$(printf %s "$a" | sed "s/'/'\\\\''/g")'"
done
exec meson test -C build-test --suite integration --verbose --test-args "$args"
