#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# 57-tool-storage-cut: area2's storage loses power (or fails writes) while
# area1's host keeps running, and `tloop sync` must never leave area2
# silently stale.  area2 lives on ext4 on dm-flakey (over a loop device on
# tmpfs); a "cut" is what xfstests does: `dmsetup suspend --nolockfs` (the
# switch itself flushes nothing), a flakey table with drop_writes, resume,
# unmount (every write the filesystem still makes is lost), the linear table
# back, drop caches, mount (the journal replays what had reached the disk).
# What this models: a disk that loses everything not yet written to it at
# the cut; it does not model a volatile disk cache losing written but
# unflushed data (the whole-VM power cut does not either, see README).
#  (i)   a cut right after `tloop sync` returns;
#  (ii)  cuts at random moments of a sync of the whole device (half of them
#        also kill the consumer at the cut, as a power cut of its host would);
#  (iii) write errors on area2 (a block device on dm-flakey error_writes):
#        the sync fails with a clear message and leaves no baseline; the
#        next one, after the fault is gone, makes area2 exact;
#  (iv)  the consumer killed with SIGKILL at random moments of a sync;
# after each, `tloop sync` again: area2 must equal area1 byte for byte
# (which kind of refresh that was is reported).  Controls: (i) and (iii)
# with --unsafe-no-fsync (the order before issue 12) must leave area2 stale,
# which shows that this test detects the fault it is about.
# Rounds scale with TLOOP_SCALE.
# tloop-timeout: 900
set -u

. "${0%/*}/lib/tlt.sh"

SCALE=${TLOOP_SCALE:-1}
R1=$((3 * SCALE))	# (i)
R2=$((6 * SCALE))	# (ii)
R4=$((4 * SCALE))	# (iv)
SIZE_MB=16
MNT=$PWD/mnt
A2=$MNT/area2.img
DM=tlt57
DMB=tlt57b

dev= loop= loopb=
cleanup() {
	umount "$MNT" 2>/dev/null
	dmsetup remove "$DM" 2>/dev/null
	dmsetup remove "$DMB" 2>/dev/null
	[ -n "$loop" ] && losetup -d "$loop" 2>/dev/null
	[ -n "$loopb" ] && losetup -d "$loopb" 2>/dev/null
	[ -n "$dev" ] && tloop detach "$dev" 2>/dev/null
	rm -f /dev/mapper/$DMB.tloop
	[ -n "${expire:-}" ] && echo "$expire" > /proc/sys/vm/dirty_expire_centisecs
	[ -n "${wb:-}" ] && echo "$wb" > /proc/sys/vm/dirty_writeback_centisecs
}
trap cleanup EXIT

echo "KTAP version 1"
echo "1..$((R1 + R2 + R4 + 7))"

seed=$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')
diag "seed $seed, TLOOP_SCALE $SCALE"
# rnd MAX - R: a pseudo-random integer in [0, MAX) from the seed (advances it).
rnd() {
	seed=$(awk -v s="$seed" 'BEGIN { srand(s); print int(rand() * 2147483647) }')
	R=$((seed % $1))
}
msecs() {
	awk '{ printf "%d\n", $1 * 1000 }' /proc/uptime
}

modprobe loop && modprobe dm-flakey && modprobe ext4 || bail "modprobe loop/dm-flakey/ext4"

# new_loop FILE MB - a loop device over a new tmpfs file.
new_loop() {
	truncate -s "${2}M" "$1" || return 1
	l=$(losetup -f) && losetup "$l" "$1" && echo "$l"
}
loop=$(new_loop disk.img 64) || bail "loop device for area2's filesystem"
loopb=$(new_loop diskb.img $SIZE_MB) || bail "loop device for the block-device area2"
# table DM MODE - the table of DM over its loop device: up, drop or error.
table() {
	l=$loop
	[ "$1" = "$DMB" ] && l=$loopb
	s=$(blockdev --getsz "$l")
	case $2 in
	up) echo "0 $s linear $l 0" ;;
	drop) echo "0 $s flakey $l 0 0 180 1 drop_writes" ;;
	error) echo "0 $s flakey $l 0 0 180 1 error_writes" ;;
	esac
}
# switch DM MODE - change the table without flushing anything.
switch() {
	dmsetup suspend --nolockfs "$1" && dmsetup load "$1" --table "$(table "$1" "$2")" &&
		dmsetup resume "$1"
}
# No udev in the VM: dmsetup mknodes makes the /dev/mapper nodes.
for d in "$DM" "$DMB"; do
	dmsetup create "$d" --table "$(table "$d" up)" && dmsetup mknodes "$d" &&
		[ -b "/dev/mapper/$d" ] || bail "dmsetup create $d"
done
mkfs.ext4 -q -F "/dev/mapper/$DM" || bail "mkfs.ext4"
mkdir -p "$MNT"
mount -t ext4 "/dev/mapper/$DM" "$MNT" || bail "mount"

truncate -s "${SIZE_MB}M" a.img
dev=$(tloop attach --track a.img) || bail "tloop attach"
PAGE=$(page_size "$dev")
PAGES=$((SIZE_MB * 1048576 / PAGE))
diag "area1 $dev (${SIZE_MB} MiB), area2 $A2 on /dev/mapper/$DM ($loop)"
dd if=/dev/urandom of="$dev" bs=1M count=$SIZE_MB conv=fsync 2>/dev/null
tloop sync --create "$dev" "$A2" > /dev/null || bail "first sync"
sync

# cut [kill|wait PID] - area2's disk loses power: writes dropped from now on; the
# consumer PID is killed at that moment, or runs on (its writes lost) until it ends;
# unmount, disk back, remount.
cut() {
	switch "$DM" drop || return 1
	case ${1:-} in
	kill) kill -KILL "$2" 2>/dev/null; wait "$2" 2>/dev/null ;;
	wait) wait "$2" 2>/dev/null ;;
	esac
	umount "$MNT" || return 1
	switch "$DM" up || return 1
	echo 3 > /proc/sys/vm/drop_caches
	mount -t ext4 "/dev/mapper/$DM" "$MNT"
}
# scatter K - rewrite K random pages of area1 (through the device, made durable on it).
scatter() {
	awk -v s="$seed" -v k="$1" -v n=$PAGES \
		'BEGIN { srand(s); for (i = 0; i < k; i++) print int(rand() * n) }' |
		while read -r p; do
			dd if=/dev/urandom of="$dev" bs=$PAGE seek="$p" count=1 conv=notrunc,fsync \
				2>/dev/null
		done
	rnd 2 > /dev/null
}
nfull=0 ninc=0
# recover AREA2 [OPTION] - `tloop sync` after an incident; sets $mode to its kind.
recover() {
	out=$(tloop sync --json ${2:-} "$dev" "$1" 2>&1)
	rc=$?
	mode="$(echo "$out" | sed -n 's/.*"mode": "\([a-z]*\)".*/\1/p')"
	mode="$mode ($(echo "$out" | sed -n 's/.*"reason": "\([a-z-]*\)".*/\1/p'))"
	case $mode in
	full*) nfull=$((nfull + 1)) ;;
	incremental*) ninc=$((ninc + 1)) ;;
	esac
	[ $rc -eq 0 ] || diag "recovering sync failed: $out"
	return $rc
}
# exact AREA2 - area2 equals area1; otherwise says how many bytes differ.
exact() {
	cmp -s "$dev" "$1" && return 0
	diag "$1 differs from $dev in $(cmp -l "$dev" "$1" 2>/dev/null | wc -l) bytes"
	return 1
}
side() {
	[ -e "$A2.tloop" ] && echo "baseline kept" || echo "no baseline"
}

t0=$(date +%s)
# (i) a cut right after the sync returns.
i=0
while [ $i -lt $R1 ]; do
	i=$((i + 1))
	scatter 64
	tloop sync "$dev" "$A2" > /dev/null 2> err.txt || diag "sync: $(cat err.txt)"
	if cut; then
		s=$(side)
		recover "$A2"
		res "(i) cut right after sync $i ($s): then $mode, area2 equals area1" exact "$A2"
	else
		res "(i) cut right after sync $i" false
	fi
done

# Control: the order before issue 12 (no flush of area2 before the baseline). Periodic
# write-back is held off so that nothing but the tool's own calls flush area2.
expire=$(cat /proc/sys/vm/dirty_expire_centisecs)
wb=$(cat /proc/sys/vm/dirty_writeback_centisecs)
echo 360000 > /proc/sys/vm/dirty_expire_centisecs
echo 0 > /proc/sys/vm/dirty_writeback_centisecs
scatter 64
tloop sync --unsafe-no-fsync "$dev" "$A2" > /dev/null
stale=1
if cut; then
	s=$(side)
	recover "$A2"
	if exact "$A2"; then
		diag "control: area2 was exact after the cut ($s, $mode)"
	else
		stale=0
		diag "control: with --unsafe-no-fsync, after the cut ($s), the next sync was $mode"
	fi
fi
res "control (i): --unsafe-no-fsync + a cut after the sync leaves area2 stale" [ $stale -eq 0 ]
tloop sync --full "$dev" "$A2" > /dev/null
# And the same round with the default: exact.
scatter 64
tloop sync "$dev" "$A2" > /dev/null
if cut; then
	recover "$A2"
	res "... while the default, with write-back held off too, leaves it exact ($mode)" \
		exact "$A2"
else
	res "... default with write-back held off" false
fi
echo "$expire" > /proc/sys/vm/dirty_expire_centisecs
echo "$wb" > /proc/sys/vm/dirty_writeback_centisecs
expire= wb=
nfull=0 ninc=0
t1=$(date +%s)

# (ii) cuts at random moments of a refresh of the whole device. Each part starts from an
# exact area2, so that a failure is reported where it happens.
tloop sync --full "$dev" "$A2" > /dev/null
# The shorter of two timed refreshes; cuts fall in the first 3/4 of that.
ms=999999
for k in 1 2; do
	dd if=/dev/urandom of="$dev" bs=1M count=$SIZE_MB conv=fsync 2>/dev/null
	s0=$(msecs)
	tloop sync --max-io 64K "$dev" "$A2" > /dev/null
	s0=$(($(msecs) - s0))
	[ $s0 -lt $ms ] && ms=$s0
done
ms=$((ms * 3 / 4))
diag "(ii) a refresh of the whole of area1 takes ~$((ms * 4 / 3)) ms; cuts in [0, $ms] ms"
i=0
while [ $i -lt $R2 ]; do
	i=$((i + 1))
	dd if=/dev/urandom of="$dev" bs=1M count=$SIZE_MB conv=fsync 2>/dev/null
	tloop sync --max-io 64K "$dev" "$A2" > /dev/null 2>&1 &
	pid=$!
	rnd $((ms + 1))
	delay=$R
	sleep "$(awk -v d="$delay" 'BEGIN { printf "%.3f", d / 1000 }')"
	rnd 2
	if [ $R = 1 ]; then
		how="killed"
		cut kill "$pid"
	else
		how="ran on"
		cut wait "$pid"
	fi
	ok=$?
	wait "$pid" 2>/dev/null
	if [ $ok -eq 0 ]; then
		s=$(side)
		recover "$A2"
		res "(ii) cut $i at ${delay} ms (consumer $how, $s): then $mode, exact" exact "$A2"
	else
		res "(ii) cut $i" false
	fi
done
diag "(ii) recovering syncs: $ninc incremental, $nfull full"
nfull=0 ninc=0
t2=$(date +%s)

# (iii) write errors on area2: a block device on dm-flakey with error_writes; its baseline
# is /dev/mapper/$DMB.tloop on devtmpfs, so the only thing that fails is area2's write-back.
B=/dev/mapper/$DMB
tloop sync "$dev" "$B" > /dev/null || diag "first sync into $B failed"
scatter 64
switch "$DMB" error
tloop sync "$dev" "$B" > out.txt 2> err.txt
rc=$?
res "(iii) write errors on area2: the sync fails (status 1) naming area2 and the error" \
	sh -c "[ $rc -eq 1 ] && grep -q '$B.*Input/output error' err.txt"
[ $rc -eq 1 ] || diag "status $rc: $(cat err.txt)"
diag "$(cat err.txt)"
res "... and leaves no baseline" [ ! -e "$B.tloop" ]
switch "$DMB" up
recover "$B"
res "(iii) after the fault is gone the next sync is $mode and area2 is exact" exact "$B"
# Control: --unsafe-no-fsync does not see the error, records a baseline, and area2 stays
# stale (the kernel cleared the pages that never reached it).
scatter 64
switch "$DMB" error
tloop sync --unsafe-no-fsync "$dev" "$B" > /dev/null 2>&1
urc=$?
blockdev --flushbufs "$B" 2>/dev/null
switch "$DMB" up
echo 3 > /proc/sys/vm/drop_caches
# The old order throughout: the next run does not flush either (a run that does sees the
# write-back error nobody has seen yet, fails, and the one after it is full).
recover "$B" --unsafe-no-fsync
stale=1
exact "$B" > /dev/null || stale=0
diag "control (iii): --unsafe-no-fsync exited $urc, the next sync was $mode"
res "control (iii): --unsafe-no-fsync with write errors leaves area2 stale" [ $stale -eq 0 ]
tloop sync --full "$dev" "$B" > /dev/null
nfull=0 ninc=0
t3=$(date +%s)

# (iv) the consumer killed at random moments of a refresh.
tloop sync --full "$dev" "$A2" > /dev/null
i=0
while [ $i -lt $R4 ]; do
	i=$((i + 1))
	dd if=/dev/urandom of="$dev" bs=1M count=$SIZE_MB conv=fsync 2>/dev/null
	tloop sync --max-io 64K "$dev" "$A2" > /dev/null 2>&1 &
	pid=$!
	rnd $((ms + 1))
	delay=$R
	sleep "$(awk -v d="$delay" 'BEGIN { printf "%.3f", d / 1000 }')"
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	s=$(side)
	recover "$A2"
	res "(iv) SIGKILL $i at ${delay} ms ($s): then $mode, exact" exact "$A2"
done
diag "(iv) recovering syncs: $ninc incremental, $nfull full"
t4=$(date +%s)
diag "cost: (i)+controls $((t1 - t0)) s, (ii) $((t2 - t1)) s, (iii) $((t3 - t2)) s," \
	"(iv) $((t4 - t3)) s"

res "area2's filesystem unmounts and is clean (e2fsck -fn)" \
	sh -c "umount '$MNT' && e2fsck -fn /dev/mapper/$DM > /dev/null 2>&1"
exit $failed
