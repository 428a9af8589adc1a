#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# nbd-bench.sh - `tloop sync` to an NBD export against a full nbdcopy of the device and
# against the link's limit, in one VM boot (mk/bench-nbd.mk runs it as /tests/90-bench-nbd).
# Two network namespaces joined by a veth pair; nbdkit (file plugin, parallel) serves a file
# of the device's size from tmpfs in one, the tools run in the other.  For each RTT
# (TLOOP_BENCH_NBD_RTTS, ms; netem delay of half of it on each side) and each share of the
# pages written (TLOOP_BENCH_NBD_PCTS, per cent; written as random runs of 1-8 pages):
#   tloop   incremental `tloop sync DEV nbd://...` (the JSON's seconds and bytes), reading
#           the backing file (the default); "tloop (device)": the same share written
#           again, refreshed with --via device (every page read through the driver)
#   nbdcopy `nbdcopy --flush DEV nbd://...` of the whole device (what a user would run)
#   limit   `nbdcopy --flush` of a file of exactly the bytes tloop sent (the link's
#           throughput for that many bytes, with nbdcopy's own start-up cost), and those
#           bytes at the rate of the full nbdcopy (no fixed cost at all)
# and prints "# bench:" lines with medians of TLOOP_BENCH_REPEAT runs and the ratios.
# Times come from /proc/uptime (10 ms resolution).
set -u

diag() { printf '%s\n' "$*" | sed 's/^/# /'; }
bail() { echo "Bail out! $*"; exit 1; }
page_size() { tloop status --bytes "$1" | sed -n 's/^ *page size: *\([0-9][0-9]*\) .*/\1/p'; }

MB=${TLOOP_BENCH_NBD_MB:-256}
RTTS=$(echo "${TLOOP_BENCH_NBD_RTTS:-0,10}" | tr ',' ' ')
PCTS=$(echo "${TLOOP_BENCH_NBD_PCTS:-1,10}" | tr ',' ' ')
REPEAT=${TLOOP_BENCH_REPEAT:-3}
S=tlbs C=tlbc SIP=10.90.0.1 CIP=10.90.0.2 PORT=10809
URI=nbd://$SIP:$PORT/
dev= srv=
wd=$(pwd)

cleanup() {
	[ -n "$srv" ] && kill "$srv" 2>/dev/null && wait "$srv" 2>/dev/null
	/sbin/ip netns del $S 2>/dev/null
	/sbin/ip netns del $C 2>/dev/null
	[ -n "$dev" ] && tloop detach "$dev" 2>/dev/null
}
trap cleanup EXIT

# /sbin/ip and /sbin/tc: busybox sh runs its own applets (ip, tc) before the PATH.
inc() { /sbin/ip netns exec $C "$@"; }
t() { cut -d' ' -f1 /proc/uptime; }
field() { sed -n "s/^ *\"$1\": \"*\([^\",]*\)\"*,*\$/\1/p" "$2"; }
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
# timed CMD... - run CMD, print its wall seconds (fails the benchmark if CMD fails).
timed() {
	t0=$(t)
	"$@" > /dev/null 2> cmd.err || bail "$*: $(cat cmd.err)"
	awk -v a="$t0" -v b="$(t)" 'BEGIN { printf "%.2f\n", b - a }'
}

echo "KTAP version 1"
echo "1..1"
modprobe veth 2>/dev/null
modprobe sch_netem 2>/dev/null
/sbin/ip netns add $S && /sbin/ip netns add $C || bail "ip netns add"
/sbin/ip link add tlbc type veth peer name tlbs || bail "veth pair"
/sbin/ip link set tlbs netns $S && /sbin/ip link set tlbc netns $C || bail "veth into namespaces"
/sbin/ip -n $S addr add $SIP/24 dev tlbs && /sbin/ip -n $C addr add $CIP/24 dev tlbc || bail addr
for ns in $S $C; do /sbin/ip -n $ns link set lo up; done
/sbin/ip -n $S link set tlbs up && /sbin/ip -n $C link set tlbc up || bail "links up"

truncate -s ${MB}M a.img export.img
dev=$(tloop attach --track a.img) || bail attach
PAGE=$(page_size "$dev")
NPAGES=$((MB * 1024 * 1024 / PAGE))
dd if=/dev/urandom of="$dev" bs=1M count=$MB 2>/dev/null
/sbin/ip netns exec $S nbdkit -f -i $SIP -p $PORT -P "$wd/nbdkit.pid" file "$wd/export.img" \
	2> nbdkit.err &
srv=$!
i=0
while [ ! -s nbdkit.pid ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
[ -s nbdkit.pid ] || bail "nbdkit: $(cat nbdkit.err)"
inc tloop sync "$dev" "$URI" --state-dir "$wd/state" > /dev/null || bail "first sync"
diag "device $MB MiB ($NPAGES pages of $PAGE bytes), export on tmpfs, nbdkit $(nbdkit --version)"

# write PCT SEED - PCT per cent of the pages, as random runs of 1-8 pages.
write_pct() {
	awk -v pct="$1" -v n="$NPAGES" -v seed="$2" 'BEGIN {
		srand(seed); want = int(n * pct / 100)
		while (c < want) {
			p = int(rand() * n); l = 1 + int(rand() * 8)
			if (p + l > n) l = n - p
			new = 0
			for (i = 0; i < l; i++) if (!((p + i) in s)) { s[p + i] = 1; new++ }
			c += new
			print p, l
		}
	}' | while read -r p l; do
		dd if=/dev/urandom of="$dev" bs=$PAGE seek="$p" count="$l" conv=notrunc 2>/dev/null
	done
}

for rtt in $RTTS; do
	if [ "$rtt" -gt 0 ]; then
		half=$(awk -v r="$rtt" 'BEGIN { printf "%gms", r / 2 }')
		inc /sbin/tc qdisc add dev tlbc root netem delay "$half" || bail netem
		/sbin/ip netns exec $S /sbin/tc qdisc add dev tlbs root netem delay "$half" ||
			bail netem
	fi
	ping=$(inc ping -c 3 -q $SIP 2>&1 | sed -n 's/.*= [0-9.]*\/\([0-9.]*\)\/.*/\1/p')
	: > full.txt
	r=0
	while [ $r -lt "$REPEAT" ]; do
		timed inc nbdcopy --flush "$dev" "$URI" >> full.txt
		r=$((r + 1))
	done
	full=$(median < full.txt)
	# The export is the device again: the next incremental sync needs a baseline.
	inc tloop sync --full "$dev" "$URI" --state-dir "$wd/state" > /dev/null || bail resync
	for pct in $PCTS; do
		: > tl.txt
		: > tldev.txt
		: > lim.txt
		r=0
		while [ $r -lt "$REPEAT" ]; do
			write_pct "$pct" "$rtt$pct$r"
			inc tloop sync --json "$dev" "$URI" --state-dir "$wd/state" > out.json ||
				bail "tloop sync"
			[ "$(field mode out.json)" = incremental ] || bail "not incremental"
			bytes=$(field bytes out.json)
			runs=$(field runs out.json)
			echo "$(field seconds out.json)" >> tl.txt
			via=$(field via out.json)
			write_pct "$pct" "$rtt$pct${r}d"
			inc tloop sync --json --via device "$dev" "$URI" --state-dir "$wd/state" \
				> outd.json || bail "tloop sync --via device"
			[ "$(field mode outd.json)" = incremental ] || bail "not incremental"
			echo "$(field seconds outd.json)" >> tldev.txt
			head -c "$bytes" /dev/urandom > lim.img
			timed inc nbdcopy --flush lim.img "$URI" >> lim.txt
			# nbdcopy overwrote the export's start: a full resync restores the baseline.
			inc tloop sync --full "$dev" "$URI" --state-dir "$wd/state" > /dev/null ||
				bail resync
			r=$((r + 1))
		done
		tl=$(median < tl.txt)
		tldev=$(median < tldev.txt)
		lim=$(median < lim.txt)
		# The link's rate from the full copy: the bytes tloop sent at that rate.
		bw=$(awk -v f="$full" -v m="$MB" -v b="$bytes" \
			'BEGIN { printf "%.3f", (f > 0 ? b / (m * 1048576 / f) : 0) }')
		echo "# bench: nbd rtt ${rtt} ms (ping ${ping:-?} ms) ${pct}% of ${MB} MiB: tloop sync" \
			"$(printf %.2f "$tl") s ($((bytes >> 10)) KiB, $runs runs, via $via)," \
			"with --via device $(printf %.2f "$tldev") s, full nbdcopy $full s," \
			"limit: nbdcopy of those bytes $lim s, those bytes at the full copy's rate $bw s;" \
			"tloop/full $(awk -v a="$tl" -v b="$full" \
			'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }')," \
			"tloop/limit $(awk -v a="$tl" -v b="$lim" \
			'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')" \
			"(at the rate: $(awk -v a="$tl" -v b="$bw" \
			'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'))"
	done
	if [ "$rtt" -gt 0 ]; then
		inc /sbin/tc qdisc del dev tlbc root
		/sbin/ip netns exec $S /sbin/tc qdisc del dev tlbs root
	fi
done
echo "ok 1 90-bench-nbd"
