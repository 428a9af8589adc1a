#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# test-vm/selftest.sh - the harness proves it can fail. Boots the kernel once per injected
# fault (test-vm/selftest/*.sh: a not ok, a kernel crash, a kernel WARN, a hang past the
# test's timeout, a test without a plan; power-cut tests: a reboot nobody asked for, a
# second boot that never reaches the test, a missing scratch disk image, a cut without a
# working sysrq), each with a tiny initramfs (base + modules + that one test), and passes
# only if every boot ends in a failed verdict for the expected reason (the
# `selftest-expect:` line of the case). A case with a `tloop-power:` line runs as
# test-vm/power.sh runs a power-cut test, with the fault of its `selftest-power-fault:`
# line (see power.sh's POWER_FAULT).
# Environment: KERNEL_DIR, BASE_CPIO, MODULES_CPIO, WARN_KO, FUZZ_BIN (tests/42-track-fuzz,
# for the fuzz-oracle case), OUT, VM_TIMEOUT (per boot),
# SELFTEST_JOBS (boots at a time, default 2).
set -eu

# The whole script is one function, read before it runs: editing this file while a run
# is in progress cannot change what that run does.
main() {

	: "${KERNEL_DIR:?}" "${BASE_CPIO:?}" "${MODULES_CPIO:?}" "${WARN_KO:?}" "${OUT:?}"
	here=$(cd "$(dirname "$0")" && pwd)
	top=$here/..
	export VM_TIMEOUT=${VM_TIMEOUT:-300}
	rm -rf "$OUT"
	mkdir -p "$OUT"

	# run_case FILE - boot one fault; leaves $OUT/<case>/detected or $OUT/<case>/missed.
	run_case() {
		case_file=$1
		name=$(basename "$case_file" .sh)
		expect=$(sed -n 's/^# selftest-expect: //p' "$case_file")
		dir=$OUT/$name
		mkdir -p "$dir/root/tests" "$dir/root/selftest"
		install -m 0755 "$case_file" "$dir/root/tests/$name"
		t=$(sed -n 's/.*tloop-timeout:[[:space:]]*\([0-9][0-9]*\).*/\1/p' "$case_file" | head -n 1)
		echo "$name ${t:-120}" > "$dir/root/tests/.timeouts"
		cp "$WARN_KO" "$dir/root/selftest/"
		[ -z "${FUZZ_BIN:-}" ] || cp "$FUZZ_BIN" "$dir/root/selftest/"
		# A power-cut case (a `tloop-power:` line) boots as test-vm/power.sh does, with the
		# fault of its `selftest-power-fault:` line.
		power=$(sed -n 's/^# tloop-power:[[:space:]]*boots=\([0-9]*\) disk=\([0-9]*\)$/\1 \2/p' \
			"$case_file")
		[ -z "$power" ] || echo "$name $power" > "$dir/root/tests/.power"
		"$top/initramfs/mkpart.sh" tree "$dir/case.cpio" "$dir/root"
		cat "$BASE_CPIO" "$MODULES_CPIO" "$dir/case.cpio" > "$dir/initramfs.cpio"
		verdict_dir=$dir/run
		if [ -n "$power" ]; then
			POWER_FAULT=$(sed -n 's/^# selftest-power-fault: //p' "$case_file") \
				KERNEL_DIR=$KERNEL_DIR INITRD=$dir/initramfs.cpio OUT=$dir/run \
				POWER_LIST=$dir/root/tests/.power TIMEOUTS=$dir/root/tests/.timeouts \
				"$here/power.sh" > "$dir/power.log" 2>&1 || true
			verdict_dir=$dir/run/power/$name
		else
			VM_PROGRESS=0 KERNEL_DIR=$KERNEL_DIR INITRD=$dir/initramfs.cpio OUT=$dir/run \
				MODE=test "$here/run.sh"
		fi
		if "$here/verdict.py" expect-fail "$verdict_dir" "$name" "$expect" > "$dir/report"; then
			touch "$dir/detected"
		else
			touch "$dir/missed"
		fi
		cat "$dir/report"
	}

	# A few boots at a time: each is mostly one busy QEMU thread.
	jobs=${SELFTEST_JOBS:-2}
	start=$(date +%s)
	for case_file in "$here"/selftest/*.sh; do
		while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do
			wait -n || true
		done
		run_case "$case_file" &
	done
	wait
	detected=$(find "$OUT" -mindepth 2 -maxdepth 2 -name detected | wc -l)
	missed=$(( $(ls "$here"/selftest/*.sh | wc -l) - detected ))
	secs=$(( $(date +%s) - start ))
	pass=false
	[ "$missed" -eq 0 ] && [ "$detected" -gt 0 ] && pass=true
	cat > "$OUT/verdict.json" <<-EOT
	{"label": "harness self-test", "pass": $pass, "passed": $detected, "failed": $missed,
	 "skipped": 0, "seconds": $secs}
	EOT
	echo "=== harness self-test on $(cat "$KERNEL_DIR/release"): $detected of" \
		"$((detected + missed)) injected faults failed the run as they must (${secs} s)"
}

main "$@"
exit
