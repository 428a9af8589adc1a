#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# 70-tool-nbd-consumers: `tloop sync --consumer NAME DEV nbd+unix://...` (issue 17's consumers
# with issue 18's NBD engine).  One tracked device, three named consumers: "ca" refreshes an
# nbdkit export (export1.img), "cc" another one (export2.img) at the same time as ca (two
# URIs, two state files, two processes), "cb" a local file every other round.  Ground truth:
# the test knows which pages it wrote since each consumer's last refresh; each refresh after
# the first is incremental and reports exactly that many pages, nbdkit's log filter shows
# exactly those pages reaching the server (each once), and every copy equals the device byte
# for byte (the server's file is read directly).  The default consumer's set is untouched.
# Then: the same URI refreshed with another consumer (full, reason other-consumer; back again,
# the same), the other area2 of that consumer is then full (its set was cleared: generation),
# a consumer removed and added again (other-consumer), an unknown consumer (status 1, the
# local engine's message, nothing sent), --consistent with a named consumer (refused, nothing
# sent, the baseline kept), and a server killed in the middle of a named consumer's refresh
# (the next one is incremental and sends exactly the pages it must; the local consumer's
# refresh in between is unaffected).
# tloop-timeout: 500
set -u

. "${0%/*}/lib/tlt.sh"

MB=8
ROUNDS=$((4 * ${TLOOP_SCALE:-1}))
SEED=${TLOOP_NBD_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
dev= srv1= srv2=
wd=$(pwd)
U1="nbd+unix:///?socket=$wd/s1.sock"
U2="nbd+unix:///?socket=$wd/s2.sock"

cleanup() {
	for p in $srv1 $srv2; do kill -9 "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
	[ -n "$dev" ] && tloop detach "$dev" 2>/dev/null
}
trap cleanup EXIT

tl() { tloop "$@" --state-dir "$wd/state"; }

# serve K [nbdkit options...] - nbdkit (log filter first) serving exportK.img on sK.sock,
# logging into logK.txt; with DELAY set, each write waits that long in the server.
serve() {
	k=$1
	shift
	rm -f "nbdkit$k.pid" "$wd/s$k.sock"
	nbdkit -f -U "$wd/s$k.sock" -P "$wd/nbdkit$k.pid" --filter=log "$@" \
		file "$wd/export$k.img" logfile="$wd/log$k.txt" \
		${DELAY:+delay-write=$DELAY} 2>> nbdkit.err &
	eval "srv$k=\$!"
	i=0
	while [ ! -s "nbdkit$k.pid" ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
	[ -s "nbdkit$k.pid" ]
}
stop() {
	eval "p=\$srv$1"
	kill "$p" && wait "$p" 2>/dev/null
	eval "srv$1="
}
lines() { wc -l < "log$1.txt"; }
writes() { grep -c ' Write id=' "log$1.txt"; }
field() { sed -n "s/^ *\"$1\": \"*\([^\",]*\)\"*,*\$/\1/p" "$2"; }

# sent K FROM - the page indices of the writes logged after line FROM of logK.txt, sorted,
# repeats kept; "unaligned O C" for a write that is not whole pages.
sent() { nbd_sent "log$1.txt" "$2"; }

# pick K SALT - K distinct random pages, as runs of 1-3 pages (adjacent pages coalesce).
pick() { pick_pages "$SEED$2" "$1" "$NPAGES"; }

# writepages FILE... - write every page listed in stdin to the device, append the list to
# each FILE (the pages each consumer has not copied yet).
writepages() {
	cat > w.txt
	for p in $(cat w.txt); do page "$dev" "$p"; done
	for f in "$@"; do cat w.txt >> "$f"; done
}

# exact WHAT OUT K PENDING - the sync of consumer-file PENDING to export K (output OUT.json,
# log from line $OUT.l0) was incremental, reported exactly the distinct pages of PENDING, and
# the server received exactly those pages, each once.
exact() {
	sort -un "$4" > want.txt
	sent "$3" "$(cat "$2.l0")" > got.txt
	same "$1: mode, pages" "incremental $(wc -l < want.txt)" \
		"$(field mode "$2.json") $(field pages "$2.json")" || return 1
	cmp -s want.txt got.txt && return 0
	diag "$1: written since the last refresh:" "$(cat want.txt | tr '\n' ' ')" \
		"received:" "$(cat got.txt | tr '\n' ' ')"
	return 1
}

# cb_sync BEFORE AFTER - consumer cb refreshes local.img: one result, "BEFORE N pagesAFTER",
# that it was incremental with exactly the N distinct pages of pb.txt and local.img equals the
# device; pb.txt is emptied.
cb_sync() {
	tl sync --json --consumer cb "$dev" local.img > ob.json 2> ob.err
	np=$(sort -un pb.txt | wc -l)
	res "$1 $np pages$2" \
		sh -c "[ '$(field mode ob.json) $(field pages ob.json)' = 'incremental $np' ] &&
			cmp -s '$dev' local.img"
	: > pb.txt
}

# exactly WHAT OUT K PENDING - exact, and exportK.img equals the device.
exactly() {
	exact "$@" || return 1
	cmp -s "$dev" "export$3.img" && return 0
	diag "$1: export$3.img differs from the device (status $(cat "$2.rc"): $(cat "$2.err"))"
	return 1
}

# nsync K CONSUMER OUT [options...] - sync CONSUMER to export K, JSON into OUT.json, its
# stderr into OUT.err, the log position before it into OUT.l0, its status into OUT.rc.
nsync() {
	k=$1 cons=$2 out=$3
	shift 3
	lines "$k" > "$out.l0"
	eval "u=\$U$k"
	tl sync --json --consumer "$cons" "$@" "$dev" "$u" > "$out.json" 2> "$out.err"
	echo $? > "$out.rc"
}

N_FIXED=19
echo "KTAP version 1"
echo "1..$((N_FIXED + 4 * ROUNDS + ROUNDS / 2))"
diag "seed $SEED (reproduce: make test TESTS=70-tool-nbd-consumers VM_APPEND=TLOOP_NBD_SEED=$SEED)"

truncate -s ${MB}M a.img export1.img export2.img
dev=$(tloop attach --track a.img) || bail "attach"
PAGE=$(page_size "$dev")
NPAGES=$((MB * 1024 * 1024 / PAGE))
for c in ca cb cc; do tloop consumer add "$dev" $c > /dev/null || bail "consumer add $c"; done
dd if=/dev/urandom of="$dev" bs=1M count=$MB 2>/dev/null
serve 1 || bail "nbdkit 1 did not start: $(cat nbdkit.err)"
serve 2 || bail "nbdkit 2 did not start: $(cat nbdkit.err)"

# First refreshes: full, each consumer's own baseline.
nsync 1 ca o1
seq 0 $((NPAGES - 1)) > all.txt
res "ca -> export 1, first: status 0, full (no-baseline), consumer ca, every page" \
	same "status, mode, reason, consumer, pages" "0 full no-baseline ca $NPAGES" \
	"$(cat o1.rc) $(field mode o1.json) $(field reason o1.json) $(field consumer o1.json) $(field pages o1.json)"
res "... export1.img == device" cmp -s "$dev" export1.img
sent 1 "$(cat o1.l0)" > got.txt
res "... the server received every page once" cmp -s all.txt got.txt
st1=$(field baseline_file o1.json)
res "... its baseline names consumer ca and its id" \
	sh -c "grep -q '^consumer ca\$' '$st1' && grep -q '^consumer_id [1-9][0-9]*\$' '$st1'"
nsync 2 cc o2
res "cc -> export 2, first: full (no-baseline), consumer cc, exact" \
	sh -c "[ '$(cat o2.rc) $(field mode o2.json) $(field reason o2.json) $(field consumer o2.json)' = '0 full no-baseline cc' ] &&
		cmp -s '$dev' export2.img"
tl sync --json --consumer cb --create "$dev" local.img > ob.json 2> ob.err
res "cb -> local.img, first: full (new-area2), consumer cb, exact" \
	sh -c "[ '$(field mode ob.json) $(field reason ob.json) $(field consumer ob.json)' = 'full new-area2 cb' ] &&
		cmp -s '$dev' local.img"

# Rounds: ca and cc every round, at the same time; cb every other round.
: > pa.txt
: > pb.txt
: > pc.txt
round=0
while [ $round -lt $ROUNDS ]; do
	round=$((round + 1))
	k=$(awk -v s="$SEED$round" 'BEGIN { srand(s); print 1 + int(rand() * 120) }')
	pick "$k" "$round" | writepages pa.txt pb.txt pc.txt
	nsync 1 ca o1 &
	p1=$!
	nsync 2 cc o2 &
	p2=$!
	wait $p1
	wait $p2
	res "round $round ($k pages written): ca -> export 1, incremental, exactly its pages" \
		exact "round $round ca" o1 1 pa.txt
	res "round $round: export1.img == device (status $(cat o1.rc))" \
		sh -c "[ $(cat o1.rc) = 0 ] && cmp -s '$dev' export1.img"
	res "round $round: cc -> export 2 at the same time, incremental, exactly its pages" \
		exact "round $round cc" o2 2 pc.txt
	res "round $round: export2.img == device (status $(cat o2.rc))" \
		sh -c "[ $(cat o2.rc) = 0 ] && cmp -s '$dev' export2.img"
	: > pa.txt
	: > pc.txt
	if [ $((round % 2)) -eq 0 ]; then
		cb_sync "round $round: cb -> local.img, incremental," " (two rounds' worth), exact"
	fi
done
wp=$(tloop status --json "$dev" | sed -n 's/^ *"written_pages": \([0-9]*\).*/\1/p' | head -n 1)
res "the default consumer's set is untouched: every page ($wp of $NPAGES)" \
	test "${wp:-0}" -eq "$NPAGES"

# The same URI with another consumer: the baseline names ca, so cb's refresh is full.
pick 9 901 | writepages pa.txt pb.txt pc.txt
nsync 1 cb o1
sent 1 "$(cat o1.l0)" > got.txt
res "export 1 with consumer cb: full, reason other-consumer, every page sent, exact" \
	sh -c "[ '$(cat o1.rc) $(field mode o1.json) $(field reason o1.json)' = '0 full other-consumer' ] &&
		cmp -s all.txt got.txt && cmp -s '$dev' export1.img"
res "... the baseline now names cb" grep -q '^consumer cb$' "$st1"
nsync 1 ca o1
res "... and back to ca: full again (other-consumer), exact" \
	sh -c "[ '$(cat o1.rc) $(field mode o1.json) $(field reason o1.json)' = '0 full other-consumer' ] &&
		cmp -s '$dev' export1.img"
: > pa.txt
tl sync --json --consumer cb "$dev" local.img > ob.json 2> ob.err
res "cb's own local.img: full, reason generation (cb's set was cleared for export 1), exact" \
	sh -c "[ '$(field mode ob.json) $(field reason ob.json)' = 'full generation' ] &&
		cmp -s '$dev' local.img"
: > pb.txt
pick 5 902 | writepages pa.txt pb.txt pc.txt
nsync 1 ca o1
res "ca -> export 1 once more: incremental, exactly the 5 pages, exact" \
	exactly "ca again" o1 1 pa.txt
: > pa.txt

# An unknown consumer: the local engine's message, nothing sent.
l0=$(lines 1)
tl sync --consumer nosuch "$dev" "$U1" > out.txt 2> err.txt
rc=$?
tl sync --consumer nosuch "$dev" local.img > out.txt 2> errl.txt
rcl=$?
l1=$(lines 1)
res "an unknown consumer: status 1, '$dev has no consumer nosuch' as for a local area2, nothing sent" \
	sh -c "[ '$rc $rcl' = '1 1' ] && grep -q '$dev has no consumer nosuch' err.txt &&
		[ \"\$(head -n 1 err.txt)\" = \"\$(head -n 1 errl.txt)\" ] && [ $l1 -eq $l0 ] ||
		{ echo '# status $rc/$rcl:'; sed 's/^/# /' err.txt errl.txt; exit 1; }"

# --consistent with a named consumer: refused before anything changes.
page "$dev" 17
echo 17 >> pa.txt
echo 17 >> pb.txt
echo 17 >> pc.txt
nsync 1 ca o1 --consistent
l1=$(lines 1)
res "--consistent --consumer ca: status 1, 'works on the default consumer only', nothing sent" \
	sh -c "[ $(cat o1.rc) = 1 ] &&
		grep -q -- '--consistent works on the default consumer only, not on consumer ca' o1.err &&
		[ $l1 -eq $(cat o1.l0) ] ||
		{ sed 's/^/# /' o1.err; exit 1; }"
nsync 1 ca o1
res "... the baseline was kept: the next refresh is incremental (1 page), exact" \
	exactly "after --consistent" o1 1 pa.txt
: > pa.txt

# The server killed in the middle of ca's refresh: the next one resends what it took.
i=0
while [ $i -lt 96 ]; do echo $((3 + i * 7)); i=$((i + 1)); done | writepages pa.txt pb.txt pc.txt
stop 1
DELAY=40ms serve 1 --filter=delay || bail "nbdkit with delay"
w0=$(writes 1)
tl sync --consumer ca "$dev" "$U1" > out.txt 2> err.txt &
sp=$!
i=0
while [ "$(writes 1)" -lt $((w0 + 4)) ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i + 1)); done
kill -9 "$srv1"
wait "$srv1" 2>/dev/null
srv1=
wait $sp
rc=$?
diag "killed after $(($(writes 1) - w0)) writes; stderr: $(cat err.txt)"
res "ca killed midway: status 1, the next sync is said to be incremental" \
	sh -c "[ $rc = 1 ] && grep -q 'the next sync resends what it may have missed (incremental)' err.txt"
i=0
while [ $i -lt 20 ]; do echo $((1000 + i * 11)); i=$((i + 1)); done | writepages pa.txt pb.txt pc.txt
cb_sync "... cb -> local.img meanwhile: incremental," ", exact"
unset DELAY
serve 1 || bail "nbdkit restart"
nsync 1 ca o1
res "... ca's next refresh: incremental, exactly the pages written since its last success, exact" \
	exactly "after the kill" o1 1 pa.txt
: > pa.txt

# A consumer removed and added again under the same name is another consumer.
tloop consumer remove "$dev" ca > /dev/null && tloop consumer add "$dev" ca > /dev/null ||
	bail "consumer remove/add ca"
nsync 1 ca o1
res "ca removed and added again: full, reason other-consumer, exact" \
	sh -c "[ '$(cat o1.rc) $(field mode o1.json) $(field reason o1.json)' = '0 full other-consumer' ] &&
		cmp -s '$dev' export1.img"

stop 1
stop 2
tloop detach "$dev" || failed=1
dev=
exit $failed
