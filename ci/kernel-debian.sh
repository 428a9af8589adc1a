#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# ci/kernel-debian.sh <name> - provision Debian's kernel series <name> (6.1, 6.12)
# for the VM tests, outside the clone, in $TLOOP_CACHE/kernels/<name>/:
#   vmlinux   uncompressed, PVH-bootable kernel (extracted from the package's vmlinuz)
#   release   the kernel's `uname -r`
#   kdir      path of the headers build directory the module is built against
#   modules/lib/modules/<release>/   the modules listed in initramfs/modules.list and their
#             dependencies, decompressed, with modules.dep from the host's depmod
#   abi       the Debian ABI that was used (e.g. 6.1.0-56)
#   config    the kernel's .config
#   .stamp    written last: the kernel is complete (release is replaced at the same time)
# The newest ABI of the series is resolved from the APT archive now (old ABIs leave it).
# linux-image-<abi>-amd64-unsigned is downloaded (never installed); linux-headers-<abi>-amd64
# is installed with apt-get (needs root unless already installed).
set -eu

die() { echo "kernel-debian.sh: $*" >&2; exit 1; }

[ $# -eq 1 ] || die "usage: kernel-debian.sh <series, e.g. 6.1 or 6.12>"
name=$1
case $name in
''|*[!0-9.]*|.*|*.) die "'$name' is not a Debian kernel series (expected e.g. 6.1 or 6.12)" ;;
esac
here=$(cd "$(dirname "$0")" && pwd)
cache=${TLOOP_CACHE:-$HOME/.cache/tloop}
dest=$cache/kernels/$name
debs=$cache/debs

list=$here/../initramfs/modules.list
list_sum=$(sha256sum < "$list" | cut -c1-16)

# Already provisioned with the same module list: nothing to do (the archive is consulted
# again only when the cache is missing or TLOOP_REFRESH=1).
if [ -f "$dest/.stamp" ] && [ "$(cat "$dest/modules.sum" 2>/dev/null)" = "$list_sum" ] &&
	[ -f "$(cat "$dest/kdir")/Makefile" ] && [ "${TLOOP_REFRESH:-0}" != 1 ]; then
	exit 0
fi

series_re=$(printf '%s' "$name" | sed 's/\./\\./g')
newest_abi() {
	apt-cache search --names-only \
		"^linux-image-${series_re}\.[0-9]+(-[0-9]+|\+deb[0-9]+)-amd64-unsigned\$" 2>/dev/null |
		awk '{ print $1 }' | sed -E 's/^linux-image-//; s/-amd64-unsigned$//' |
		sort -V | tail -n 1
}

# Refresh the package lists when they are missing or older than 6 hours, so that "newest"
# means the archive's newest, not whatever this machine saw last month.
if [ "$(id -u)" -eq 0 ]; then
	lists_age=999999
	marker=$cache/apt-updated
	[ ! -f "$marker" ] || lists_age=$(( $(date +%s) - $(stat -c %Y "$marker") ))
	if [ "$lists_age" -gt 21600 ] || [ -z "$(newest_abi)" ]; then
		echo "kernel-debian.sh: apt-get update" >&2
		apt-get update -qq >&2 || die "apt-get update failed: is the Debian archive reachable?"
		mkdir -p "$cache" && touch "$marker"
	fi
fi

abi=$(newest_abi)
[ -n "$abi" ] || die "no linux-image-$name.*-amd64-unsigned package in the APT lists" \
	"(is the Debian archive reachable and is $name a series it carries?)"
release=$abi-amd64
echo "kernel $name: Debian ABI $abi (release $release)"

# Headers for the module build.
kdir=/usr/src/linux-headers-$release
if ! dpkg-query -W -f='${Status}' "linux-headers-$release" 2>/dev/null | grep -q 'ok installed'; then
	[ "$(id -u)" -eq 0 ] || die "linux-headers-$release is not installed; run as root" \
		"(or: apt-get install linux-headers-$release)"
	echo "kernel $name: apt-get install linux-headers-$release" >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		"linux-headers-$release" >&2 || die "apt-get install linux-headers-$release failed"
fi
[ -f "$kdir/Makefile" ] || die "$kdir/Makefile missing after installing the headers"

# The image package: downloaded into the cache, unpacked in a scratch directory.
pkg=linux-image-$release-unsigned
mkdir -p "$debs"
deb=$(ls "$debs/${pkg}_"*.deb 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$deb" ]; then
	echo "kernel $name: apt-get download $pkg" >&2
	(cd "$debs" && apt-get download -q "$pkg" 2>&1 | grep -v '^W: Download is performed unsandboxed' >&2;
	 exit "${PIPESTATUS[0]}") ||
		die "apt-get download $pkg failed: is the Debian archive reachable?"
	deb=$(ls "$debs/${pkg}_"*.deb | sort -V | tail -n 1)
fi

work=$(mktemp -d "$cache/tmp.$name.XXXXXX")
trap 'rm -rf "$work"' EXIT
dpkg -x "$deb" "$work/pkg"
[ -f "$work/pkg/boot/vmlinuz-$release" ] || die "$deb holds no boot/vmlinuz-$release"

mkdir -p "$work/out"
python3 "$here/extract-vmlinux.py" "$work/pkg/boot/vmlinuz-$release" "$work/out/vmlinux" ||
	die "could not extract vmlinux from vmlinuz-$release"
"$here/kernel-modules.sh" "$work/pkg" "$release" "$work/out/modules"
printf '%s\n' "$release" > "$work/out/release"
printf '%s\n' "$kdir" > "$work/out/kdir"
printf '%s\n' "$abi" > "$work/out/abi"
printf '%s\n' "$list_sum" > "$work/out/modules.sum"
cp "$work/pkg/boot/config-$release" "$work/out/config"

rm -rf "$dest"
mkdir -p "$(dirname "$dest")"
mv "$work/out" "$dest"
date -u +%FT%TZ > "$dest/.stamp"
echo "kernel $name: ready in $dest"
