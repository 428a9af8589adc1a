#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# ci/deps.sh - install the Debian 12 packages the build and the VM tests need, if missing.
# Needs root only when something is missing. The kernels themselves (image and headers for
# each supported series) are provisioned per kernel by ci/kernel-<flavour>.sh.
set -eu

packages="make gcc gcc-12 libc6-dev bc libelf-dev kmod cpio xz-utils zstd file python3
	qemu-system-x86 busybox-static expect e2fsprogs fio dmsetup util-linux dkms dwarves
	debootstrap iproute2 nbdkit libnbd-dev libnbd-bin xfsprogs"

missing=
for p in $packages; do
	dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q 'ok installed' ||
		missing="$missing $p"
done
[ -n "$missing" ] || exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "ci/deps.sh: missing Debian packages:$missing" >&2
	echo "ci/deps.sh: run as root (e.g. sudo ci/deps.sh) or: apt-get install$missing" >&2
	exit 1
fi
echo "ci/deps.sh: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq || { echo "ci/deps.sh: apt-get update failed: is the archive reachable?" >&2; exit 1; }
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing ||
	{ echo "ci/deps.sh: apt-get install failed" >&2; exit 1; }
