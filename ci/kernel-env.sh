#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# ci/kernel-env.sh NAME [--bind DIR]... -- COMMAND... - run COMMAND (a build against kernel
# NAME's headers: make -C $(cat kdir) M=..., dkms build) where that kernel's modules can be
# built: on the host, or, when the kernel's cache holds a `buildroot` file (a kernel of
# another Debian release, see ci/kernel-debian.sh), in that Debian build root
# (ci/build-root.sh run) with the kernel's cache directory and each DIR (the build tree)
# mounted at the same paths. Files written in DIR stay owned by the caller.
set -eu

die() { echo "kernel-env.sh: $*" >&2; exit 1; }

[ $# -ge 3 ] || die "usage: kernel-env.sh NAME [--bind DIR]... -- COMMAND..."
name=$1
shift
here=$(cd "$(dirname "$0")" && pwd)
kc=${TLOOP_CACHE:-$HOME/.cache/tloop}/kernels/$name
[ -f "$kc/kdir" ] || die "kernel $name is not provisioned ($kc)"

if [ ! -f "$kc/buildroot" ]; then
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		shift
	done
	[ $# -gt 1 ] || die "no command after --"
	shift
	exec "$@"
fi
exec "$here/build-root.sh" run "$(cat "$kc/buildroot")" --bind "$kc" "$@"
