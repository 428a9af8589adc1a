#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Self-test fault: a test that exits 0 without printing its plan.
# selftest-expect: noplan: no KTAP plan
echo "KTAP version 1"
echo "ok 1 a result without a plan"
exit 0
