#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# 66-tool-persist: `tloop attach --persist SIDECAR` keeps the written sets of the default
# consumer and of a named one across detach/attach and rmmod/modprobe, so the next
# `tloop sync` of each area2 is incremental and exact (cmp); the backing file modified
# while detached makes both a full copy (and exact); a corrupted sidecar gives a clear
# message, a full copy, exact; `tloop status` (text and --json) shows the sidecar and the
# restore outcome; bad sidecars are refused with a clear message.
# tloop-timeout: 300
set -u
. "${0%/*}/lib/tlt.sh"

echo "KTAP version 1"
echo "1..33"

cd "${TMPDIR:-/tmp}" || bail "cd"
rm -f a.img a.sets b0.img b1.img
truncate -s 8M a.img || bail "truncate"
dev=""
cleanup() {
	[ -n "$dev" ] && tloop detach "$dev" 2>/dev/null
}
trap cleanup EXIT

# attach - attach a.img with a.sets; sets dev, leaves stderr in att.err.
attach() {
	dev=$(tloop attach --persist a.sets a.img 2> att.err) || bail "attach: $(cat att.err)"
}

attach
res "attach --persist prints the device" [ -b "$dev" ]
res "a new sidecar: no message" [ ! -s att.err ]
PAGE=$(page_size "$dev")
res "status shows the sidecar, restore new" \
	sh -c "tloop status '$dev' | grep -q 'persistence: .*a.sets (restore at attach: new)'"
res "status --json: restore new" restore_is new
res "consumer add bk" tloop consumer add "$dev" bk
page "$dev" 1 3
page "$dev" 700
res "first sync (default) is full and exact" synced full --create b0.img
res "first sync (bk) is full and exact" synced full --consumer bk --create b1.img

# detach / attach
page "$dev" 10
page "$dev" 1500 2
res "detach" tloop detach "$dev"
dev=""
attach
res "attach after a clean detach: no message" [ ! -s att.err ]
res "status --json: restore trusted" restore_is trusted
res "consumer bk is back" sh -c "tloop consumer list '$dev' | grep -q '^bk '"
res "sync (default) after detach/attach is incremental and exact" synced incremental b0.img
page "$dev" 2000
res "sync (bk) after detach/attach is incremental and exact" \
	synced incremental --consumer bk b1.img
res "sync (default) again: incremental, exact" synced incremental b0.img

# rmmod / modprobe with the device attached (not open)
page "$dev" 33 5
res "rmmod with a persistent device attached" rmmod tloop
dev=""
res "modprobe" modprobe tloop
attach
res "status --json after rmmod: restore trusted" restore_is trusted
res "sync (default) after rmmod is incremental and exact" synced incremental b0.img
res "sync (bk) after rmmod is incremental and exact" synced incremental --consumer bk b1.img

# the backing file written while detached
res "detach" tloop detach "$dev"
dev=""
page a.img 300
attach
res "attach after a change: a message says the sets are not trusted" \
	grep -q "not trusted" att.err
res "status --json: restore changed" restore_is changed
res "sync (default) is a full copy, exact" synced full b0.img
res "sync (bk) is a full copy, exact" synced full --consumer bk b1.img

# a corrupted sidecar
res "detach" tloop detach "$dev"
dev=""
printf X | dd of=a.sets bs=1 seek=0 conv=notrunc 2>/dev/null
attach
res "corrupted sidecar: a clear message" grep -q "not a valid tloop sidecar" att.err
res "status --json: restore corrupt" restore_is corrupt
res "sync (default) is a full copy, exact" synced full b0.img
res "consumer bk was not restored: add it again" tloop consumer add "$dev" bk
res "sync (bk) is a full copy, exact" synced full --consumer bk b1.img

# bad sidecars
res "the backing file as sidecar is refused" \
	fails 1 "other than the backing file" tloop attach --persist a.img a.img
res "a directory as sidecar is refused" fails 1 "a.dir" sh -c 'mkdir -p a.dir && tloop attach --persist a.dir a.img'
res "the same sidecar twice is refused" fails 1 "in use by another device" \
	tloop attach --persist a.sets a.img
exit $failed
