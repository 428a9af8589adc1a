#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# ci/kernel-debug.sh [name] - provision tloop's debug test kernel (default 6.12-debug: 6.12
# from Debian's linux-source-6.12 with KASAN, lockdep, KFENCE and UBSAN) in
# $TLOOP_CACHE/kernels/<name>/, building it when the cache does not hold it yet.
#
# Installs what the build needs with apt-get when it is missing (root only): the
# linux-source-6.12 package (the source tarball in /usr/src) and the kernel's build tools.
# Then runs kernel-debug/build.sh, which does nothing when the cached kernel matches the
# installed source version and kernel-debug/debug.config. A cold build is long: see
# mk/debug-kernel.mk.
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
needs="$package:/usr/src/$package.tar.xz
make:make
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
	if ! apt-cache show "$package" >/dev/null 2>&1; then
		apt-get update -qq >&2 || die "apt-get update failed: is the Debian archive reachable?"
	fi
	# shellcheck disable=SC2086
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >&2 ||
		die "apt-get install$missing failed"
fi

exec "$here/../kernel-debug/build.sh" "$name"
