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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#define DEFAULT_MAX_IO	(1U << 20)
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

/* copy_batch() - the walk's callback: copy one batch, coalesced into runs. */
static int copy_batch(const uint64_t *pages, size_t n, void *arg)
{
	struct sync_ctx *c = arg;
	size_t nr, i;
	int ret;

	nr = tloop_plan_runs(pages, n, c->max_io / c->res->page_size, c->runs);
	for (i = 0; i < nr; i++) {
		ret = copy_run(c, c->runs[i].start, c->runs[i].count);
		if (ret)
			return ret;
	}
	return 0;
}

/*
 * incremental() - get-and-clear the written set batch by batch and copy
 * each batch before asking for the next (tloop_walk() with TLOOP_GET_CLEAR).
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
	};
	struct tloop_walk_result r;
	enum tloop_walk_stop stop;
	int ret;

	c->res->full = 0;
	c->res->why = TLOOP_SYNC_WHY_INCREMENTAL;
	ret = tloop_walk(c->fd, &wk, copy_batch, c, &r, &stop);
	c->res->calls += r.calls;
	switch (stop) {
	case TLOOP_WALK_DONE:
		c->res->generation = r.generation;
		return 0;
	case TLOOP_WALK_CALLBACK:
		return ret;	/* copy_run() said what failed */
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

static int setup_buffers(struct sync_ctx *c)
{
	uint64_t ps = c->res->page_size;

	c->o.batch = tloop_walk_batch(c->o.batch);
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

/*
 * tloop_sync() - the order of a refresh is what makes it crash-safe (see
 * doc/design.md, "Crash safety of a refresh"):
 *   1. every check that can refuse, with nothing changed yet;
 *   2. the baseline removed durably (unlink, fsync of its directory);
 *   3. area2 created or resized if asked;
 *   4. the written set cleared batch by batch, each batch copied;
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
			      .wfd = -1 };
	struct tloop_track_status ts;
	struct tloop_info info;
	enum tloop_sync_why why;
	uint64_t generation = 0;
	struct stat dst;
	double t0 = now();
	int create, resize, lockfd = -1, ret;

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

	/* 1. Every check that can refuse happens before anything is changed. */
	if (c.tracking && !may_clear(c.fd)) {
		ret = fail(&c, -EPERM, "no right to clear the written set of %s "
			   "(it needs write access to the device, or CAP_SYS_ADMIN)", dev);
		goto out;
	}
	ret = open_area2(&c, &info, &dst, &create, &resize);
	if (ret)
		goto out;
	ret = check_dir(&c);
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
	why = decide(&c, &ts, create || resize, &generation);

	/* 2. From here on area2 and the set change: no baseline until done. */
	ret = tloop_baseline_remove(area2);
	if (ret) {
		ret = fail(&c, ret, "remove the baseline of %s", area2);
		goto out;
	}
	/* 3. */
	ret = prepare_area2(&c, info.dev_size, create, resize);
	if (ret)
		goto out;
	/* The lock lives on in lockfd while area2 is closed (and checked) below. */
	lockfd = dup(c.wfd);
	if (lockfd < 0) {
		ret = fail(&c, -errno, "dup %s", area2);
		goto out;
	}
	/* 4. */
	c.total = why == TLOOP_SYNC_WHY_INCREMENTAL ? ts.written * ts.page_size : info.dev_size;
	if (why == TLOOP_SYNC_WHY_INCREMENTAL)
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
	if (lockfd >= 0)
		close(lockfd);
	if (c.rfd >= 0)
		close(c.rfd);
	if (c.fd >= 0)
		close(c.fd);
	return ret;
}
