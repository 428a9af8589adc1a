# SPDX-License-Identifier: GPL-2.0
#
# make bench-scan [KVER=<one kernel>] - tloop's get-and-clear beside PAGEMAP_SCAN over
# userfaultfd async write-protect (a), and tloop's query with write-back beside msync of a
# stock loop device's mapping (b), after the same stores to 0.1, 1 and 10 % of a 256 MiB
# region (bench/scan-bench.c, issue 10 item 5), in one VM boot of the first kernel of KVER
# (PAGEMAP_SCAN needs 6.7 or newer: on 6.1 part (a) is a KTAP skip). Prints the "# bench:"
# lines; the whole output is in build/bench-scan/<kernel>/run/results.ktap.

BENCH_SCAN_APPEND =

$(eval $(call bench_vm,scan,91-bench-scan,bench/scan-bench.c,900,,BENCH_SCAN_APPEND,scan benchmark))
