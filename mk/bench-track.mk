# SPDX-License-Identifier: GPL-2.0
#
# make bench-track [KVER=<one kernel>] - the page-write tracking benchmarks (bench/track-bench.c)
# in one VM boot of the first kernel of KVER, through the test harness (test-vm/run.sh): the
# benchmark is the only test of the initramfs. Prints the "# bench:" lines; the whole output
# is in build/bench-track/<kernel>/run/results.ktap.
#   BENCH_VM_MEM             VM memory in MiB (default 3072: the get-and-clear device lives in
#                            tmpfs and, fully written, in the page cache too)
#   TLOOP_BENCH_FIO_SECONDS  seconds per fio run (default 5)
#   TLOOP_BENCH_FIO_REPS     runs per job and device, the median is reported (default 3)
#   TLOOP_BENCH_MIB          device size of the get-and-clear measurements (default 256;
#                            times are scaled to ms per GiB)
# Unknown kernel parameters reach /init's environment, which the benchmark inherits.

BENCH_VM_MEM ?= 3072
TLOOP_BENCH_FIO_SECONDS ?= 5
TLOOP_BENCH_FIO_REPS ?= 3
TLOOP_BENCH_MIB ?= 256
BENCH_TRACK_APPEND = TLOOP_BENCH_FIO_SECONDS=$(TLOOP_BENCH_FIO_SECONDS) TLOOP_BENCH_FIO_REPS=$(TLOOP_BENCH_FIO_REPS) TLOOP_BENCH_MIB=$(TLOOP_BENCH_MIB)

$(eval $(call bench_vm,track,90-bench-track,bench/track-bench.c,3600,$(BENCH_VM_MEM),BENCH_TRACK_APPEND,tracking benchmarks))
