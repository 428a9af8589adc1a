#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# test-vm/power.sh - run the power-cut tests of one kernel (tests/README.md, "Tests that
# span power cuts"): for each line "<name> <max boots> <disk MiB>" of POWER_LIST, a fresh
# sparse disk image, then boots of the same kernel and initramfs (test-vm/run.sh, kernel
# arguments tloop_power=<name> tloop_boot=<N> tloop_boots=<max>) with that image as the
# scratch disk, as long as each boot ends in a cut the test asked for (test-vm/verdict.py
# power-boot). The verdict over all boots is test-vm/verdict.py's (power DIR NAME); the
# image is removed when the test passed, kept (and named) when it failed.
# Environment:
#   KERNEL_DIR, INITRD  as for test-vm/run.sh (and VM_APPEND, VM_MEM, ... pass through)
#   OUT         the kernel's run directory: the test's boots go to OUT/power/<name>/boot<N>
#   POWER_LIST  the list (tests/Makefile's .power); TIMEOUTS: its .timeouts
#   POWER_TESTS names to run (default: every one of the list)
#   POWER_SMP   vCPUs of these boots (default: VM_SMP, as the main boot). Tried 1: the
#               debug kernel then hit a soft lockup in ACPI init at load 17; with 2, kernel 7
#               once hung bringing up CPU 1 (load 15); both are early-boot failures of TCG
#               on a loaded host, and a clear failed verdict ("never reached the test").
#   POWER_TCG   TCG threading of these boots (default single, see below; VM_TCG_THREAD of
#               the main boot is not used here)
#   POWER_FAULT the harness self-test's injected fault: rm-disk:N (the image is removed
#               before boot N), no-disk:N (boot N without the disk), append:N:ARGS
#               (kernel arguments added to boot N)
# The exit status is 0 if every test passed.
set -eu

# The whole script is one function, read before it runs: editing this file while a run
# is in progress cannot change what that run does.
main() {

	: "${KERNEL_DIR:?}" "${INITRD:?}" "${OUT:?}" "${POWER_LIST:?}"
	here=$(cd "$(dirname "$0")" && pwd)
	[ -s "$POWER_LIST" ] || return 0
	mkdir -p "$OUT/power"
	cp "$POWER_LIST" "$OUT/power/.power"
	fault=${POWER_FAULT:-}
	status=0
	# A KASAN kernel probing the scratch disk at boot (virtio_pci built in: PID 1 evaluates
	# QEMU's _PRT AML for its interrupt, allocating at every step) spent over 26 s without a
	# reschedule at load 15-17: a soft lockup before /init; with a 60 s watchdog threshold
	# the AML then hit its loop timeout (AE_AML_LOOP_TIMEOUT, "no GSI") and the test hung.
	# Its power boots take PCI interrupt routing from the BIOS table instead (acpi=noirq).
	config=$KERNEL_DIR/config
	[ -f "$config" ] || config=$(cat "$KERNEL_DIR/kdir" 2>/dev/null)/.config
	lockup=
	# A KASAN kernel is 3-4 times slower: its power-cut tests make fewer cuts (59: one run
	# cut at a random moment instead of three; TLOOP_POWER_RUNS in the test's environment).
	if grep -q '^CONFIG_KASAN=y' "$config" 2>/dev/null; then
		lockup="acpi=noirq TLOOP_POWER_RUNS=${TLOOP_SCALE:-1}"
	fi

	while read -r name boots mib <&9; do
		[ -n "$name" ] || continue
		if [ -n "${POWER_TESTS:-}" ] && [[ " $POWER_TESTS " != *" $name "* ]]; then
			continue
		fi
		dir=$OUT/power/$name
		rm -rf "$dir"
		mkdir -p "$dir"
		tmo=$(awk -v n="$name" '$1 == n { print $2; exit }' "${TIMEOUTS:-/dev/null}" \
			2>/dev/null)
		tmo=${tmo:-120}
		img=$dir/disk.img
		truncate -s "${mib}M" "$img"
		echo "=== power-cut test $name: at most $boots boots, ${mib} MiB scratch disk $img"
		start=$(date +%s)
		n=0
		while [ "$n" -lt "$boots" ]; do
			n=$((n + 1))
			append="${VM_APPEND:-} $lockup tloop_power=$name tloop_boot=$n tloop_boots=$boots"
			disk=$img
			case $fault in
			"rm-disk:$n") rm -f "$img" ;;
			"no-disk:$n") disk= ;;
			"append:$n:"*) append="$append ${fault#append:$n:}" ;;
			esac
			if [ -n "$disk" ] && [ ! -f "$disk" ]; then
				echo "the scratch disk image $img is missing before boot $n" \
					> "$dir/host-problem"
				echo "  $name boot $n: scratch disk image missing, not booted"
				break
			fi
			# Each boot gets the test's timeout plus the boot's own time. Power boots run
			# single-threaded TCG on every kernel: multi-threaded TCG's cross-modifying-code
			# race (run.sh: "Oops: int3" when the kernel patches a static key before /init)
			# hit boot 5 of 61 on Debian's 6.12 in a clean-clone CI; a test with N boots
			# is N times as exposed as the main boot, and these tests are about durability,
			# not about vCPUs racing inside the guest.
			VM_TCG_THREAD=${POWER_TCG:-single} VM_SMP=${POWER_SMP:-${VM_SMP:-2}} VM_PROGRESS=0 VM_DISK=$disk VM_APPEND=$append OUT=$dir/boot$n MODE=test \
				VM_TIMEOUT=$((tmo + 180)) KERNEL_DIR=$KERNEL_DIR INITRD=$INITRD \
				"$here/run.sh" || true
			kind=$("$here/verdict.py" power-boot "$dir" "$name" "$n" "$boots") || true
			echo "  $name boot $n: $kind"
			[ "${kind%% *}" = cut ] || break
		done
		echo "$(( $(date +%s) - start ))" > "$dir/seconds"
		if "$here/verdict.py" power "$dir" "$name" > "$dir/report"; then
			rm -f "$img"
		else
			status=1
			[ -f "$img" ] && echo "$img" > "$dir/disk-kept"
		fi
		cat "$dir/report"
		[ ! -f "$dir/disk-kept" ] || echo "  scratch disk image kept: $img"
	done 9< "$POWER_LIST"
	return $status
}

main "$@"
exit
