#!/bin/sh
# The README's TLDR against a local registry holding an image this script
# makes: pull, build, exec, run. Runs as $SUDO_USER when invoked with sudo.
#   tools/demo.sh [PREFIX]
set -eu
cd "$(dirname "$0")/.."
PREFIX="${1:-/usr/local}"
SING="$PREFIX/bin/singularity"
fifo=$(mktemp -u /tmp/sing-demo-fifo.XXXXXX)
mkfifo "$fifo"
# The registry lives as long as this script holds the fifo open.
/usr/bin/python3 tools/demo_registry.py <"$fifo" >"$fifo.addr" &
exec 3>"$fifo"
trap 'exec 3>&-; rm -f "$fifo" "$fifo.addr"; wait' EXIT
for _ in $(seq 100); do [ -s "$fifo.addr" ] && break; sleep 0.1; done
addr=$(cat "$fifo.addr")
work=$(mktemp -d /tmp/sing-demo.XXXXXX)
chmod 755 "$work"
as_user() {
	if [ -n "${SUDO_USER:-}" ] && [ "$SUDO_USER" != root ]; then
		chown "$SUDO_USER" "$work"
		runuser -u "$SUDO_USER" -- "$@"
	else
		"$@"
	fi
}
run() {
	echo "+ $*"
	(cd "$work" && as_user "$@")
}
run "$SING" --version
run "$SING" pull --nohttps "docker://$addr/demo/busybox:latest"
if "$SING" help build >/dev/null 2>&1 && ! "$SING" build 2>&1 | grep -q "not implemented"; then
	run env SINGULARITY_NOHTTPS=1 "$SING" build demo.sif "docker://$addr/demo/busybox:latest"
fi
run "$SING" exec busybox_latest.sif cat /etc/os-release
run "$SING" exec busybox_latest.sif sh -c 'echo "$GREETING"; id'
run "$SING" run busybox_latest.sif
run env SINGULARITY_NOHTTPS=1 "$SING" run "docker://$addr/demo/busybox:latest"
echo "Demo done; files in $work"
