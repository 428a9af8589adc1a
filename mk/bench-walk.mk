# SPDX-License-Identifier: GPL-2.0
#
# make bench-walk [KVER=<one kernel>] - consumer rounds per second and GET_WRITTEN latency of a
# get-and-clear consumer (batches of 64 pages, each page copied) against 1, 2 and 6 mmap writer
# threads on a 64 MiB device (bench/walk-bench.c, issue 10 item 1), in one VM boot of the
# first kernel of KVER. Prints the "# bench:" lines; the whole output is in
# build/bench-walk/<kernel>/run/results.ktap.
#   TLOOP_BENCH_SECONDS   seconds per writer count (default 10)
#   TLOOP_BENCH_STACKS    1: also sample the consumer's kernel stack inside GET_WRITTEN and
#                         print where it waits (default 0)
#   TLOOP_BENCH_WBT       if set, written to the device's queue/wbt_lat_usec first (0: blk-wbt
#                         writeback throttling off); the value in force is printed
# The module's TLOOP_FEAT_WALK_SYNC decides the label: "walk-sync" (a query writes back what it
# examines) or "sync-per-call" (every query writes back the whole device, as before issue 10).

TLOOP_BENCH_SECONDS ?= 10
TLOOP_BENCH_STACKS ?= 0
TLOOP_BENCH_WBT ?=
BENCH_WALK_APPEND = TLOOP_BENCH_SECONDS=$(TLOOP_BENCH_SECONDS) TLOOP_BENCH_STACKS=$(TLOOP_BENCH_STACKS) TLOOP_BENCH_WBT=$(TLOOP_BENCH_WBT)

$(eval $(call bench_vm,walk,90-bench-walk,bench/walk-bench.c,1200,,BENCH_WALK_APPEND,consumer/writer benchmark))
