// SPDX-License-Identifier: GPL-2.0
/*
 * tloop_selftest_atomic_sleep - a test-only module that may sleep under a spinlock.
 *
 * mutex_lock() may sleep, so it checks that it is called from a context that may; under
 * a spinlock it is not, and DEBUG_ATOMIC_SLEEP must report "sleeping function called from
 * invalid context". The mutex is free, so nothing actually sleeps and the VM goes on.
 * Loaded only by the debug kernel's harness self-test (test-vm/selftest-debug/). Never
 * installed.
 */
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/spinlock.h>

static DEFINE_SPINLOCK(tloop_selftest_spin);
static DEFINE_MUTEX(tloop_selftest_mutex);

static int __init tloop_selftest_atomic_sleep_init(void)
{
	spin_lock(&tloop_selftest_spin);
	mutex_lock(&tloop_selftest_mutex);
	mutex_unlock(&tloop_selftest_mutex);
	spin_unlock(&tloop_selftest_spin);

	pr_info("tloop_selftest_atomic_sleep: took a mutex under a spinlock\n");
	return 0;
}

static void __exit tloop_selftest_atomic_sleep_exit(void)
{
}

module_init(tloop_selftest_atomic_sleep_init);
module_exit(tloop_selftest_atomic_sleep_exit);
MODULE_DESCRIPTION("tloop debug-kernel self-test: sleep in atomic context");
MODULE_LICENSE("GPL");
