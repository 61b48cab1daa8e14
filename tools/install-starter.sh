#!/bin/sh
# Run by `meson install`: make the starter setuid root when installing as root.
# A non-root install leaves it unprivileged; the frontend then uses the
# user-namespace mode.
set -e
starter="${DESTDIR:-}$1"
if [ "$(id -u)" = 0 ] && [ -z "${DESTDIR:-}" ]; then
	chown root:root "$starter"
	chmod 4755 "$starter"
fi
