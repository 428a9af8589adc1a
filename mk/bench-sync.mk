# SPDX-License-Identifier: GPL-2.0
#
# make bench-sync [KVER=<one kernel>] - the cost of `tloop sync` by density of written pages
# against a full copy (dd iflag=direct bs=1M, tloop sync --full) and against the query plus a
# per-page copy loop, old engine (one copy at a time, no gaps, no switch) beside the new one
# (bench/sync-bench.c, issue 15), in one VM boot of the first kernel of KVER. Prints the
# "# bench:" lines; the whole output is in build/bench-sync/<kernel>/run/results.ktap.
#   TLOOP_BENCH_SYNC_MB            device size in MiB (default 256; 1024 needs BENCH_SYNC_VM_MEM)
#   TLOOP_BENCH_SYNC_DENSITIES     per mille of the pages written (default "1 10 100 300 1000")
#   TLOOP_BENCH_SYNC_VARIANTS      extra tloop sync options to time, ';'-separated, e.g.
#                                  "--queue-depth 8;--max-gap 0" (default none)
#   TLOOP_BENCH_SYNC_VARIANT_MAX   variants only up to this density, per mille (default 300)
#   TLOOP_BENCH_REPEAT             repetitions, medians printed (default 3)
#   TLOOP_BENCH_SYNC_XFS           1: the files on an XFS with reflink=1 (on a loop device over
#                                  the tmpfs; needs about 4x the device in VM memory)
#   BENCH_SYNC_VM_MEM              VM memory in MiB (default 2048)

TLOOP_BENCH_SYNC_MB ?= 256
TLOOP_BENCH_SYNC_DENSITIES ?= 1 10 100 300 1000
TLOOP_BENCH_SYNC_VARIANTS ?=
TLOOP_BENCH_SYNC_VARIANT_MAX ?= 300
TLOOP_BENCH_REPEAT ?= 3
TLOOP_BENCH_SYNC_XFS ?= 0
BENCH_SYNC_VM_MEM ?= 2048
BY_K := $(FIRST_KVER)
by_empty :=
by_space := $(by_empty) $(by_empty)
by_comma := ,
BY := $(B)/bench-sync/$(BY_K)

$(BY)/bin/90-bench-sync: bench/sync-bench.c $(TLT_LIB) uapi/linux/tloop.h
	@mkdir -p $(@D)
	$(CC) -std=gnu11 -Wall -Wextra -Werror -O2 -static -D_GNU_SOURCE -Itests/lib -Iuapi \
		-o $@ $< $(TLT_LIB)
	@sed -n 's/.*tloop-timeout:[[:space:]]*\([0-9][0-9]*\).*/90-bench-sync \1/p' $< > $(@D)/.timeouts

$(BY)/tests.cpio: $(BY)/bin/90-bench-sync initramfs/mkpart.sh
	initramfs/mkpart.sh tests $@ $(BY)/bin

$(BY)/initramfs.cpio: $(IR)/base.cpio $(IR)/userland.cpio $(IR)/tools.cpio \
		$(IR)/modules-$(BY_K).cpio $(BY)/tests.cpio
	cat $^ > $@

# The kernel command line splits at spaces: spaces in the lists travel as commas / '+'.
bench-sync: $(BY)/initramfs.cpio
	@echo "=== tloop sync benchmark on $(BY_K): console in $(BY)/run/console.log"
	@KERNEL_DIR=$(KCACHE)/$(BY_K) INITRD=$< OUT=$(BY)/run MODE=test VM_TIMEOUT=3600 \
		VM_MEM=$(BENCH_SYNC_VM_MEM) VM_APPEND="TLOOP_BENCH_SYNC_MB=$(TLOOP_BENCH_SYNC_MB) \
		TLOOP_BENCH_SYNC_DENSITIES=$(subst $(by_space),$(by_comma),$(strip $(TLOOP_BENCH_SYNC_DENSITIES))) \
		TLOOP_BENCH_SYNC_VARIANTS=$(subst $(by_space),+,$(strip $(TLOOP_BENCH_SYNC_VARIANTS))) \
		TLOOP_BENCH_SYNC_VARIANT_MAX=$(TLOOP_BENCH_SYNC_VARIANT_MAX) \
		TLOOP_BENCH_REPEAT=$(TLOOP_BENCH_REPEAT) \
		TLOOP_BENCH_SYNC_XFS=$(TLOOP_BENCH_SYNC_XFS)" test-vm/run.sh
	@grep -q '^ok [0-9]* 90-bench-sync' $(BY)/run/results.ktap || \
		{ echo "bench-sync: the benchmark did not complete (see $(BY)/run)"; \
		  cat $(BY)/run/results.ktap; exit 1; }
	@sed -n 's/^ *# bench: //p' $(BY)/run/results.ktap

.PHONY: bench-sync
