#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# demo/run.sh - the seed's scenario, played with the real tool: area1 is a
# tloop device, an application stores into a few of its pages through
# mmap, and `tloop sync` refreshes area2 by copying only those pages.
# Runs in the VM (make demo) or on any host with the module loaded.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
writer=$here/tloop-demo-writer
PAGES="3 4 5 100 4000 16383"
dev=

say() {
	printf '\n== %s\n' "$*"
}
run() {
	printf '$ %s\n' "$*"
	"$@"
}
fail() {
	printf '\nDEMO FAILED: %s\n' "$*"
	exit 1
}
cleanup() {
	[ -z "$dev" ] || tloop detach "$dev" 2>/dev/null || true
}
trap cleanup EXIT

command -v tloop > /dev/null || fail "the tloop tool is not installed"
[ -x "$writer" ] || fail "$writer is missing (make -C demo)"
[ -c /dev/tloop-control ] || fail "/dev/tloop-control is missing (modprobe tloop)"

say "1. area1: a 64 MiB file with some data, attached as a tloop device with tracking on"
dd if=/dev/urandom of=area1.img bs=1M count=64 2>/dev/null
printf '$ tloop attach --track area1.img\n'
dev=$(tloop attach --track area1.img)
echo "$dev"
run tloop list

say "2. area2: the first refresh has nothing to go by, so it copies everything"
run tloop sync --create "$dev" area2.img
cmp area1.img area2.img || fail "area2 differs from area1 after the full copy"
echo "area2.img is now an exact copy of $dev."

say "3. An application maps $dev and writes into pages $PAGES (no msync)"
run "$writer" "$dev" $PAGES
echo "(each page is 4096 bytes; page 16383 is the last one)"

say "4. tloop written lists the pages that were written since the last refresh"
printf '$ tloop written %s\n' "$dev"
tloop written "$dev" > written.txt
cat written.txt
got=$(tr '\n' ' ' < written.txt | sed 's/ $//')
[ "$got" = "$PAGES" ] || fail "tloop written said '$got', the application wrote '$PAGES'"
echo "Exactly the pages the application wrote."
run tloop written --ranges "$dev"

say "5. tloop sync refreshes area2 by copying only those pages"
printf '$ tloop sync --json %s area2.img\n' "$dev"
json=$(tloop sync --json "$dev" area2.img)
echo "$json"
mode=$(echo "$json" | sed -n 's/.*"mode": "\([a-z]*\)".*/\1/p')
pages=$(echo "$json" | sed -n 's/.*"pages": \([0-9]*\).*/\1/p')
bytes=$(echo "$json" | sed -n 's/.*"bytes": \([0-9]*\).*/\1/p')
full=$(echo "$json" | sed -n 's/.*"device_size": \([0-9]*\).*/\1/p')
[ "$mode" = incremental ] || fail "the refresh was '$mode', not incremental"
[ "$pages" = 6 ] || fail "the refresh copied $pages pages, not 6"

say "6. Check: area2 equals area1 byte for byte"
run cmp "$dev" area2.img && run cmp area1.img area2.img || fail "area2 differs from area1"
echo "area1 (the device and its backing file) and area2 are identical."

say "What happened"
awk -v b="$bytes" -v f="$full" -v p="$pages" 'BEGIN {
	printf "The application changed %d pages of a %d MiB area.\n", p, f / 1048576
	printf "tloop recorded exactly those pages, and the refresh copied %d bytes (%.0f KiB)\n", b, b / 1024
	printf "instead of %d bytes (%d MiB) for a full copy: %.3f%% of the work.\n", f, f / 1048576, 100 * b / f
	printf "Writers that keep storing during a refresh may leave a page copied half-way;\n"
	printf "such a page is reported again, so a refresh after they stop is exact.\n"
}'

run tloop detach "$dev"
dev=
echo
echo "DEMO OK"
