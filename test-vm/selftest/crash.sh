#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Self-test fault: a test that crashes the kernel.
# selftest-expect: crash signature
echo "KTAP version 1"
echo "1..1"
echo c > /proc/sysrq-trigger
echo "ok 1 survived a crash"
