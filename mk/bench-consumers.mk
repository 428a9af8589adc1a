# SPDX-License-Identifier: GPL-2.0
#
# make bench-consumers [KVER=<one kernel>] - write throughput of a tracking device with 1, 2
# and 8 consumers against the stock loop driver (bench/consumers-bench.c), in one VM boot of
# the first kernel of KVER. Prints the "# bench:" lines; the whole output is in
# build/bench-consumers/<kernel>/run/results.ktap.
#   TLOOP_BENCH_FIO_SECONDS  seconds per fio run (default 5)
#   TLOOP_BENCH_FIO_REPS     runs per job and device, the median is reported (default 3)

BENCH_CONSUMERS_SECONDS ?= $(or $(TLOOP_BENCH_FIO_SECONDS),5)
BENCH_CONSUMERS_REPS ?= $(or $(TLOOP_BENCH_FIO_REPS),3)
BENCH_CONSUMERS_APPEND = TLOOP_BENCH_FIO_SECONDS=$(BENCH_CONSUMERS_SECONDS) TLOOP_BENCH_FIO_REPS=$(BENCH_CONSUMERS_REPS)

$(eval $(call bench_vm,consumers,92-bench-consumers,bench/consumers-bench.c,1800,3072,BENCH_CONSUMERS_APPEND,write throughput with several consumers))
