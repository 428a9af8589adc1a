#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# 71-tool-sync-every: `tloop sync --every SECONDS [--count N]` refreshes again
# and again from one process: --count N gives exactly N refreshes, each
# copying what was written since the one before (3, then 0, then 0 pages);
# a page written while the loop runs is copied by its next refresh; SIGTERM
# while it waits ends it at once with status 0, its last refresh complete
# and its baseline kept (the next plain sync is incremental and copies
# nothing); a failed refresh ends the loop with status 1 and one message;
# --count without --every is a usage error.  area2 equals the device after
# every run (cmp).
# tloop-timeout: 180
set -u

. "${0%/*}/lib/tlt.sh"
dev=
bg=
cleanup() {
	[ -n "$bg" ] && kill "$bg" 2>/dev/null
	[ -n "$dev" ] && tloop detach "$dev" 2>/dev/null
}
trap cleanup EXIT

echo "KTAP version 1"
echo "1..9"

# wait_for FILE PATTERN SECONDS - until FILE has a line matching PATTERN.
wait_for() {
	i=0
	while [ "$i" -lt $(($3 * 10)) ]; do
		grep -q -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
		i=$((i + 1))
	done
	diag "no '$2' in $1 after $3 s:" "$(cat "$1" 2>/dev/null)"
	return 1
}

# gone PID SECONDS - PID has exited within SECONDS.
gone() {
	i=0
	while [ "$i" -lt $(($2 * 10)) ]; do
		kill -0 "$1" 2>/dev/null || return 0
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}

truncate -s 16M a.img || bail "create a.img"
dev=$(tloop attach --track a.img) || bail "attach"
PAGE=$(page_size "$dev")
tloop sync --create "$dev" a2.img > /dev/null || bail "first sync"

# --count 3: three refreshes, the first copies the 3 written pages, the others nothing.
page "$dev" 1 2
page "$dev" 5
tloop sync --every 0.2 --count 3 --json "$dev" a2.img > out.json 2> err.txt
rc=$?
res "--every 0.2 --count 3 exits 0" same "status" "0" "$rc"
[ "$rc" -eq 0 ] || diag "$(cat err.txt)"
res "three refreshes: 3, 0, 0 pages, all incremental" same "pages, modes" \
	"3 0 0 / incremental incremental incremental" \
	"$(grep -o '"pages": [0-9]*' out.json | sed 's/.* //' | xargs) / $(grep -o '"mode": "[a-z]*"' out.json | sed 's/.*: "\(.*\)"/\1/' | xargs)"
res "area2 equals the device" cmp "$dev" a2.img

# A loop that waits 60 s between refreshes: SIGTERM ends it during the wait.
page "$dev" 7
page "$dev" 9
tloop sync --every 60 "$dev" a2.img > bg.txt 2>&1 &
bg=$!
wait_for bg.txt "incremental copy" 60
kill -TERM "$bg"
ok=0
gone "$bg" 10 && ok=1
wait "$bg"
rc=$?
bg=
res "SIGTERM while it waits ends it at once with status 0" sh -c "[ $ok = 1 ] && [ $rc = 0 ]"
[ "$rc" -eq 0 ] || diag "status $rc" "$(cat bg.txt)"
res "one refresh of the 2 written pages, area2 exact" sh -c \
	"[ \$(grep -c 'incremental copy' bg.txt) = 1 ] && grep -q ', 2 pages ' bg.txt && cmp '$dev' a2.img"
[ $? -eq 0 ] || diag "$(cat bg.txt)"
out=$(tloop sync --json "$dev" a2.img)
res "its baseline was kept: the next sync is incremental and copies nothing" sh -c \
	"echo '$out' | grep -q '\"mode\": \"incremental\"' && echo '$out' | grep -q '\"pages\": 0,'"

# A page written while the loop runs is copied by its next refresh.
tloop sync --every 0.3 "$dev" a2.img > live.txt 2>&1 &
bg=$!
wait_for live.txt "incremental copy" 60
page "$dev" 11
wait_for live.txt ", 1 page " 60
kill -TERM "$bg"
gone "$bg" 10
wait "$bg"
rc=$?
bg=
res "a page written while the loop runs is copied by its next refresh" sh -c \
	"[ $rc = 0 ] && grep -q ', 1 page ' live.txt && cmp '$dev' a2.img"
[ $? -eq 0 ] || diag "status $rc" "$(cat live.txt)"

# A failed refresh ends the loop: area2 of the wrong size.
truncate -s 1M small.img
tloop sync --every 0.1 --count 5 "$dev" small.img > out.txt 2> err.txt
rc=$?
res "a failed refresh ends the loop with status 1 and one message" sh -c \
	"[ $rc = 1 ] && [ \$(grep -c 'sync:' err.txt) = 1 ]"
[ "$rc" -eq 1 ] || diag "status $rc" "$(cat err.txt)"

res "--count without --every is a usage error" fails 2 "count needs --every" \
	tloop sync --count 2 "$dev" a2.img

tloop detach "$dev" || failed=1
dev=
exit $failed
