#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# 72-tool-persist-nospace: a save of the written sets that fails midway, here because the
# sidecar's filesystem (a 16 KiB tmpfs) fills up, leaves the sidecar as its last complete
# write made it: the next attach reads "unclean", not "corrupt", the named consumers are
# still there (those added or removed after the attach too: each change rewrote the sidecar
# marked in use), every consumer is overflowed and each area2 gets a full copy (exact).  With
# room again the next clean detach saves: trusted, incremental, exact.  Saves of a large
# body after a small one and of a small one after a large one (the new body goes in front
# of the valid one when it fits, else after it) stay trusted and exact, and the sidecar
# is cut after the body in use.
# tloop-timeout: 300
set -u
. "${0%/*}/lib/tlt.sh"

echo "KTAP version 1"
echo "1..23"

cd "${TMPDIR:-/tmp}" || bail "cd"
rm -rf sc a.img b0.img b1.img
mkdir sc || bail "mkdir sc"
mount -t tmpfs -o size=16k tmpfs sc || bail "mount a 16 KiB tmpfs"
dev=""
cleanup() {
	[ -n "$dev" ] && tloop detach "$dev" 2>/dev/null
	umount sc 2>/dev/null
}
trap cleanup EXIT
truncate -s 32M a.img || bail "truncate"

attach() {
	dev=$(tloop attach --persist sc/a.sets a.img 2> att.err) || bail "attach: $(cat att.err)"
	PAGE=$(page_size "$dev")
}
detach() {
	tloop detach "$dev" || return 1
	dev=""
}
# every_other FIRST N - write N pages, FIRST, FIRST + 2, ...: N extents in every set.
every_other() {
	i=0
	while [ $i -lt "$2" ]; do
		page "$dev" $(($1 + 2 * i)) || return 1
		i=$((i + 1))
	done
}
# saves_failed - the kernel's count of failed saves of a.sets so far.
saves_failed() { dmesg | grep -c 'saving the sets to .*a.sets failed'; }

attach
res "attach on a 16 KiB tmpfs: restore new" restore_is new
res "consumer add c1" tloop consumer add "$dev" c1
res "first sync (default): full, exact" synced full --create b0.img
res "first sync (c1): full, exact" synced full --consumer c1 --create b1.img
detach || bail "detach"
attach
res "attach after a clean save: restore trusted" restore_is trusted
# Consumers added and removed while attached are recorded in the sidecar marked in use.
res "consumer add c2, add c3, remove c3" sh -c "tloop consumer add '$dev' c2 &&
	tloop consumer add '$dev' c3 && tloop consumer remove '$dev' c3"

# 600 extents in each of two sets: a body of about 19 KiB, more than the tmpfs holds.
every_other 0 600 || bail "write pages"
f0=$(saves_failed)
res "detach with the sidecar's filesystem too small for the save" detach
res "the kernel reports the failed save" [ "$(saves_failed)" -gt "$f0" ]
attach
res "attach after the failed save: restore unclean, not corrupt" restore_is unclean
res "consumers c1 and c2 are still there, c3 is not" sh -c "tloop consumer list '$dev' > cl.txt &&
	grep -q '^c1 ' cl.txt && grep -q '^c2 ' cl.txt && ! grep -q '^c3 ' cl.txt"
res "sync (default) after the failed save: full, exact" synced full b0.img
res "sync (c1) after the failed save: full, exact" synced full --consumer c1 b1.img

mount -o remount,size=1m sc || bail "remount sc with room"
page "$dev" 5
page "$dev" 900
res "detach with room: a clean save" detach
attach
res "attach after the clean save: restore trusted" restore_is trusted
res "sync (default): incremental, exact" synced incremental b0.img
res "sync (c1): incremental, exact" synced incremental --consumer c1 b1.img

# A large body after a small one: it goes after the valid one.
every_other 1 600 || bail "write pages"
detach || bail "detach"
attach
res "a large save after a small one: restore trusted" restore_is trusted
res "... sync (default): incremental, exact" synced incremental b0.img
res "... sync (c1): incremental, exact" synced incremental --consumer c1 b1.img

# A small body after a large one: it goes in front, the file is cut after it.
page "$dev" 7
detach || bail "detach"
sz=$(stat -c %s sc/a.sets)
res "a small save after a large one: the large body is cut away ($sz bytes < 12 KiB)" \
	sh -c "[ $sz -gt 4096 ] && [ $sz -lt 12288 ]"
attach
res "... restore trusted" restore_is trusted
res "... sync (default): incremental, exact" synced incremental b0.img
res "... sync (c1): incremental, exact" synced incremental --consumer c1 b1.img
exit $failed
