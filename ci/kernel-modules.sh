#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# ci/kernel-modules.sh <pkgroot> <release> <dest> - copy the modules named in
# initramfs/modules.list, with everything they depend on, from an unpacked kernel package
# (<pkgroot>/lib/modules/<release>/) into <dest>/lib/modules/<release>/, decompressed
# (.ko.xz -> .ko), and run the host's depmod on the result so that `modprobe` works in the
# guest. Used by every kernel provisioning script (ci/kernel-*.sh).
set -eu

die() { echo "kernel-modules.sh: $*" >&2; exit 1; }

[ $# -eq 3 ] || die "usage: kernel-modules.sh <pkgroot> <release> <dest>"
pkgroot=$1 release=$2 dest=$3
here=$(cd "$(dirname "$0")" && pwd)
list=${TLOOP_MODULES_LIST:-$here/../initramfs/modules.list}
src=$pkgroot/lib/modules/$release
[ -d "$src" ] || die "$src: no such directory"
PATH=$PATH:/sbin:/usr/sbin

# Dependency information for the whole package first.
depmod -b "$pkgroot" "$release"

out=$dest/lib/modules/$release
mkdir -p "$out"
for f in modules.builtin modules.builtin.modinfo modules.order; do
	[ -f "$src/$f" ] && cp "$src/$f" "$out/"
done

# A line a|b names alternatives (a module renamed between kernels): the first one this
# kernel has (as a module or built in) is taken.
missing=
for alts in $(sed 's/#.*//' "$list"); do
	deps=
	for m in $(printf '%s\n' "$alts" | tr '|' ' '); do
		deps=$(modprobe -d "$pkgroot" -S "$release" --show-depends "$m" 2>/dev/null) && break
		deps=
	done
	[ -n "$deps" ] || { missing="$missing $alts"; continue; }
	printf '%s\n' "$deps" | while read -r kind path _; do
		[ "$kind" = insmod ] || continue
		rel=${path#"$pkgroot"/lib/modules/"$release"/}
		to=$out/${rel%.xz}
		to=${to%.zst}
		to=${to%.gz}
		[ -f "$to" ] && continue
		mkdir -p "$(dirname "$to")"
		case $path in
		*.xz) xz -dc "$path" > "$to" ;;
		*.zst) zstd -dcq "$path" > "$to" ;;
		*.gz) gzip -dc "$path" > "$to" ;;
		*) cp "$path" "$to" ;;
		esac
	done
done
[ -z "$missing" ] || die "modules not found in $release:$missing (see $list)"

depmod -b "$dest" "$release"
echo "modules for $release: $(find "$out" -name '*.ko' | wc -l) files," \
	"$(du -sh "$out" | cut -f1)"
