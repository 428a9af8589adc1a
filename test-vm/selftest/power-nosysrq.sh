#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Self-test fault: a power-cut test asks for a cut on a kernel whose sysrq trigger does not
# work (a regular file mounted over /proc/sysrq-trigger): a clear failure, even though the
# test then goes on and passes everything else.
# tloop-power: boots=2 disk=8
# tloop-timeout: 60
# selftest-expect: cut impossible at boot 1
echo "KTAP version 1"
echo "1..1"
: > /tmp/no-sysrq
mount --bind /tmp/no-sysrq /proc/sysrq-trigger || echo "# could not hide sysrq-trigger"
tloop-cut "a cut that cannot happen"
umount /proc/sysrq-trigger
echo "ok 1 still running after asking for a cut"
exit 0
