/* SPDX-License-Identifier: GPL-2.0 */
/*
 * tloop_wset.h - the written-page set of a tloop device.
 *
 * A sparse radix tree of regions of TLOOP_REGION_PAGES pages; each region
 * touched by a write has a small leaf that holds its written pages as a
 * sorted array of offsets while they are few and as a bitmap once they are
 * many.  Every node, leaf and array is allocated on demand, so the memory
 * follows what was written, not the device size.  A page is added when a
 * write covering it completes and removed only by a consumer, each under the
 * leaf's spinlock, so a write racing with a clear is either cleared (its data
 * is visible to the consumer that cleared it) or set again.
 */
#ifndef TLOOP_WSET_H
#define TLOOP_WSET_H

#include <linux/atomic.h>
#include <linux/rwsem.h>
#include <linux/types.h>

/**
 * struct tloop_wset - written-page set.
 * @lock: read side for recording, reading and clearing pages; write side
 *	for replacing the tree (on, off, clear all).
 * @root: the tree, %NULL while nothing was recorded (or tracking is off).
 * @on: tracking is on.
 * @height: levels of interior nodes above the leaves (0: @root is a leaf).
 * @nr_pages: pages of the device.
 * @mem_limit: bytes the set may use, 0 for no limit.
 * @mem_used: bytes the set uses (reserved before every allocation).
 * @nr_set: pages in the set.
 * @generation: bumped on every clear and every on/off.
 * @epoch: bumped whenever @root is replaced (under the write lock).
 * @overflow: a write could not be recorded since the last clear all.
 */
struct tloop_wset {
	struct rw_semaphore lock;
	void *root;
	bool on;
	unsigned int height;
	u64 nr_pages;
	u64 mem_limit;
	atomic64_t mem_used;
	atomic64_t nr_set;
	atomic64_t generation;
	u64 epoch;
	bool overflow;
};

/**
 * struct tloop_wset_status - a snapshot of the set's state.
 * @on: tracking is on.
 * @overflow: the set overflowed.
 * @generation: current generation.
 * @written: pages in the set.
 * @mem_used: bytes used.
 * @mem_limit: bytes allowed (0: no limit).
 */
struct tloop_wset_status {
	bool on;
	bool overflow;
	u64 generation;
	u64 written;
	u64 mem_used;
	u64 mem_limit;
};

void tloop_wset_init(struct tloop_wset *ws, u64 nr_pages);
int tloop_wset_enable(struct tloop_wset *ws, u64 mem_limit);
void tloop_wset_disable(struct tloop_wset *ws);
void tloop_wset_record(struct tloop_wset *ws, u64 first, u64 last);
void tloop_wset_status(struct tloop_wset *ws, struct tloop_wset_status *st);
int tloop_wset_collect(struct tloop_wset *ws, u64 cursor, u64 end, u64 *buf,
		       unsigned int max, unsigned int *count, u64 *next,
		       u64 *epoch, bool *overflow);
int tloop_wset_clear_pages(struct tloop_wset *ws, const u64 *pages,
			   unsigned int count, u64 epoch, u64 *generation);
int tloop_wset_clear_range(struct tloop_wset *ws, u64 start, u64 end,
			   u64 *generation);
int tloop_wset_clear_all(struct tloop_wset *ws, u64 *generation);

#endif /* TLOOP_WSET_H */
