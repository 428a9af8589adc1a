// SPDX-License-Identifier: GPL-2.0
/*
 * tloop_selftest_abba - a test-only module that takes two mutexes in both orders.
 *
 * One thread, so nothing deadlocks: lockdep must still see the A->B and B->A
 * dependencies and report a possible circular locking dependency. Loaded only by the
 * debug kernel's harness self-test (test-vm/selftest-debug/). Never installed.
 */
#include <linux/module.h>
#include <linux/mutex.h>

static DEFINE_MUTEX(tloop_selftest_lock_a);
static DEFINE_MUTEX(tloop_selftest_lock_b);

static int __init tloop_selftest_abba_init(void)
{
	mutex_lock(&tloop_selftest_lock_a);
	mutex_lock(&tloop_selftest_lock_b);
	mutex_unlock(&tloop_selftest_lock_b);
	mutex_unlock(&tloop_selftest_lock_a);

	mutex_lock(&tloop_selftest_lock_b);
	mutex_lock(&tloop_selftest_lock_a);
	mutex_unlock(&tloop_selftest_lock_a);
	mutex_unlock(&tloop_selftest_lock_b);

	pr_info("tloop_selftest_abba: took A then B, then B then A\n");
	return 0;
}

static void __exit tloop_selftest_abba_exit(void)
{
}

module_init(tloop_selftest_abba_init);
module_exit(tloop_selftest_abba_exit);
MODULE_DESCRIPTION("tloop debug-kernel self-test: AB-BA lock order inversion");
MODULE_LICENSE("GPL");
