/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The written set of a tloop device: the pages written
 * since tracking was turned on or since a consumer cleared them.
 *
 * One name for the concept everywhere: the uapi's "written set"
 * (TLOOP_GET_WRITTEN, TLOOP_CLEAR_WRITTEN, tloop_track_status.written), the
 * sysfs attribute written_pages, and here struct tloop_written_set with the
 * functions tloop_written_*() and the device field tloop_device.written.
 * (The struct is not called tloop_written: the uapi's TLOOP_GET_WRITTEN
 * argument has that name.)
 *
 * A B+tree of the regions (TLOOP_REGION_PAGES pages each) touched by a
 * write; each has a 16-byte leaf entry that holds its written pages inline
 * or as a sorted array of offsets while they are few and as a bitmap once
 * they are many.  Every block and array is allocated on demand, so the
 * memory follows what was written, not the device size.  A page is added
 * when a write covering it completes and removed only by a consumer, each
 * under the set's leaf spinlock, so a write racing with a clear is either
 * cleared (its data is visible to the consumer that cleared it) or set again.
 */
#ifndef TLOOP_WRITTEN_H
#define TLOOP_WRITTEN_H

#include <linux/atomic.h>
#include <linux/rwsem.h>
#include <linux/spinlock.h>
#include <linux/types.h>

/**
 * struct tloop_written_set - the written set.
 * @lock: read side for recording, reading and clearing pages; write side
 *	for changing the index (a new region) or replacing the tree (on,
 *	off, clear all).
 * @leaf_lock: protects the contents of every leaf (with @lock read).
 * @root: the tree, %NULL while nothing was recorded (or tracking is off).
 * @on: tracking is on.
 * @nr_pages: pages of the device.
 * @mem_limit: bytes the set may use, 0 for no limit.
 * @mem_used: bytes the set uses (reserved before every allocation).
 * @nr_set: pages in the set.
 * @generation: bumped on every clear and every on/off.
 * @epoch: bumped whenever @root is replaced (under the write lock).
 * @overflow: a write could not be recorded since the last clear all.
 */
struct tloop_block;

struct tloop_written_set {
	struct rw_semaphore lock;
	spinlock_t leaf_lock;	/* see @leaf_lock above */
	struct tloop_block *root;
	bool on;
	u64 nr_pages;
	u64 mem_limit;
	atomic64_t mem_used;
	atomic64_t nr_set;
	atomic64_t generation;
	u64 epoch;
	bool overflow;
};

/**
 * struct tloop_written_status - a snapshot of the set's state.
 * @on: tracking is on.
 * @overflow: the set overflowed.
 * @generation: current generation.
 * @written: pages in the set.
 * @mem_used: bytes used.
 * @mem_limit: bytes allowed (0: no limit).
 */
struct tloop_written_status {
	bool on;
	bool overflow;
	u64 generation;
	u64 written;
	u64 mem_used;
	u64 mem_limit;
};

void tloop_written_init(struct tloop_written_set *set, u64 nr_pages);
int tloop_written_enable(struct tloop_written_set *set, u64 mem_limit);
void tloop_written_disable(struct tloop_written_set *set);
void tloop_written_record(struct tloop_written_set *set, u64 first, u64 last);
void tloop_written_status(struct tloop_written_set *set, struct tloop_written_status *st);
int tloop_written_collect(struct tloop_written_set *set, u64 cursor, u64 end, u64 *buf,
			  unsigned int max, unsigned int *count, u64 *next,
			  u64 *epoch, bool *overflow);
int tloop_written_clear_pages(struct tloop_written_set *set, const u64 *pages,
			      unsigned int count, u64 epoch, u64 *generation);
int tloop_written_clear_range(struct tloop_written_set *set, u64 start, u64 end,
			      u64 *generation);
int tloop_written_clear_all(struct tloop_written_set *set, u64 *generation);
int tloop_written_move(struct tloop_written_set *from, struct tloop_written_set *to,
		       bool allow_overflow, u64 *prev_gen, u64 *gen);
bool tloop_written_test(struct tloop_written_set *set, u64 page, bool clear);
void tloop_written_set_overflow(struct tloop_written_set *set);

#endif /* TLOOP_WRITTEN_H */
