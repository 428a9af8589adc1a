#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Self-test fault: a test that reports a failed check.
# selftest-expect: notok: .*1 not ok
echo "KTAP version 1"
echo "1..2"
echo "ok 1 a check that passes"
echo "# expected 1, got 2 (injected)"
echo "not ok 2 a check that fails"
exit 1
