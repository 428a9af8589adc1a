# SPDX-License-Identifier: GPL-2.0
#
# make bench-sync [KVER=<one kernel>] - the cost of `tloop sync` by density of written pages,
# random and clustered, against full copies (dd iflag=direct bs=1M, tloop sync --full) and
# against the query plus a per-page copy loop (bench/sync-bench.c, issue 15), in one VM boot of
# the first kernel of KVER. Prints the table ("# bench:" lines) and the host's load average
# before and after, and draws the plot $(B)/bench-sync/<kernel>/sync.svg (bench/sync-plot.py,
# python3 alone); the whole output is in build/bench-sync/<kernel>/run/results.ktap.
#   TLOOP_BENCH_SYNC_MB            device size in MiB (default 1024)
#   TLOOP_BENCH_SYNC_PCT           densities, percent of the pages (default "0.01 0.1 1 10 30 100")
#   TLOOP_BENCH_SYNC_PATTERNS      "random clustered" (default both)
#   TLOOP_BENCH_SYNC_LOOP_MAX      the per-page loop only up to this percent (default 10)
#   TLOOP_BENCH_SYNC_VARIANTS      extra tloop sync options to time, ';'-separated, e.g.
#                                  "--via device;--max-gap 0" (default none)
#   TLOOP_BENCH_REPEAT             repetitions, medians printed (default 3)
#   TLOOP_BENCH_SYNC_XFS           1: the files on an XFS with reflink=1 (on a loop device over
#                                  a tmpfs) and `tloop sync --via reflink` timed too
#   TLOOP_BENCH_SYNC_NORANDMAPS    1: boot with `norandmaps` (no address-space randomization),
#                                  so that under TCG a process's libraries keep their addresses
#                                  and their translated code (doc/benchmarks.md); default 0
#   BENCH_SYNC_VM_MEM              VM memory in MiB (default 5120: the tmpfs holds 3x the device)
# make bench-sync-plot redraws the plot from the last run's results.ktap.

TLOOP_BENCH_SYNC_MB ?= 1024
TLOOP_BENCH_SYNC_PCT ?= 0.01 0.1 1 10 30 100
TLOOP_BENCH_SYNC_PATTERNS ?= random clustered
TLOOP_BENCH_SYNC_LOOP_MAX ?= 10
TLOOP_BENCH_SYNC_VARIANTS ?=
TLOOP_BENCH_REPEAT ?= 3
TLOOP_BENCH_SYNC_XFS ?= 0
TLOOP_BENCH_SYNC_NORANDMAPS ?= 0
BENCH_SYNC_VM_MEM ?= 5120
by_empty :=
by_space := $(by_empty) $(by_empty)
by_comma := ,
# The kernel command line splits at spaces: spaces in the lists travel as commas / '+'.
BENCH_SYNC_APPEND = TLOOP_BENCH_SYNC_MB=$(TLOOP_BENCH_SYNC_MB) \
	TLOOP_BENCH_SYNC_PCT=$(subst $(by_space),$(by_comma),$(strip $(TLOOP_BENCH_SYNC_PCT))) \
	TLOOP_BENCH_SYNC_PATTERNS=$(subst $(by_space),$(by_comma),$(strip $(TLOOP_BENCH_SYNC_PATTERNS))) \
	TLOOP_BENCH_SYNC_LOOP_MAX=$(TLOOP_BENCH_SYNC_LOOP_MAX) \
	TLOOP_BENCH_SYNC_VARIANTS=$(subst $(by_space),+,$(strip $(TLOOP_BENCH_SYNC_VARIANTS))) \
	TLOOP_BENCH_REPEAT=$(TLOOP_BENCH_REPEAT) \
	TLOOP_BENCH_SYNC_XFS=$(TLOOP_BENCH_SYNC_XFS) \
	$(if $(filter 1,$(TLOOP_BENCH_SYNC_NORANDMAPS)),norandmaps)

$(eval $(call bench_vm,sync,90-bench-sync,bench/sync-bench.c,3600,$(BENCH_SYNC_VM_MEM),BENCH_SYNC_APPEND,tloop sync benchmark,bench-sync-plot))

# The host's load before and after (the machine is shared), then the plot.
bench-sync: bench-sync-load-before
bench-sync-load-before:
	@echo "host load average before: $$(cut -d' ' -f1-3 /proc/loadavg)"
bench-sync-plot:
	@echo "host load average after: $$(cut -d' ' -f1-3 /proc/loadavg)"
	python3 bench/sync-plot.py $(B)/bench-sync/$(FIRST_KVER)/run/results.ktap \
		$(B)/bench-sync/$(FIRST_KVER)/sync.svg "$(FIRST_KVER)"
	@echo "plot: $(B)/bench-sync/$(FIRST_KVER)/sync.svg"
.PHONY: bench-sync-load-before bench-sync-plot
