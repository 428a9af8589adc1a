#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Self-test fault: the ioctl fuzzer's oracle, broken on purpose (TLOOP_FUZZ_SELFTEST=1: its
# ground truth holds a write the kernel never saw, and it expects CTL_VERSION to fail), must
# fail both its contract result and its lost-write result.
# selftest-expect: fuzz-oracle: .*; 2 not ok
# tloop-timeout: 240
TLOOP_FUZZ_SELFTEST=1 TLOOP_FUZZ_CALLS=2000 exec /selftest/42-track-fuzz
