#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Debug-kernel self-test fault: two mutexes taken in both orders (lockdep).
# selftest-expect: possible circular locking dependency
echo "KTAP version 1"
echo "1..1"
if insmod /selftest/tloop_selftest_abba.ko; then
	echo "ok 1 loaded tloop_selftest_abba"
else
	echo "not ok 1 loaded tloop_selftest_abba"
	exit 1
fi
