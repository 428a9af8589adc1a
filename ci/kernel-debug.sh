#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# ci/kernel-debug.sh [name] - provision tloop's debug test kernel (default 6.12-debug: 6.12
# from Debian's linux-source-6.12 with KASAN, lockdep, KFENCE and UBSAN) in
# $TLOOP_CACHE/kernels/<name>/, building it when the cache does not hold it yet.
#
# The source: Debian's linux-source-6.12 package, downloaded through tloop's own APT
# configuration (ci/apt-private.sh: the suites of Debian 12, whatever the host's sources say)
# into the cache and unpacked there (never installed): $TLOOP_CACHE/src/<package>/ holds the
# tarball and the package's version. The archive is consulted again only when that is missing
# or TLOOP_REFRESH=1 (a newer source version means a new cold build).
# The kernel's build tools are installed with apt-get when missing (root only).
# Then runs kernel-debug/build.sh, which does nothing when the cached kernel matches the
# source version and kernel-debug/debug.config. A cold build is long: see mk/debug-kernel.mk.
set -eu

die() { echo "kernel-debug.sh: $*" >&2; exit 1; }

name=${1:-6.12-debug}
case $name in
6.12-debug) package=linux-source-6.12 ;;
*) die "unknown debug kernel '$name' (known: 6.12-debug)" ;;
esac
here=$(cd "$(dirname "$0")" && pwd)
PATH=$PATH:/sbin:/usr/sbin

# Package name, then a command or file it provides (checked before asking apt).
needs="make:make
gcc:gcc
libc6-dev:/usr/include/stdio.h
flex:flex
bison:bison
bc:bc
libelf-dev:/usr/include/libelf.h
libssl-dev:/usr/include/openssl/ssl.h
kmod:depmod
xz-utils:xz
cpio:cpio
python3:python3"

missing=
for pair in $needs; do
	pkg=${pair%%:*}
	what=${pair#*:}
	case $what in
	/*) [ -e "$what" ] && continue ;;
	*) command -v "$what" >/dev/null 2>&1 && continue ;;
	esac
	missing="$missing $pkg"
done

if [ -n "$missing" ]; then
	[ "$(id -u)" -eq 0 ] || die "missing packages:$missing (run as root, or apt-get install$missing)"
	echo "kernel-debug.sh: apt-get install$missing" >&2
	if ! apt-cache show $missing >/dev/null 2>&1; then
		apt-get update -qq >&2 || die "apt-get update failed: is the Debian archive reachable?"
	fi
	# shellcheck disable=SC2086
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >&2 ||
		die "apt-get install$missing failed"
fi

# The source tarball, in the cache.
cache=${TLOOP_CACHE:-$HOME/.cache/tloop}
src=$cache/src/$package
if [ ! -f "$src/version" ] || [ ! -r "$src/$package.tar.xz" ] || [ "${TLOOP_REFRESH:-0}" = 1 ]; then
	# shellcheck source=ci/apt-private.sh
	. "$here/apt-private.sh"
	kapt_init bookworm
	version=$(kapt_cache show --no-all-versions "$package" 2>/dev/null |
		sed -n 's/^Version: //p' | head -n 1)
	[ -n "$version" ] || die "no $package package in bookworm ($(kapt_suites))"
	if [ "$(cat "$src/version" 2>/dev/null)" != "$version" ] || [ ! -r "$src/$package.tar.xz" ]; then
		echo "kernel-debug.sh: downloading $package $version" >&2
		work=$(mktemp -d "$cache/tmp.src.XXXXXX")
		trap 'rm -rf "$work"' EXIT
		(cd "$work" && kapt_get download -q "$package=$version" >&2) ||
			die "could not download $package $version from bookworm ($(kapt_suites)):" \
				"is the Debian archive reachable?"
		dpkg -x "$work"/"${package}"_*.deb "$work/x"
		[ -r "$work/x/usr/src/$package.tar.xz" ] ||
			die "$package $version holds no usr/src/$package.tar.xz"
		rm -rf "$src" && mkdir -p "$src"
		mv "$work/x/usr/src/$package.tar.xz" "$src/"
		printf '%s\n' "$version" > "$src/version"
		rm -rf "$work"
		trap - EXIT
	fi
fi

KSRC_PACKAGE=$package KSRC_TARBALL=$src/$package.tar.xz KSRC_VERSION=$(cat "$src/version") \
	exec "$here/../kernel-debug/build.sh" "$name"
