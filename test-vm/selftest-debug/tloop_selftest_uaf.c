// SPDX-License-Identifier: GPL-2.0
/*
 * tloop_selftest_uaf - a test-only module that reads freed memory when loaded.
 *
 * Loaded only by the debug kernel's harness self-test (test-vm/selftest-debug/): the
 * run must fail with a KASAN (or, when the allocation was sampled, KFENCE)
 * use-after-free report. Never installed.
 */
#include <linux/compiler.h>
#include <linux/module.h>
#include <linux/slab.h>

static int __init tloop_selftest_uaf_init(void)
{
	u8 *buf;
	u8 val;

	buf = kmalloc(64, GFP_KERNEL);
	if (!buf)
		return -ENOMEM;
	memset(buf, 0x5a, 64);
	kfree(buf);
	/* Keep the compiler from seeing through the pointer: the read must happen. */
	OPTIMIZER_HIDE_VAR(buf);
	val = READ_ONCE(buf[16]);
	pr_info("tloop_selftest_uaf: read 0x%02x from freed memory\n", val);
	return 0;
}

static void __exit tloop_selftest_uaf_exit(void)
{
}

module_init(tloop_selftest_uaf_init);
module_exit(tloop_selftest_uaf_exit);
MODULE_DESCRIPTION("tloop debug-kernel self-test: use-after-free");
MODULE_LICENSE("GPL");
