#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# bench/dev-fio.sh - fio throughput of a tloop device against the stock loop driver, in the
# same VM boot, on the same kind of backing file. Runs inside the test VM as a KTAP test
# (`make bench-dev`); the figures are printed as "# bench:" lines and never asserted: a
# result is "not ok" only when fio or the setup fails.
#
# Workloads: sequential 1 MiB and random 4 KiB, read and write, psync engine, O_DIRECT on
# the device (so every request reaches the driver), one job, time based.
# Backing files: buffered, on tmpfs (/tmp) and on ext4 over a brd ramdisk.
# Environment: TLOOP_BENCH_FIO_SECONDS (default 5) per run, TLOOP_BENCH_DEV_MB (default 256)
# file size, TLOOP_BENCH_REPEAT (default 3) runs per figure, the median is kept.
set -eu

secs=${TLOOP_BENCH_FIO_SECONDS:-5}
size_mb=${TLOOP_BENCH_DEV_MB:-256}
repeat=${TLOOP_BENCH_REPEAT:-3}
work=$(pwd)
n=0
failed=0

say() { printf '%s\n' "$*"; }
diag() { printf '# %s\n' "$*"; }
result() {
	n=$((n + 1))
	if [ "$1" = 0 ]; then say "ok $n $2"; else say "not ok $n $2"; failed=$((failed + 1)); fi
}

# attach KIND FILE - print the device node of a new KIND (tloop|loop) device on FILE.
attach() {
	case $1 in
	tloop) tloop attach "$2" ;;
	loop) d=$(losetup -f) && losetup "$d" "$2" && echo "$d" ;;
	esac
}

detach() {
	case $1 in
	tloop) tloop detach "$2" ;;
	loop) losetup -d "$2" ;;
	esac
}

# bw DEV RW BS - one fio run; prints the bandwidth in KiB/s.
bw() {
	out=$(fio --name=bench --filename="$1" --rw="$2" --bs="$3" --ioengine=psync --direct=1 \
		--time_based --runtime="$secs" --ramp_time=1 --size="${size_mb}M" \
		--norandommap --randrepeat=0 --minimal 2>&1) || { diag "fio: $out"; return 1; }
	# Terse format v3: field 7 is the read bandwidth, field 48 the write bandwidth (KiB/s).
	printf '%s\n' "$out" | awk -F';' -v rw="$2" '
		$1 == "3" { print (rw ~ /write/) ? $48 : $7; found = 1 }
		END { if (!found) exit 1 }'
}

# median of the arguments
median() {
	printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

# bench_fs LABEL DIR - every workload on tloop and loop with backing files in DIR.
bench_fs() {
	label=$1 dir=$2
	for kind in loop tloop; do
		f=$dir/bench-$kind.img
		rm -f "$f"
		# A fully written file, so reads hit data and writes overwrite it.
		dd if=/dev/zero of="$f" bs=1M count="$size_mb" 2>/dev/null
		sync
	done
	for w in "read 1M" "write 1M" "randread 4k" "randwrite 4k"; do
		set -- $w
		rw=$1 bs=$2
		for kind in loop tloop; do
			dev=$(attach "$kind" "$dir/bench-$kind.img") || {
				result 1 "$label $rw $bs: attach $kind"; continue 2; }
			runs=
			i=0
			while [ "$i" -lt "$repeat" ]; do
				v=$(bw "$dev" "$rw" "$bs") || { v=; break; }
				runs="$runs $v"
				i=$((i + 1))
			done
			detach "$kind" "$dev" || diag "detach $dev failed"
			if [ -z "$v" ]; then
				result 1 "$label $rw $bs on $kind: fio failed"
				continue 2
			fi
			eval "bw_$kind=\$(median $runs)"
			diag "$label $rw $bs on $kind: runs (KiB/s):$runs"
		done
		ratio=$(awk -v t="$bw_tloop" -v l="$bw_loop" 'BEGIN {
			if (l > 0) printf "%.2f", t / l; else print "n/a" }')
		line=$(printf '%-6s %-9s %-3s loop %8d KiB/s  tloop %8d KiB/s  tloop/loop %s' \
			"$label" "$rw" "$bs" "$bw_loop" "$bw_tloop" "$ratio")
		diag "bench: $line"
		result 0 "$label $rw $bs: tloop/loop $ratio"
	done
	rm -f "$dir"/bench-*.img
}

say "KTAP version 1"
say "1..8"
diag "bench: fio psync, O_DIRECT on the device, buffered backing file, ${secs} s per run," \
	"median of $repeat runs, ${size_mb} MiB files; $(uname -r)"
modprobe loop 2>/dev/null || true
bench_fs tmpfs "$work"

modprobe crc32c_generic 2>/dev/null || true
if modprobe brd rd_nr=1 rd_size=$(( (size_mb * 2 + 64) * 1024 )) 2>/dev/null &&
	modprobe ext4 2>/dev/null && /sbin/mke2fs -q -F -t ext4 /dev/ram0 &&
	mkdir -p "$work/ext4" && mount -t ext4 /dev/ram0 "$work/ext4"; then
	bench_fs ext4 "$work/ext4"
	umount "$work/ext4"
	rmmod brd 2>/dev/null || true
else
	for w in "read 1M" "write 1M" "randread 4k" "randwrite 4k"; do
		say "ok $((n = n + 1)) ext4 $w # SKIP brd or ext4 unavailable"
	done
fi
[ "$failed" -eq 0 ]
