// SPDX-License-Identifier: GPL-2.0
/*
 * tloop_selftest_warn - the harness self-test's injected kernel warning: loading this module
 * triggers WARN() once, which must turn the VM run into a failed verdict. Built only for the
 * self-test boot, never installed.
 */
#include <linux/module.h>
#include <linux/bug.h>

static int __init tloop_selftest_warn_init(void)
{
	WARN(1, "tloop harness self-test: injected warning\n");
	return 0;
}

static void __exit tloop_selftest_warn_exit(void)
{
}

module_init(tloop_selftest_warn_init);
module_exit(tloop_selftest_warn_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("tloop harness self-test: WARN on load");
