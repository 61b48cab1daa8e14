#!/bin/sh
# Fresh Debian 12, as root: install dependencies, build, install (starter
# setuid root), then run the demo against a local registry.
#   tools/install.sh [PREFIX]      (default /usr/local)
set -eu
cd "$(dirname "$0")/.."
PREFIX="${1:-/usr/local}"
tools/deps.sh --test
meson setup build-install --prefix="$PREFIX" --sysconfdir="$PREFIX/etc" --wipe >/dev/null 2>&1 ||
	meson setup build-install --prefix="$PREFIX" --sysconfdir="$PREFIX/etc" >/dev/null
ninja -C build-install
meson install -C build-install --quiet
echo "Installed $PREFIX/bin/singularity (starter: $PREFIX/libexec/singularity/starter)"
tools/demo.sh "$PREFIX"
