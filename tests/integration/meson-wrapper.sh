#!/bin/sh
# `meson test`'s hook into the integration suite (pytest, this directory).
# The suite runs as root against an installed prefix (the starter setuid
# root), and runs every user-facing command as a normal test user; without
# root or an install it is skipped (exit 77, meson's skip) with the reason.
#   SING_PREFIX=/tmp/sing-prefix meson test -C BUILD --suite integration
#   (pytest arguments: meson test ... --test-args '-k pull -x')
here=$(cd "$(dirname "$0")" && pwd)
skip() {
	echo "SKIP: $*"
	exit 77
}
[ "$(id -u)" = 0 ] || skip "the integration tests run as root (they switch to a test user)"
[ -n "${SING_PREFIX:-}" ] ||
	skip "SING_PREFIX is not set: meson install into a prefix, then SING_PREFIX=PREFIX"
[ -x "$SING_PREFIX/bin/singularity" ] || skip "$SING_PREFIX/bin/singularity is not installed"
[ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import pytest' 2>/dev/null ||
	skip "Debian's python3-pytest is not installed (tools/deps.sh --test)"
# Debian's python3: it has pytest, jwt and cryptography (a pyenv python3
# earlier on PATH need not).
exec /usr/bin/python3 -m pytest -ra -p no:cacheprovider "$here" "$@"
