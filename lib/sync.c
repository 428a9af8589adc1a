// SPDX-License-Identifier: GPL-2.0
/*
 * sync.c - the area2 refresh engine: copy the pages written to a tloop
 * device (area1) into a plain copy of it (area2), using the written set's
 * get-and-clear so that each refresh copies only what changed.
 *
 * Invariant: while "<area2>.tloop" names the device's attach_id and its
 * current generation, area2 equals the device except for the pages in the
 * written set -- and area2's storage holds that, not only its page cache.
 * Every path that could break that (a failure or crash after clearing
 * began, tracking off) has deleted the sidecar durably first, and a missing
 * sidecar means a full copy; see tloop_sync() for the order.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <linux/capability.h>
#include <linux/fs.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#include "copy.h"
#include "internal.h"

#define DEFAULT_MAX_IO	(1U << 20)
#define DEFAULT_DEPTH	8U
#define MAX_DEPTH	256U
#define MAX_BUFFERS	(256ULL << 20)
#define PAGES_PER_THREAD 128U
#define DEFAULT_MAX_GAP	(64U << 10)
#define DEFAULT_MAX_GAP_BACKING (8U << 10)
#define DEFAULT_FULL_PCT 25U
#define IO_ALIGN	4096U

struct sync_ctx;

/*
 * struct copy_pool - copies in flight: a bounded queue of byte ranges and up
 * to @max threads, each with its own buffer, that read a range from the
 * device and write it to area2.  Ranges never overlap within one refresh
 * (see copy_batch()), so their order does not matter; everything queued is
 * finished (pool_drain()) before area2 is flushed, before a full copy
 * starts over, and before any error is reported.  The first error stops
 * the copies still queued; it is kept with its offset and side.
 */
struct copy_job {
	uint64_t off;
	uint64_t len;
};

struct copy_pool {
	pthread_mutex_t lock;
	pthread_cond_t more;	/* a job was queued, or stop */
	pthread_cond_t done;	/* a job finished */
	struct copy_job *q;
	unsigned int cap, head, count;
	unsigned int max, nthreads, busy;
	int stop;
	int err;		/* first error, -errno */
	int err_write;		/* it was area2's write */
	uint64_t err_off;
	uint64_t bytes;		/* bytes copied by finished jobs */
	pthread_t *tids;
	struct sync_ctx *c;
};

struct sync_ctx {
	const char *dev;
	const char *area2;
	struct tloop_sync_opts o;
	struct tloop_sync_result *res;
	int fd;			/* device, for ioctls */
	int rfd;		/* device, for reading data (O_DIRECT unless refused) */
	int bfd;		/* device, buffered: the fallback when O_DIRECT is refused */
	atomic_int direct;	/* rfd still works with O_DIRECT */
	int wfd;		/* area2 */
	uint32_t consumer;	/* id of the consumer whose set is used (0: default) */
	int tracking;
	uint64_t nr_pages;
	uint64_t total;		/* progress estimate */
	uint64_t max_io;
	uint64_t max_gap;	/* in pages; 0: runs of written pages only */
	unsigned int depth;
	void *buf;		/* the calling thread's buffer (depth 1) */
	uint64_t *pages;
	struct tloop_run *runs;
	struct copy_pool pool;
	int pool_ready;
	struct copy_src src;	/* the backing file, when it may be read instead */
};

static const struct {
	const char *name;
	const char *text;
} why_tab[] = {
	[TLOOP_SYNC_WHY_INCREMENTAL] = { "incremental", "written pages since the last refresh" },
	[TLOOP_SYNC_WHY_NO_BASELINE] = { "no-baseline", "area2 has no baseline (first refresh)" },
	[TLOOP_SYNC_WHY_NEW_AREA2] = { "new-area2", "area2 was just created or resized" },
	[TLOOP_SYNC_WHY_OTHER_DEVICE] = { "other-attachment",
					  "area2's baseline is of another attachment" },
	[TLOOP_SYNC_WHY_GENERATION] = { "generation",
					"the written set was cleared or tracking toggled since the last refresh" },
	[TLOOP_SYNC_WHY_GEOMETRY] = { "geometry", "device or page size changed" },
	[TLOOP_SYNC_WHY_TRACK_OFF] = { "tracking-off", "tracking is off" },
	[TLOOP_SYNC_WHY_OVERFLOW] = { "overflow", "the written set overflowed" },
	[TLOOP_SYNC_WHY_CONCURRENT] = { "concurrent-clear",
					"another consumer cleared the set during the refresh" },
	[TLOOP_SYNC_WHY_REQUESTED] = { "requested", "a full copy was requested" },
	[TLOOP_SYNC_WHY_DENSE] = { "dense",
				   "so much was written that a full copy is faster" },
	[TLOOP_SYNC_WHY_OTHER_CONSUMER] = { "other-consumer",
					    "area2's baseline follows another consumer" },
};

const char *tloop_sync_why_str(enum tloop_sync_why why)
{
	if ((unsigned int)why >= sizeof(why_tab) / sizeof(why_tab[0]))
		return "unknown";
	return why_tab[why].text;
}

const char *tloop_sync_why_name(enum tloop_sync_why why)
{
	if ((unsigned int)why >= sizeof(why_tab) / sizeof(why_tab[0]))
		return "unknown";
	return why_tab[why].name;
}

/* fail() - record what failed in res->msg, log it, and return @err. */
#define fail(c, err, ...) \
	tloop_fail((c)->res->msg, sizeof((c)->res->msg), (c)->dev, (err), __VA_ARGS__)

/*
 * read_full() - read from the device; an O_DIRECT read refused with EINVAL
 * switches every copy, in every thread, to the buffered descriptor.
 */
static int read_full(struct sync_ctx *c, void *buf, size_t len, uint64_t off)
{
	size_t done = 0;

	while (done < len) {
		int direct = atomic_load(&c->direct);
		ssize_t n = pread(direct ? c->rfd : c->bfd, (char *)buf + done, len - done,
				  (off_t)(off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EINVAL && direct && c->bfd != c->rfd) {
			if (atomic_exchange(&c->direct, 0))
				tloop_log(TLOOP_LOG_INFO, "%s: O_DIRECT read refused; "
					  "reading buffered", c->dev);
			continue;
		}
		if (n < 0)
			return -errno;
		if (!n)
			return -EIO;	/* the device is shorter than it says */
		done += (size_t)n;
	}
	return 0;
}

/*
 * copy_one() - copy [@off, @off + @len) to area2: from the backing file when
 * c->src has it (copy.c), the rest (all, without it) read from the device
 * into @buf and written.
 */
static int copy_one(struct sync_ctx *c, void *buf, uint64_t off, uint64_t len, int *is_write)
{
	int64_t done = copy_src_run(&c->src, c->wfd, buf, off, len, is_write);
	int ret;

	if (done < 0)
		return (int)done;
	off += (uint64_t)done;
	len -= (uint64_t)done;
	if (!len)
		return 0;
	*is_write = 0;
	ret = read_full(c, buf, (size_t)len, off);
	if (ret)
		return ret;
	*is_write = 1;
	return tloop_pwrite_full(c->wfd, buf, (size_t)len, off);
}

static void *pool_worker(void *arg)
{
	struct copy_pool *p = arg;
	struct sync_ctx *c = p->c;
	void *buf = NULL;
	int alloc_err;

	alloc_err = posix_memalign(&buf, IO_ALIGN > c->res->page_size ? IO_ALIGN :
				   c->res->page_size, (size_t)c->max_io) ? -ENOMEM : 0;
	pthread_mutex_lock(&p->lock);
	for (;;) {
		struct copy_job j;
		int ret = 0, is_write = 0;

		while (!p->count && !p->stop)
			pthread_cond_wait(&p->more, &p->lock);
		if (!p->count)
			break;
		j = p->q[p->head];
		p->head = (p->head + 1) % p->cap;
		p->count--;
		p->busy++;
		if (!p->err) {
			pthread_mutex_unlock(&p->lock);
			ret = alloc_err ? alloc_err : copy_one(c, buf, j.off, j.len, &is_write);
			pthread_mutex_lock(&p->lock);
			if (ret && !p->err) {
				p->err = ret;
				p->err_write = is_write;
				p->err_off = j.off;
			} else if (!ret) {
				p->bytes += j.len;
			}
		}
		p->busy--;
		pthread_cond_broadcast(&p->done);
	}
	pthread_mutex_unlock(&p->lock);
	free(buf);
	return NULL;
}

static int pool_init(struct sync_ctx *c)
{
	struct copy_pool *p = &c->pool;

	memset(p, 0, sizeof(*p));
	p->c = c;
	p->max = c->depth;
	p->cap = c->depth;
	p->q = calloc(p->cap, sizeof(*p->q));
	p->tids = calloc(p->max, sizeof(*p->tids));
	if (!p->q || !p->tids) {
		free(p->q);
		free(p->tids);
		return -ENOMEM;
	}
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->more, NULL);
	pthread_cond_init(&p->done, NULL);
	c->pool_ready = 1;
	return 0;
}

/* pool_destroy() - stop and join the threads (nothing is queued by then). */
static void pool_destroy(struct sync_ctx *c)
{
	struct copy_pool *p = &c->pool;
	unsigned int i;

	if (!c->pool_ready)
		return;
	pthread_mutex_lock(&p->lock);
	p->stop = 1;
	p->count = 0;
	pthread_cond_broadcast(&p->more);
	pthread_mutex_unlock(&p->lock);
	for (i = 0; i < p->nthreads; i++)
		pthread_join(p->tids[i], NULL);
	pthread_cond_destroy(&p->done);
	pthread_cond_destroy(&p->more);
	pthread_mutex_destroy(&p->lock);
	free(p->q);
	free(p->tids);
	c->pool_ready = 0;
}

static void report_progress(struct sync_ctx *c, uint64_t bytes)
{
	if (bytes > c->total)
		c->total = bytes;
	if (c->o.progress)
		c->o.progress(bytes, c->total, c->o.progress_arg);
}

/*
 * pool_fail() - the message of the pool's first error (after pool_drain()).
 */
static int pool_fail(struct sync_ctx *c)
{
	struct copy_pool *p = &c->pool;

	if (p->err_write)
		return fail(c, p->err, "write %s at offset %" PRIu64, c->area2, p->err_off);
	return fail(c, p->err, "read %s at offset %" PRIu64, c->dev, p->err_off);
}

/*
 * pool_drain() - wait until every queued copy is finished; the copied bytes
 * go to res->bytes.  Return: 0 or the first error of any copy (its message
 * in res->msg).
 */
static int pool_drain(struct sync_ctx *c)
{
	struct copy_pool *p = &c->pool;
	int err;

	if (c->depth <= 1)
		return 0;
	pthread_mutex_lock(&p->lock);
	while (p->count || p->busy) {
		pthread_cond_wait(&p->done, &p->lock);
		if (c->o.progress && !p->err) {
			uint64_t b = p->bytes;

			pthread_mutex_unlock(&p->lock);
			report_progress(c, b);
			pthread_mutex_lock(&p->lock);
		}
	}
	err = p->err;
	c->res->bytes = p->bytes;
	pthread_mutex_unlock(&p->lock);
	return err ? pool_fail(c) : 0;
}

/*
 * copy_bytes() - copy [@off, @off + @len) of the device to area2: in the
 * calling thread with depth 1, otherwise queued in pieces of at most
 * max_io.  Return: 0 or -errno; with depth > 1, an error may also be one of
 * an earlier queued copy (the caller drains the pool to learn which).
 */
static int copy_bytes(struct sync_ctx *c, uint64_t off, uint64_t len)
{
	struct copy_pool *p = &c->pool;

	while (len) {
		uint64_t n = len < c->max_io ? len : c->max_io;
		int ret, is_write;

		if (c->depth <= 1) {
			ret = copy_one(c, c->buf, off, n, &is_write);
			if (ret && is_write)
				return fail(c, ret, "write %s at offset %" PRIu64, c->area2, off);
			if (ret)
				return fail(c, ret, "read %s at offset %" PRIu64, c->dev, off);
			c->res->bytes += n;
			report_progress(c, c->res->bytes);
		} else {
			uint64_t b;

			pthread_mutex_lock(&p->lock);
			while (p->count == p->cap && !p->err)
				pthread_cond_wait(&p->done, &p->lock);
			ret = p->err;
			if (!ret && p->nthreads < p->max && p->count + p->busy >= p->nthreads) {
				int err = pthread_create(&p->tids[p->nthreads], NULL, pool_worker, p);

				if (!err) {
					p->nthreads++;
				} else if (!p->nthreads) {
					pthread_mutex_unlock(&p->lock);
					return fail(c, -err, "start a copy thread");
				}
				/* else: carry on with the threads there are */
			}
			if (!ret) {
				p->q[(p->head + p->count) % p->cap] = (struct copy_job){ off, n };
				p->count++;
				pthread_cond_signal(&p->more);
			}
			b = p->bytes;
			pthread_mutex_unlock(&p->lock);
			if (ret)
				return ret;
			report_progress(c, b);
		}
		off += n;
		len -= n;
	}
	return 0;
}

/* copy_run() - copy @count pages from page @start, clipped to the device. */
static int copy_run(struct sync_ctx *c, uint64_t start, uint64_t count)
{
	uint64_t ps = c->res->page_size;
	uint64_t off, len;

	if (start >= c->nr_pages)
		return 0;
	if (count > c->nr_pages - start)
		count = c->nr_pages - start;
	off = start * ps;
	len = count * ps;
	if (len > c->res->dev_size - off)
		len = c->res->dev_size - off;
	c->res->runs++;
	return copy_bytes(c, off, len);
}

/*
 * full_copy() - clear the whole set first (a write racing the copy then
 * stays in the set), then copy every page.  Copies of an incremental walk
 * still in flight are finished first, so none of them can land after the
 * full copy's write of the same range.
 */
static int full_copy(struct sync_ctx *c, enum tloop_sync_why why)
{
	uint64_t gen = 0;
	int ret;

	ret = pool_drain(c);
	if (ret)
		return ret;
	c->res->full = 1;
	c->res->why = why;
	c->res->generation = 0;
	if (c->tracking) {
		ret = tloop_consumer_clear(c->fd, c->consumer, TLOOP_CLEAR_ALL, 0, 0, &gen);
		if (ret == -ENODATA) {
			c->tracking = 0;
			c->res->why = TLOOP_SYNC_WHY_TRACK_OFF;
		} else if (ret) {
			return fail(c, ret, "clear the written set of %s", c->dev);
		}
	}
	c->total = c->res->bytes + c->res->dev_size;
	c->res->pages += c->nr_pages;
	ret = copy_run(c, 0, c->nr_pages);
	if (!ret || c->depth > 1) {
		int dret = pool_drain(c);

		ret = dret ? dret : ret;
	}
	if (ret)
		return ret;
	if (c->tracking)
		c->res->generation = gen;
	return 0;
}

/*
 * plan_gaps() - coalesce the ascending page indices of one batch into runs
 * of at most @max_pages, reading across gaps of up to c->max_gap unwritten
 * pages.  Return: the number of runs; *@written: distinct pages.
 *
 * Copying an unwritten page of a gap is harmless: under a valid baseline
 * area2 already equals the device there, unless the page was written after
 * the walk passed it, and then it is in the set again for the next refresh
 * (exactly like a written page rewritten during its copy).
 */
static size_t plan_gaps(struct sync_ctx *c, const uint64_t *pages, size_t n,
			uint64_t max_pages, uint64_t *written)
{
	struct tloop_run *runs = c->runs;
	size_t nr = 0, i;

	*written = 0;
	for (i = 0; i < n; i++) {
		uint64_t p = pages[i];
		struct tloop_run *r = nr ? &runs[nr - 1] : NULL;
		uint64_t end = r ? r->start + r->count : 0;

		if (r && p >= r->start && p < end)
			continue;	/* a repeat: already covered */
		(*written)++;
		if (r && p >= end && p - end <= c->max_gap && p - r->start < max_pages) {
			r->count = p + 1 - r->start;
			continue;
		}
		runs[nr].start = p;
		runs[nr].count = 1;
		nr++;
	}
	return nr;
}

/*
 * copy_batch() - the walk's callback: queue the copies of one batch,
 * coalesced into runs.  The walk's cursor only moves forward, so the runs
 * of two batches never overlap: copies of several batches may be in flight
 * at once while the next batch is fetched (and cleared).
 */
static int copy_batch(const uint64_t *pages, size_t n, void *arg)
{
	struct sync_ctx *c = arg;
	uint64_t written;
	size_t nr, i;
	int ret;

	nr = plan_gaps(c, pages, n, c->max_io / c->res->page_size, &written);
	c->res->pages += written;
	for (i = 0; i < nr; i++) {
		ret = copy_run(c, c->runs[i].start, c->runs[i].count);
		if (ret)
			return ret;
	}
	return 0;
}

/*
 * incremental() - get-and-clear the written set batch by batch and queue the
 * copies of each batch before asking for the next (tloop_walk() with
 * TLOOP_GET_CLEAR); every copy is finished before this returns.
 * Falls back to a full copy if the set overflowed, tracking went off, or
 * the generation shows another clear than ours.
 */
static int incremental(struct sync_ctx *c, uint64_t generation)
{
	struct tloop_walk wk = {
		.flags = TLOOP_GET_CLEAR,
		.buf = c->pages,
		.batch = c->o.batch,
		.check_generation = 1,
		.generation = generation,
		.consumer = c->consumer,
	};
	struct tloop_walk_result r;
	enum tloop_walk_stop stop;
	int ret, dret;

	c->res->full = 0;
	c->res->why = TLOOP_SYNC_WHY_INCREMENTAL;
	ret = tloop_walk(c->fd, &wk, copy_batch, c, &r, &stop);
	c->res->calls += r.calls;
	/* Whatever stopped the walk, the copies queued so far finish first. */
	dret = pool_drain(c);
	if (dret)
		return dret;
	switch (stop) {
	case TLOOP_WALK_DONE:
		c->res->generation = r.generation;
		return 0;
	case TLOOP_WALK_CALLBACK:
		return ret;	/* copy_bytes() said what failed */
	case TLOOP_WALK_OVERFLOW:
		return full_copy(c, TLOOP_SYNC_WHY_OVERFLOW);
	case TLOOP_WALK_CONCURRENT:
		tloop_log(TLOOP_LOG_INFO, "%s: the written set was cleared by someone else",
			  c->dev);
		return full_copy(c, TLOOP_SYNC_WHY_CONCURRENT);
	case TLOOP_WALK_PROTOCOL:
		return fail(c, ret, "%s broke the TLOOP_GET_WRITTEN protocol", c->dev);
	case TLOOP_WALK_IOCTL:
		break;
	}
	if (ret == -ENODATA) {
		c->tracking = 0;
		return full_copy(c, TLOOP_SYNC_WHY_TRACK_OFF);
	}
	if (ret == -EIO || ret == -ENOSPC || ret == -EDQUOT)
		return fail(c, ret, "write back the page cache of %s to its backing file", c->dev);
	return fail(c, ret, "get the written set of %s", c->dev);
}

/*
 * consistent() - TLOOP_SYNC_CONSISTENT: copy a snapshot of one instant
 * (snap.c) instead of the live set: the written pages when the baseline
 * allows it (@why incremental or dense), every page otherwise.
 */
static int consistent(struct sync_ctx *c, enum tloop_sync_why why, uint64_t generation)
{
	int written = why == TLOOP_SYNC_WHY_INCREMENTAL || why == TLOOP_SYNC_WHY_DENSE;
	struct tloop_snap_refresh_opts o = {
		.all = !written, .check_generation = written, .generation = generation,
		.mem_limit = c->o.snap_mem_limit, .freeze = c->o.freeze, .batch = c->o.batch,
		.page_size = c->res->page_size, .dev_size = c->res->dev_size,
	};
	struct tloop_snap_refresh_result r;
	int ret;

	ret = tloop_snap_refresh(c->fd, c->wfd, &o, &r);
	c->res->full = r.all;
	if (r.concurrent)
		c->res->why = TLOOP_SYNC_WHY_CONCURRENT;
	else if (r.all && written)
		c->res->why = TLOOP_SYNC_WHY_OVERFLOW;
	else
		c->res->why = r.all ? why : TLOOP_SYNC_WHY_INCREMENTAL;
	c->res->pages = r.pages;
	c->res->bytes = r.bytes;
	c->res->snap_generation = r.generation;
	c->res->preserved = r.preserved;
	c->res->snap_mem_peak = r.mem_peak;
	if (ret == -ENOTTY)
		ret = -EOPNOTSUPP;	/* a module without TLOOP_FEAT_SNAPSHOT */
	if (ret)
		return fail(c, ret, "%s", r.msg);
	c->res->consistent = 1;
	c->res->generation = r.generation;
	return 0;
}

/* area2_size() - size of a regular file or block device. */
static int area2_size(int fd, const struct stat *st, uint64_t *size)
{
	if (S_ISREG(st->st_mode)) {
		*size = (uint64_t)st->st_size;
		return 0;
	}
	return ioctl(fd, BLKGETSIZE64, size) < 0 ? -errno : 0;
}

/*
 * open_area2() - open area2 for writing and refuse what would be wrong: the
 * device itself, its backing file, another tloop device on the same backing
 * file, anything not a regular file or block device, the wrong size.
 * Changes nothing: a missing area2 (with TLOOP_SYNC_CREATE) is only noted in
 * *@create, a wrong size (with TLOOP_SYNC_RESIZE) in *@resize; prepare_area2()
 * acts on them once the baseline is gone.
 */
static int open_area2(struct sync_ctx *c, const struct tloop_info *info, const struct stat *dst,
		      int *create, int *resize)
{
	struct tloop_info other;
	struct stat st;
	uint64_t size;
	int ret;

	*create = 0;
	*resize = 0;
	c->wfd = open(c->area2, O_WRONLY | O_CLOEXEC);
	if (c->wfd < 0 && errno == ENOENT && (c->o.flags & TLOOP_SYNC_CREATE)) {
		*create = 1;
		return 0;
	}
	if (c->wfd < 0) {
		ret = -errno;
		if (ret == -ENOENT)
			return fail(c, ret, "open %s (use --create to create it)", c->area2);
		return fail(c, ret, "open %s", c->area2);
	}
	if (fstat(c->wfd, &st) < 0)
		return fail(c, -errno, "stat %s", c->area2);
	/* Two refreshes of one area2 at once could leave an old copy last. */
	if (flock(c->wfd, LOCK_EX | LOCK_NB) < 0)
		return fail(c, -errno, "%s is being refreshed by another process", c->area2);
	if (S_ISBLK(st.st_mode)) {
		if (st.st_rdev == dst->st_rdev)
			return fail(c, -EINVAL, "%s is the device itself", c->area2);
		if (!tloop_get_info(c->wfd, &other, NULL, 0) &&
		    other.backing_dev == info->backing_dev &&
		    other.backing_ino == info->backing_ino)
			return fail(c, -EINVAL, "%s is backed by the same file as %s", c->area2,
				    c->dev);
	} else if (S_ISREG(st.st_mode)) {
		if ((uint64_t)st.st_dev == info->backing_dev &&
		    (uint64_t)st.st_ino == info->backing_ino)
			return fail(c, -EINVAL, "%s is the backing file of %s", c->area2, c->dev);
	} else {
		return fail(c, -EINVAL, "%s is not a regular file or block device", c->area2);
	}
	ret = area2_size(c->wfd, &st, &size);
	if (ret)
		return fail(c, ret, "size of %s", c->area2);
	if (size == info->dev_size)
		return 0;
	if (!S_ISREG(st.st_mode) || !(c->o.flags & TLOOP_SYNC_RESIZE))
		return fail(c, -EINVAL, "%s is %" PRIu64 " bytes, %s is %" PRIu64
			    " bytes (use --resize)", c->area2, size, c->dev,
			    (uint64_t)info->dev_size);
	*resize = 1;
	return 0;
}

/*
 * check_dir() - the directory of area2 (where its baseline lives, and where
 * a missing area2 is created) must let us create and delete files there.
 */
static int check_dir(struct sync_ctx *c)
{
	char copy[PATH_MAX];

	if (strlen(c->area2) >= sizeof(copy))
		return fail(c, -ENAMETOOLONG, "%s", c->area2);
	strcpy(copy, c->area2);
	if (faccessat(AT_FDCWD, dirname(copy), W_OK | X_OK, AT_EACCESS) < 0)
		return fail(c, -errno, "cannot create or remove files next to %s", c->area2);
	return 0;
}

/*
 * may_clear() - whether the kernel will let us clear the written set: the
 * device is open for writing, or we have CAP_SYS_ADMIN (the kernel checks
 * it in the initial user namespace; a refusal there is still caught, after
 * the baseline is gone, and only costs the next refresh a full copy).
 */
static int may_clear(int fd)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3];
	int fl = fcntl(fd, F_GETFL);

	if (fl >= 0 && (fl & O_ACCMODE) != O_RDONLY)
		return 1;
	memset(d, 0, sizeof(d));
	if (syscall(SYS_capget, &h, d) < 0)
		return 1;	/* unknown: let the kernel decide */
	return !!(d[CAP_TO_INDEX(CAP_SYS_ADMIN)].effective & CAP_TO_MASK(CAP_SYS_ADMIN));
}

/* dfail() - tloop_fail() into @res->msg, about @dev. */
#define dfail(res, dev, err, ...) \
	tloop_fail((res)->msg, sizeof((res)->msg), (dev), (err), __VA_ARGS__)

int tloop_sync_open_dev(const char *dev, const char *consumer, struct tloop_sync_dev *d,
			struct tloop_sync_result *res)
{
	struct tloop_track_status *ts = &d->ts;
	int ret;

	memset(d, 0, sizeof(*d));
	d->fd = tloop_dev_open_ctl(dev);
	if (d->fd < 0)
		return dfail(res, dev, d->fd, "open %s", dev);
	if (fstat(d->fd, &d->st) < 0) {
		ret = dfail(res, dev, -errno, "stat %s", dev);
		goto out;
	}
	ret = tloop_get_info(d->fd, &d->info, NULL, 0);
	if (ret) {
		ret = dfail(res, dev, ret, "get the configuration of %s", dev);
		goto out;
	}
	ret = tloop_consumer_lookup(d->fd, consumer, &d->consumer);
	if (ret) {
		ret = dfail(res, dev, ret, ret == -ENOENT ? "%s has no consumer %s" :
			    ret == -EOPNOTSUPP ?
			    "%s: the tloop module has no named consumers (%s)" :
			    "look up the consumer of %s named %s", dev, consumer);
		goto out;
	}
	res->consumer_id = d->consumer;
	snprintf(res->consumer, sizeof(res->consumer), "%s",
		 d->consumer ? consumer : TLOOP_CONSUMER_DEFAULT);
	ret = tloop_consumer_status(d->fd, d->consumer, ts);
	if (ret) {
		ret = dfail(res, dev, ret, "get the tracking status of %s (consumer %s)", dev,
			    res->consumer);
		goto out;
	}
	if (!ts->page_size || !d->info.dev_size) {
		ret = dfail(res, dev, -EPROTO, "%s reports page size %u, size %llu", dev,
			    ts->page_size, (unsigned long long)d->info.dev_size);
		goto out;
	}
	res->dev_size = d->info.dev_size;
	res->page_size = ts->page_size;
	res->attach_id = d->info.attach_id;
	d->nr_pages = (d->info.dev_size + ts->page_size - 1) / ts->page_size;
	d->tracking = !!(ts->flags & TLOOP_TRACK_ON);
	if (d->tracking && !may_clear(d->fd)) {
		ret = dfail(res, dev, -EPERM, "no right to clear the written set of %s "
			    "(it needs write access to the device, or CAP_SYS_ADMIN)", dev);
		goto out;
	}
	return 0;
out:
	close(d->fd);
	d->fd = -1;
	return ret;
}

int tloop_sync_check_consistent(const char *dev, unsigned int flags,
				const struct tloop_sync_dev *d, struct tloop_sync_result *res)
{
	if (!(flags & TLOOP_SYNC_CONSISTENT))
		return 0;
	if (!d->tracking)
		return dfail(res, dev, -ENODATA, "a point-in-time refresh needs tracking on %s",
			     dev);
	/* A snapshot moves the default consumer's set (TLOOP_SNAP_CREATE). */
	if (d->consumer)
		return dfail(res, dev, -EOPNOTSUPP, "--consistent works on the default consumer "
			     "only, not on consumer %s", res->consumer);
	return 0;
}

void tloop_sync_baseline_init(const struct tloop_sync_dev *d,
			      const struct tloop_sync_result *res, struct tloop_baseline *b)
{
	memset(b, 0, sizeof(*b));
	b->attach_id = d->info.attach_id;
	b->dev_size = d->info.dev_size;
	b->page_size = d->ts.page_size;
	b->consumer_id = d->consumer;
	if (d->consumer)
		memcpy(b->consumer, res->consumer, sizeof(b->consumer));
}

/*
 * prepare_area2() - after the baseline is durably gone: create a missing
 * area2, or set the size of one of the wrong size.  Size changes become
 * durable with the fdatasync at the end of the refresh.
 */
static int prepare_area2(struct sync_ctx *c, uint64_t dev_size, int create, int resize)
{
	if (create) {
		c->wfd = open(c->area2, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (c->wfd < 0)
			return fail(c, -errno, "create %s", c->area2);
		if (flock(c->wfd, LOCK_EX | LOCK_NB) < 0)
			return fail(c, -errno, "%s is being refreshed by another process",
				    c->area2);
	}
	if ((create || resize) && ftruncate(c->wfd, (off_t)dev_size) < 0)
		return fail(c, -errno, "resize %s to %" PRIu64 " bytes", c->area2, dev_size);
	return 0;
}

/*
 * setup_buffers() - buffers, and the copy threads' queue for @pages pages
 * to copy: without an explicit depth, one thread per PAGES_PER_THREAD
 * pages at most (starting a thread costs about as much as copying that
 * many pages one after another under TCG; see doc/benchmarks.md), and a
 * small refresh runs in the calling thread.
 */
static int setup_buffers(struct sync_ctx *c, uint64_t pages)
{
	uint64_t ps = c->res->page_size;
	int ret;

	c->o.batch = tloop_walk_batch(c->o.batch);
	c->max_io = c->o.max_io ? c->o.max_io : DEFAULT_MAX_IO;
	c->max_io -= c->max_io % ps;
	if (!c->max_io)
		c->max_io = ps;
	c->depth = c->o.depth ? c->o.depth : DEFAULT_DEPTH;
	/*
	 * From the backing file a copy costs a memory copy or a clone in the
	 * kernel, no request through the device: threads only add their start
	 * and their buffers (make bench-sync: 0.036 s with one, 0.21 s with 8,
	 * at 1 % of 256 MiB on 6.12).
	 */
	if (!c->o.depth && c->src.fd >= 0)
		c->depth = 1;
	if (c->depth > MAX_DEPTH)
		c->depth = MAX_DEPTH;
	if (!c->o.depth && c->depth > pages / PAGES_PER_THREAD)
		c->depth = pages / PAGES_PER_THREAD > 1 ? (unsigned int)(pages / PAGES_PER_THREAD) : 1;
	/* At most MAX_BUFFERS bytes of buffers in flight, whatever max_io is. */
	if (c->depth > 1 && c->depth * c->max_io > MAX_BUFFERS)
		c->depth = c->max_io >= MAX_BUFFERS / 2 ? 1 : (unsigned int)(MAX_BUFFERS / c->max_io);
	/*
	 * The gap read across to save a request: through the device a request
	 * costs about 170 us under TCG, a 4 KiB page a few: 64 KiB.  From the
	 * backing file a run costs one copy_file_range(2), about 5.5 us plus
	 * 3.7 us per page (tmpfs, 6.12, TCG; doc/benchmarks.md): a gap of more
	 * than a page or two costs more than the call it saves, and at 10 %
	 * random pages of 1 GiB 8 KiB took half the time of 64 KiB.
	 */
	if (!c->o.max_gap)
		c->max_gap = (c->src.fd >= 0 ? DEFAULT_MAX_GAP_BACKING : DEFAULT_MAX_GAP) / ps;
	else
		c->max_gap = c->o.max_gap / ps;
	if (c->o.flags & TLOOP_SYNC_NO_GAPS)
		c->max_gap = 0;
	if (c->depth <= 1 &&
	    posix_memalign(&c->buf, IO_ALIGN > ps ? IO_ALIGN : ps, (size_t)c->max_io))
		return fail(c, -ENOMEM, "allocate %" PRIu64 " bytes", c->max_io);
	c->pages = calloc(c->o.batch, sizeof(*c->pages));
	c->runs = calloc(c->o.batch, sizeof(*c->runs));
	if (!c->pages || !c->runs)
		return fail(c, -ENOMEM, "allocate a batch of %u pages", c->o.batch);
	if (c->depth > 1) {
		ret = pool_init(c);
		if (ret)
			return fail(c, ret, "allocate a queue of %u copies", c->depth);
	}
	return 0;
}

/*
 * dense() - with a valid baseline, whether so much is written that one full
 * sequential copy costs less than the incremental one (the count is the
 * set's size before the walk; see full_pct in struct tloop_sync_opts).
 */
static int dense(struct sync_ctx *c, const struct tloop_track_status *ts)
{
	unsigned int pct = c->o.full_pct ? c->o.full_pct : DEFAULT_FULL_PCT;

	if (c->o.flags & TLOOP_SYNC_NO_AUTO_FULL)
		return 0;
	return (double)ts->written * 100.0 >= (double)c->nr_pages * pct;
}

/*
 * tloop_sync_decide() - which kind of refresh the baseline at @baseline
 * allows (both engines): tracking off or overflowed, @created area2, a
 * requested full copy (TLOOP_SYNC_FULL in @flags), no baseline, or one of
 * another attachment, @consumer, geometry or generation than @res and @ts
 * mean a full copy; else *@generation is the baseline's.
 */
enum tloop_sync_why tloop_sync_decide(const char *baseline, const struct tloop_track_status *ts,
				      const struct tloop_sync_result *res, uint32_t consumer,
				      unsigned int flags, int created, uint64_t *generation)
{
	struct tloop_baseline b;
	int ret;

	if (!(ts->flags & TLOOP_TRACK_ON))
		return TLOOP_SYNC_WHY_TRACK_OFF;
	if (ts->flags & TLOOP_TRACK_OVERFLOW)
		return TLOOP_SYNC_WHY_OVERFLOW;
	if (created)
		return TLOOP_SYNC_WHY_NEW_AREA2;
	if (flags & TLOOP_SYNC_FULL)
		return TLOOP_SYNC_WHY_REQUESTED;
	ret = tloop_baseline_load(baseline, &b);
	if (ret)
		return TLOOP_SYNC_WHY_NO_BASELINE;
	if (b.attach_id != res->attach_id)
		return TLOOP_SYNC_WHY_OTHER_DEVICE;
	/* Ids are never reused on a device: a consumer added again differs. */
	if (b.consumer_id != consumer)
		return TLOOP_SYNC_WHY_OTHER_CONSUMER;
	if (b.dev_size != res->dev_size || b.page_size != res->page_size)
		return TLOOP_SYNC_WHY_GEOMETRY;
	if (b.generation != ts->generation)
		return TLOOP_SYNC_WHY_GENERATION;
	*generation = b.generation;
	return TLOOP_SYNC_WHY_INCREMENTAL;
}

/*
 * tloop_sync() - the order of a refresh is what makes it crash-safe (see
 * doc/design.md, "Crash safety of a refresh"):
 *   1. every check that can refuse, with nothing changed yet;
 *   2. the baseline removed durably (unlink, fsync of its directory);
 *   3. area2 created or resized if asked;
 *   4. the written set cleared batch by batch, each batch's copies queued
 *      (several in flight), all of them finished before 5;
 *   5. area2 made durable (fdatasync) and closed, both checked;
 *   6. the new baseline written durably (temporary file, fsync, rename,
 *      fsync of the directory).
 * A crash or an error anywhere in 2-6 leaves no baseline, so the next
 * refresh copies everything; a baseline exists only after area2's data is
 * on stable storage.
 */
int tloop_sync(const char *dev, const char *area2, const struct tloop_sync_opts *opts,
	       struct tloop_sync_result *res)
{
	struct sync_ctx c = { .dev = dev, .area2 = area2, .res = res, .fd = -1, .rfd = -1,
			      .bfd = -1, .wfd = -1 };
	struct tloop_sync_dev d = { .fd = -1 };
	char why_dev[PATH_MAX + 64];
	enum tloop_sync_why why;
	uint64_t generation = 0;
	double t0 = tloop_now();
	int create, resize, lockfd = -1, ret;

	/* The NBD target has its own engine (nbd.c), with the same order. */
	if (tloop_is_nbd_uri(area2))
		return tloop_sync_nbd(dev, area2, opts, res);

	memset(res, 0, sizeof(*res));
	copy_src_init(&c.src);
	if (opts) {
		size_t n = opts->sz < sizeof(c.o) ? opts->sz : sizeof(c.o);

		memcpy(&c.o, opts, n);
	}
	if (c.o.via > TLOOP_SYNC_VIA_REFLINK) {
		ret = fail(&c, -EINVAL, "unknown source %u", c.o.via);
		goto out;
	}

	ret = tloop_sync_open_dev(dev, c.o.consumer, &d, res);
	if (ret)
		goto out;
	c.fd = d.fd;
	c.consumer = d.consumer;
	c.nr_pages = d.nr_pages;
	c.tracking = d.tracking;

	/* 1. Every check that can refuse happens before anything is changed. */
	ret = open_area2(&c, &d.info, &d.st, &create, &resize);
	if (ret)
		goto out;
	ret = check_dir(&c);
	if (ret)
		goto out;
	ret = tloop_sync_check_consistent(dev, c.o.flags, &d, res);
	if (ret)
		goto out;
	why = tloop_sync_decide(area2, &d.ts, res, c.consumer, c.o.flags, create || resize,
				&generation);
	if (why == TLOOP_SYNC_WHY_INCREMENTAL && dense(&c, &d.ts))
		why = TLOOP_SYNC_WHY_DENSE;
	/* --consistent copies from its snapshot (snap.c), never from here. */
	if (!(c.o.flags & TLOOP_SYNC_CONSISTENT) &&
	    copy_src_open(&c.src, (enum tloop_sync_via)c.o.via, c.fd, &d.st, why_dev,
			  sizeof(why_dev)))
		tloop_log(c.o.via == TLOOP_SYNC_VIA_AUTO ? TLOOP_LOG_DEBUG : TLOOP_LOG_INFO,
			  "%s: reading the device, not its backing file: %s", dev, why_dev);
	ret = setup_buffers(&c, why == TLOOP_SYNC_WHY_INCREMENTAL ? d.ts.written : c.nr_pages);
	if (ret)
		goto out;
	ret = tloop_open_read(dev, !!(c.o.flags & TLOOP_SYNC_BUFFERED), &c.rfd, &c.bfd);
	if (ret) {
		ret = fail(&c, ret, "open %s for reading", dev);
		goto out;
	}
	atomic_store(&c.direct, c.rfd != c.bfd);

	/* 2. From here on area2 and the set change: no baseline until done. */
	ret = tloop_baseline_remove(area2);
	if (ret) {
		ret = fail(&c, ret, "remove the baseline of %s", area2);
		goto out;
	}
	/* 3. */
	ret = prepare_area2(&c, d.info.dev_size, create, resize);
	if (ret)
		goto out;
	copy_src_area2(&c.src, c.wfd);
	res->via = c.src.via;
	/* The lock lives on in lockfd while area2 is closed (and checked) below. */
	lockfd = dup(c.wfd);
	if (lockfd < 0) {
		ret = fail(&c, -errno, "dup %s", area2);
		goto out;
	}
	/* 4. */
	c.total = why == TLOOP_SYNC_WHY_INCREMENTAL ? d.ts.written * d.ts.page_size :
						      d.info.dev_size;
	if (c.o.flags & TLOOP_SYNC_CONSISTENT)
		ret = consistent(&c, why, generation);
	else if (why == TLOOP_SYNC_WHY_INCREMENTAL)
		ret = incremental(&c, generation);
	else
		ret = full_copy(&c, why);
	if (ret)
		goto out;

	/* 5. A write-back error shows here (or at close): then no baseline. */
	if (!(c.o.flags & TLOOP_SYNC_UNSAFE_NO_FSYNC) && fdatasync(c.wfd) < 0) {
		ret = fail(&c, -errno, "flush %s to stable storage", area2);
		goto out;
	}
	ret = close(c.wfd);
	c.wfd = -1;
	if (ret < 0) {
		ret = fail(&c, -errno, "close %s", area2);
		goto out;
	}
	/* 6. */
	if (c.tracking) {
		struct tloop_baseline b;

		tloop_sync_baseline_init(&d, res, &b);
		b.generation = res->generation;
		ret = tloop_baseline_store(area2, &b);
		if (ret) {
			ret = fail(&c, ret, "record the baseline of %s", area2);
			goto out;
		}
		res->baseline = 1;
	}
	ret = 0;
out:
	pool_destroy(&c);
	if (c.src.via == TLOOP_SYNC_VIA_REFLINK && !atomic_load(&c.src.reflink))
		res->via = TLOOP_SYNC_VIA_BACKING;	/* the filesystem refused to clone */
	res->bytes_reflink = atomic_load(&c.src.bytes_reflink);
	res->bytes_copy_range = atomic_load(&c.src.bytes_cfr);
	res->bytes_backing_read = atomic_load(&c.src.bytes_read);
	copy_src_close(&c.src);
	res->direct = atomic_load(&c.direct);
	res->seconds = tloop_now() - t0;
	free(c.runs);
	free(c.pages);
	free(c.buf);
	if (c.wfd >= 0)
		close(c.wfd);
	if (lockfd >= 0)
		close(lockfd);
	if (c.rfd >= 0 && c.rfd != c.bfd)
		close(c.rfd);
	if (c.bfd >= 0)
		close(c.bfd);
	if (c.fd >= 0)
		close(c.fd);
	return ret;
}
