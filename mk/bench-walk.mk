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
BW_K := $(FIRST_KVER)
BW := $(B)/bench-walk/$(BW_K)

$(BW)/bin/90-bench-walk: bench/walk-bench.c $(TLT_LIB) uapi/linux/tloop.h
	@mkdir -p $(@D)
	$(CC) -std=gnu11 -Wall -Wextra -Werror -O2 -static -pthread -D_GNU_SOURCE -Itests/lib -Iuapi \
		-o $@ $< $(TLT_LIB)
	@sed -n 's/.*tloop-timeout:[[:space:]]*\([0-9][0-9]*\).*/90-bench-walk \1/p' $< > $(@D)/.timeouts

$(BW)/tests.cpio: $(BW)/bin/90-bench-walk initramfs/mkpart.sh
	initramfs/mkpart.sh tests $@ $(BW)/bin

$(BW)/initramfs.cpio: $(IR)/base.cpio $(IR)/userland.cpio $(IR)/tools.cpio \
		$(IR)/modules-$(BW_K).cpio $(BW)/tests.cpio
	cat $^ > $@

bench-walk: $(BW)/initramfs.cpio
	@echo "=== consumer/writer benchmark on $(BW_K): console in $(BW)/run/console.log"
	@KERNEL_DIR=$(KCACHE)/$(BW_K) INITRD=$< OUT=$(BW)/run MODE=test VM_TIMEOUT=1200 \
		VM_APPEND="TLOOP_BENCH_SECONDS=$(TLOOP_BENCH_SECONDS) \
		TLOOP_BENCH_STACKS=$(TLOOP_BENCH_STACKS) TLOOP_BENCH_WBT=$(TLOOP_BENCH_WBT)" test-vm/run.sh
	@grep -q '^ok [0-9]* 90-bench-walk' $(BW)/run/results.ktap || \
		{ echo "bench-walk: the benchmark did not complete (see $(BW)/run)"; \
		  cat $(BW)/run/results.ktap; exit 1; }
	@sed -n 's/^ *# bench: //p' $(BW)/run/results.ktap

.PHONY: bench-walk
