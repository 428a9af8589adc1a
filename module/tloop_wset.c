// SPDX-License-Identifier: GPL-2.0
/*
 * tloop_wset.c - the written-page set.
 *
 * Memory: the chunk table costs one pointer per TLOOP_CHUNK_PAGES pages
 * (8 bytes per 16 MiB of device with 4 KiB pages) and each chunk touched by
 * a write costs TLOOP_CHUNK_BYTES, so a fully written device costs one bit
 * per page plus the table, and a sparsely written one much less.
 *
 * Recording happens in the I/O worker, which may sleep; a chunk that cannot
 * be allocated (or that would pass the memory limit) puts the set in the
 * overflowed state, in which every page counts as written.  A write is
 * never silently dropped.
 */
#include <linux/bitmap.h>
#include <linux/errno.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/mm.h>

#include "tloop_wset.h"

#define TLOOP_CHUNK_BYTES	512
#define TLOOP_CHUNK_PAGES	(TLOOP_CHUNK_BYTES * BITS_PER_BYTE)

static u64 tloop_wset_table_bytes(const struct tloop_wset *ws)
{
	return (u64)ws->nr_chunks * sizeof(*ws->chunks);
}

/* Free every chunk and the table; caller holds the write lock. */
static void tloop_wset_free(struct tloop_wset *ws)
{
	unsigned long i;

	if (!ws->chunks)
		return;
	for (i = 0; i < ws->nr_chunks; i++)
		kfree(ws->chunks[i]);
	kvfree(ws->chunks);
	ws->chunks = NULL;
	atomic64_set(&ws->mem_used, 0);
	atomic64_set(&ws->nr_set, 0);
	ws->overflow = false;
	ws->epoch++;
}

/**
 * tloop_wset_init() - initialise an empty set, tracking off.
 * @ws: the set.
 * @nr_pages: number of pages of the device.
 */
void tloop_wset_init(struct tloop_wset *ws, u64 nr_pages)
{
	init_rwsem(&ws->lock);
	ws->chunks = NULL;
	ws->nr_pages = nr_pages;
	ws->nr_chunks = DIV_ROUND_UP_ULL(nr_pages, TLOOP_CHUNK_PAGES);
	ws->mem_limit = 0;
	atomic64_set(&ws->mem_used, 0);
	atomic64_set(&ws->nr_set, 0);
	atomic64_set(&ws->generation, 1);
	ws->epoch = 0;
	ws->overflow = false;
}

/**
 * tloop_wset_enable() - turn tracking on with an empty set.
 * @ws: the set.
 * @mem_limit: bytes the set may use, 0 for no limit.
 *
 * Return: 0, -EBUSY if tracking is on, -ENOMEM.
 */
int tloop_wset_enable(struct tloop_wset *ws, u64 mem_limit)
{
	unsigned long **table;

	table = kvcalloc(ws->nr_chunks, sizeof(*table), GFP_KERNEL);
	if (!table)
		return -ENOMEM;

	down_write(&ws->lock);
	if (ws->chunks) {
		up_write(&ws->lock);
		kvfree(table);
		return -EBUSY;
	}
	ws->chunks = table;
	ws->mem_limit = mem_limit;
	atomic64_set(&ws->mem_used, tloop_wset_table_bytes(ws));
	atomic64_set(&ws->nr_set, 0);
	ws->overflow = false;
	ws->epoch++;
	atomic64_inc(&ws->generation);
	up_write(&ws->lock);
	return 0;
}

/**
 * tloop_wset_disable() - turn tracking off and drop the set (no-op if off).
 * @ws: the set.
 */
void tloop_wset_disable(struct tloop_wset *ws)
{
	down_write(&ws->lock);
	if (ws->chunks) {
		tloop_wset_free(ws);
		atomic64_inc(&ws->generation);
	}
	up_write(&ws->lock);
}

/* Chunk @ci, allocated if needed; NULL if that is impossible.  Read lock. */
static unsigned long *tloop_wset_chunk(struct tloop_wset *ws, unsigned long ci)
{
	unsigned long *chunk = READ_ONCE(ws->chunks[ci]);
	unsigned long *old;

	if (chunk)
		return chunk;
	if (ws->mem_limit &&
	    atomic64_read(&ws->mem_used) + TLOOP_CHUNK_BYTES > ws->mem_limit)
		return NULL;
	/* Worker context: may sleep, must not recurse into block I/O. */
	chunk = kzalloc(TLOOP_CHUNK_BYTES, GFP_NOIO | __GFP_NOWARN);
	if (!chunk)
		return NULL;
	old = cmpxchg(&ws->chunks[ci], NULL, chunk);
	if (old) {
		kfree(chunk);
		return old;
	}
	atomic64_add(TLOOP_CHUNK_BYTES, &ws->mem_used);
	return chunk;
}

/**
 * tloop_wset_record() - record that a write covering pages @first..@last
 * (inclusive) completed.
 * @ws: the set.
 * @first: first page index.
 * @last: last page index.
 *
 * Context: process context, may sleep (the I/O worker).
 */
void tloop_wset_record(struct tloop_wset *ws, u64 first, u64 last)
{
	u64 page = first;

	if (last >= ws->nr_pages)
		last = ws->nr_pages - 1;

	down_read(&ws->lock);
	if (!ws->chunks || READ_ONCE(ws->overflow))
		goto out;
	while (page <= last) {
		unsigned long ci = page / TLOOP_CHUNK_PAGES;
		u64 stop = min_t(u64, last, (u64)(ci + 1) * TLOOP_CHUNK_PAGES - 1);
		unsigned long *chunk = tloop_wset_chunk(ws, ci);

		if (!chunk) {
			WRITE_ONCE(ws->overflow, true);
			break;
		}
		for (; page <= stop; page++) {
			unsigned long bit = page % TLOOP_CHUNK_PAGES;

			if (!test_bit(bit, chunk) && !test_and_set_bit(bit, chunk))
				atomic64_inc(&ws->nr_set);
		}
	}
out:
	up_read(&ws->lock);
}

/**
 * tloop_wset_status() - snapshot the set's state.
 * @ws: the set.
 * @st: filled in.
 */
void tloop_wset_status(struct tloop_wset *ws, struct tloop_wset_status *st)
{
	down_read(&ws->lock);
	st->on = !!ws->chunks;
	st->overflow = st->on && READ_ONCE(ws->overflow);
	st->generation = atomic64_read(&ws->generation);
	st->written = st->on ? atomic64_read(&ws->nr_set) : 0;
	st->mem_used = st->on ? atomic64_read(&ws->mem_used) : 0;
	st->mem_limit = st->on ? ws->mem_limit : 0;
	up_read(&ws->lock);
}

/**
 * tloop_wset_collect() - list set pages in [@cursor, @end) without clearing.
 * @ws: the set.
 * @cursor: first page to look at.
 * @end: page to stop before (at most the number of pages).
 * @buf: receives up to @max page indices, ascending.
 * @max: capacity of @buf, at least 1.
 * @count: number stored.
 * @next: where to resume, or U64_MAX when [@cursor, @end) is exhausted.
 * @epoch: the table epoch the pages belong to (for tloop_wset_clear_pages()).
 * @overflow: set if the set overflowed (then nothing is listed).
 *
 * Return: 0, or -ENODATA if tracking is off.
 */
int tloop_wset_collect(struct tloop_wset *ws, u64 cursor, u64 end, u64 *buf,
		       unsigned int max, unsigned int *count, u64 *next,
		       u64 *epoch, bool *overflow)
{
	unsigned int n = 0;
	u64 page = cursor;

	*next = U64_MAX;
	down_read(&ws->lock);
	if (!ws->chunks) {
		up_read(&ws->lock);
		return -ENODATA;
	}
	*epoch = ws->epoch;
	*overflow = READ_ONCE(ws->overflow);
	if (*overflow)
		goto out;

	while (page < end) {
		unsigned long ci = page / TLOOP_CHUNK_PAGES;
		u64 base = (u64)ci * TLOOP_CHUNK_PAGES;
		unsigned long lim = min_t(u64, end - base, TLOOP_CHUNK_PAGES);
		unsigned long *chunk = READ_ONCE(ws->chunks[ci]);
		unsigned long bit = page - base;

		if (chunk) {
			for (bit = find_next_bit(chunk, lim, bit); bit < lim;
			     bit = find_next_bit(chunk, lim, bit + 1)) {
				if (n == max) {
					*next = base + bit;
					goto out;
				}
				buf[n++] = base + bit;
			}
		}
		page = base + TLOOP_CHUNK_PAGES;
		if (!(ci & 1023))
			cond_resched();
	}
out:
	up_read(&ws->lock);
	*count = n;
	return 0;
}

/**
 * tloop_wset_clear_pages() - clear the pages a collect returned.
 * @ws: the set.
 * @pages: page indices from tloop_wset_collect().
 * @count: number of entries.
 * @epoch: epoch tloop_wset_collect() reported.
 * @generation: the new generation.
 *
 * If the chunk table was replaced since the collect (a clear all, or
 * tracking switched off and on), the bits now belong to writes the caller
 * has not seen: they are left alone.
 *
 * Return: 0, or -ENODATA if tracking is off.
 */
int tloop_wset_clear_pages(struct tloop_wset *ws, const u64 *pages,
			   unsigned int count, u64 epoch, u64 *generation)
{
	unsigned int i;

	down_read(&ws->lock);
	if (!ws->chunks) {
		up_read(&ws->lock);
		return -ENODATA;
	}
	if (ws->epoch == epoch) {
		for (i = 0; i < count; i++) {
			unsigned long *chunk;

			chunk = READ_ONCE(ws->chunks[pages[i] / TLOOP_CHUNK_PAGES]);
			if (chunk && test_and_clear_bit(pages[i] % TLOOP_CHUNK_PAGES, chunk))
				atomic64_dec(&ws->nr_set);
		}
	}
	*generation = atomic64_inc_return(&ws->generation);
	up_read(&ws->lock);
	return 0;
}

/**
 * tloop_wset_clear_range() - clear pages [@start, @end).
 * @ws: the set.
 * @start: first page.
 * @end: page after the range (at most the number of pages).
 * @generation: the new generation.
 *
 * The overflowed state is kept: it covers pages outside the range too.
 *
 * Return: 0, or -ENODATA if tracking is off.
 */
int tloop_wset_clear_range(struct tloop_wset *ws, u64 start, u64 end,
			   u64 *generation)
{
	u64 page = start;

	down_read(&ws->lock);
	if (!ws->chunks) {
		up_read(&ws->lock);
		return -ENODATA;
	}
	while (page < end) {
		unsigned long ci = page / TLOOP_CHUNK_PAGES;
		u64 base = (u64)ci * TLOOP_CHUNK_PAGES;
		unsigned long lim = min_t(u64, end - base, TLOOP_CHUNK_PAGES);
		unsigned long *chunk = READ_ONCE(ws->chunks[ci]);
		unsigned long bit;

		if (chunk) {
			for (bit = find_next_bit(chunk, lim, page - base); bit < lim;
			     bit = find_next_bit(chunk, lim, bit + 1))
				if (test_and_clear_bit(bit, chunk))
					atomic64_dec(&ws->nr_set);
		}
		page = base + TLOOP_CHUNK_PAGES;
		if (!(ci & 1023))
			cond_resched();
	}
	*generation = atomic64_inc_return(&ws->generation);
	up_read(&ws->lock);
	return 0;
}

/**
 * tloop_wset_clear_all() - empty the set and leave the overflowed state.
 * @ws: the set.
 * @generation: the new generation.
 *
 * Return: 0, -ENODATA if tracking is off, -ENOMEM.
 */
int tloop_wset_clear_all(struct tloop_wset *ws, u64 *generation)
{
	unsigned long **table;

	table = kvcalloc(ws->nr_chunks, sizeof(*table), GFP_KERNEL);
	if (!table)
		return -ENOMEM;

	down_write(&ws->lock);
	if (!ws->chunks) {
		up_write(&ws->lock);
		kvfree(table);
		return -ENODATA;
	}
	tloop_wset_free(ws);
	ws->chunks = table;
	atomic64_set(&ws->mem_used, tloop_wset_table_bytes(ws));
	*generation = atomic64_inc_return(&ws->generation);
	up_write(&ws->lock);
	return 0;
}
