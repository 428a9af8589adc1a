#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Self-test fault: a kernel WARN (from a test-only module that warns when loaded).
# selftest-expect: crash signature 'WARNING:'
echo "KTAP version 1"
echo "1..1"
insmod /selftest/tloop_selftest_warn.ko
echo "ok 1 loaded a module that warns"
