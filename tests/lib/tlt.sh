# SPDX-License-Identifier: GPL-2.0
# tlt.sh - KTAP helpers of the shell tests, sourced first thing:
#	. "${0%/*}/lib/tlt.sh"
# (/tests/lib/tlt.sh in the VM; not a test itself: the runner only runs the files of /tests).
# A test prints its plan, reports with res, and ends with `exit $failed`.

n=0
failed=0

# res NAME COMMAND... - one result: ok if COMMAND succeeds.
res() {
	name=$1
	shift
	n=$((n + 1))
	if "$@"; then
		echo "ok $n $name"
	else
		echo "not ok $n $name"
		failed=1
	fi
}

# diag TEXT... - print a diagnostic, each line prefixed with "# ".
diag() {
	printf '%s\n' "$*" | sed 's/^/# /'
}

# bail TEXT... - a setup step failed: stop the test.
bail() {
	echo "Bail out! $*"
	exit 1
}

# same WHAT EXPECTED GOT - compare two strings, print both when they differ.
same() {
	[ "$2" = "$3" ] && return 0
	diag "$1: expected:" "$2" "got:" "$3"
	return 1
}

# fails STATUS PATTERN CMD... - CMD exits with STATUS and its stderr matches PATTERN
# (its stdout and stderr are left in out.txt and err.txt).
fails() {
	want=$1 pat=$2
	shift 2
	"$@" > out.txt 2> err.txt
	rc=$?
	if [ "$rc" -eq "$want" ] && grep -q -- "$pat" err.txt; then
		return 0
	fi
	diag "'$*': expected status $want and stderr matching '$pat'" \
		"got status $rc, stderr:" "$(cat err.txt)"
	return 1
}

# page_size DEV - the tracking granularity (the kernel's page size) of tloop device DEV, as
# TLOOP_TRACK_STATUS reports it through `tloop status`.
page_size() {
	tloop status --bytes "$1" | sed -n 's/^ *page size: *\([0-9][0-9]*\) .*/\1/p'
}

# page FILE N [COUNT] - write COUNT (1) pages of random data at page N of FILE (a device or a
# file); PAGE (from page_size) is the page size.
page() {
	dd if=/dev/urandom of="$1" bs="${PAGE:?}" seek="$2" count="${3:-1}" conv=notrunc 2>/dev/null
}

# nbd_sent LOG FROM - the page indices of the writes nbdkit's log filter logged in LOG after
# line FROM, sorted, repeats kept; "unaligned O C" for a write that is not whole pages
# (PAGE from page_size).
nbd_sent() {
	tail -n +$(($2 + 1)) "$1" |
		sed -n 's/.* Write id=[0-9]* offset=\(0x[0-9a-f]*\) count=\(0x[0-9a-f]*\) .*/\1 \2/p' |
		while read -r o c; do
			if [ $((o % PAGE)) -ne 0 ] || [ $((c % PAGE)) -ne 0 ]; then
				echo "unaligned $o $c"
				continue
			fi
			p=$((o / PAGE))
			e=$(((o + c) / PAGE))
			while [ $p -lt $e ]; do echo $p; p=$((p + 1)); done
		done | sort -n
}

# pick_pages SEED K N - K distinct pages of 0..N-1 drawn by awk's rand() from the numeric SEED,
# as runs of 1-3 pages (adjacent pages coalesce), one per line, sorted.
pick_pages() {
	awk -v seed="$1" -v k="$2" -v n="$3" 'BEGIN {
		srand(seed)
		while (c < k) {
			p = int(rand() * n); l = 1 + int(rand() * 3)
			for (i = 0; i < l && p + i < n && c < k; i++)
				if (!((p + i) in s)) { s[p + i] = 1; c++ }
		}
		for (p in s) print p
	}' | sort -n
}

# restore_is WORD - `tloop status --json "$dev"` says its sidecar's restore at attach was WORD.
restore_is() {
	js=$(tloop status --json "$dev")
	echo "$js" | grep -q "\"restore\": *\"$1\"" && return 0
	diag "status --json: $js"
	return 1
}

# synced KIND [SYNC OPTIONS...] AREA2 - `tloop sync "$dev" ... AREA2` made a KIND (full or
# incremental) copy, and AREA2 equals the device.
synced() {
	kind=$1
	shift
	out=$(tloop sync "$dev" "$@" 2>&1) || { diag "sync $*: $out"; return 1; }
	a2=$(eval echo "\${$#}")
	echo "$out" | grep -q "$kind copy" || { diag "sync $*: expected a $kind copy: $out"; return 1; }
	cmp -s "$dev" "$a2" || { diag "sync $*: $a2 differs from $dev"; return 1; }
}
