# SPDX-License-Identifier: GPL-2.0
#
# make bench-snap [KVER=<one kernel>] - what a point-in-time refresh costs the writers
# (bench/snap-bench.c, issue 16): writer pages/s during a plain `tloop sync`, during
# `tloop sync --consistent`, and with no refresh; refresh time; pages preserved and their
# memory peak; in one VM boot of the first kernel of KVER. Prints the "# bench:" lines; the
# whole output is in build/bench-snap/<kernel>/run/results.ktap.
#   TLOOP_BENCH_SNAP_MB       device size in MiB (default 64)
#   TLOOP_BENCH_SNAP_PCT      percent of the pages written before each refresh (default 25)
#   TLOOP_BENCH_SNAP_WRITERS  O_DIRECT writer threads (default 2)
#   TLOOP_BENCH_REPEAT        repetitions (default 3)
#   BENCH_SNAP_VM_MEM         VM memory in MiB (default 1024)

TLOOP_BENCH_SNAP_MB ?= 64
TLOOP_BENCH_SNAP_PCT ?= 25
TLOOP_BENCH_SNAP_WRITERS ?= 2
BENCH_SNAP_REPEAT ?= 3
BENCH_SNAP_VM_MEM ?= 1024
BENCH_SNAP_APPEND = TLOOP_BENCH_SNAP_MB=$(TLOOP_BENCH_SNAP_MB) \
	TLOOP_BENCH_SNAP_PCT=$(TLOOP_BENCH_SNAP_PCT) \
	TLOOP_BENCH_SNAP_WRITERS=$(TLOOP_BENCH_SNAP_WRITERS) TLOOP_BENCH_REPEAT=$(BENCH_SNAP_REPEAT)

$(eval $(call bench_vm,snap,90-bench-snap,bench/snap-bench.c,1500,$(BENCH_SNAP_VM_MEM),BENCH_SNAP_APPEND,point-in-time refresh benchmark))
