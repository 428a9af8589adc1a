#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# test-vm/kernel.sh STEP NAME [ARGS] - one step of `make` for one kernel NAME (6.1, 6.12, 7,
# 6.12-debug, ...). The top Makefile builds what a step needs, then calls it:
#   module NAME BIND DIR  build the kernel module in DIR (make M=DIR) against NAME's headers,
#                         on the host or in the build root of NAME's Debian release with BIND
#                         mounted (ci/kernel-env.sh)
#   test NAME             boot NAME with $TLOOP_BUILD/NAME/initramfs.cpio; initramfs/init runs
#                         every test of /tests, then test-vm/power.sh boots it again for
#                         each power-cut test (tests/README.md); the verdict goes to
#                         $TLOOP_BUILD/NAME/run/verdict.json (`make test` sums them up). Always
#                         exits 0: a failed run is a verdict, not a make error
#   selftest NAME         the harness self-test on NAME: one boot per injected fault
#                         (test-vm/selftest.sh); verdict in $TLOOP_BUILD/selftest/
#   demo NAME             boot NAME with demo.cpio and run demo/run.sh; exits 1 if it failed
#   vm NAME               an interactive VM with initramfs.cpio (module, tools, tests)
# Environment (the Makefile exports it): TLOOP_CACHE, TLOOP_BUILD (the build directory),
# VM_TIMEOUT (empty: the sum of the test timeouts + 600), SELFTEST_VM_TIMEOUT; run.sh's VM_*.
set -eu

# The whole script is one function, read before it runs: editing this file while a run
# is in progress cannot change what that run does.
main() {
	[ $# -ge 2 ] || { echo "usage: kernel.sh STEP NAME [ARGS]" >&2; exit 2; }
	step=$1 name=$2
	shift 2
	cd "$(dirname "$0")/.."
	kernel=$TLOOP_CACHE/kernels/$name
	b=$TLOOP_BUILD
	ir=$b/initramfs

	case $step in
	module)
		ci/kernel-env.sh "$name" --bind "$1" -- \
			"${MAKE:-make}" -C "$(cat "$kernel/kdir")" M="$2" modules
		;;
	test)
		rm -rf "$b/$name/run"
		echo "=== booting $name ($(cat "$kernel/release")): tests running," \
			"console in $b/$name/run/console.log"
		KERNEL_DIR=$kernel INITRD=$b/$name/initramfs.cpio OUT=$b/$name/run MODE=test \
			VM_TIMEOUT=${VM_TIMEOUT:-$(($(cat "$ir/tests.cpio.budget") + 600))} \
			test-vm/run.sh || true
		# The power-cut tests (tests/README.md) then boot the same kernel on their own
		# (test-vm/power.sh, boots in run/power/<test>/); the run's verdict includes them.
		KERNEL_DIR=$kernel INITRD=$b/$name/initramfs.cpio OUT=$b/$name/run \
			POWER_LIST=$b/tests/bin/.power TIMEOUTS=$b/tests/bin/.timeouts \
			test-vm/power.sh || true
		test-vm/verdict.py run "$b/$name/run" "$name" || true
		;;
	selftest)
		echo "=== harness self-test on $name: one boot per injected fault"
		KERNEL_DIR=$kernel BASE_CPIO=$ir/base.cpio MODULES_CPIO=$ir/modules-$name.cpio \
			WARN_KO=$b/$name/selftest/tloop_selftest_warn.ko \
			FUZZ_BIN=$b/selftest-bin/42-track-fuzz OUT=$b/selftest \
			VM_TIMEOUT=$SELFTEST_VM_TIMEOUT test-vm/selftest.sh || true
		;;
	demo)
		KERNEL_DIR=$kernel INITRD=$b/$name/demo.cpio OUT=$b/$name/demo MODE=demo \
			test-vm/run.sh
		test-vm/verdict.py demo "$b/$name/demo" "$name"
		;;
	vm)
		echo "=== interactive VM on $name: 'poweroff' or 'exit' quits (Ctrl-A X forces)"
		KERNEL_DIR=$kernel INITRD=$b/$name/initramfs.cpio OUT=$b/$name/vm MODE=vm \
			test-vm/run.sh
		;;
	*)
		echo "kernel.sh: unknown step '$step'" >&2
		exit 2
		;;
	esac
}
main "$@"
exit
