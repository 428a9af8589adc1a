// SPDX-License-Identifier: GPL-2.0
/*
 * sync.c - the area2 refresh engine: copy the pages written to a tloop
 * device (area1) into a plain copy of it (area2), using the written set's
 * get-and-clear so that each refresh copies only what changed.
 *
 * Invariant: while "<area2>.tloop" names the device's attach_id and its
 * current generation, area2 equals the device except for the pages in the
 * written set.  Every path that could break that (a failure after clearing
 * began, tracking off) deletes the sidecar first, and a missing sidecar
 * means a full copy.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#define DEFAULT_MAX_IO	(1U << 20)
#define DEFAULT_BATCH	16384U
#define IO_ALIGN	4096U

struct sync_ctx {
	const char *dev;
	const char *area2;
	struct tloop_sync_opts o;
	struct tloop_sync_result *res;
	int fd;			/* device, for ioctls */
	int rfd;		/* device, for reading data */
	int wfd;		/* area2 */
	int tracking;
	uint64_t nr_pages;
	uint64_t total;		/* progress estimate */
	uint64_t max_io;
	void *buf;
	uint64_t *pages;
	struct tloop_run *runs;
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

/* fail() - record what failed in res->msg and return @err. */
static __attribute__((format(printf, 3, 4)))
int fail(struct sync_ctx *c, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->res->msg, sizeof(c->res->msg), fmt, ap);
	va_end(ap);
	tloop_log(TLOOP_LOG_WARN, "%s: %s: %s", c->dev, c->res->msg, strerror(-err));
	return err;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* reopen_buffered() - O_DIRECT was refused: read through the page cache. */
static int reopen_buffered(struct sync_ctx *c)
{
	int fd = open(c->dev, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	close(c->rfd);
	c->rfd = fd;
	c->res->direct = 0;
	tloop_log(TLOOP_LOG_INFO, "%s: O_DIRECT read refused; reading buffered", c->dev);
	return 0;
}

static int read_full(struct sync_ctx *c, void *buf, size_t len, uint64_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(c->rfd, (char *)buf + done, len - done, (off_t)(off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EINVAL && c->res->direct) {
			int ret = reopen_buffered(c);

			if (ret)
				return ret;
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

static int write_full(int fd, const void *buf, size_t len, uint64_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pwrite(fd, (const char *)buf + done, len - done, (off_t)(off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (!n)
			return -ENOSPC;
		done += (size_t)n;
	}
	return 0;
}

/* copy_bytes() - copy [@off, @off + @len) of the device to area2. */
static int copy_bytes(struct sync_ctx *c, uint64_t off, uint64_t len)
{
	while (len) {
		size_t n = len < c->max_io ? (size_t)len : (size_t)c->max_io;
		int ret;

		ret = read_full(c, c->buf, n, off);
		if (ret)
			return fail(c, ret, "read %s at offset %" PRIu64, c->dev, off);
		ret = write_full(c->wfd, c->buf, n, off);
		if (ret)
			return fail(c, ret, "write %s at offset %" PRIu64, c->area2, off);
		c->res->bytes += n;
		off += n;
		len -= n;
		if (c->res->bytes > c->total)
			c->total = c->res->bytes;
		if (c->o.progress)
			c->o.progress(c->res->bytes, c->total, c->o.progress_arg);
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
	c->res->pages += count;
	c->res->runs++;
	return copy_bytes(c, off, len);
}

/*
 * full_copy() - clear the whole set first (a write racing the copy then
 * stays in the set), then copy every page.
 */
static int full_copy(struct sync_ctx *c, enum tloop_sync_why why)
{
	uint64_t gen = 0;
	int ret;

	c->res->full = 1;
	c->res->why = why;
	c->res->generation = 0;
	if (c->tracking) {
		ret = tloop_clear_all(c->fd, &gen);
		if (ret == -ENODATA) {
			c->tracking = 0;
			c->res->why = TLOOP_SYNC_WHY_TRACK_OFF;
		} else if (ret) {
			return fail(c, ret, "clear the written set of %s", c->dev);
		}
	}
	c->total = c->res->bytes + c->res->dev_size;
	ret = copy_run(c, 0, c->nr_pages);
	if (ret)
		return ret;
	if (c->tracking)
		c->res->generation = gen;
	return 0;
}

/*
 * incremental() - get-and-clear the written set batch by batch and copy
 * each batch before asking for the next.  Falls back to a full copy if the
 * set overflowed, tracking went off, or the generation shows another clear
 * than ours.
 */
static int incremental(struct sync_ctx *c, uint64_t generation)
{
	uint64_t max_pages = c->max_io / c->res->page_size;
	struct tloop_written w;
	uint64_t cursor = 0;
	size_t nr, i;
	int ret;

	c->res->full = 0;
	c->res->why = TLOOP_SYNC_WHY_INCREMENTAL;
	for (;;) {
		memset(&w, 0, sizeof(w));
		w.flags = TLOOP_GET_CLEAR | (cursor ? tloop_continue_flags() : 0);
		w.cursor = cursor;
		w.pages = (uintptr_t)c->pages;
		w.capacity = c->o.batch;
		ret = tloop_get_written(c->fd, &w);
		if (ret == -ENODATA) {
			c->tracking = 0;
			return full_copy(c, TLOOP_SYNC_WHY_TRACK_OFF);
		}
		if (ret == -EIO || ret == -ENOSPC || ret == -EDQUOT)
			return fail(c, ret, "write back the page cache of %s to its backing file",
				    c->dev);
		if (ret)
			return fail(c, ret, "get the written set of %s", c->dev);
		c->res->calls++;
		if (w.status & TLOOP_TRACK_OVERFLOW)
			return full_copy(c, TLOOP_SYNC_WHY_OVERFLOW);
		/* The uapi promises +1 per clearing call: more means another clear. */
		if (w.generation != generation + 1) {
			tloop_log(TLOOP_LOG_INFO,
				  "%s: generation %" PRIu64 " after %" PRIu64 ": cleared by someone else",
				  c->dev, (uint64_t)w.generation, generation);
			return full_copy(c, TLOOP_SYNC_WHY_CONCURRENT);
		}
		generation = w.generation;
		if (w.count > c->o.batch)
			return fail(c, -EPROTO, "%s returned %u pages for %u", c->dev, w.count,
				    c->o.batch);
		nr = tloop_plan_runs(c->pages, w.count, max_pages, c->runs);
		for (i = 0; i < nr; i++) {
			ret = copy_run(c, c->runs[i].start, c->runs[i].count);
			if (ret)
				return ret;
		}
		if (w.next_cursor == TLOOP_CURSOR_END)
			break;
		if (w.next_cursor <= cursor)
			return fail(c, -EPROTO, "%s: cursor did not advance", c->dev);
		cursor = w.next_cursor;
	}
	c->res->generation = generation;
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
 */
static int open_area2(struct sync_ctx *c, const struct tloop_info *info, const struct stat *dst,
		      int *created)
{
	struct tloop_info other;
	struct stat st;
	uint64_t size;
	int ret;

	*created = 0;
	c->wfd = open(c->area2, O_WRONLY | O_CLOEXEC);
	if (c->wfd < 0 && errno == ENOENT && (c->o.flags & TLOOP_SYNC_CREATE)) {
		c->wfd = open(c->area2, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		*created = c->wfd >= 0;
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
	if (!S_ISREG(st.st_mode) || !(*created || (c->o.flags & TLOOP_SYNC_RESIZE)))
		return fail(c, -EINVAL, "%s is %" PRIu64 " bytes, %s is %" PRIu64
			    " bytes (use --resize)", c->area2, size, c->dev,
			    (uint64_t)info->dev_size);
	if (ftruncate(c->wfd, (off_t)info->dev_size) < 0)
		return fail(c, -errno, "resize %s to %" PRIu64 " bytes", c->area2,
			    (uint64_t)info->dev_size);
	if (!*created)
		*created = 2;
	return 0;
}

static int setup_buffers(struct sync_ctx *c)
{
	uint64_t ps = c->res->page_size;

	if (!c->o.batch)
		c->o.batch = DEFAULT_BATCH;
	if (c->o.batch > TLOOP_GET_MAX_BATCH)
		c->o.batch = TLOOP_GET_MAX_BATCH;
	c->max_io = c->o.max_io ? c->o.max_io : DEFAULT_MAX_IO;
	c->max_io -= c->max_io % ps;
	if (!c->max_io)
		c->max_io = ps;
	if (posix_memalign(&c->buf, IO_ALIGN > ps ? IO_ALIGN : ps, (size_t)c->max_io))
		return fail(c, -ENOMEM, "allocate %" PRIu64 " bytes", c->max_io);
	c->pages = calloc(c->o.batch, sizeof(*c->pages));
	c->runs = calloc(c->o.batch, sizeof(*c->runs));
	if (!c->pages || !c->runs)
		return fail(c, -ENOMEM, "allocate a batch of %u pages", c->o.batch);
	return 0;
}

/* decide() - which kind of refresh the baseline allows. */
static enum tloop_sync_why decide(struct sync_ctx *c, const struct tloop_track_status *ts,
				  int created, uint64_t *generation)
{
	struct tloop_baseline b;
	int ret;

	if (!(ts->flags & TLOOP_TRACK_ON))
		return TLOOP_SYNC_WHY_TRACK_OFF;
	if (ts->flags & TLOOP_TRACK_OVERFLOW)
		return TLOOP_SYNC_WHY_OVERFLOW;
	if (created)
		return TLOOP_SYNC_WHY_NEW_AREA2;
	if (c->o.flags & TLOOP_SYNC_FULL)
		return TLOOP_SYNC_WHY_REQUESTED;
	ret = tloop_baseline_load(c->area2, &b);
	if (ret)
		return TLOOP_SYNC_WHY_NO_BASELINE;
	if (b.attach_id != c->res->attach_id)
		return TLOOP_SYNC_WHY_OTHER_DEVICE;
	if (b.dev_size != c->res->dev_size || b.page_size != c->res->page_size)
		return TLOOP_SYNC_WHY_GEOMETRY;
	if (b.generation != ts->generation)
		return TLOOP_SYNC_WHY_GENERATION;
	*generation = b.generation;
	return TLOOP_SYNC_WHY_INCREMENTAL;
}

int tloop_sync(const char *dev, const char *area2, const struct tloop_sync_opts *opts,
	       struct tloop_sync_result *res)
{
	struct sync_ctx c = { .dev = dev, .area2 = area2, .res = res, .fd = -1, .rfd = -1,
			      .wfd = -1 };
	struct tloop_track_status ts;
	struct tloop_info info;
	enum tloop_sync_why why;
	uint64_t generation = 0;
	struct stat dst;
	double t0 = now();
	int created, ret;

	memset(res, 0, sizeof(*res));
	if (opts) {
		size_t n = opts->sz < sizeof(c.o) ? opts->sz : sizeof(c.o);

		memcpy(&c.o, opts, n);
	}

	c.fd = tloop_dev_open_ctl(dev);
	if (c.fd < 0) {
		ret = fail(&c, c.fd, "open %s", dev);
		goto out;
	}
	if (fstat(c.fd, &dst) < 0) {
		ret = fail(&c, -errno, "stat %s", dev);
		goto out;
	}
	ret = tloop_get_info(c.fd, &info, NULL, 0);
	if (ret) {
		ret = fail(&c, ret, "get the configuration of %s", dev);
		goto out;
	}
	ret = tloop_track_status(c.fd, &ts);
	if (ret) {
		ret = fail(&c, ret, "get the tracking status of %s", dev);
		goto out;
	}
	if (!ts.page_size || !info.dev_size) {
		ret = fail(&c, -EPROTO, "%s reports page size %u, size %llu", dev,
			   ts.page_size, (unsigned long long)info.dev_size);
		goto out;
	}
	res->dev_size = info.dev_size;
	res->page_size = ts.page_size;
	res->attach_id = info.attach_id;
	c.nr_pages = (info.dev_size + ts.page_size - 1) / ts.page_size;
	c.tracking = !!(ts.flags & TLOOP_TRACK_ON);

	/* Every check that can refuse happens before anything is changed. */
	ret = open_area2(&c, &info, &dst, &created);
	if (ret)
		goto out;
	ret = setup_buffers(&c);
	if (ret)
		goto out;
	res->direct = !(c.o.flags & TLOOP_SYNC_BUFFERED);
	c.rfd = open(dev, O_RDONLY | O_CLOEXEC | (res->direct ? O_DIRECT : 0));
	if (c.rfd < 0 && res->direct) {
		res->direct = 0;
		c.rfd = open(dev, O_RDONLY | O_CLOEXEC);
	}
	if (c.rfd < 0) {
		ret = fail(&c, -errno, "open %s for reading", dev);
		goto out;
	}

	why = decide(&c, &ts, created, &generation);
	/* From here on area2 and the set change: no baseline until done. */
	ret = tloop_baseline_remove(area2);
	if (ret) {
		ret = fail(&c, ret, "remove the baseline of %s", area2);
		goto out;
	}
	c.total = why == TLOOP_SYNC_WHY_INCREMENTAL ? ts.written * ts.page_size : info.dev_size;
	if (why == TLOOP_SYNC_WHY_INCREMENTAL)
		ret = incremental(&c, generation);
	else
		ret = full_copy(&c, why);
	if (ret)
		goto out;

	if ((c.o.flags & TLOOP_SYNC_FSYNC) && fsync(c.wfd) < 0) {
		ret = fail(&c, -errno, "fsync %s", area2);
		goto out;
	}
	if (c.tracking) {
		struct tloop_baseline b = {
			.attach_id = info.attach_id,
			.generation = res->generation,
			.dev_size = info.dev_size,
			.page_size = ts.page_size,
		};

		ret = tloop_baseline_store(area2, &b);
		if (ret) {
			ret = fail(&c, ret, "record the baseline of %s", area2);
			goto out;
		}
		res->baseline = 1;
	}
	ret = 0;
out:
	res->seconds = now() - t0;
	free(c.runs);
	free(c.pages);
	free(c.buf);
	if (c.wfd >= 0)
		close(c.wfd);
	if (c.rfd >= 0)
		close(c.rfd);
	if (c.fd >= 0)
		close(c.fd);
	return ret;
}
