// SPDX-License-Identifier: GPL-2.0
/*
 * snap.c - point-in-time snapshots (TLOOP_SNAP_*): the ioctl wrappers, a
 * walk over a snapshot's pages, and the point-in-time refresh that
 * tloop_sync() runs with TLOOP_SYNC_CONSISTENT.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "internal.h"

#define SNAP_BATCH	256U

int tloop_snap_create(int fd, unsigned int flags, uint64_t mem_limit,
		      struct tloop_snap_create *out)
{
	struct tloop_snap_create c = { .size = sizeof(c), .flags = flags, .mem_limit = mem_limit };
	int ret = tloop_ioctl(fd, TLOOP_SNAP_CREATE, &c);

	if (ret >= 0 && out)
		*out = c;
	return ret;
}

int tloop_snap_status(int sfd, struct tloop_snap_status *st)
{
	memset(st, 0, sizeof(*st));
	st->size = sizeof(*st);
	return tloop_ioctl(sfd, TLOOP_SNAP_STATUS, st);
}

int tloop_snap_end(int sfd, unsigned int flags)
{
	struct tloop_snap_end e = { .size = sizeof(e), .flags = flags };

	return tloop_ioctl(sfd, TLOOP_SNAP_END, &e);
}

int tloop_snap_walk(int sfd, unsigned int batch, uint32_t page_size, tloop_snap_fn fn,
		    void *arg, uint64_t *pages_read)
{
	uint64_t cursor = 0, *pages;
	void *data = NULL;
	int ret = 0;

	if (pages_read)
		*pages_read = 0;
	if (!page_size)
		return -EINVAL;
	if (!batch)
		batch = SNAP_BATCH;
	if (batch > TLOOP_SNAP_MAX_BATCH)
		batch = TLOOP_SNAP_MAX_BATCH;
	pages = calloc(batch, sizeof(*pages));
	if (!pages || posix_memalign(&data, page_size, (size_t)batch * page_size)) {
		free(pages);
		return -ENOMEM;
	}
	while (cursor != TLOOP_CURSOR_END) {
		struct tloop_snap_read r = {
			.size = sizeof(r), .cursor = cursor, .pages = (uintptr_t)pages,
			.data = (uintptr_t)data, .capacity = batch,
		};

		ret = tloop_ioctl(sfd, TLOOP_SNAP_READ, &r);
		if (ret)
			break;
		if (r.count > batch ||
		    (r.next_cursor != TLOOP_CURSOR_END && r.next_cursor <= cursor)) {
			ret = -EPROTO;
			break;
		}
		if (pages_read)
			*pages_read += r.count;
		if (r.count) {
			ret = fn(pages, data, r.count, arg);
			if (ret)
				break;
		}
		cursor = r.next_cursor;
	}
	free(pages);
	free(data);
	return ret;
}

/* struct snap_copy - where tloop_snap_refresh()'s walk writes. */
struct snap_copy {
	int wfd;
	uint32_t page_size;
	uint64_t dev_size;
	uint64_t bytes;
};

/* Write one batch to area2, a run of consecutive pages per pwrite. */
static int snap_copy_batch(const uint64_t *pages, const void *data, size_t n, void *arg)
{
	struct snap_copy *s = arg;
	size_t i = 0, j;

	while (i < n) {
		uint64_t off = pages[i] * s->page_size, len;
		int ret;

		for (j = i + 1; j < n && pages[j] == pages[j - 1] + 1; j++)
			;
		len = (uint64_t)(j - i) * s->page_size;
		if (off >= s->dev_size)
			return -EPROTO;
		if (len > s->dev_size - off)
			len = s->dev_size - off;
		ret = tloop_pwrite_full(s->wfd, (const char *)data + i * s->page_size, (size_t)len, off);
		if (ret)
			return ret;
		s->bytes += len;
		i = j;
	}
	return 0;
}

/* Freeze the filesystem mounted at @path (FIFREEZE); returns its fd or -errno. */
static int freeze_fs(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (ioctl(fd, FIFREEZE, 0) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

static int thaw_fs(int fd)
{
	int ret = ioctl(fd, FITHAW, 0) < 0 ? -errno : 0;

	close(fd);
	return ret;
}

int tloop_snap_refresh(int fd, int wfd, const struct tloop_snap_refresh_opts *o,
		       struct tloop_snap_refresh_result *res)
{
	struct snap_copy s = { .wfd = wfd, .page_size = o->page_size, .dev_size = o->dev_size };
	struct tloop_snap_create c;
	struct tloop_snap_status st;
	unsigned int flags = o->all ? TLOOP_SNAP_ALL : 0;
	int sfd, ffd = -1, ret, tret;

	memset(res, 0, sizeof(*res));
again:
	if (o->freeze) {
		ffd = freeze_fs(o->freeze);
		if (ffd < 0) {
			snprintf(res->msg, sizeof(res->msg), "freeze the filesystem at %s", o->freeze);
			return ffd;
		}
	}
	/* P: the freeze is held only for this call. */
	sfd = tloop_snap_create(fd, flags, o->mem_limit, &c);
	if (ffd >= 0) {
		tret = thaw_fs(ffd);
		ffd = -1;
		if (tret && sfd >= 0) {
			close(sfd);
			snprintf(res->msg, sizeof(res->msg), "thaw the filesystem at %s", o->freeze);
			return tret;
		}
	}
	if (sfd == -EOVERFLOW && !(flags & TLOOP_SNAP_ALL)) {
		/* The set overflowed since it was looked at: every page, then. */
		flags |= TLOOP_SNAP_ALL;
		res->all = 1;
		goto again;
	}
	if (sfd < 0) {
		snprintf(res->msg, sizeof(res->msg), "create a snapshot");
		return sfd;
	}
	if (!(flags & TLOOP_SNAP_ALL) && o->check_generation &&
	    c.prev_generation != o->generation) {
		/*
		 * Someone cleared the set since area2's baseline: the pages of
		 * P do not cover what area2 misses.  Put them back, copy all.
		 */
		tloop_log(TLOOP_LOG_INFO, "the written set was cleared by someone else "
			  "(generation %" PRIu64 ", baseline %" PRIu64 "): copying every page",
			  (uint64_t)c.prev_generation, o->generation);
		tloop_snap_end(sfd, 0);
		close(sfd);
		flags |= TLOOP_SNAP_ALL;
		res->all = 1;
		res->concurrent = 1;
		goto again;
	}
	res->all = !!(flags & TLOOP_SNAP_ALL);
	res->started = 1;
	res->generation = c.generation;
	res->pending = c.pending;
	ret = tloop_snap_walk(sfd, o->batch, o->page_size, o->fn ? o->fn : snap_copy_batch,
			      o->fn ? o->arg : (void *)&s, &res->pages);
	if (!ret && o->before_end)
		ret = o->before_end(o->arg);
	res->bytes = s.bytes;
	if (!tloop_snap_status(sfd, &st)) {
		res->preserved = st.preserved_total;
		res->mem_peak = st.mem_peak;
		res->error = st.error;
	}
	if (!ret) {
		ret = tloop_snap_end(sfd, TLOOP_SNAP_END_COPIED);
		if (ret)
			snprintf(res->msg, sizeof(res->msg), "end the snapshot");
	} else {
		tloop_snap_end(sfd, 0);
		if (ret == -ESTALE)
			snprintf(res->msg, sizeof(res->msg),
				 "the snapshot failed (%s): area2 is not a copy of one instant; "
				 "its pages are back in the written set",
				 res->error ? strerror(-res->error) : "ended");
		else
			snprintf(res->msg, sizeof(res->msg), "copy the snapshot's pages");
	}
	close(sfd);
	return ret;
}
