# SPDX-License-Identifier: GPL-2.0
#
# tloop: build the module for each supported kernel and test it in QEMU VMs.
#   make              build tloop.ko for every kernel in KVER, the tests and the tloop tool
#   make test         run the tests on every kernel in KVER, plus the harness self-test
#   make demo         boot the first kernel of KVER and run demo/run.sh
#   make vm           interactive VM (first kernel of KVER) with module, tools and tests
#   make clean        remove build/ (the kernel cache in TLOOP_CACHE stays)
# See README.md for the variables. What one kernel's test run does: test-vm/kernel.sh test.

TLOOP_CACHE ?= $(HOME)/.cache/tloop
# Supported kernels, in the order `make test` runs them. A name <series> is a Debian kernel
# (ci/kernel-debian.sh <series>: the newest Debian kernel whose version starts with <series>.,
# so `7` is the newest 7.x of Debian 13); a name <series>-<flavour> is provisioned by
# ci/kernel-<flavour>.sh <name>. Every script fills $(TLOOP_CACHE)/kernels/<name>/.
# Modules are built on the host, or in a Debian build root for kernels of another Debian
# release (ci/kernel-env.sh).
KERNELS ?= 6.1 6.12 7 6.12-debug
KVER ?= $(KERNELS)
TESTS_EXTRA ?=
# TESTS: only the built-in tests whose names match these patterns (default: all).
TESTS ?=
SELFTEST ?= 1
# Seconds before the host kills a test VM; default: the sum of the per-test timeouts + 600.
VM_TIMEOUT ?=
SELFTEST_VM_TIMEOUT ?= 300
TLOOP_SCALE ?= 1
# The ioctl fuzzer (tests/42-track-fuzz.c): its seed (default: a new one each run, printed)
# and number of calls (default: 100000 * TLOOP_SCALE).
TLOOP_FUZZ_SEED ?=
TLOOP_FUZZ_CALLS ?=
VM_JOBS ?= 1
export TLOOP_CACHE TLOOP_SCALE VM_TIMEOUT SELFTEST_VM_TIMEOUT TLOOP_FUZZ_SEED TLOOP_FUZZ_CALLS

# Where everything is built and where the logs go; give each concurrent `make test` its own.
BUILD ?= $(CURDIR)/build
B := $(abspath $(BUILD))
IR := $(B)/initramfs
export TLOOP_BUILD := $(B)
KCACHE := $(TLOOP_CACHE)/kernels
DEPS := $(B)/.deps-ok
FIRST_KVER := $(firstword $(KVER))
NPROC := $(shell nproc 2>/dev/null || echo 1)

# kscript NAME - the script that provisions kernel NAME.
kscript = $(if $(findstring -,$(1)),ci/kernel-$(word 2,$(subst -, ,$(1))).sh,ci/kernel-debian.sh)
known_kernel = $(or $(filter $(1),$(KERNELS)),$(and $(findstring -,$(1)),$(wildcard $(call kscript,$(1)))))

UNKNOWN_KVER := $(strip $(foreach k,$(KVER),$(if $(call known_kernel,$(k)),,$(k))))
ifneq ($(filter-out clean help,$(or $(MAKECMDGOALS),all)),)
ifneq ($(UNKNOWN_KVER),)
$(error unknown KVER '$(UNKNOWN_KVER)': supported kernels are $(KERNELS))
endif
ifeq ($(strip $(KVER)),)
$(error KVER is empty: supported kernels are $(KERNELS))
endif
endif

MODULE_SRCS := $(wildcard module/* uapi/linux/*) VERSION

all: $(foreach k,$(KVER),$(B)/$(k)/tloop.ko) tests-bin tools-bin

# Host dependencies (Debian packages); re-checked when ci/deps.sh changes.
$(DEPS): ci/deps.sh
	ci/deps.sh
	@mkdir -p $(@D) && touch $@

# The tloop CLI; /usr/bin/tloop in the VM.
tools-bin: | $(DEPS)
	@$(MAKE) -C tools

tests-bin: | $(DEPS)
	@$(MAKE) --no-print-directory -j$(NPROC) -C tests O=$(B)/tests/bin $(if $(TESTS),TESTS='$(TESTS)')

# The test helpers (tests/lib) as a library, for the programs of bench/ (mk/bench-*.mk).
TLT_LIB := $(B)/tests/bin-lib/libtlt.a
$(TLT_LIB): FORCE | $(DEPS)
	@$(MAKE) --no-print-directory -C tests O=$(B)/tests/bin lib

# ---- initramfs parts shared by every kernel ----
$(IR)/base.cpio: initramfs/init initramfs/tloop-cut initramfs/mkpart.sh | $(DEPS)
	@mkdir -p $(@D)
	initramfs/mkpart.sh base $@

$(IR)/userland.cpio: initramfs/mkpart.sh | $(DEPS)
	@mkdir -p $(@D)
	initramfs/mkpart.sh userland $@

$(IR)/tools.cpio: tools-bin FORCE
	@mkdir -p $(@D)
	@initramfs/mkpart.sh tools $@ tools/tloop

$(IR)/tests.cpio: tests-bin FORCE
	@mkdir -p $(@D)
	@test-vm/check-extra.sh "$(TESTS_EXTRA)"
	@initramfs/mkpart.sh tests $@ $(B)/tests/bin $(if $(TESTS_EXTRA),$(abspath $(TESTS_EXTRA)))

$(IR)/demo.cpio: FORCE
	@mkdir -p $(@D)
	@initramfs/mkpart.sh demo $@ demo

# The ioctl fuzzer for the harness self-test (test-vm/selftest/fuzz-oracle.sh), built on its
# own so that TESTS does not leave it out.
FUZZ_BIN := $(B)/selftest-bin/42-track-fuzz
$(FUZZ_BIN): tests/42-track-fuzz.c $(wildcard tests/lib/* uapi/linux/*.h) | $(DEPS)
	@$(MAKE) --no-print-directory -C tests O=$(B)/selftest-bin TESTS=42-track-fuzz

# ---- per kernel: pattern rules, % is the kernel's name; the steps are test-vm/kernel.sh's ----
# Provisioning is always asked for; the script returns at once when the cache is current,
# and $(KCACHE)/<name>/release only changes when the kernel was provisioned again.
$(KCACHE)/%/release: FORCE | $(DEPS)
	@$(call kscript,$*) $*

$(B)/%/tloop.ko: $(KCACHE)/%/release $(MODULE_SRCS) | $(DEPS)
	@rm -rf $(@D)/src && mkdir -p $(@D)/src
	@cp -r module uapi VERSION $(@D)/src/
	+test-vm/kernel.sh module $* $(@D)/src $(@D)/src/module
	cp $(@D)/src/module/tloop.ko $@

$(B)/%/selftest/tloop_selftest_warn.ko: $(KCACHE)/%/release test-vm/selftest/module/*
	@rm -rf $(@D) && mkdir -p $(@D)
	@cp test-vm/selftest/module/* $(@D)/
	+test-vm/kernel.sh module $* $(@D) $(@D)

$(IR)/modules-%.cpio: $(B)/%/tloop.ko initramfs/mkpart.sh
	@mkdir -p $(@D)
	initramfs/mkpart.sh modules $@ $(KCACHE)/$*/modules $<

$(B)/%/initramfs.cpio: $(IR)/base.cpio $(IR)/userland.cpio $(IR)/tools.cpio \
		$(IR)/modules-%.cpio $(IR)/tests.cpio
	cat $^ > $@

$(B)/%/demo.cpio: $(IR)/base.cpio $(IR)/userland.cpio $(IR)/tools.cpio \
		$(IR)/modules-%.cpio $(IR)/demo.cpio
	cat $^ > $@

# The run never stops make: the verdict goes to run/verdict.json, `make test` sums them up.
test-%: $(B)/%/initramfs.cpio
	@test-vm/kernel.sh test $*

selftest-%: $(IR)/base.cpio $(IR)/modules-%.cpio $(B)/%/selftest/tloop_selftest_warn.ko \
		$(FUZZ_BIN)
	@test-vm/kernel.sh selftest $*

demo-%: $(B)/%/demo.cpio
	@test-vm/kernel.sh demo $*

vm-%: $(B)/%/initramfs.cpio
	@test-vm/kernel.sh vm $*

# Files made by the pattern rules are kept, even those no rule names (make would delete them).
.SECONDARY:

SELFTEST_TARGET := $(if $(filter 1,$(SELFTEST)),selftest-$(FIRST_KVER))
VERDICTS := $(foreach k,$(KVER),$(B)/$(k)/run/verdict.json) \
	$(if $(SELFTEST_TARGET),$(B)/selftest/verdict.json)

# Kernels one after the other (the machine has few cores; VM_JOBS=2 runs two VMs at a time,
# each run's output printed when it ends), then the self-test, then the sum; a kernel whose
# build fails leaves no verdict and counts as a failure.
# One `make test` at a time per build directory (the lock waits for the other one).
test: | $(DEPS)
	@flock -n $(B)/.test.lock true || echo "make test: waiting for another make test using $(B)"
	@flock $(B)/.test.lock $(MAKE) --no-print-directory test-locked
	@exit "$$(cat $(B)/.test.status)"

# Its status goes to a file, so that the summary line is followed by one make error at most.
test-locked:
	@rm -f $(VERDICTS) $(B)/.test.status
	@$(MAKE) --no-print-directory -k $(if $(filter-out 1,$(VM_JOBS)),-j$(VM_JOBS) --output-sync=target) \
		$(foreach k,$(KVER),test-$(k)) $(SELFTEST_TARGET) || \
		echo "make test: not every run completed"
	@test-vm/verdict.py summary $(VERDICTS); echo $$? > $(B)/.test.status

selftest: selftest-$(FIRST_KVER)
	@test-vm/verdict.py summary $(B)/selftest/verdict.json

demo: demo-$(FIRST_KVER)

vm: vm-$(FIRST_KVER)

clean:
	rm -rf $(B)
	@$(MAKE) -C tools clean

help:
	@sed -n '3,9p' Makefile | sed 's/^# \{0,1\}//'

FORCE:

.PHONY: all test test-locked selftest demo vm clean help tools-bin tests-bin FORCE

# More targets, one file per subject (benchmarks, install, the debug kernel, fresh-check, ...).
include mk/lib/bench-vm.mk
include $(wildcard mk/*.mk)
