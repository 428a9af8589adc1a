#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# 67-tool-nbd-recover: after a refresh to an NBD export fails midway, the next one is
# incremental and sends exactly the pages it must, and the export (the server's file) equals
# the device byte for byte.  nbdkit (log + delay filters) in netns "tl67s", tloop in "tl67c",
# joined by a veth pair.  The pages sent are read from nbdkit's log.  Cases:
#  - server killed (SIGKILL) in the middle of an incremental refresh, more pages written, then
#    the next refresh: sends the pages the failed one took out of the set plus the new ones;
#  - killed twice (the refresh that resends is killed too): nothing is lost;
#  - killed in the middle of a --consistent refresh: the snapshot's pages go back to the set;
#  - server hung (SIGSTOP) in the middle: --timeout gives up with status 1, then recovery;
#  - server hung before the handshake: the connect times out, the baseline holds;
#  - a damaged list of pages to resend: the next refresh is full.
# The refreshes read the backing file (the default, --via auto) but the hung one (--via device).
# tloop-timeout: 500
set -u

. "${0%/*}/lib/tlt.sh"

S=tl67s C=tl67c
SIP=10.67.0.1 CIP=10.67.0.2 PORT=10809
URI=nbd://$SIP:$PORT/
MB=16
N=96
dev= srv=
wd=$(pwd)

cleanup() {
	[ -n "$srv" ] && kill -9 "$srv" 2>/dev/null && kill -CONT "$srv" 2>/dev/null
	[ -n "$srv" ] && wait "$srv" 2>/dev/null
	/sbin/ip netns del $S 2>/dev/null
	/sbin/ip netns del $C 2>/dev/null
	[ -n "$dev" ] && tloop detach "$dev" 2>/dev/null
}
trap cleanup EXIT

tl() { /sbin/ip netns exec $C tloop "$@" --state-dir "$wd/state"; }

# serve [nbdkit options...] - nbdkit with the log filter serving export.img in $S.
serve() {
	rm -f nbdkit.pid
	/sbin/ip netns exec $S nbdkit -f -i $SIP -p $PORT -P "$wd/nbdkit.pid" \
		--filter=log "$@" file "$wd/export.img" logfile="$wd/log.txt" \
		${DELAY:+delay-write=$DELAY} 2>> nbdkit.err &
	srv=$!
	i=0
	while [ ! -s nbdkit.pid ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
	[ -s nbdkit.pid ]
}
stop() {
	kill "$srv" && wait "$srv" 2>/dev/null
	srv=
}
kill9() {
	kill -9 "$srv" 2>/dev/null
	kill -CONT "$srv" 2>/dev/null
	wait "$srv" 2>/dev/null
	srv=
}
lines() { wc -l < log.txt; }
writes() { grep -c ' Write id=' log.txt; }
field() { sed -n "s/^ *\"$1\": \"*\([^\",]*\)\"*,*\$/\1/p" "$2"; }

# sent FROM - the page indices written after line FROM of log.txt, sorted, repeats kept.
sent() { nbd_sent log.txt "$1"; }

# scatter FIRST COUNT STEP - write COUNT single pages FIRST, FIRST+STEP, ...; print them.
scatter() {
	i=0
	while [ $i -lt "$2" ]; do
		p=$(($1 + i * $3))
		page "$dev" $p
		echo $p
		i=$((i + 1))
	done
}

# midway SIGNAL ARGS... - run "tloop sync ARGS DEV URI" against a slowed server, send SIGNAL
# to the server once 4 writes reached it; leaves the status in rc, stderr in err.txt.
midway() {
	sig=$1
	shift
	DELAY=40ms serve --filter=delay || bail "nbdkit with delay"
	w0=$(writes)
	tl sync "$@" "$dev" "$URI" > out.txt 2> err.txt &
	sp=$!
	i=0
	while [ "$(writes)" -lt $((w0 + 4)) ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i + 1)); done
	kill -"$sig" "$srv"
	if [ "$sig" = KILL ]; then
		wait "$srv" 2>/dev/null
		srv=
	fi
	wait $sp
	rc=$?
	diag "signal $sig after $(($(writes) - w0)) writes; stderr: $(cat err.txt)"
}

# recovered WHAT EXPECTED_PAGES_FILE [MODE] - the next sync: status 0, MODE (incremental),
# the pages sent are exactly those listed, the export equals the device.
recovered() {
	serve || bail "nbdkit restart"
	l0=$(lines)
	tl sync --json "$dev" "$URI" > out.json 2> err.txt
	rc=$?
	stop
	mode=${3:-incremental}
	same "$1: status, mode" "0 $mode" "$rc $(field mode out.json)" || { diag "$(cat err.txt)"; return 1; }
	if [ "$mode" = incremental ]; then
		sent "$l0" > got.txt
		sort -n "$2" > want.txt
		same "$1: pages sent (count)" "$(wc -l < want.txt)" "$(wc -l < got.txt)" &&
			cmp -s want.txt got.txt || { diag "$1: pages sent differ from the pages expected"; return 1; }
	fi
	cmp -s "$dev" export.img || { diag "$1: export.img differs from the device"; return 1; }
}

echo "KTAP version 1"
echo "1..15"

modprobe veth 2>/dev/null
/sbin/ip netns add $S && /sbin/ip netns add $C || bail "ip netns add"
/sbin/ip link add tl67c type veth peer name tl67s || bail "veth pair"
/sbin/ip link set tl67s netns $S && /sbin/ip link set tl67c netns $C || bail "veth into namespaces"
/sbin/ip -n $S addr add $SIP/24 dev tl67s && /sbin/ip -n $C addr add $CIP/24 dev tl67c || bail "addresses"
for ns in $S $C; do /sbin/ip -n $ns link set lo up; done
/sbin/ip -n $S link set tl67s up && /sbin/ip -n $C link set tl67c up || bail "links up"

truncate -s ${MB}M a.img export.img
dev=$(tloop attach --track a.img) || bail "attach"
PAGE=$(page_size "$dev")
dd if=/dev/urandom of="$dev" bs=1M count=$MB 2>/dev/null
serve || bail "nbdkit did not start: $(cat nbdkit.err)"
tl sync "$dev" "$URI" > /dev/null 2> err.txt || bail "first sync: $(cat err.txt)"
stop
state=$(ls state/*.tloop)
resend=${state%.tloop}.resend

# 1. Killed in the middle of an incremental refresh; more pages written before the next.
scatter 0 $N 7 > exp.txt
midway KILL
res "killed midway: status 1, 'connection to $URI lost'" \
	sh -c "[ $rc = 1 ] && grep -q 'connection to $URI lost' err.txt"
res "... says the next refresh is incremental, keeps a baseline and the pages to resend" \
	sh -c "grep -q 'the next sync resends what it may have missed (incremental)' err.txt && [ -s '$state' ] && [ -s '$resend' ]"
scatter 3 20 11 >> exp.txt
res "... the next refresh: incremental, the failed one's pages and the new ones, exact" \
	recovered "after the kill" exp.txt
res "... the list of pages to resend is gone" sh -c "[ ! -e '$resend' ]"

# 2. Killed, then killed again while resending.
scatter 1 $N 7 > exp.txt
midway KILL
r1=$rc
scatter 5 24 9 >> exp.txt
midway KILL
res "killed twice: status 1 both times" same "status" "1 1" "$r1 $rc"
res "... the next refresh: incremental, both failed refreshes' pages, exact" \
	recovered "after two kills" exp.txt

# 3. Killed in the middle of a --consistent refresh.
scatter 2 $N 7 > exp.txt
midway KILL --consistent
res "--consistent killed midway: status 1, 'connection to $URI lost'" \
	sh -c "[ $rc = 1 ] && grep -q 'lost' err.txt"
wp=$(tloop status --json "$dev" | sed -n 's/^ *"written_pages": \([0-9]*\).*/\1/p' | head -n 1)
res "... the snapshot's pages are back in the written set ($wp >= $N)" test "${wp:-0}" -ge $N
res "... the next refresh: incremental, exactly those pages, exact" recovered "after --consistent" exp.txt

# 4. The server hangs (SIGSTOP) midway.
scatter 4 $N 7 > exp.txt
t0=$(date +%s)
midway STOP --timeout 2 --via device
t1=$(date +%s)
res "hung server: status 1, 'no reply from $URI in 2 s'" \
	sh -c "[ $rc = 1 ] && grep -q 'no reply from $URI in 2 s' err.txt"
res "... within the timeout (took $((t1 - t0)) s, at most 20)" test $((t1 - t0)) -le 20
kill9
res "... the next refresh (server restarted): incremental, exact" recovered "after the hang" exp.txt

# 5. The server hangs before the handshake: the connect times out, nothing changes.
scatter 6 10 5 > exp.txt
serve || bail "nbdkit"
kill -STOP "$srv"
res "hung at connect: status 1, 'no answer in 1 s'" \
	fails 1 "connect to $URI: no answer in 1 s" tl sync --timeout 1 "$dev" "$URI"
kill9
res "... the next refresh: incremental, exact" recovered "after the connect timeout" exp.txt

# 6. A damaged list of pages to resend: a full copy.
scatter 7 $N 7 > exp.txt
midway KILL
echo garbage > "$resend"
res "damaged list of pages to resend: the next refresh is full and exact" \
	recovered "after the damage" exp.txt full
exit $failed
