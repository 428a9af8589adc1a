#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Debug-kernel self-test fault: an array indexed past its end (UBSAN).
# selftest-expect: UBSAN: array-index-out-of-bounds
echo "KTAP version 1"
echo "1..1"
if insmod /selftest/tloop_selftest_ubsan.ko; then
	echo "ok 1 loaded tloop_selftest_ubsan"
else
	echo "not ok 1 loaded tloop_selftest_ubsan"
	exit 1
fi
