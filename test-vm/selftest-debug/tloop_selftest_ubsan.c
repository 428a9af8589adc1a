// SPDX-License-Identifier: GPL-2.0
/*
 * tloop_selftest_ubsan - a test-only module that indexes past the end of an array.
 *
 * The index comes from a module parameter, so the compiler cannot prove it out of range
 * at build time; UBSAN's bounds check must report "array-index-out-of-bounds" at run
 * time. Loaded only by the debug kernel's harness self-test (test-vm/selftest-debug/).
 * Never installed.
 */
#include <linux/module.h>

static int idx = 8;
module_param(idx, int, 0444);
MODULE_PARM_DESC(idx, "array index to read (the array has 8 entries)");

static int tloop_selftest_table[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };

static int __init tloop_selftest_ubsan_init(void)
{
	int val;

	val = tloop_selftest_table[idx];
	pr_info("tloop_selftest_ubsan: table[%d] read as %d\n", idx, val);
	return 0;
}

static void __exit tloop_selftest_ubsan_exit(void)
{
}

module_init(tloop_selftest_ubsan_init);
module_exit(tloop_selftest_ubsan_exit);
MODULE_DESCRIPTION("tloop debug-kernel self-test: out-of-bounds array index");
MODULE_LICENSE("GPL");
