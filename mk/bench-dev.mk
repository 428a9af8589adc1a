# SPDX-License-Identifier: GPL-2.0
#
# make bench-dev [KVER=<one kernel>] - fio throughput of tloop against the stock loop driver
# (bench/dev-fio.sh) in one VM boot of the first kernel of KVER, through the test harness
# (test-vm/run.sh): the benchmark is the only test of the initramfs. Prints the "# bench:"
# lines; the whole output is in build/bench-dev/<kernel>/run/results.ktap.
#   BENCH_DEV_VM_MEM          VM memory in MiB (default 4096: two 256 MiB files on tmpfs, a
#                             576 MiB ramdisk and their page caches)
#   TLOOP_BENCH_FIO_SECONDS   seconds per fio run (default 5)
#   TLOOP_BENCH_REPEAT        runs per figure, the median is printed (default 3)
#   TLOOP_BENCH_DEV_MB        backing file size in MiB (default 256)

BENCH_DEV_VM_MEM ?= 4096
TLOOP_BENCH_FIO_SECONDS ?= 5
TLOOP_BENCH_REPEAT ?= 3
TLOOP_BENCH_DEV_MB ?= 256
BENCH_DEV_APPEND = TLOOP_BENCH_FIO_SECONDS=$(TLOOP_BENCH_FIO_SECONDS) TLOOP_BENCH_REPEAT=$(TLOOP_BENCH_REPEAT) TLOOP_BENCH_DEV_MB=$(TLOOP_BENCH_DEV_MB)

$(eval $(call bench_vm,dev,90-bench-dev,bench/dev-fio.sh,3600,$(BENCH_DEV_VM_MEM),BENCH_DEV_APPEND,tloop vs loop fio benchmark))
