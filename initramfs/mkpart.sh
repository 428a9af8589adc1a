#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# initramfs/mkpart.sh <part> <out.cpio> [args] - build one part of the test initramfs as an
# uncompressed newc cpio padded to 4 bytes (the kernel ignores whatever follows a part that
# does not end on a 4-byte boundary). Parts are concatenated into one initramfs:
#   base                         busybox (static), /init, /usr/bin/tloop-cut, the skeleton
#   userland                     real e2fsprogs, fio, dmsetup, blkdiscard and their libraries
#   tools <tloop binary>         /usr/bin/tloop, its libraries, libnbd.so.0 (dlopen()ed)
#   modules <modules dir> <ko>   /lib/modules/<release>/ from the kernel cache + extra/tloop.ko
#   tests <dir> [<extra dir>]    /tests (built tests, .timeouts) and /tests-extra
#   demo <dir>                   /demo (demo/run.sh and its files)
#   tree <dir>                   <dir> as the root of the part (the harness self-test)
set -eu

die() { echo "mkpart.sh: $*" >&2; exit 1; }

[ $# -ge 2 ] || die "usage: mkpart.sh <part> <out.cpio> [args]"
part=$1 out=$2
shift 2
here=$(cd "$(dirname "$0")" && pwd)
PATH=$PATH:/sbin:/usr/sbin
root=$(mktemp -d "${out%.cpio}.root.XXXXXX")
trap 'rm -rf "$root"' EXIT

# copy_bin FILE [NAME] - copy a dynamic binary to the same path in the root (or to NAME),
# with every library ldd lists and the dynamic loader, keeping their paths.
copy_bin() {
	src=$(readlink -f "$1")
	to=$root${2:-$1}
	mkdir -p "$(dirname "$to")"
	cp "$src" "$to"
	ldd "$src" 2>/dev/null | awk '/=> \// { print $3 } /^\t\// { print $1 }' |
		while read -r lib; do
			mkdir -p "$root$(dirname "$lib")"
			[ -e "$root$lib" ] || cp -L "$lib" "$root$lib"
		done
}

case $part in
base)
	mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,tmp,run,root,tests,lib,lib64}
	bb=$(command -v busybox) || die "busybox not found (apt-get install busybox-static)"
	file -L "$bb" | grep -q 'statically linked' || die "$bb is not static (install busybox-static)"
	cp "$bb" "$root/bin/busybox"
	# Applet links, except where a real tool is installed by the userland part.
	"$bb" --list-full | while read -r applet; do
		case ${applet##*/} in
		busybox|mke2fs|mkfs.ext2|mkfs.ext3|mkfs.ext4|e2fsck|fsck.ext2|fsck.ext4|tune2fs|\
		blkdiscard|ip|tc) continue ;;
		esac
		[ -e "$root/$applet" ] || ln -s /bin/busybox "$root/$applet"
	done
	install -m 0755 "$here/init" "$root/init"
	install -m 0755 "$here/tloop-cut" "$root/usr/bin/tloop-cut"
	printf 'root:x:0:0:root:/root:/bin/sh\n' > "$root/etc/passwd"
	printf 'root:x:0:\n' > "$root/etc/group"
	;;
userland)
	for b in /sbin/mke2fs /sbin/e2fsck /sbin/tune2fs /sbin/dumpe2fs /sbin/debugfs \
		/sbin/resize2fs /sbin/dmsetup /sbin/blkdiscard /usr/bin/fio \
		/sbin/ip /sbin/tc /sbin/mkfs.xfs /usr/sbin/xfs_io \
		/usr/bin/nbdkit /usr/bin/nbdcopy /usr/bin/nbdinfo; do
		[ -e "$b" ] || die "$b missing (run ci/deps.sh)"
		copy_bin "$b"
	done
	# nbdkit loads its plugins and filters by path: the ones the NBD tests use.
	plugindir=$(nbdkit --dump-config | sed -n 's/^plugindir=//p')
	filterdir=$(nbdkit --dump-config | sed -n 's/^filterdir=//p')
	for m in "$plugindir"/nbdkit-{file,memory}-plugin.so \
		"$filterdir"/nbdkit-{log,stats,delay,error}-filter.so; do
		[ -e "$m" ] || die "$m missing (run ci/deps.sh)"
		copy_bin "$m"
	done
	for l in mkfs.ext2 mkfs.ext3 mkfs.ext4; do ln -s mke2fs "$root/sbin/$l"; done
	for l in fsck.ext2 fsck.ext3 fsck.ext4; do ln -s e2fsck "$root/sbin/$l"; done
	# mke2fs reads its defaults from here.
	mkdir -p "$root/etc"
	[ -f /etc/mke2fs.conf ] && cp /etc/mke2fs.conf "$root/etc/"
	;;
tools)
	[ $# -eq 1 ] && [ -x "$1" ] || die "usage: mkpart.sh tools <out> <tloop binary>"
	# Dynamic: with its libraries (libc) and the loader.
	copy_bin "$1" /usr/bin/tloop
	chmod 0755 "$root/usr/bin/tloop"
	# libnbd is dlopen()ed for NBD area2s only, so ldd does not list it: the host's
	# libnbd.so.0 of the libc's architecture (its directory, or /usr's), with its libraries.
	libc=$(ldd "$1" | awk '$1 == "libc.so.6" { print $3 }')
	[ -n "$libc" ] || die "ldd $1 lists no libc.so.6"
	libdir=$(dirname "$libc")
	nbdlib=
	for d in "$libdir" "/usr$libdir"; do
		[ -e "$d/libnbd.so.0" ] && nbdlib=$d/libnbd.so.0 && break
	done
	[ -n "$nbdlib" ] || die "no libnbd.so.0 in $libdir (run ci/deps.sh: libnbd-dev brings libnbd0)"
	copy_bin "$nbdlib"
	;;
modules)
	[ $# -eq 2 ] || die "usage: mkpart.sh modules <out> <modules dir> <tloop.ko>"
	cp -a "$1/." "$root/"
	release=$(ls "$root/lib/modules")
	mkdir -p "$root/lib/modules/$release/extra"
	cp "$2" "$root/lib/modules/$release/extra/"
	depmod -b "$root" "$release"
	;;
tests)
	[ $# -ge 1 ] || die "usage: mkpart.sh tests <out> <built tests dir> [extra dir]"
	mkdir -p "$root/tests"
	cp -a "$1/." "$root/tests/"
	if [ -n "${2:-}" ]; then
		mkdir -p "$root/tests-extra"
		cp -a "$2/." "$root/tests-extra/"
		# Scripts among them may carry a `tloop-timeout: N` line too.
		for f in "$root/tests-extra"/*; do
			t=$(grep -a -m1 -o 'tloop-timeout:[[:space:]]*[0-9][0-9]*' "$f" 2>/dev/null |
				grep -o '[0-9][0-9]*$' || true)
			[ -z "$t" ] || echo "${f##*/} $t"
		done > "$root/tests-extra/.timeouts"
	fi
	# The sum of the per-test timeouts (120 s when a test names none): the host gives the VM
	# that much plus the boot before it gives up on it.
	for d in "$root/tests" "$root/tests-extra"; do
		[ -d "$d" ] || continue
		for f in "$d"/*; do
			[ -f "$f" ] || continue
			awk -v n="${f##*/}" '$1 == n { print $2; found = 1; exit }
				END { if (!found) print 120 }' "$d/.timeouts" 2>/dev/null || echo 120
		done
	done | awk '{ s += $1 } END { print s + 0 }' > "$out.budget"
	;;
demo)
	[ $# -eq 1 ] && [ -d "$1" ] || die "usage: mkpart.sh demo <out> <demo dir>"
	mkdir -p "$root/demo"
	cp -a "$1/." "$root/demo/"
	;;
tree)
	[ $# -eq 1 ] && [ -d "$1" ] || die "usage: mkpart.sh tree <out> <dir>"
	cp -a "$1/." "$root/"
	;;
*)
	die "unknown part '$part'"
	;;
esac

(cd "$root" && find . -mindepth 1 | LC_ALL=C sort |
	cpio -o -H newc -R 0:0 --reproducible --quiet) > "$out.tmp"
truncate -s %4 "$out.tmp"
# An unchanged part keeps its time stamp, so nothing that contains it is rebuilt.
if cmp -s "$out.tmp" "$out"; then
	rm -f "$out.tmp"
else
	mv "$out.tmp" "$out"
fi
