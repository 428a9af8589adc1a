# SPDX-License-Identifier: GPL-2.0
#
# The rules every `make bench-NAME` shares: a benchmark is the only test of an initramfs
# booted once in the first kernel of KVER through the test harness (test-vm/run.sh); its
# "# bench:" lines are printed; the whole output is in build/bench-NAME/<kernel>/run/.
#
# $(eval $(call bench_vm,NAME,TEST,SOURCE,TIMEOUT,MEM,APPEND,TITLE[,AFTER]))
#   NAME     the target is bench-NAME, its directory $(B)/bench-NAME/<kernel>
#   TEST     the benchmark's name in the initramfs (/tests/TEST) and in the KTAP results
#   SOURCE   bench/<file>.c (built static against the test helpers; its "tloop-timeout:" tag
#            is its guest timeout) or bench/<file>.sh (installed as is; guest timeout TIMEOUT)
#   TIMEOUT  the VM's timeout in seconds
#   MEM      VM memory in MiB (empty: test-vm/run.sh's default)
#   APPEND   the name of a variable holding NAME=value settings for the kernel command line
#            (they reach the benchmark's environment; no spaces inside one value)
#   TITLE    what the benchmark measures, for the progress line
#   AFTER    (optional) the name of a target made after the run by a sub-make (e.g. a plot)
# Every name is fixed when the rules are made, so two benchmarks never share a variable (a
# shared recipe variable once made `make bench-scan` pack bench-sync's program).

define bench_vm
$(B)/bench-$(1)/$(FIRST_KVER)/bin/$(2): $(3) $(if $(filter %.c,$(3)),$(TLT_LIB) uapi/linux/tloop.h)
	@mkdir -p $$(@D)
ifneq ($(filter %.c,$(3)),)
	$$(CC) -std=gnu11 -Wall -Wextra -Werror -O2 -static -pthread -D_GNU_SOURCE -Itests/lib \
		-Iuapi -o $$@ $$< $(TLT_LIB)
	@sed -n 's/.*tloop-timeout:[[:space:]]*\([0-9][0-9]*\).*/$(2) \1/p' $$< > $$(@D)/.timeouts
else
	install -m 0755 $$< $$@
	@echo "$(2) $(4)" > $$(@D)/.timeouts
endif

$(B)/bench-$(1)/$(FIRST_KVER)/tests.cpio: $(B)/bench-$(1)/$(FIRST_KVER)/bin/$(2) initramfs/mkpart.sh
	initramfs/mkpart.sh tests $$@ $$(<D)

$(B)/bench-$(1)/$(FIRST_KVER)/initramfs.cpio: $(IR)/base.cpio $(IR)/userland.cpio \
		$(IR)/tools.cpio $(IR)/modules-$(FIRST_KVER).cpio \
		$(B)/bench-$(1)/$(FIRST_KVER)/tests.cpio
	cat $$^ > $$@

bench-$(1): $(B)/bench-$(1)/$(FIRST_KVER)/initramfs.cpio
	@echo "=== $(7) on $(FIRST_KVER): console in $(B)/bench-$(1)/$(FIRST_KVER)/run/console.log"
	@KERNEL_DIR=$(KCACHE)/$(FIRST_KVER) INITRD=$$< OUT=$(B)/bench-$(1)/$(FIRST_KVER)/run \
		MODE=test VM_TIMEOUT=$(4) $(if $(5),VM_MEM=$(5)) VM_APPEND="$($(6))" test-vm/run.sh
	@grep -q '^ok [0-9]* $(2)' $(B)/bench-$(1)/$(FIRST_KVER)/run/results.ktap || \
		{ echo "bench-$(1): the benchmark did not complete (see $(B)/bench-$(1)/$(FIRST_KVER)/run)"; \
		  cat $(B)/bench-$(1)/$(FIRST_KVER)/run/results.ktap; exit 1; }
	@sed -n 's/^ *# bench: //p' $(B)/bench-$(1)/$(FIRST_KVER)/run/results.ktap
$(if $(8),	@$$(MAKE) --no-print-directory $(8))

.PHONY: bench-$(1)
endef
