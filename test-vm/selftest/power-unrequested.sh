#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Self-test fault: a power-cut test whose VM resets without announcing a cut (sysrq-b
# directly, not through tloop-cut): an unrequested reboot must fail the test.
# tloop-power: boots=2 disk=8
# tloop-timeout: 60
# selftest-expect: power-unrequested boot 1: boot 1: the VM reset .*without a cut requested
echo "KTAP version 1"
echo "ok 1 boot $TLOOP_BOOT reached"
sleep 1
echo b > /proc/sysrq-trigger
sleep 10
echo "1..1"
