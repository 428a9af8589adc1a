#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# test-vm/boot-check.sh - boot one kernel N times to /init and back, to prove that its boot
# is reliable here (a boot that dies before /init is a red run that has nothing to do with
# tloop). Each boot uses test-vm/run.sh with the guest's probe mode: /init ends at once with
# the success code. A boot passes only if QEMU exited with that code and the console holds
# no crash signature (test-vm/verdict.py's list).
#   KERNEL_DIR, INITRD   as for test-vm/run.sh (INITRD: the base part is enough)
#   BOOTS                number of boots (default 20)
#   OUT                  directory for the consoles of failed boots and boots.log
#   VM_CPU, VM_APPEND    passed to run.sh (e.g. VM_CPU=max to boot with QEMU's 5-level paging)
# Prints one line per boot and a summary; exits 0 only if every boot passed.
set -eu
: "${KERNEL_DIR:?}" "${INITRD:?}" "${OUT:?}"
here=$(cd "$(dirname "$0")" && pwd)
boots=${BOOTS:-20}
mkdir -p "$OUT"
sigs=$(python3 -c 'import sys; sys.path.insert(0, sys.argv[1]); import verdict
print("|".join(s.replace("|", "\\|") for s in verdict.CRASH_SIGNATURES))' "$here")
passed=0 failed=0
for i in $(seq 1 "$boots"); do
	run=$OUT/boot-$i
	KERNEL_DIR=$KERNEL_DIR INITRD=$INITRD OUT=$run MODE=probe VM_TIMEOUT=${VM_TIMEOUT:-180} \
		"$here/run.sh" >/dev/null 2>&1 || true
	st=$(sed -n 's/.*"qemu_status": \([0-9]*\).*/\1/p' "$run/vm.json" 2>/dev/null || true)
	secs=$(sed -n 's/.*"seconds": \([0-9.]*\).*/\1/p' "$run/vm.json" 2>/dev/null || true)
	crash=$(grep -aE -m1 "$sigs" "$run/console.log" 2>/dev/null || true)
	load=$(cut -d' ' -f1 /proc/loadavg)
	if [ "${st:-x}" = 85 ] && [ -z "$crash" ]; then
		passed=$((passed + 1))
		echo "boot $i: ok (${secs} s, load $load)"
		rm -rf "$run"
	else
		failed=$((failed + 1))
		echo "boot $i: FAILED (qemu status ${st:-none}, ${secs:-?} s, load $load): ${crash:-no /init}; console $run/console.log"
	fi
done | tee "$OUT/boots.log"
passed=$(grep -c ': ok' "$OUT/boots.log" || true)
failed=$(grep -c ': FAILED' "$OUT/boots.log" || true)
echo "boot-check $(cat "$KERNEL_DIR/release" 2>/dev/null): $passed of $boots boots reached /init cleanly, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -eq "$boots" ]
