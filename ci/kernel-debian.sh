#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# ci/kernel-debian.sh <name> - provision Debian's kernel series <name> (6.1, 6.12)
# for the VM tests, outside the clone, in $TLOOP_CACHE/kernels/<name>/:
#   vmlinux   uncompressed, PVH-bootable kernel (extracted from the package's vmlinuz)
#   release   the kernel's `uname -r`
#   kdir      path of the headers build directory the module is built against
#             (headers/usr/src/linux-headers-<release>, unpacked here)
#   modules/lib/modules/<release>/   the modules listed in initramfs/modules.list and their
#             dependencies, decompressed, with modules.dep from the host's depmod
#   abi       the Debian ABI that was used (e.g. 6.1.0-56)
#   config    the kernel's .config
#   .stamp    written last: the kernel is complete (release is replaced at the same time)
# The newest ABI of the series is resolved from the Debian archive now (old ABIs leave it),
# through tloop's own APT configuration (ci/apt-private.sh: the suites of the series' Debian
# release, whatever the host's APT sources say; the host's APT state is never changed).
# linux-image-<abi>-amd64-unsigned and the headers (linux-headers-<abi>-amd64, its -common
# and linux-kbuild packages) are downloaded and unpacked into the cache, never installed;
# no root is needed.
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
# One provisioning of a kernel at a time (several builds may share the cache).
mkdir -p "$cache"
exec 9> "$cache/.lock-$name"
flock 9

# Bump LAYOUT when what this script puts in the cache changes: caches made before re-provision.
LAYOUT=2
list_sum=$({ echo "layout $LAYOUT"; cat "$list"; } | sha256sum | cut -c1-16)

# Already provisioned with the same module list: nothing to do (the archive is consulted
# again only when the cache is missing or TLOOP_REFRESH=1).
if [ -f "$dest/.stamp" ] && [ "$(cat "$dest/modules.sum" 2>/dev/null)" = "$list_sum" ] &&
	[ -f "$(cat "$dest/kdir")/.config" ] && [ "${TLOOP_REFRESH:-0}" != 1 ]; then
	exit 0
fi

# The Debian release each series comes from: its suites are the only ones consulted, through
# tloop's own APT configuration in the cache (ci/apt-private.sh), whatever the host's sources.
case $name in
6.1|6.12) profile=bookworm ;;
*) die "no Debian release is known to carry kernel series $name (known: 6.1 6.12)" ;;
esac
. "$here/apt-private.sh"
kapt_init "$profile"

series_re=$(printf '%s' "$name" | sed 's/\./\\./g')
newest_abi() {
	kapt_cache search --names-only \
		"^linux-image-${series_re}\.[0-9]+(-[0-9]+|\+deb[0-9]+)-amd64-unsigned\$" 2>/dev/null |
		awk '{ print $1 }' | sed -E 's/^linux-image-//; s/-amd64-unsigned$//' |
		sort -V | tail -n 1
}

abi=$(newest_abi)
[ -n "$abi" ] || die "no linux-image-$name.*-amd64-unsigned package in $profile ($(kapt_suites))"
release=$abi-amd64
echo "kernel $name: Debian ABI $abi (release $release)"

# fetch PACKAGE - the path of PACKAGE's .deb in the cache, downloaded when missing.
fetch() {
	mkdir -p "$debs"
	deb=$(ls "$debs/${1}_"*.deb 2>/dev/null | sort -V | tail -n 1 || true)
	if [ -z "$deb" ]; then
		echo "kernel $name: apt-get download $1" >&2
		(cd "$debs" && kapt_get download -q "$1" >&2) ||
			die "could not download $1 from $profile ($(kapt_suites)):" \
				"is the Debian archive reachable?"
		deb=$(ls "$debs/${1}_"*.deb | sort -V | tail -n 1)
	fi
	printf '%s\n' "$deb"
}

work=$(mktemp -d "$cache/tmp.$name.XXXXXX")
trap 'rm -rf "$work"' EXIT

# The image package: unpacked in a scratch directory, never installed.
dpkg -x "$(fetch "linux-image-$release-unsigned")" "$work/pkg"

# Headers for the module build, unpacked into the cache too (installing them with apt would
# pull in the signed image, into /boot): linux-headers-<release>, the -common headers and the
# kbuild package it depends on. Its Makefile includes the -common one by absolute path.
hdr_pkgs="linux-headers-$release $(kapt_cache depends "linux-headers-$release" 2>/dev/null |
	sed -n 's/^ *Depends: \(linux-\(headers\|kbuild\)-[^ <>]*\)$/\1/p' | sort -u | tr '\n' ' ')"
case $hdr_pkgs in
*-common*kbuild*|*kbuild*-common*) ;;
*) die "cannot tell the -common and kbuild packages of linux-headers-$release ($hdr_pkgs)" ;;
esac
mkdir -p "$work/out/headers"
for p in $hdr_pkgs; do
	dpkg -x "$(fetch "$p")" "$work/out/headers"
done
rm -rf "$work/out/headers/lib"
kdir=$dest/headers/usr/src/linux-headers-$release
sed -i "s|^include /usr/src/|include $dest/headers/usr/src/|" \
	"$work/out/headers/usr/src/linux-headers-$release/Makefile"
[ -f "$work/out/headers/usr/src/linux-headers-$release/.config" ] ||
	die "the headers of $release were not unpacked"
[ -f "$work/pkg/boot/vmlinuz-$release" ] ||
	die "linux-image-$release-unsigned holds no boot/vmlinuz-$release"

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
