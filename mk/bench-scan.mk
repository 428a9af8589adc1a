# SPDX-License-Identifier: GPL-2.0
#
# make bench-scan [KVER=<one kernel>] - tloop's get-and-clear beside PAGEMAP_SCAN over
# userfaultfd async write-protect (a), and tloop's query with write-back beside msync of a
# stock loop device's mapping (b), after the same stores to 0.1, 1 and 10 % of a 256 MiB
# region (bench/scan-bench.c, issue 10 item 5), in one VM boot of the first kernel of KVER
# (PAGEMAP_SCAN needs 6.7 or newer: on 6.1 part (a) is a KTAP skip). Prints the "# bench:"
# lines; the whole output is in build/bench-scan/<kernel>/run/results.ktap.

BS_K := $(FIRST_KVER)
BS := $(B)/bench-scan/$(BS_K)

$(BS)/bin/91-bench-scan: bench/scan-bench.c $(TLT_LIB) uapi/linux/tloop.h
	@mkdir -p $(@D)
	$(CC) -std=gnu11 -Wall -Wextra -Werror -O2 -static -pthread -D_GNU_SOURCE -Itests/lib -Iuapi \
		-o $@ $< $(TLT_LIB)
	@sed -n 's/.*tloop-timeout:[[:space:]]*\([0-9][0-9]*\).*/91-bench-scan \1/p' $< > $(@D)/.timeouts

$(BS)/tests.cpio: $(BS)/bin/91-bench-scan initramfs/mkpart.sh
	initramfs/mkpart.sh tests $@ $(BS)/bin

$(BS)/initramfs.cpio: $(IR)/base.cpio $(IR)/userland.cpio $(IR)/tools.cpio \
		$(IR)/modules-$(BS_K).cpio $(BS)/tests.cpio
	cat $^ > $@

bench-scan: $(BS)/initramfs.cpio
	@echo "=== scan benchmark on $(BS_K): console in $(BS)/run/console.log"
	@KERNEL_DIR=$(KCACHE)/$(BS_K) INITRD=$< OUT=$(BS)/run MODE=test VM_TIMEOUT=900 \
		test-vm/run.sh
	@grep -q '^ok [0-9]* 91-bench-scan' $(BS)/run/results.ktap || \
		{ echo "bench-scan: the benchmark did not complete (see $(BS)/run)"; \
		  cat $(BS)/run/results.ktap; exit 1; }
	@sed -n 's/^ *# bench: //p' $(BS)/run/results.ktap

.PHONY: bench-scan
