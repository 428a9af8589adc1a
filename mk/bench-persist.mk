# SPDX-License-Identifier: GPL-2.0
#
# make bench-persist [KVER=<one kernel>] - save and restore time of persistent written sets
# (TLOOP_FLAG_PERSIST) per GiB of device, for a dense, an alternating and a sparse set
# (bench/persist-bench.c), in one VM boot of the first kernel of KVER. Prints the "# bench:"
# lines; the whole output is in build/bench-persist/<kernel>/run/results.ktap.

BENCH_PERSIST_APPEND =

$(eval $(call bench_vm,persist,93-bench-persist,bench/persist-bench.c,1200,3072,BENCH_PERSIST_APPEND,save and restore time of persistent sets))
