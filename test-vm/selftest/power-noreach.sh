#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Self-test fault: the second boot of a power-cut test never reaches the test (its /init is
# replaced by /bin/true, so the kernel panics): a clear failure, not a pass of boot 1's part.
# tloop-power: boots=2 disk=8
# tloop-timeout: 60
# selftest-power-fault: append:2:rdinit=/bin/true
# selftest-expect: power-noreach boot 2: boot 2 never reached the test
echo "KTAP version 1"
if [ "$TLOOP_BOOT" = 1 ]; then
	echo "ok 1 boot 1 before the cut"
	exec tloop-cut "end of boot 1"
fi
echo "1..1"
echo "ok 1 boot $TLOOP_BOOT reached"
