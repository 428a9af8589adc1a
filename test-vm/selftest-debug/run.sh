#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# test-vm/selftest-debug/run.sh - the debug kernel proves its checkers fail a run. Boots the
# kernel once per case (cases/*.sh: a use-after-free, an AB-BA lock inversion, a sleep in
# atomic context, an out-of-bounds index), each loading one test-only module of this
# directory, and passes only if every boot ends in a failed verdict whose reason names the
# checker (the `selftest-expect:` regex of the case). The boots, the initramfs parts and the
# verdict are the harness's own (test-vm/run.sh, initramfs/mkpart.sh, test-vm/verdict.py):
# this only adds the cases, the same way test-vm/selftest.sh does for the harness faults.
# Environment: KERNEL_DIR, BASE_CPIO, MODULES_CPIO, KO_DIR (the built tloop_selftest_*.ko),
# OUT, VM_TIMEOUT (per boot).
set -eu

: "${KERNEL_DIR:?}" "${BASE_CPIO:?}" "${MODULES_CPIO:?}" "${KO_DIR:?}" "${OUT:?}"
here=$(cd "$(dirname "$0")" && pwd)
top=$here/../..
export VM_TIMEOUT=${VM_TIMEOUT:-300}
rm -rf "$OUT"
mkdir -p "$OUT"

detected=0 missed=0
start=$(date +%s)
for case_file in "$here"/cases/*.sh; do
	name=debug-$(basename "$case_file" .sh)
	expect=$(sed -n 's/^# selftest-expect: //p' "$case_file")
	[ -n "$expect" ] || { echo "run.sh: $case_file has no selftest-expect line" >&2; exit 2; }
	dir=$OUT/$name
	mkdir -p "$dir/root/tests" "$dir/root/selftest"
	install -m 0755 "$case_file" "$dir/root/tests/$name"
	echo "$name 120" > "$dir/root/tests/.timeouts"
	cp "$KO_DIR"/tloop_selftest_*.ko "$dir/root/selftest/"
	"$top/initramfs/mkpart.sh" tree "$dir/case.cpio" "$dir/root"
	cat "$BASE_CPIO" "$MODULES_CPIO" "$dir/case.cpio" > "$dir/initramfs.cpio"
	KERNEL_DIR=$KERNEL_DIR INITRD=$dir/initramfs.cpio OUT=$dir/run MODE=test \
		"$top/test-vm/run.sh"
	if "$top/test-vm/verdict.py" expect-fail "$dir/run" "$name" "$expect"; then
		detected=$((detected + 1))
	else
		missed=$((missed + 1))
	fi
done
secs=$(( $(date +%s) - start ))
pass=false
[ "$missed" -eq 0 ] && [ "$detected" -gt 0 ] && pass=true
cat > "$OUT/verdict.json" <<EOT
{"label": "debug-kernel self-test", "pass": $pass, "passed": $detected, "failed": $missed,
 "skipped": 0, "seconds": $secs}
EOT
echo "=== debug-kernel self-test on $(cat "$KERNEL_DIR/release"): $detected of" \
	"$((detected + missed)) injected bugs failed the run with the checker's report (${secs} s)"
