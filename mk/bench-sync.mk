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
by_empty :=
by_space := $(by_empty) $(by_empty)
by_comma := ,
# The kernel command line splits at spaces: spaces in the lists travel as commas / '+'.
BENCH_SYNC_APPEND = TLOOP_BENCH_SYNC_MB=$(TLOOP_BENCH_SYNC_MB) \
	TLOOP_BENCH_SYNC_DENSITIES=$(subst $(by_space),$(by_comma),$(strip $(TLOOP_BENCH_SYNC_DENSITIES))) \
	TLOOP_BENCH_SYNC_VARIANTS=$(subst $(by_space),+,$(strip $(TLOOP_BENCH_SYNC_VARIANTS))) \
	TLOOP_BENCH_SYNC_VARIANT_MAX=$(TLOOP_BENCH_SYNC_VARIANT_MAX) \
	TLOOP_BENCH_REPEAT=$(TLOOP_BENCH_REPEAT) \
	TLOOP_BENCH_SYNC_XFS=$(TLOOP_BENCH_SYNC_XFS)

$(eval $(call bench_vm,sync,90-bench-sync,bench/sync-bench.c,3600,$(BENCH_SYNC_VM_MEM),BENCH_SYNC_APPEND,tloop sync benchmark))
