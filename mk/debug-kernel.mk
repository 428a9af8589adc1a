# SPDX-License-Identifier: GPL-2.0
#
# The debug test kernel, 6.12-debug: Debian's linux-source-6.12 built with KASAN, lockdep
# (PROVE_LOCKING), DEBUG_ATOMIC_SLEEP, KFENCE and UBSAN (kernel-debug/debug.config on top of
# tinyconfig + kvm_guest.config). Included by the top-level Makefile.
#
#   make kernel-debug      build (first time) and provision $(TLOOP_CACHE)/kernels/6.12-debug
#   make test-6.12-debug   the test suite on it (like any kernel of KERNELS)
#   make selftest-debug    prove its checkers fail a run: one boot each for a use-after-free,
#                          an AB-BA lock inversion, a sleep in atomic context and an
#                          out-of-bounds index (test-vm/selftest-debug/)
# With 6.12-debug in KVER and SELFTEST=1, `make test` also runs selftest-debug and counts
# its verdict.
#
# Cost, measured on the 2-core build machine with no KVM (QEMU TCG):
#   cold build (ci/kernel-debug.sh with an empty cache): 92 min wall under nice -n 10 while
#     other builds kept the load near 10; 31 min user + 4 min system CPU, so about 18 min on
#     2 idle cores. Allow for it in the first `make test` with 6.12-debug in KVER.
#   cached (nothing changed): 0.14 s; re-provisioning only (modules.list changed): 3 s.
#   boot to /init: 9-11 s guest clock (bzImage; 22 s once under heavy load).
#   selftest-debug: 4 boots, 2 min (5 min while three other VMs ran).

DEBUG_KERNEL := 6.12-debug
DEBUG_KO_DIR := $(B)/$(DEBUG_KERNEL)/selftest-debug
DEBUG_KO_SRCS := $(wildcard test-vm/selftest-debug/*.c) test-vm/selftest-debug/Kbuild

# `make kernel-debug` and `make selftest-debug` work with any KVER: the per-kernel rules of
# the top Makefile are pattern rules.

kernel-debug: $(KCACHE)/$(DEBUG_KERNEL)/release

$(DEBUG_KO_DIR)/.built: $(KCACHE)/$(DEBUG_KERNEL)/release $(DEBUG_KO_SRCS) | $(DEPS)
	@rm -rf $(@D) && mkdir -p $(@D)
	@cp $(DEBUG_KO_SRCS) $(@D)/
	+test-vm/kernel.sh module $(DEBUG_KERNEL) $(@D) $(@D)
	@touch $@

selftest-debug: $(IR)/base.cpio $(IR)/modules-$(DEBUG_KERNEL).cpio $(DEBUG_KO_DIR)/.built
	@echo "=== debug-kernel self-test on $(DEBUG_KERNEL): one boot per injected bug"
	@KERNEL_DIR=$(KCACHE)/$(DEBUG_KERNEL) BASE_CPIO=$(IR)/base.cpio \
		MODULES_CPIO=$(IR)/modules-$(DEBUG_KERNEL).cpio KO_DIR=$(DEBUG_KO_DIR) \
		OUT=$(B)/selftest-debug VM_TIMEOUT=$(SELFTEST_VM_TIMEOUT) \
		test-vm/selftest-debug/run.sh || true

# `make test` runs SELFTEST_TARGET and sums VERDICTS when its recipe runs, after every
# makefile has been read: appending here adds the debug self-test to it.
ifeq ($(SELFTEST),1)
ifneq ($(filter $(DEBUG_KERNEL),$(KVER)),)
SELFTEST_TARGET += selftest-debug
VERDICTS += $(B)/selftest-debug/verdict.json
endif
endif

.PHONY: kernel-debug selftest-debug

# make boot-check KVER=<kernel> [BOOTS=20] [VM_CPU=...]: boot that kernel BOOTS times to /init
# (test-vm/boot-check.sh); passes only if every boot reached /init with a clean console.
BOOTS ?= 20
boot-check: $(IR)/base.cpio
	@$(call kscript,$(FIRST_KVER)) $(FIRST_KVER)
	@KERNEL_DIR=$(KCACHE)/$(FIRST_KVER) INITRD=$(IR)/base.cpio OUT=$(B)/boot-check/$(FIRST_KVER) \
		BOOTS=$(BOOTS) test-vm/boot-check.sh

.PHONY: boot-check
