#!/bin/sh
# Debian 12 packages to build, run and test singularity. Idempotent.
set -eu
BUILD="meson ninja-build pkg-config gcc libcurl4-openssl-dev libjson-c-dev libarchive-dev
libcap-dev libseccomp-dev libssl-dev libsquashfuse-dev libfuse3-dev libisal-dev
zlib1g-dev liblzma-dev libzstd-dev liblz4-dev liblzo2-dev"
RUNTIME="squashfs-tools squashfuse libsquashfuse0 libfuse3-3 fuse3 ca-certificates uidmap libseccomp2
libisal2"
TEST="docker-registry siftool umoci skopeo busybox-static python3 python3-pytest python3-jwt strace
python3-cryptography apache2-utils openssl zstd tmux util-linux btrfs-progs xfsprogs
clang libclang-rt-14-dev clang-tidy clang-format cppcheck pigz golang-1.19-src libc6-dev man-db
cwltool snakemake toil
slurm-wlm munge openmpi-bin libopenmpi-dev mpich libmpich-dev"
want="$BUILD $RUNTIME"
[ "${1:-}" = "--test" ] && want="$want $TEST"
missing=""
for p in $want; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
if [ -n "$missing" ]; then
	echo "Installing:$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
