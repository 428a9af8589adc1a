// SPDX-License-Identifier: GPL-2.0
/* Placeholder: replaced by the real module. */
#include <linux/module.h>

static int __init tloop_init(void)
{
	return 0;
}

static void __exit tloop_exit(void)
{
}

module_init(tloop_init);
module_exit(tloop_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("tloop: tracking loop devices");
