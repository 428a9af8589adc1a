#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# 68-tool-nbd: `tloop sync DEV nbd://HOST:PORT/` to an nbdkit export in another network
# namespace (two namespaces joined by a veth pair; nbdkit's file plugin serves export.img in
# "tl68s", every tloop command runs in "tl68c").  Ground truth on the server side: after every
# round export.img equals the device byte for byte, and nbdkit's log filter shows the writes
# that reached the server: exactly the pages the test wrote (each once, page-aligned), no
# more, no fewer.  Rounds: the first sync (full, no baseline), random sets of written pages
# (incremental), --full, the state file, a change made behind tloop's back (invisible to an
# incremental sync, found by `tloop verify`, repaired by --full), another URI of the same
# export (nbd+unix://, its own baseline: full), and a round under netem delay 10 ms with a
# 20 ms server-side write delay where the log must show several writes in flight at once
# (pipelining), without which that round takes at least one delay per request.  Last, the
# loader's log shows libnbd loaded by an NBD sync only, never by a local one, and an NBD sync
# without libnbd fails with a message that names the package.
# tloop-timeout: 500
set -u

. "${0%/*}/lib/tlt.sh"

S=tl68s C=tl68c
SIP=10.68.0.1 CIP=10.68.0.2 PORT=10809
URI=nbd://$SIP:$PORT/
MB=16
ROUNDS=$((4 * ${TLOOP_SCALE:-1}))
SEED=${TLOOP_NBD_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
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
tl() { /sbin/ip netns exec $C tloop "$@" --state-dir "$wd/state"; }

# serve [nbdkit args...] - nbdkit with the log filter (first) serving export.img in $S, on
# TCP (on a Unix socket with: serve -U PATH).
serve() {
	rm -f nbdkit.pid
	case ${1:-} in
	-U) where="-U $2"; shift 2 ;;
	*) where="-i $SIP -p $PORT" ;;
	esac
	# options and filters before the plugin, KEY=VALUE parameters after it
	opts= params=
	for a in "$@"; do
		case $a in
		-*) opts="$opts $a" ;;
		*) params="$params $a" ;;
		esac
	done
	/sbin/ip netns exec $S nbdkit -f $where -P "$wd/nbdkit.pid" \
		--filter=log $opts file "$wd/export.img" logfile="$wd/log.txt" $params 2>> nbdkit.err &
	srv=$!
	i=0
	while [ ! -s nbdkit.pid ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
	[ -s nbdkit.pid ]
}
stop() {
	kill "$srv" && wait "$srv" 2>/dev/null
	srv=
}

# sent FROM - the page indices of the writes logged after line FROM of log.txt, sorted,
# repeats kept; "unaligned O C" for a write that is not whole pages.
sent() { nbd_sent log.txt "$1"; }
loglines() { wc -l < log.txt; }
# inflight FROM - the most writes between their log line and their "...Write" return line.
inflight() {
	tail -n +$(($1 + 1)) log.txt | awk '
		/ \.\.\.Write id=/ { cur--; next }
		/ Write id=/ { cur++; if (cur > max) max = cur }
		END { print max + 0 }'
}
field() { sed -n "s/^ *\"$1\": \"*\([^\",]*\)\"*,*\$/\1/p" "$2"; }

# pick K - K distinct random pages, sorted, as runs of 1-3 pages (adjacent pages coalesce).
pick() { pick_pages "$SEED$round" "$1" "$NPAGES"; }

echo "KTAP version 1"
echo "1..$((19 + 4 * ROUNDS))"
diag "seed $SEED (reproduce: make test TESTS=68-tool-nbd VM_APPEND=TLOOP_NBD_SEED=$SEED)"

modprobe veth 2>/dev/null
modprobe sch_netem 2>/dev/null
/sbin/ip netns add $S && /sbin/ip netns add $C || bail "ip netns add"
/sbin/ip link add tl68c type veth peer name tl68s || bail "veth pair"
/sbin/ip link set tl68s netns $S && /sbin/ip link set tl68c netns $C || bail "veth into namespaces"
/sbin/ip -n $S addr add $SIP/24 dev tl68s && /sbin/ip -n $C addr add $CIP/24 dev tl68c || bail "addresses"
for ns in $S $C; do /sbin/ip -n $ns link set lo up; done
/sbin/ip -n $S link set tl68s up && /sbin/ip -n $C link set tl68c up || bail "links up"

truncate -s ${MB}M a.img export.img
dev=$(tloop attach --track a.img) || bail "attach"
PAGE=$(page_size "$dev")
NPAGES=$((MB * 1024 * 1024 / PAGE))
dd if=/dev/urandom of="$dev" bs=1M count=$MB 2>/dev/null
serve || bail "nbdkit did not start: $(cat nbdkit.err)"
res "the server is reachable only from the other namespace" \
	sh -c "/sbin/ip netns exec $C nbdinfo --size $URI > size.txt && [ \$(cat size.txt) = $((MB << 20)) ]"

round=0
l0=$(loglines)
tl sync --json "$dev" "$URI" > out.json 2> err.txt
rc=$?
res "first sync: status 0, a full copy (no baseline)" \
	same "status, mode, reason" "0 full no-baseline" \
	"$rc $(field mode out.json) $(field reason out.json)"
res "... export.img == device, byte for byte" cmp -s "$dev" export.img
seq 0 $((NPAGES - 1)) > want.txt
sent "$l0" > got.txt
res "... the server received every page once" cmp -s want.txt got.txt
state=$wd/state/$(echo "$URI" | sed 's/:/%3a/g; s,/,%2f,g').tloop
res "... the baseline is in the state directory, named after the URI" \
	grep -q "^attach_id " "$state"

while [ $round -lt $ROUNDS ]; do
	round=$((round + 1))
	k=$(awk -v s="$SEED$round" 'BEGIN { srand(s); print 1 + int(rand() * 200) }')
	pick "$k" > want.txt
	for p in $(cat want.txt); do page "$dev" "$p"; done
	l0=$(loglines)
	tl sync --json "$dev" "$URI" > out.json 2> err.txt
	rc=$?
	res "round $round ($k pages written): incremental" \
		same "status, mode, pages" "0 incremental $k" \
		"$rc $(field mode out.json) $(field pages out.json)"
	res "round $round: export.img == device" cmp -s "$dev" export.img
	sent "$l0" > got.txt
	res "round $round: the pages that reached the server are exactly the written ones" \
		sh -c "cmp -s want.txt got.txt || { echo '# written:' \$(cat want.txt);
			echo '# received:' \$(cat got.txt); exit 1; }"
	res "round $round: runs <= pages, fewer when adjacent pages were written" \
		[ "$(field runs out.json)" -le "$k" ]
done

l0=$(loglines)
tl sync --json --full "$dev" "$URI" > out.json 2> err.txt
res "--full: a full copy, reason requested" \
	same "mode, reason" "full requested" "$(field mode out.json) $(field reason out.json)"
seq 0 $((NPAGES - 1)) > want.txt
sent "$l0" > got.txt
res "... exactly the device's pages" cmp -s want.txt got.txt

res "verify of an exact copy: status 0" sh -c "/sbin/ip netns exec $C tloop verify '$dev' '$URI' > v.txt"
# Someone else writes to the export: nothing tells the refresher.
printf 'behind tloop' | dd of=export.img bs=1 seek=$((7 * PAGE + 100)) conv=notrunc 2>/dev/null
page "$dev" 3
tl sync --json "$dev" "$URI" > out.json 2> err.txt
res "a write behind tloop's back: the next sync is incremental (1 page) and cannot see it" \
	same "mode, pages" "incremental 1" "$(field mode out.json) $(field pages out.json)"
inc tloop verify --json "$dev" "$URI" > v.json
rc=$?
res "verify finds exactly that page: status 3, page 7" \
	same "status, differing pages, runs" "3 1 [7, 1]" \
	"$rc $(field differing_pages v.json) $(sed -n 's/^ *\(\[7, 1\]\),*$/\1/p' v.json)"
tl sync --full "$dev" "$URI" > /dev/null 2>&1
res "--full repairs it (verify: identical, and export.img == device)" \
	sh -c "/sbin/ip netns exec $C tloop verify '$dev' '$URI' > v.txt && cmp -s '$dev' export.img"

# Another URI of the same export has its own baseline; each sync clears the device's set,
# so the first URI's baseline no longer matches either.
page "$dev" 5
stop
serve -U "$wd/nbd.sock" || bail "nbdkit on a Unix socket"
tl sync --json "$dev" "nbd+unix:///?socket=$wd/nbd.sock" > out.json 2> err.txt
res "nbd+unix:// URI: its own baseline, so a full copy; exact" \
	sh -c "[ \"$(field mode out.json) $(field reason out.json)\" = 'full no-baseline' ] &&
		cmp -s '$dev' export.img"
stop
serve || bail "nbdkit restart"
page "$dev" 6
tl sync --json "$dev" "$URI" > out.json 2> err.txt
res "back to nbd://: full (the set was cleared by the other URI's sync), exact" \
	sh -c "[ \"$(field mode out.json) $(field reason out.json)\" = 'full generation' ] &&
		cmp -s '$dev' export.img"

# Pipelining: 10 ms each way on the client's link, 20 ms per write in the server.
stop
serve --filter=delay delay-write=20ms || bail "nbdkit with the delay filter"
inc /sbin/tc qdisc add dev tl68c root netem delay 10ms || bail "netem"
round=netem
pick 64 | awk 'NR == 1 || $1 > last + 1 { print; last = $1 }' > want.txt
for p in $(cat want.txt); do page "$dev" "$p"; done
k=$(wc -l < want.txt)
l0=$(loglines)
tl sync --json "$dev" "$URI" > out.json 2> err.txt
rc=$?
diag "netem round: $k single-page runs in $(field seconds out.json) s," \
	"at most $(inflight "$l0") writes in flight at the server"
res "netem round: incremental, $k runs, exact" \
	sh -c "[ '$rc $(field mode out.json) $(field runs out.json)' = '0 incremental $k' ] &&
		cmp -s '$dev' export.img"
sent "$l0" > got.txt
res "netem round: the server received exactly the written pages" cmp -s want.txt got.txt
res "netem round: more than one write in flight at the server (pipelined)" \
	[ "$(inflight "$l0")" -gt 1 ]
inc /sbin/tc qdisc del dev tl68c root

# libnbd is dlopen()ed by an NBD refresh only (issue 15): the loader's own log (LD_DEBUG=libs,
# set for tloop alone) shows what each run loaded; "initialize program" proves it logged tloop.
page "$dev" 9
inc env LD_DEBUG=libs tloop sync "$dev" "$URI" --state-dir "$wd/state" > /dev/null 2> ld.txt
rc=$?
lib=$(sed -n 's/.*calling init: \(.*\/libnbd\.so\.0\)$/\1/p' ld.txt | head -n 1)
res "an NBD sync loads libnbd.so.0 (LD_DEBUG=libs), and is exact" \
	sh -c "[ $rc -eq 0 ] && [ -n '$lib' ] && grep -q 'initialize program: tloop' ld.txt &&
		cmp -s '$dev' export.img"
LD_DEBUG=libs tloop sync --create "$dev" "$wd/local.img" > /dev/null 2> ld.txt
rc=$?
res "a local sync loads no libnbd, only libc (LD_DEBUG=libs), and is exact" \
	sh -c "[ $rc -eq 0 ] && grep -q 'initialize program: tloop' ld.txt &&
		grep -q 'calling init: .*/libc\.so\.6' ld.txt && ! grep -q libnbd ld.txt &&
		cmp -s '$dev' '$wd/local.img' ||
		{ echo '# status $rc, loader log:'
		  grep 'calling init' ld.txt | sed 's/^/# /'; exit 1; }"
# Without libnbd (an empty file mounted over it, in a mount namespace of its own): a clear
# error, before anything reaches the server (no line in its log).
: > empty.so
l0=$(loglines)
unshare -m sh -c 'mount --bind "$1" "$2" && shift 2 && exec "$@"' - "$wd/empty.so" "${lib:-/none}" \
	/sbin/ip netns exec $C tloop sync "$dev" "$URI" --state-dir "$wd/state" > out.txt 2> err.txt
rc=$?
res "no libnbd: an NBD sync fails (status 1) naming the package, nothing sent" \
	sh -c "[ $rc -eq 1 ] && grep -q 'needs libnbd (Debian package libnbd0): ' err.txt &&
		[ \$(wc -l < log.txt) -eq $l0 ] ||
		{ echo '# status $rc, stderr:'; sed 's/^/# /' err.txt; exit 1; }"
stop

tloop detach "$dev" || failed=1
dev=
exit $failed
