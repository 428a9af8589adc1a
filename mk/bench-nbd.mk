# SPDX-License-Identifier: GPL-2.0
#
# make bench-nbd [KVER=<one kernel>] - `tloop sync` to an NBD export (nbdkit across a veth
# pair between two network namespaces, netem for the RTT) against a full `nbdcopy --flush`
# of the device and against the link's limit (one nbdcopy of the bytes tloop sent), in one
# VM boot of the first kernel of KVER (bench/nbd-bench.sh, issue 18). Prints the "# bench:"
# lines; the whole output is in build/bench-nbd/<kernel>/run/results.ktap.
#   TLOOP_BENCH_NBD_MB     device size in MiB (default 256: the device, its backing file and
#                          the export all live in the VM's RAM; 1024 needs BENCH_NBD_VM_MEM=4096)
#   TLOOP_BENCH_NBD_RTTS   round-trip times in ms (default "0 10")
#   TLOOP_BENCH_NBD_PCTS   per cent of the pages written before each refresh (default "1 10")
#   TLOOP_BENCH_REPEAT     repetitions, medians printed (default 3)
#   BENCH_NBD_VM_MEM       VM memory in MiB (default 2048)

TLOOP_BENCH_NBD_MB ?= 256
TLOOP_BENCH_NBD_RTTS ?= 0 10
TLOOP_BENCH_NBD_PCTS ?= 1 10
TLOOP_BENCH_REPEAT ?= 3
BENCH_NBD_VM_MEM ?= 2048
BN_K := $(FIRST_KVER)
bn_empty :=
bn_space := $(bn_empty) $(bn_empty)
bn_comma := ,
BN := $(B)/bench-nbd/$(BN_K)

$(BN)/bin/90-bench-nbd: bench/nbd-bench.sh tests/lib/tlt.sh
	@mkdir -p $(@D)/lib
	install -m 0755 $< $@
	install -m 0644 tests/lib/tlt.sh $(@D)/lib/tlt.sh
	@sed -n 's/.*tloop-timeout:[[:space:]]*\([0-9][0-9]*\).*/90-bench-nbd \1/p' $< > $(@D)/.timeouts

$(BN)/tests.cpio: $(BN)/bin/90-bench-nbd initramfs/mkpart.sh
	initramfs/mkpart.sh tests $@ $(BN)/bin

$(BN)/initramfs.cpio: $(IR)/base.cpio $(IR)/userland.cpio $(IR)/tools.cpio \
		$(IR)/modules-$(BN_K).cpio $(BN)/tests.cpio
	cat $^ > $@

# The kernel command line splits at spaces: spaces in the lists travel as commas.
bench-nbd: $(BN)/initramfs.cpio
	@echo "=== tloop sync to NBD benchmark on $(BN_K): console in $(BN)/run/console.log"
	@KERNEL_DIR=$(KCACHE)/$(BN_K) INITRD=$< OUT=$(BN)/run MODE=test VM_TIMEOUT=3600 \
		VM_MEM=$(BENCH_NBD_VM_MEM) VM_APPEND="TLOOP_BENCH_NBD_MB=$(TLOOP_BENCH_NBD_MB) \
		TLOOP_BENCH_NBD_RTTS=$(subst $(bn_space),$(bn_comma),$(strip $(TLOOP_BENCH_NBD_RTTS))) \
		TLOOP_BENCH_NBD_PCTS=$(subst $(bn_space),$(bn_comma),$(strip $(TLOOP_BENCH_NBD_PCTS))) \
		TLOOP_BENCH_REPEAT=$(TLOOP_BENCH_REPEAT)" test-vm/run.sh
	@grep -q '^ok [0-9]* 90-bench-nbd' $(BN)/run/results.ktap || \
		{ echo "bench-nbd: the benchmark did not complete (see $(BN)/run)"; \
		  cat $(BN)/run/results.ktap; exit 1; }
	@sed -n 's/^ *# bench: //p' $(BN)/run/results.ktap

.PHONY: bench-nbd
