#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# 69-tool-nbd-faults: `tloop sync` to an NBD export when things go wrong, across a veth pair
# between two network namespaces (nbdkit in "tl69s", tloop in "tl69c").  Each fault must give
# status 1 and a message that names it, and the next sync once the fault is gone must make
# the export equal to the device byte for byte (checked on the server's file), incremental
# when the failed sync changed nothing (the baseline still holds), full otherwise:
#  - server unreachable (nothing listens on the port) -> incremental next;
#  - read-only export (nbdkit -r) -> nothing written (the log shows no write), incremental;
#  - export smaller than the device -> nothing written, incremental;
#  - connection lost midway (nbdkit killed with SIGKILL while writes are in flight) during a
#    full copy (--full) -> the baseline is gone, the next sync is full.
# A lost connection or a hung server during an incremental or --consistent refresh (the next
# one is incremental) is 67-tool-nbd-recover.
# tloop-timeout: 450
set -u

. "${0%/*}/lib/tlt.sh"

S=tl69s C=tl69c
SIP=10.69.0.1 CIP=10.69.0.2 PORT=10809
URI=nbd://$SIP:$PORT/
MB=32
dev= srv=
wd=$(pwd)

cleanup() {
	[ -n "$srv" ] && kill -9 "$srv" 2>/dev/null && wait "$srv" 2>/dev/null
	/sbin/ip netns del $S 2>/dev/null
	/sbin/ip netns del $C 2>/dev/null
	[ -n "$dev" ] && tloop detach "$dev" 2>/dev/null
}
trap cleanup EXIT

# /sbin/ip and /sbin/tc: busybox sh runs its own applets (ip, tc) before the PATH.
tl() { /sbin/ip netns exec $C tloop "$@" --state-dir "$wd/state"; }

# serve FILE [nbdkit args...] - nbdkit with the log filter serving FILE in $S.
serve() {
	f=$1
	shift
	rm -f nbdkit.pid
	# options and filters before the plugin, KEY=VALUE parameters after it
	opts= params=
	for a in "$@"; do
		case $a in
		-*) opts="$opts $a" ;;
		*) params="$params $a" ;;
		esac
	done
	/sbin/ip netns exec $S nbdkit -f -i $SIP -p $PORT -P "$wd/nbdkit.pid" \
		--filter=log $opts file "$wd/$f" logfile="$wd/log.txt" $params 2>> nbdkit.err &
	srv=$!
	i=0
	while [ ! -s nbdkit.pid ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
	[ -s nbdkit.pid ]
}
stop() {
	kill "$srv" && wait "$srv" 2>/dev/null
	srv=
}
writes() { grep -c ' Write id=' log.txt; }
field() { sed -n "s/^ *\"$1\": \"*\([^\",]*\)\"*,*\$/\1/p" "$2"; }
# synced WHAT MODE - a sync now succeeds with MODE and the export equals the device.
synced() {
	tl sync --json "$dev" "$URI" > out.json 2> err.txt
	rc=$?
	got="$rc $(field mode out.json) $(field reason out.json)"
	case $2 in
	incremental) want="0 incremental incremental" ;;
	*) want="0 full $2" ;;
	esac
	same "$1: status, mode, reason" "$want" "$got" || { diag "$(cat err.txt)"; return 1; }
	cmp -s "$dev" export.img || { diag "$1: export.img differs from the device"; return 1; }
}

echo "KTAP version 1"
echo "1..12"

modprobe veth 2>/dev/null
/sbin/ip netns add $S && /sbin/ip netns add $C || bail "ip netns add"
/sbin/ip link add tl69c type veth peer name tl69s || bail "veth pair"
/sbin/ip link set tl69s netns $S && /sbin/ip link set tl69c netns $C || bail "veth into namespaces"
/sbin/ip -n $S addr add $SIP/24 dev tl69s && /sbin/ip -n $C addr add $CIP/24 dev tl69c || bail "addresses"
for ns in $S $C; do /sbin/ip -n $ns link set lo up; done
/sbin/ip -n $S link set tl69s up && /sbin/ip -n $C link set tl69c up || bail "links up"

truncate -s ${MB}M a.img export.img
truncate -s $((MB - 1))M small.img
dev=$(tloop attach --track a.img) || bail "attach"
PAGE=$(page_size "$dev")
dd if=/dev/urandom of="$dev" bs=1M count=$MB 2>/dev/null
serve export.img || bail "nbdkit did not start: $(cat nbdkit.err)"
res "first sync: full, exact" synced "first sync" no-baseline
stop

# 1. Nothing listens.
page "$dev" 10 3
res "server unreachable: status 1, 'connect to $URI' and the reason" \
	fails 1 "connect to $URI.*Connection refused" tl sync "$dev" "$URI"
serve export.img || bail "nbdkit restart"
res "... the next sync is incremental and exact" synced "after unreachable" incremental
stop

# 2. A read-only export.
page "$dev" 20 2
serve export.img -r || bail "nbdkit -r"
w0=$(writes)
res "read-only export: status 1, 'is read-only'" \
	fails 1 "the export $URI is read-only" tl sync "$dev" "$URI"
res "... nothing was written to it" same "writes logged" "$w0" "$(writes)"
stop
serve export.img || bail "nbdkit restart"
res "... the next sync is incremental and exact" synced "after read-only" incremental
stop

# 3. An export smaller than the device.
page "$dev" 30
serve small.img || bail "nbdkit small"
w0=$(writes)
res "export smaller than the device: status 1, both sizes named" \
	fails 1 "the export $URI is $(((MB - 1) << 20)) bytes, $dev is $((MB << 20)) bytes" \
	tl sync "$dev" "$URI"
res "... nothing was written to it" same "writes logged" "$w0" "$(writes)"
stop
serve export.img || bail "nbdkit restart"
res "... the next sync is incremental and exact" synced "after small export" incremental
stop

# 4. The server dies midway: a full copy, slowed down by 50 ms per write on the server,
# killed once writes have reached it.
serve export.img --filter=delay delay-write=50ms || bail "nbdkit with delay"
w0=$(writes)
tl sync --full --max-io 256K "$dev" "$URI" > out.txt 2> err.txt &
sp=$!
i=0
while [ "$(writes)" -le $((w0 + 4)) ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i + 1)); done
kill -9 "$srv"
wait "$srv" 2>/dev/null
srv=
wait $sp
rc=$?
diag "killed after $(($(writes) - w0)) writes had reached the server; stderr: $(cat err.txt)"
res "connection lost midway: status 1, 'connection to $URI lost'" \
	sh -c "[ $rc = 1 ] && grep -q 'connection to $URI lost' err.txt"
res "... the baseline is gone" sh -c "! ls state/*.tloop > /dev/null 2>&1"
page "$dev" 40
serve export.img || bail "nbdkit restart"
res "... the next sync is full (no baseline) and exact" synced "after the kill" no-baseline
stop

tloop detach "$dev" || failed=1
dev=
exit $failed
