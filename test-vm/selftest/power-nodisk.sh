#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Self-test fault: the scratch disk image of a power-cut test is gone before its second
# boot: the host must not boot without it, and the test fails.
# tloop-power: boots=2 disk=8
# tloop-timeout: 60
# selftest-power-fault: rm-disk:2
# selftest-expect: scratch disk image .* is missing before boot 2
echo "KTAP version 1"
if [ "$TLOOP_BOOT" = 1 ]; then
	echo "ok 1 boot 1 before the cut"
	exec tloop-cut "end of boot 1"
fi
echo "1..1"
echo "ok 1 boot $TLOOP_BOOT reached"
