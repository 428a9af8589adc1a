#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Debug-kernel self-test fault: a function that may sleep called under a spinlock (DEBUG_ATOMIC_SLEEP).
# selftest-expect: BUG: sleeping function called from invalid context
echo "KTAP version 1"
echo "1..1"
if insmod /selftest/tloop_selftest_atomic_sleep.ko; then
	echo "ok 1 loaded tloop_selftest_atomic_sleep"
else
	echo "not ok 1 loaded tloop_selftest_atomic_sleep"
	exit 1
fi
