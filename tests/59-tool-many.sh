#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# 59-tool-many: tloop list and tloop detach --all with many devices on one
# small backing file: more than libtloop's first guess (tloop_list_all()
# starts with room for 256 and grows), listed (table and JSON) exactly as
# sysfs shows them, all detached; a list that cannot be written
# (> /dev/full) fails with a write error.
# TLOOP_MANY_DEVICES sets the count (default 300; 600 took 312 s to attach on
# 6.12-debug under a load of 20). More than 4,096, the limit
# the tool once had (make test VM_APPEND=TLOOP_MANY_DEVICES=4160), costs
# about 8 minutes on a loaded TCG host (6.12: attach 202 s, detach 268 s),
# too much for every run; lib/tests/test-list.c checks 5,000 on the host.
# tloop-timeout: 900
set -u

N=${TLOOP_MANY_DEVICES:-300}
. "${0%/*}/lib/tlt.sh"
# same_list WHAT EXPECTED GOT - like same, for long lists: prints the counts and the first
# lines of their difference.
same_list() {
	[ "$2" = "$3" ] && return 0
	printf '%s\n' "$2" > want.txt
	printf '%s\n' "$3" > got.txt
	diag "$1: expected $(grep -c . want.txt) lines, got $(grep -c . got.txt); first differences:" \
		"$(diff want.txt got.txt | head -n 10)"
	return 1
}
# sysfs_devs - the tloop devices sysfs knows, one /dev path a line, sorted.
sysfs_devs() {
	ls /sys/block | grep '^tloop[0-9][0-9]*$' | sed 's|^|/dev/|' | sort
}
cleanup() {
	tloop detach --all 2>/dev/null
}
trap cleanup EXIT

echo "KTAP version 1"
echo "1..7"

before=$(sysfs_devs | wc -l)
truncate -s 64K one.img
t0=$(date +%s)
i=0
bad=0
while [ $i -lt $N ]; do
	tloop attach one.img > /dev/null || { bad=$((bad + 1)); break; }
	i=$((i + 1))
done
t1=$(date +%s)
diag "attached $i devices in $((t1 - t0)) s ($before were there before)"
res "$N devices attached" [ $bad = 0 ] && [ $i = $N ]

want=$(sysfs_devs)
total=$(printf '%s\n' "$want" | grep -c .)
res "sysfs shows all $total devices" [ "$total" = $((before + N)) ]

got=$(tloop list --noheadings | awk '{ print $1 }' | sort)
res "tloop list shows every device sysfs shows" same_list "tloop list devices" "$want" "$got"

got=$(tloop list --json | sed -n 's/^ *"device": "\(.*\)",$/\1/p' | sort)
res "tloop list --json shows every device sysfs shows" same_list "tloop list --json devices" \
	"$want" "$got"

tloop list > /dev/full 2> err.txt
rc=$?
res "tloop list > /dev/full: status 1 and a write error" \
	sh -c "[ $rc = 1 ] && grep -q '^tloop: write error on standard output' err.txt"
[ $rc = 1 ] || diag "status $rc, stderr: $(cat err.txt)"

t0=$(date +%s)
tloop detach --all 2> err.txt
rc=$?
t1=$(date +%s)
diag "detach --all: $((t1 - t0)) s"
res "tloop detach --all succeeds" [ $rc = 0 ]
[ $rc = 0 ] || diag "status $rc, stderr: $(head -n 5 err.txt)"

res "no device is left (sysfs, tloop list)" \
	sh -c "[ -z \"\$(ls /sys/block | grep '^tloop')\" ] && [ -z \"\$(tloop list -n)\" ]"

exit $failed
