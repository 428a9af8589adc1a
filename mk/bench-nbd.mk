# SPDX-License-Identifier: GPL-2.0
#
# make bench-nbd [KVER=<one kernel>] - `tloop sync` to an NBD export (nbdkit across a veth
# pair between two network namespaces, netem for the RTT) against a full `nbdcopy --flush`
# of the device and against the link's limit (one nbdcopy of the bytes tloop sent), in one
# VM boot of the first kernel of KVER (bench/nbd-bench.sh, issue 18). Prints the "# bench:"
# lines; the whole output is in build/bench-nbd/<kernel>/run/results.ktap.
#   TLOOP_BENCH_NBD_MB     device size in MiB (default 256: the device's backing file and the
#                          export both live in the VM's RAM; 1024 needs BENCH_NBD_VM_MEM=6144: tmpfs is half the RAM)
#   TLOOP_BENCH_NBD_RTTS   round-trip times in ms (default "0 10")
#   TLOOP_BENCH_NBD_PCTS   per cent of the pages written before each refresh (default "1 10")
#   TLOOP_BENCH_REPEAT     repetitions, medians printed (default 3)
#   BENCH_NBD_VM_MEM       VM memory in MiB (default 2048)

TLOOP_BENCH_NBD_MB ?= 256
TLOOP_BENCH_NBD_RTTS ?= 0 10
TLOOP_BENCH_NBD_PCTS ?= 1 10
TLOOP_BENCH_REPEAT ?= 3
BENCH_NBD_VM_MEM ?= 2048
bn_empty :=
bn_space := $(bn_empty) $(bn_empty)
bn_comma := ,
# The kernel command line splits at spaces: spaces in the lists travel as commas.
BENCH_NBD_APPEND = TLOOP_BENCH_NBD_MB=$(TLOOP_BENCH_NBD_MB) \
	TLOOP_BENCH_NBD_RTTS=$(subst $(bn_space),$(bn_comma),$(strip $(TLOOP_BENCH_NBD_RTTS))) \
	TLOOP_BENCH_NBD_PCTS=$(subst $(bn_space),$(bn_comma),$(strip $(TLOOP_BENCH_NBD_PCTS))) \
	TLOOP_BENCH_REPEAT=$(TLOOP_BENCH_REPEAT)

$(eval $(call bench_vm,nbd,90-bench-nbd,bench/nbd-bench.sh,3600,$(BENCH_NBD_VM_MEM),BENCH_NBD_APPEND,tloop sync to NBD benchmark))
