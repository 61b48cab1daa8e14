#!/bin/sh
# The README's two commands on a fresh Debian 12, with the checkout in /root
# (a 0700 home directory), as a new user would run them:
#   1. debootstrap bookworm (the standard system: no sudo, /var/local 2775
#      root:staff) into WORKDIR, from the mirror this machine's apt uses; the
#      result is kept as WORKDIR/bookworm.tar, so a second run starts from it;
#   2. copy this checkout (tracked and untracked, not ignored files) to
#      /root/singularity inside;
#   3. enter it with the host's /dev (loop devices, /dev/fuse), /sys, and a
#      /proc of a new PID namespace (so nothing inside can signal a host
#      process); the root is pivot_root'ed, not chroot'ed, because a chroot'ed
#      process may not create user namespaces, which the tests need;
#   4. run `tools/install.sh` then `tools/test.sh` there, and report; with
#      every signal's disposition reset to the default (started from nohup
#      or `&`, SIGHUP/SIGINT/SIGQUIT would arrive ignored, and the tests that
#      forward them would fail).
# Logs: WORKDIR/rootfs/root/install.log and test.log (readable while it runs).
# Exit status: 0 when both commands passed.
#   tools/check-fresh-debian.sh [WORKDIR]     (as root; default /var/tmp/sing-fresh-debian)
set -eu
SRC=$(cd "$(dirname "$0")/.." && pwd)
WORK="${1:-/var/tmp/sing-fresh-debian}"
ROOTFS="$WORK/rootfs"
BASE="$WORK/bookworm.tar"
[ "$(id -u)" = 0 ] || { echo "ERROR: run as root" >&2; exit 255; }
command -v debootstrap >/dev/null || {
	echo "Installing: debootstrap"
	apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
}

# The first Debian mirror apt is configured with (deb822 or one-line format).
mirror=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null |
	awk '/^URIs:/ && $2 !~ /security/ { print $2; exit }')
[ -n "$mirror" ] || mirror=$(awk '$1 == "deb" && $3 == "bookworm" { print $2; exit }' \
	/etc/apt/sources.list 2>/dev/null || true)
[ -n "$mirror" ] || { echo "ERROR: no Debian mirror in /etc/apt/sources.list*" >&2; exit 255; }

mkdir -p "$WORK"
if [ ! -f "$BASE" ]; then
	echo "debootstrap bookworm from $mirror (once; kept in $BASE)"
	rm -rf "$WORK/base"
	# In a mount namespace of its own: the /proc and /sys it mounts in the
	# target never show in the host's mount table.
	unshare --mount --propagation private \
		debootstrap bookworm "$WORK/base" "$mirror" >"$WORK/debootstrap.log" 2>&1 || {
		tail -20 "$WORK/debootstrap.log" >&2
		exit 1
	}
	tar -C "$WORK/base" --numeric-owner --xattrs -cf "$BASE.part" .
	mv "$BASE.part" "$BASE"
	rm -rf "$WORK/base"
fi
rm -rf "$ROOTFS"
mkdir "$ROOTFS"
tar -C "$ROOTFS" --numeric-owner --xattrs -xf "$BASE"
# The host's apt sources (same mirror, same snapshot) and name resolution.
if ls /etc/apt/sources.list.d/*.sources >/dev/null 2>&1; then
	rm -f "$ROOTFS/etc/apt/sources.list"
	for f in /etc/apt/sources.list.d/*.sources; do
		grep -q "^URIs: $mirror" "$f" && cp "$f" "$ROOTFS/etc/apt/sources.list.d/"
	done
fi
cp /etc/resolv.conf "$ROOTFS/etc/resolv.conf"
echo "fresh Debian $(cat "$ROOTFS/etc/debian_version") in $ROOTFS;" \
	"/var/local is $(stat -c '%a %U:%G' "$ROOTFS/var/local")," \
	"sudo $([ -e "$ROOTFS/usr/bin/sudo" ] && echo present || echo absent)"

# The checkout, root-owned, in root's 0700 home.
mkdir -p "$ROOTFS/root/singularity"
(cd "$SRC" && git ls-files -z --cached --others --exclude-standard |
	tar --null --no-recursion -T - -cf -) | tar -C "$ROOTFS/root/singularity" -xf -
chown -R root:root "$ROOTFS/root/singularity"
chmod 700 "$ROOTFS/root"
cat >"$ROOTFS/root/check-run.sh" <<'EOF'
#!/bin/sh
# Runs inside the fresh system: the README's two commands, as root.
cd /root/singularity
tools/install.sh >/root/install.log 2>&1
echo "install.sh: exit $?" >/root/result
tools/test.sh >/root/test.log 2>&1
echo "test.sh: exit $?" >>/root/result
EOF
mkdir "$ROOTFS/.oldroot"

echo "running tools/install.sh and tools/test.sh in it (logs: $ROOTFS/root/*.log)"
# shellcheck disable=SC2016 # expanded by the inner shells
unshare --mount --pid --fork --propagation private sh -c '
	set -e
	R="$1"
	mount --bind "$R" "$R"
	mount --rbind /dev "$R/dev"
	mount --rbind /sys "$R/sys"
	mount -t proc proc "$R/proc"
	cd "$R"
	pivot_root . .oldroot
	exec chroot . /usr/bin/env --default-signal -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		HOME=/root LANG=C.UTF-8 TERM=dumb /bin/sh -c "
		umount -l /.oldroot && rmdir /.oldroot && exec sh /root/check-run.sh"
' sh "$ROOTFS"
cat "$ROOTFS/root/result"
echo "--- install.log (last lines)"
tail -15 "$ROOTFS/root/install.log"
echo "--- test.log (last lines)"
tail -30 "$ROOTFS/root/test.log"
! grep -q "exit [^0]" "$ROOTFS/root/result"
