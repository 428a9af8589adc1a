#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# 61-tool-power-cut: the whole VM loses power (sysrq-b, nothing synced) and boots again,
# and `tloop sync` must leave area2 exact: issue 12, shape (B), on the harness's power-cut
# protocol (tests/README.md): this test runs in boots of its own, with a scratch disk that
# survives them, and knows which boot it is in (TLOOP_BOOT).
# Scratch disk: ext4 "A" (area1's backing files and this test's state) and ext4 "B"
# (area2), each on a dm table over a part of the disk (B's can be switched to dm-flakey).
# After a cut, area1 is its backing file re-attached (a new attachment): what the device
# had not flushed is gone from area1 too, so the ground truth after the cut is area1 as
# re-attached, and the claim is: area2 == area1 after the post-cut sync, and if that sync
# was incremental, it was entitled to be (a baseline of this attachment and generation).
#  boot 1     setup; (iii) write errors on area2 (dm-flakey error_writes under B): the
#             sync fails with a clear message; B back (unmounted, e2fsck'ed, mounted),
#             the next sync makes area2 exact; then (i) a cut right after `tloop sync`
#             returns, with its control: another area1/area2 pair synced with
#             --unsafe-no-fsync (the order before issue 12), write-back held off, cut at
#             the same moment;
#  boot 2     (i) area2 already equals area1 before any refresh (its baseline survived:
#             it vouched only for data on disk), then the post-cut sync; the control's
#             area2 must be stale while its baseline survived (the test sees the fault
#             it is about);
#  boot 2...  then one run per boot, 3 x TLOOP_SCALE runs: area1 rewritten (flushed), a
#             sync of the whole device, and while it runs another writer stores into
#             area1 without flushing; at a random moment of the sync, (ii) the power is
#             cut, or (iv) (every third run) the consumer is killed with SIGKILL and
#             then the power is cut; the next boot makes the post-cut sync;
#  last boot  the post-cut sync of the last run; both filesystems clean (e2fsck -fn).
# Each boot prints its own results (the harness combines the boots). Boots: 2 + 3 x
# TLOOP_SCALE (5 by default), at most what the tloop-power line allows.
# tloop-power: boots=42 disk=128
# tloop-timeout: 600
set -u

boot=${TLOOP_BOOT:-}
disk=${TLOOP_DISK:-}
. "${0%/*}/lib/tlt.sh"

quiet() {
	"$@" > /dev/null
}

echo "KTAP version 1"
[ -n "$boot" ] && [ -b "$disk" ] ||
	bail "not in a power-cut boot (TLOOP_BOOT '$boot', TLOOP_DISK '$disk')"

SCALE=${TLOOP_SCALE:-1}
RUNS=$((3 * SCALE))
# TLOOP_POWER_RUNS (set by test-vm/power.sh on a KASAN kernel: 1 x TLOOP_SCALE) overrides.
RUNS=${TLOOP_POWER_RUNS:-$RUNS}
# Never more boots than the tloop-power line allows.
[ $((2 + RUNS)) -le "${TLOOP_BOOTS:-42}" ] || RUNS=$((${TLOOP_BOOTS:-42} - 2))
SIZE_MB=8
A=/mnt/a
B=/mnt/b
DMA=tlt59a
DMB=tlt59b
STATE=$A/state
A2=$B/area2.img
A2U=$B/area2u.img
# The two filesystems: 64 MiB each, A at the start of the disk, B after it.
SEC_MB=2048
TA="0 $((64 * SEC_MB)) linear $disk 0"
TB="0 $((64 * SEC_MB)) linear $disk $((64 * SEC_MB))"
# terr_table - B's table with write errors on the blocks of area2's data only (debugfs
# lists them; 4 KiB blocks): the filesystem's metadata and journal stay writable, so what fails is the
# write-back of area2's pages (reported by its fdatasync), not the baseline's removal.
terr_table() {
	debugfs -R "blocks /area2.img" /dev/mapper/$DMB 2>/dev/null | tr ' ' '\n' |
		grep -x '[0-9][0-9]*' | sort -n |
		awk -v sz=$((64 * SEC_MB)) -v d="$disk" -v off=$((64 * SEC_MB)) '
		function seg(from, to, kind) {
			if (to <= from)
				return
			if (kind == "err")
				print from, to - from, "flakey", d, off + from, "0 180 1 error_writes"
			else
				print from, to - from, "linear", d, off + from
		}
		function run() { seg(at, lo * 8, "lin"); seg(lo * 8, (hi + 1) * 8, "err"); at = (hi + 1) * 8 }
		BEGIN { at = 0 }
		{ b = $1 + 0 }
		NR == 1 { lo = hi = b; next }
		b == hi + 1 { hi = b; next }
		{ run(); lo = hi = b }
		END { if (NR == 0) exit 1; run(); seg(at, sz, "lin") }'
}

seed=$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')
diag "boot $boot of ${TLOOP_BOOTS:-?}, scratch disk $disk, seed $seed, TLOOP_SCALE $SCALE:" \
	"$RUNS runs cut at random moments of a sync (every third: SIGKILL, then the cut)"
rnd() {
	seed=$(awk -v s="$seed" 'BEGIN { srand(s); print int(rand() * 2147483647) }')
	R=$((seed % $1))
}

modprobe dm-flakey && modprobe ext4 || bail "modprobe dm-flakey/ext4"
for d in "$DMA:$TA" "$DMB:$TB"; do
	dmsetup create "${d%%:*}" --table "${d#*:}" && dmsetup mknodes "${d%%:*}" ||
		bail "dmsetup create ${d%%:*}"
done
mkdir -p $A $B

dev= devu=
cleanup() {
	# A table switch that failed halfway leaves B suspended: resume it first.
	dmsetup resume "$DMB" 2>/dev/null
	[ -n "$dev" ] && tloop detach "$dev" 2>/dev/null
	[ -n "$devu" ] && tloop detach "$devu" 2>/dev/null
	umount $A 2>/dev/null
	umount $B 2>/dev/null
	dmsetup remove "$DMA" 2>/dev/null
	dmsetup remove "$DMB" 2>/dev/null
}
trap cleanup EXIT

# state KEY - a value of the test's state (on A, written durably before each cut).
state() {
	awk -v k="$1" '$1 == k { print $2 }' "$STATE" 2>/dev/null
}
# set_state K=V... - the new state, durable (fsync of this one file only: area2's
# filesystem B is not flushed by it).
set_state() {
	for kv; do echo "${kv%%=*} ${kv#*=}"; done | dd of="$STATE" conv=fsync 2>/dev/null
}
msecs() {
	awk '{ printf "%d\n", $1 * 1000 }' /proc/uptime
}
# scatter DEV K - rewrite K random pages of DEV, flushed (durable on area1's backing file).
scatter() {
	awk -v s="$seed" -v k="$2" -v n=$((SIZE_MB * 256)) \
		'BEGIN { srand(s); for (i = 0; i < k; i++) print int(rand() * n) }' |
		while read -r p; do
			dd if=/dev/urandom of="$1" bs=4096 seek="$p" count=1 conv=notrunc,fsync \
				2>/dev/null
		done
	rnd 2 > /dev/null
}
# exact DEV AREA2 - area2 equals area1; otherwise says how many bytes differ.
exact() {
	cmp -s "$1" "$2" && return 0
	diag "$2 differs from $1 in $(cmp -l "$1" "$2" 2>/dev/null | wc -l) bytes"
	return 1
}
# baseline_key AREA2 - "attach_id generation" of AREA2's baseline, or "none".
baseline_key() {
	if [ -f "$1.tloop" ]; then
		awk '$1 == "attach_id" { a = $2 } $1 == "generation" { g = $2 }
			END { print (a == "" ? "unreadable" : a " " g) }' "$1.tloop"
	else
		echo none
	fi
}
# device_key DEV - "attach_id generation" of the device now.
device_key() {
	tloop status --json "$1" | sed -n 's/.*"attach_id": *"\([0-9a-f]*\)".*/\1/p;
		s/.*"generation": *\([0-9]*\).*/\1/p' | tr '\n' ' ' | sed 's/ $//'
}
nfull=0 ninc=0
# recover DEV AREA2 WHAT - the post-incident `tloop sync`; then area2 must equal area1, and
# an incremental refresh must have been entitled to (the baseline it found was of this
# attachment and generation). Reports the kind of refresh.
recover() {
	before=$(baseline_key "$2")
	now=$(device_key "$1")
	out=$(tloop sync --json "$1" "$2" 2>&1)
	rc=$?
	mode=$(echo "$out" | sed -n 's/.*"mode": "\([a-z]*\)".*/\1/p')
	why=$(echo "$out" | sed -n 's/.*"reason": "\([a-z-]*\)".*/\1/p')
	[ $rc -eq 0 ] || diag "recovering sync failed (status $rc): $out"
	entitled=1
	case $mode in
	full) nfull=$((nfull + 1)) ;;
	incremental)
		ninc=$((ninc + 1))
		if [ "$before" != "$now" ]; then
			entitled=0
			diag "incremental, but the baseline ($before) is not of this attachment" \
				"and generation ($now)"
		fi
		;;
	esac
	res "$3: then $mode ($why), area2 equals area1" exact "$1" "$2"
	res "... and $mode was allowed (incremental only from a baseline of this attachment and generation: baseline $before, device $now)" \
		[ $rc -eq 0 -a $entitled -eq 1 ]
}
# cut WHY - cut the power (the harness's tloop-cut: announced, nothing synced).
cut() {
	diag "boot $boot: $(($(msecs) - t0)) ms of test; cutting the power: $1"
	exec tloop-cut "$1"
}
# sync_bg - a sync of the whole device in the background, SIZE_MB rewritten
# first (flushed), and another writer storing 1 MiB into area1 without flushing during it.
sync_bg() {
	dd if=/dev/urandom of="$dev" bs=1M count=$SIZE_MB conv=fsync 2>/dev/null
	rnd $((SIZE_MB * 256 - 256))
	tloop sync --max-io 64K "$dev" "$A2" > /dev/null 2>&1 &
	pid=$!
	dd if=/dev/urandom of="$dev" bs=4096 seek=$R count=256 conv=notrunc 2>/dev/null &
}
# pick_delay - $delay: a random moment in [0, 3/4 of a timed sync of the whole device] ms.
pick_delay() {
	ms=$(state ms)
	rnd $((${ms:-1000} + 1))
	delay=$R
}
sleep_delay() {
	sleep "$(awk -v d="$delay" 'BEGIN { printf "%.3f", d / 1000 }')"
}
t0=$(msecs)

if [ "$boot" = 1 ]; then
	mkfs.ext4 -q -F -b 4096 /dev/mapper/$DMA && mkfs.ext4 -q -F -b 4096 /dev/mapper/$DMB &&
		mount -t ext4 /dev/mapper/$DMA $A && mount -t ext4 /dev/mapper/$DMB $B ||
		bail "mkfs/mount of the scratch disk's filesystems"
	for f in a1 a1u; do
		dd if=/dev/urandom of=$A/$f.img bs=1M count=$SIZE_MB conv=fsync 2>/dev/null
	done
	dev=$(tloop attach --track $A/a1.img) && devu=$(tloop attach --track $A/a1u.img) ||
		bail "tloop attach"
	tloop sync --create "$dev" "$A2" > /dev/null && tloop sync --create "$devu" "$A2U" \
		> /dev/null || bail "first syncs"
	sync
	# A sync of the whole device, timed: random cuts fall in its first 3/4.
	dd if=/dev/urandom of="$dev" bs=1M count=$SIZE_MB conv=fsync 2>/dev/null
	s0=$(msecs)
	tloop sync --max-io 64K "$dev" "$A2" > /dev/null
	ms=$((($(msecs) - s0) * 3 / 4))
	diag "a sync of the whole of area1 (${SIZE_MB} MiB) takes $((ms * 4 / 3)) ms"
	res "setup: area1 and the control's area1 on A, their area2 on B, synced" \
		exact "$dev" "$A2"
	# (iii) write errors on area2's filesystem.
	scatter "$dev" 64
	terr=$(terr_table) || bail "the blocks of area2.img (debugfs)"
	dmsetup suspend --nolockfs $DMB && dmsetup load $DMB --table "$terr" &&
		dmsetup resume $DMB || bail "dm-flakey error_writes under B"
	tloop sync "$dev" "$A2" > out.txt 2> err.txt
	rc=$?
	diag "(iii) status $rc: $(cat err.txt)"
	res "(iii) write errors on area2: the sync fails (status 1) with an I/O error message naming area2" \
		sh -c "[ $rc -eq 1 ] && grep -q '$B/area2.img.*Input/output error' err.txt"
	dmsetup suspend --nolockfs $DMB && dmsetup load $DMB --table "$TB" &&
		dmsetup resume $DMB || bail "dm table of B back"
	umount $B
	e2fsck -fy /dev/mapper/$DMB > fsck.txt 2>&1
	diag "(iii) e2fsck -fy of B after the errors: status $? ($(tail -n 1 fsck.txt))"
	mount -t ext4 /dev/mapper/$DMB $B || bail "mount of B after the errors"
	res "... and left no baseline (none after B was unmounted and mounted again)" \
		[ ! -e "$A2.tloop" ]
	recover "$dev" "$A2" "(iii) after the fault is gone"
	set_state phase=i ms=$ms inc=$ninc full=$nfull
	# (i) and its control. Periodic write-back is held off, so that nothing but the tool's
	# own calls flush area2 before the cut.
	echo 360000 > /proc/sys/vm/dirty_expire_centisecs
	echo 0 > /proc/sys/vm/dirty_writeback_centisecs
	scatter "$dev" 64
	scatter "$devu" 64
	# TLOOP_POWER_BREAK=1 (make test VM_APPEND=TLOOP_POWER_BREAK=1): (i) itself runs the old
	# order, to see the checks below fail (tests/README.md says what that showed).
	unsafe=
	[ "${TLOOP_POWER_BREAK:-0}" = 1 ] && unsafe=--unsafe-no-fsync &&
		diag "TLOOP_POWER_BREAK=1: (i) syncs with --unsafe-no-fsync; it must fail"
	res "(i) tloop sync $unsafe" quiet tloop sync $unsafe "$dev" "$A2"
	res "(i) control: tloop sync --unsafe-no-fsync" quiet tloop sync --unsafe-no-fsync "$devu" "$A2U"
	cut "(i) right after tloop sync returned (and the control's --unsafe-no-fsync sync)"
fi

# Every later boot: the filesystems back (their journals replay), area1 re-attached.
mount -t ext4 /dev/mapper/$DMA $A && mount -t ext4 /dev/mapper/$DMB $B ||
	bail "mount after the cut"
phase=$(state phase)
inc0=$(state inc) full0=$(state full)
dev=$(tloop attach --track $A/a1.img) || bail "tloop attach after the cut"
diag "after the cut of phase '$phase' (boot $((boot - 1))); area1 re-attached as $dev"

case $phase in
i)
	res "(i) area2's baseline survived the cut" [ -f "$A2.tloop" ]
	res "(i) area2 equals area1 (as re-attached) before any refresh: its baseline vouched only for data on disk" \
		exact "$dev" "$A2"
	recover "$dev" "$A2" "(i) after the cut right after a sync"
	devu=$(tloop attach --track $A/a1u.img) || bail "tloop attach (control)"
	stale=1
	if [ -f "$A2U.tloop" ] && ! cmp -s "$devu" "$A2U"; then
		stale=0
		diag "control: with --unsafe-no-fsync, the baseline survived the cut and vouches" \
			"for an area2 that differs from area1 in $(cmp -l "$devu" "$A2U" | wc -l) bytes"
	else
		diag "control: baseline $(baseline_key "$A2U"); area2 equal: $(cmp -s "$devu" "$A2U" &&
			echo yes || echo no)"
	fi
	res "control: --unsafe-no-fsync + a cut after the sync: a surviving baseline and a stale area2" \
		[ $stale -eq 0 ]
	recover "$devu" "$A2U" "control: the post-cut sync"
	tloop detach "$devu" && devu=
	run=1
	;;
run)
	run=$(state run)
	what="(ii) run $run, cut at $(state delay) ms of a sync"
	[ $((run % 3)) = 0 ] && what="(iv) run $run, SIGKILL at $(state delay) ms of a sync, then a cut"
	recover "$dev" "$A2" "$what"
	run=$((run + 1))
	;;
*)
	bail "unknown phase '$phase' in $STATE"
	;;
esac
diag "boot $boot: recovering syncs: $ninc incremental, $nfull full"

if [ "$run" -le $RUNS ]; then
	pick_delay
	set_state phase=run ms="$(state ms)" run=$run delay=$delay inc=$((inc0 + ninc)) \
		full=$((full0 + nfull))
	sync_bg
	sleep_delay
	if [ $((run % 3)) = 0 ]; then
		kill -KILL $pid 2>/dev/null
		cut "(iv) run $run of $RUNS: SIGKILL of the consumer at $delay ms of a sync, then the cut"
	fi
	cut "(ii) run $run of $RUNS: at $delay ms of a sync of the whole device"
fi

# The last boot.
diag "$((boot - 1)) cuts, $boot boots; the syncs after an incident, in all boots:" \
	"$((inc0 + ninc)) incremental, $((full0 + nfull)) full"
tloop detach "$dev" && dev=
res "the scratch disk's filesystems unmount and are clean (e2fsck -fn)" \
	sh -c "umount $A && umount $B && e2fsck -fn /dev/mapper/$DMA > /dev/null 2>&1 &&
		e2fsck -fn /dev/mapper/$DMB > /dev/null 2>&1"
echo "1..$n"
exit $failed
