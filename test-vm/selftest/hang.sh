#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Self-test fault: a test that hangs past its timeout.
# tloop-timeout: 3
# selftest-expect: hang: timed out after 3 s
echo "KTAP version 1"
echo "1..1"
sleep 100000
echo "ok 1 woke up"
