#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# ci/kernel-debian.sh <name> - provision Debian's kernel series <name> for the VM tests,
# outside the clone, in $TLOOP_CACHE/kernels/<name>/. <name> is a version prefix: the newest
# Debian kernel whose version starts with <name>. is taken, in the Debian release that name
# is known to come from:
#   6.1, 6.12   Debian 12 (bookworm, bookworm-updates, bookworm-security)
#   7, 7.<n>    Debian 13 (trixie, trixie-updates, trixie-backports, trixie-security): `7` is
#               the newest 7.x series Debian ships for Debian 13 (7.3 today, the next one when
#               it lands), `7.3` would pin one series
# Into the cache:
#   vmlinux   uncompressed, PVH-bootable kernel (extracted from the package's vmlinuz)
#   release   the kernel's `uname -r`
#   kdir      path of the headers build directory the module is built against
#             (headers/usr/src/linux-headers-<release>, unpacked here)
#   modules/lib/modules/<release>/   the modules listed in initramfs/modules.list and their
#             dependencies, decompressed, with modules.dep from the host's depmod
#   abi       the Debian ABI that was used (e.g. 6.1.0-56, 7.3.4+deb13)
#   config    the kernel's .config
#   buildroot only when the module must be built in a Debian build root (ci/build-root.sh):
#             the root's name. Kernels of another Debian release than the host's are built
#             with that release's compiler and kbuild tools (a Debian 12 host cannot run
#             Debian 13's objtool, nor pass gcc-14's flags to gcc-12).
#   .stamp    written last: the kernel is complete (release is replaced at the same time)
# The newest ABI of the series is resolved from the Debian archive now (old ABIs leave it),
# through tloop's own APT configuration (ci/apt-private.sh: the suites of the series' Debian
# release, whatever the host's APT sources say; the host's APT state is never changed).
# The kernel packages are downloaded and unpacked into the cache, never installed. Two
# layouts exist: up to 6.x, linux-image-<abi>-amd64-unsigned (boot/vmlinuz-<release>,
# boot/config-<release>, lib/modules/<release>/); from 7.x, linux-binary-<release> (vmlinuz),
# linux-modules-<release> (the .ko.xz) and linux-base-<release> (config, modules.order...),
# all under usr/lib/modules/<release>/. The headers are linux-headers-<release>, its -common
# and linux-kbuild packages. No root is needed, except to create a build root once.
set -eu

die() { echo "kernel-debian.sh: $*" >&2; exit 1; }

[ $# -eq 1 ] || die "usage: kernel-debian.sh <series, e.g. 6.1, 6.12 or 7>"
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
	[ -f "$(cat "$dest/kdir")/.config" ] && [ "${TLOOP_REFRESH:-0}" != 1 ] &&
	{ [ ! -f "$dest/buildroot" ] || [ -f "$cache/roots/$(cat "$dest/buildroot")/.stamp" ]; }; then
	exit 0
fi

# The Debian release each series comes from: its suites are the only ones consulted, through
# tloop's own APT configuration in the cache (ci/apt-private.sh), whatever the host's sources.
case $name in
6.1|6.12) profile=bookworm ;;
7|7.*) profile=trixie ;;
*) die "no Debian release is known to carry kernel series $name (known: 6.1 6.12 7 7.<n>)" ;;
esac
. "$here/apt-private.sh"
kapt_init "$profile"

series_re=$(printf '%s' "$name" | sed 's/\./\\./g')
# The ABIs of the series that have headers, newest first; the first one whose image
# packages are there too is taken.
abis() {
	kapt_cache search --names-only \
		"^linux-headers-${series_re}(\.[0-9]+)+(-[0-9]+|\+deb[0-9]+)-amd64\$" 2>/dev/null |
		awk '{ print $1 }' | sed -E 's/^linux-headers-//; s/-amd64$//' | sort -V -r
}
has_pkg() {
	[ -n "$(kapt_cache show --no-all-versions "$1" 2>/dev/null | sed -n 's/^Package: //p')" ]
}

abi= layout=
for a in $(abis); do
	if has_pkg "linux-image-$a-amd64-unsigned"; then
		abi=$a layout=image
	elif has_pkg "linux-binary-$a-amd64" && has_pkg "linux-modules-$a-amd64" &&
		has_pkg "linux-base-$a-amd64"; then
		abi=$a layout=split
	fi
	[ -z "$abi" ] || break
done
[ -n "$abi" ] || die "no complete kernel $name.* (headers and image packages) in $profile ($(kapt_suites))"
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

# The image packages: unpacked in a scratch directory, never installed.
if [ "$layout" = image ]; then
	dpkg -x "$(fetch "linux-image-$release-unsigned")" "$work/pkg"
	vmlinuz=$work/pkg/boot/vmlinuz-$release
	config=$work/pkg/boot/config-$release
else
	for p in binary modules base; do
		dpkg -x "$(fetch "linux-$p-$release")" "$work/pkg"
	done
	vmlinuz=$work/pkg/usr/lib/modules/$release/vmlinuz
	config=$work/pkg/usr/lib/modules/$release/config
	# ci/kernel-modules.sh (depmod -b, modprobe -d) looks in lib/modules/.
	[ -e "$work/pkg/lib" ] || ln -s usr/lib "$work/pkg/lib"
fi

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
rm -rf "$work/out/headers/lib" "$work/out/headers/usr/lib/modules"
kdir=$dest/headers/usr/src/linux-headers-$release
# Its Makefile names the -common tree (include) and, from 7.x, itself (KBUILD_OUTPUT=) by
# absolute path under /usr/src.
sed -i -E "s#^(include |KBUILD_OUTPUT=)/usr/src/#\1$dest/headers/usr/src/#" \
	"$work/out/headers/usr/src/linux-headers-$release/Makefile"
[ -f "$work/out/headers/usr/src/linux-headers-$release/.config" ] ||
	die "the headers of $release were not unpacked"
[ -f "$vmlinuz" ] || die "the $layout packages of $release hold no ${vmlinuz#"$work/pkg/"}"
[ -f "$config" ] || die "the $layout packages of $release hold no ${config#"$work/pkg/"}"

python3 "$here/extract-vmlinux.py" "$vmlinuz" "$work/out/vmlinux" ||
	die "could not extract vmlinux from vmlinuz-$release"
"$here/kernel-modules.sh" "$work/pkg" "$release" "$work/out/modules"
printf '%s\n' "$release" > "$work/out/release"
printf '%s\n' "$kdir" > "$work/out/kdir"
printf '%s\n' "$abi" > "$work/out/abi"
printf '%s\n' "$list_sum" > "$work/out/modules.sum"
cp "$config" "$work/out/config"

# A kernel of another Debian release than the host's: its module is built in a build root of
# that release (ci/build-root.sh), with the compiler the headers ask for and the libraries
# the kbuild tools need (the packages' own dependencies, so a new compiler is followed).
host_release=$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}")
if [ "$profile" != "$host_release" ]; then
	root_pkgs=$( { kapt_cache depends "linux-headers-$release"
		kapt_cache depends "linux-kbuild-$abi"; } 2>/dev/null |
		sed -n 's/^ *Depends: \([^ <>]*\).*/\1/p' |
		grep -Ev '^(linux-.*|libc6)$' | sort -u | tr '\n' ' ')
	case $root_pkgs in
	*gcc-*) ;;
	*) die "cannot tell the compiler of linux-headers-$release (dependencies: $root_pkgs)" ;;
	esac
	# shellcheck disable=SC2086
	"$here/build-root.sh" create "$profile" $root_pkgs > /dev/null
	printf '%s\n' "$profile" > "$work/out/buildroot"
fi

rm -rf "$dest"
mkdir -p "$(dirname "$dest")"
mv "$work/out" "$dest"
date -u +%FT%TZ > "$dest/.stamp"
echo "kernel $name: ready in $dest"
