// SPDX-License-Identifier: GPL-2.0
/*
 * walk.c - the one loop over the written set: TLOOP_GET_WRITTEN calls that
 * follow the cursor to TLOOP_CURSOR_END.  The cursor, the continuation flags
 * (TLOOP_GET_NOSYNC on a module without TLOOP_FEAT_WALK_SYNC), the overflowed
 * state and the generation rule of a clearing walk are handled here and
 * nowhere else; tloop_walk_written() and the refresh engine (sync.c) both
 * walk through tloop_walk().
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stddef.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

#define DEFAULT_BATCH	16384U

unsigned int tloop_continue_flags(void)
{
	/* -1: not asked yet; the answer does not change while the module is loaded. */
	static int cached = -1;
	struct tloop_version v;
	int ctl, flags = 0;

	if (cached >= 0)
		return (unsigned int)cached;
	ctl = tloop_ctl_open();
	if (ctl >= 0) {
		if (!tloop_ctl_version(ctl, &v) && !(v.features & TLOOP_FEAT_WALK_SYNC))
			flags = TLOOP_GET_NOSYNC;
		close(ctl);
	}
	cached = flags;
	return (unsigned int)flags;
}

unsigned int tloop_walk_batch(unsigned int batch)
{
	if (!batch)
		return DEFAULT_BATCH;
	return batch < TLOOP_GET_MAX_BATCH ? batch : TLOOP_GET_MAX_BATCH;
}

int tloop_walk(int fd, const struct tloop_walk *wk, tloop_written_fn fn, void *arg,
	       struct tloop_walk_result *res, enum tloop_walk_stop *stop)
{
	uint64_t generation = wk->generation;
	struct tloop_written w;
	int ret = 0;

	memset(res, 0, sizeof(*res));
	*stop = TLOOP_WALK_DONE;
	memset(&w, 0, sizeof(w));
	w.cursor = wk->start;
	for (;;) {
		w.flags = wk->flags;
		if (res->calls)
			w.flags |= tloop_continue_flags();
		w.pages = (uintptr_t)wk->buf;
		w.capacity = wk->batch;
		w.end = wk->end;
		w.consumer = wk->consumer;
		w.count = 0;
		ret = tloop_get_written(fd, &w);
		if (ret < 0) {
			*stop = TLOOP_WALK_IOCTL;
			return ret;
		}
		res->calls++;
		res->generation = w.generation;
		res->status = w.status;
		if (w.status & TLOOP_TRACK_OVERFLOW) {
			*stop = TLOOP_WALK_OVERFLOW;
			return -EOVERFLOW;
		}
		/* The uapi promises +1 per clearing call: more means another clear. */
		if (wk->check_generation) {
			if (w.generation != generation + 1) {
				tloop_log(TLOOP_LOG_INFO, "generation %" PRIu64 " after %" PRIu64
					  ": cleared by someone else", (uint64_t)w.generation,
					  generation);
				*stop = TLOOP_WALK_CONCURRENT;
				return -ESTALE;
			}
			generation = w.generation;
		}
		if (w.count > wk->batch) {
			tloop_log(TLOOP_LOG_WARN, "TLOOP_GET_WRITTEN returned %u pages for %u",
				  w.count, wk->batch);
			*stop = TLOOP_WALK_PROTOCOL;
			return -EPROTO;
		}
		if (w.count) {
			res->pages += w.count;
			ret = fn(wk->buf, w.count, arg);
			if (ret < 0) {
				*stop = TLOOP_WALK_CALLBACK;
				return ret;
			}
		}
		if (w.next_cursor == TLOOP_CURSOR_END)
			return 0;
		if (w.next_cursor <= w.cursor) {
			/* A cursor that does not advance would loop forever. */
			tloop_log(TLOOP_LOG_WARN, "TLOOP_GET_WRITTEN: cursor %" PRIu64
				  " did not advance", (uint64_t)w.cursor);
			*stop = TLOOP_WALK_PROTOCOL;
			return -EPROTO;
		}
		w.cursor = w.next_cursor;
	}
}

int tloop_walk_written(int fd, const struct tloop_walk_opts *opts, tloop_written_fn fn,
		       void *arg, struct tloop_walk_result *res)
{
	struct tloop_walk wk = { 0 };
	struct tloop_walk_result r = { 0 };
	enum tloop_walk_stop stop;
	int ret = -ENOMEM;

	if (opts) {
		wk.flags = opts->flags;
		wk.start = opts->start;
		wk.end = opts->end;
		if (opts->sz >= offsetof(struct tloop_walk_opts, consumer) + sizeof(opts->consumer))
			wk.consumer = opts->consumer;
	}
	wk.batch = tloop_walk_batch(opts ? opts->batch : 0);
	wk.buf = calloc(wk.batch, sizeof(*wk.buf));
	if (wk.buf)
		ret = tloop_walk(fd, &wk, fn, arg, &r, &stop);
	free(wk.buf);
	if (res)
		*res = r;
	return ret;
}
