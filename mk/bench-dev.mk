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
BD_K := $(FIRST_KVER)
BD := $(B)/bench-dev/$(BD_K)

$(BD)/bin/90-bench-dev: bench/dev-fio.sh
	@mkdir -p $(@D)
	install -m 0755 $< $@
	@echo "90-bench-dev 3600" > $(@D)/.timeouts

$(BD)/tests.cpio: $(BD)/bin/90-bench-dev initramfs/mkpart.sh
	initramfs/mkpart.sh tests $@ $(BD)/bin

$(BD)/initramfs.cpio: $(IR)/base.cpio $(IR)/userland.cpio $(IR)/tools.cpio \
		$(IR)/modules-$(BD_K).cpio $(BD)/tests.cpio
	cat $^ > $@

bench-dev: $(BD)/initramfs.cpio
	@echo "=== tloop vs loop fio benchmark on $(BD_K): console in $(BD)/run/console.log"
	@KERNEL_DIR=$(KCACHE)/$(BD_K) INITRD=$< OUT=$(BD)/run MODE=test VM_TIMEOUT=3600 \
		VM_MEM=$(BENCH_DEV_VM_MEM) VM_APPEND="TLOOP_BENCH_FIO_SECONDS=$(TLOOP_BENCH_FIO_SECONDS) \
		TLOOP_BENCH_REPEAT=$(TLOOP_BENCH_REPEAT) TLOOP_BENCH_DEV_MB=$(TLOOP_BENCH_DEV_MB)" \
		test-vm/run.sh
	@grep -q '^ok [0-9]* 90-bench-dev' $(BD)/run/results.ktap || \
		{ echo "bench-dev: the benchmark did not complete (see $(BD)/run)"; \
		  cat $(BD)/run/results.ktap; exit 1; }
	@sed -n 's/^ *# bench: //p' $(BD)/run/results.ktap

.PHONY: bench-dev
