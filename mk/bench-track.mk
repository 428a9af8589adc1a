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
BT_K := $(FIRST_KVER)
BT := $(B)/bench-track/$(BT_K)

$(BT)/bin/90-bench-track: bench/track-bench.c $(TLT_LIB) uapi/linux/tloop.h
	@mkdir -p $(@D)
	$(CC) -std=gnu11 -Wall -Wextra -Werror -O2 -static -pthread -D_GNU_SOURCE -Itests/lib -Iuapi \
		-o $@ $< $(TLT_LIB)
	@sed -n 's/.*tloop-timeout:[[:space:]]*\([0-9][0-9]*\).*/90-bench-track \1/p' $< > $(@D)/.timeouts

$(BT)/tests.cpio: $(BT)/bin/90-bench-track initramfs/mkpart.sh
	initramfs/mkpart.sh tests $@ $(BT)/bin

$(BT)/initramfs.cpio: $(IR)/base.cpio $(IR)/userland.cpio $(IR)/tools.cpio \
		$(IR)/modules-$(BT_K).cpio $(BT)/tests.cpio
	cat $^ > $@

bench-track: $(BT)/initramfs.cpio
	@echo "=== tracking benchmarks on $(BT_K): console in $(BT)/run/console.log"
	@KERNEL_DIR=$(KCACHE)/$(BT_K) INITRD=$< OUT=$(BT)/run MODE=test VM_TIMEOUT=3600 \
		VM_MEM=$(BENCH_VM_MEM) VM_APPEND="TLOOP_BENCH_FIO_SECONDS=$(TLOOP_BENCH_FIO_SECONDS) \
		TLOOP_BENCH_FIO_REPS=$(TLOOP_BENCH_FIO_REPS) TLOOP_BENCH_MIB=$(TLOOP_BENCH_MIB)" test-vm/run.sh
	@grep -q '^ok [0-9]* 90-bench-track' $(BT)/run/results.ktap || \
		{ echo "bench-track: the benchmark did not complete (see $(BT)/run)"; \
		  cat $(BT)/run/results.ktap; exit 1; }
	@sed -n 's/^ *# bench: //p' $(BT)/run/results.ktap

.PHONY: bench-track
