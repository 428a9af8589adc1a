#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Debug-kernel self-test fault: a use-after-free (KASAN; KFENCE when it sampled the allocation).
# selftest-expect: KASAN: slab-use-after-free|KFENCE: use-after-free
echo "KTAP version 1"
echo "1..1"
if insmod /selftest/tloop_selftest_uaf.ko; then
	echo "ok 1 loaded tloop_selftest_uaf"
else
	echo "not ok 1 loaded tloop_selftest_uaf"
	exit 1
fi
