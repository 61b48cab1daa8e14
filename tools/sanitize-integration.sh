#!/bin/sh
# The integration tests of the unprivileged tools (pull, auth, build,
# inspect, the CLI and run's frontend) against an AddressSanitizer +
# UndefinedBehaviorSanitizer build: a memory error, undefined behaviour or a
# leak at exit changes the exit status, and the tests see it.
# The setuid starter is installed uninstrumented (ASan's runtime is not made
# for setuid programs); it is covered by the unit tests under ASan
# (tools/sanitize.sh), the fuzzers and the adversarial tests.
#   tools/sanitize-integration.sh [pytest args...]
set -eu
cd "$(dirname "$0")/.."
BUILD="$PWD/build-asan-install"
PREFIX="${ASAN_PREFIX:-/tmp/sing-prefix-asan}"
if [ ! -f "$BUILD/build.ninja" ]; then
	meson setup "$BUILD" . --prefix="$PREFIX" --sysconfdir="$PREFIX/etc" \
		-Db_sanitize=address,undefined -Db_lundef=false \
		-Dc_args=-fno-sanitize-recover=undefined \
		-Dc_link_args=-fno-sanitize-recover=undefined >/dev/null
fi
# The uninstrumented starter, built for the same prefix (its config path
# and session directory are compiled in).
if [ ! -f "$BUILD-starter/build.ninja" ]; then
	meson setup "$BUILD-starter" . --prefix="$PREFIX" --sysconfdir="$PREFIX/etc" >/dev/null
fi
ninja -C "$BUILD" >/dev/null
ninja -C "$BUILD-starter" starter/starter >/dev/null
rm -rf "$PREFIX"
meson install -C "$BUILD" --quiet >/dev/null
install -o root -g root -m 4755 "$BUILD-starter/starter/starter" \
	"$PREFIX/libexec/singularity/starter"
chmod 755 "$PREFIX"
SING_PREFIX="$PREFIX" /usr/bin/python3 -m pytest -q -p no:cacheprovider \
	tests/integration/test_pull.py tests/integration/test_auth.py \
	tests/integration/test_build.py tests/integration/test_inspect.py \
	tests/integration/test_cli.py tests/integration/test_run.py \
	-k "not light_binary_needs_only_libc" "$@"
