// SPDX-License-Identifier: GPL-2.0
/*
 * nbd.c - area2 on an NBD export (libnbd): the refresh of tloop_sync() when
 * area2 is an NBD URI, and the reading side of tloop_verify().
 *
 * The export holds no sidecar, so the baseline lives on the refreshing
 * side, in a state directory: "<state dir>/<URI, percent-encoded>.tloop",
 * the same format as a local sidecar (baseline.c).  It names the device's
 * attachment and generation, so it is valid for one device and one export
 * URI at a time; a refresh of the same export from another device, or
 * through another URI, clears the device's set (a new generation) or is
 * another attachment, and the next refresh is full.
 *
 * Writes are pipelined with libnbd's asynchronous API: each coalesced run
 * of written pages (cut into requests of at most max_io bytes) is read from
 * the device into one of @depth buffers and sent with nbd_aio_pwrite(); at
 * most @depth requests are in flight.  The order is that of the local
 * refresh (see tloop_sync()): every check (connection, size, read-only)
 * before anything changes; then the baseline removed durably; the set
 * cleared and its pages sent; every reply received, then NBD_CMD_FLUSH
 * answered; only then the new baseline written durably.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libnbd.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#define NBD_DEFAULT_DEPTH	16U
#define NBD_MAX_DEPTH		256U
#define NBD_DEFAULT_MAX_IO	(1U << 20)
#define NBD_MAX_BUFFERS		(256ULL << 20)
#define NBD_IO_ALIGN		4096U

int tloop_is_nbd_uri(const char *s)
{
	const char *p;

	if (!s || strncmp(s, "nbd", 3))
		return 0;
	for (p = s + 3; *p && *p != ':'; p++)
		if (!(*p >= 'a' && *p <= 'z') && *p != '+')
			return 0;
	return !strncmp(p, "://", 3);
}

const char *tloop_state_dir(const char *dir)
{
	const char *env;

	if (dir && *dir)
		return dir;
	env = getenv("TLOOP_STATE_DIR");
	return env && *env ? env : TLOOP_STATE_DIR_DEFAULT;
}

int tloop_nbd_state_path(const char *state_dir, const char *uri, char *buf, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	const char *dir = tloop_state_dir(state_dir);
	size_t n = strlen(dir), name = 0;
	const unsigned char *p;

	if (n + 2 > len)
		return -ENAMETOOLONG;
	memcpy(buf, dir, n);
	buf[n++] = '/';
	for (p = (const unsigned char *)uri; *p; p++) {
		int plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			    (*p >= '0' && *p <= '9') || *p == '.' || *p == '-' || *p == '_';
		size_t need = plain ? 1 : 3;

		/* room for the suffix the baseline adds, and a NAME_MAX component */
		if (n + need + sizeof(TLOOP_BASELINE_SUFFIX) + 5 > len ||
		    name + need + sizeof(TLOOP_BASELINE_SUFFIX) + 5 > NAME_MAX)
			return -ENAMETOOLONG;
		if (plain) {
			buf[n++] = (char)*p;
		} else {
			buf[n++] = '%';
			buf[n++] = hex[*p >> 4];
			buf[n++] = hex[*p & 15];
		}
		name += need;
	}
	buf[n] = '\0';
	return 0;
}

/* A monotonic clock in milliseconds. */
static int64_t ms_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* nbd_err() - libnbd's errno for the last failed call, never 0. */
static int nbd_err(void)
{
	int e = nbd_get_errno();

	return e > 0 ? -e : -EIO;
}

int tloop_nbd_connect(const char *uri, struct nbd_handle **out, char *msg, size_t len)
{
	struct nbd_handle *h = nbd_create();
	int64_t deadline = ms_now() + TLOOP_NBD_TIMEOUT_MS;
	int ret;

	*out = NULL;
	if (!h) {
		snprintf(msg, len, "create an NBD handle: %s", nbd_get_error());
		return nbd_err();
	}
	if (nbd_aio_connect_uri(h, uri) == -1)
		goto err;
	while (nbd_aio_is_connecting(h)) {
		int64_t left = deadline - ms_now();

		if (left <= 0) {
			snprintf(msg, len, "connect to %s: no answer in %d s", uri,
				 TLOOP_NBD_TIMEOUT_MS / 1000);
			nbd_close(h);
			return -ETIMEDOUT;
		}
		if (nbd_poll(h, (int)(left < 1000 ? left : 1000)) == -1)
			goto err;
	}
	if (!nbd_aio_is_ready(h)) {
		snprintf(msg, len, "connect to %s: %s", uri,
			 nbd_get_error() ? nbd_get_error() : "the server closed the connection");
		nbd_close(h);
		return -ECONNREFUSED;
	}
	*out = h;
	return 0;
err:
	ret = nbd_err();
	snprintf(msg, len, "connect to %s: %s", uri, nbd_get_error());
	nbd_close(h);
	return ret;
}

/*
 * tloop_nbd_wait() - one round of nbd_poll() with the I/O timeout; 0, or
 * -errno with the reason in @msg (the connection is then unusable).
 */
int tloop_nbd_wait(struct nbd_handle *h, const char *uri, int64_t *idle_since, char *msg,
		   size_t len)
{
	int r = nbd_poll(h, 1000);

	if (r == -1) {
		int ret = nbd_err();

		snprintf(msg, len, "connection to %s lost: %s", uri, nbd_get_error());
		return ret;
	}
	if (r > 0) {
		*idle_since = ms_now();
		return 0;
	}
	if (ms_now() - *idle_since >= TLOOP_NBD_TIMEOUT_MS) {
		snprintf(msg, len, "no reply from %s in %d s", uri, TLOOP_NBD_TIMEOUT_MS / 1000);
		return -ETIMEDOUT;
	}
	return 0;
}

struct nbd_ctx;

struct nbd_slot {
	struct nbd_ctx *c;
	void *buf;
	uint64_t off;
	uint64_t len;
};

struct nbd_ctx {
	const char *dev;
	const char *uri;
	struct tloop_sync_opts o;
	struct tloop_sync_result *res;
	struct nbd_handle *h;
	int fd;			/* device, ioctls */
	int rfd;		/* device, data (O_DIRECT if it works) */
	int bfd;		/* device, buffered */
	int direct;
	int tracking;
	uint64_t nr_pages;
	uint64_t max_io;
	uint64_t total;
	unsigned int depth;
	struct nbd_slot *slots;
	unsigned int *free;
	unsigned int nfree;
	uint64_t *pages;
	struct tloop_run *runs;
	int err;		/* first failed write, -errno */
	uint64_t err_off;
	int64_t idle_since;
};

/* nfail() - record what failed in res->msg, log it, and return @err. */
#define nfail(c, err, ...) \
	tloop_fail((c)->res->msg, sizeof((c)->res->msg), (c)->dev, (err), __VA_ARGS__)

static int write_done(void *arg, int *error)
{
	struct nbd_slot *s = arg;
	struct nbd_ctx *c = s->c;

	if (*error && !c->err) {
		c->err = -*error;
		c->err_off = s->off;
	} else if (!*error) {
		c->res->bytes += s->len;
	}
	c->free[c->nfree++] = (unsigned int)(s - c->slots);
	return 1;	/* retire the command */
}

static int write_failed(struct nbd_ctx *c)
{
	if (nbd_aio_is_dead(c->h) == 1 || nbd_aio_is_closed(c->h) == 1)
		return nfail(c, c->err, "connection to %s lost (a write at offset %" PRIu64
			     " failed)", c->uri, c->err_off);
	return nfail(c, c->err, "write %s at offset %" PRIu64, c->uri, c->err_off);
}

/* wait_for() - poll until fewer than @busy requests are in flight. */
static int wait_for(struct nbd_ctx *c, unsigned int busy)
{
	while (c->depth - c->nfree > busy - 1 && !c->err) {
		int ret = tloop_nbd_wait(c->h, c->uri, &c->idle_since, c->res->msg,
					 sizeof(c->res->msg));

		if (ret) {
			tloop_log(TLOOP_LOG_WARN, "%s: %s", c->dev, c->res->msg);
			return ret;
		}
		if (c->o.progress)
			c->o.progress(c->res->bytes, c->total, c->o.progress_arg);
	}
	return c->err ? write_failed(c) : 0;
}

static int drain(struct nbd_ctx *c)
{
	return wait_for(c, 1);
}

static int read_dev(struct nbd_ctx *c, void *buf, size_t len, uint64_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(c->direct ? c->rfd : c->bfd, (char *)buf + done, len - done,
				  (off_t)(off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EINVAL && c->direct) {
			c->direct = 0;
			continue;
		}
		if (n < 0)
			return -errno;
		if (!n)
			return -EIO;
		done += (size_t)n;
	}
	return 0;
}

/* send_bytes() - read [@off, @off + @len) of the device and send it in requests. */
static int send_bytes(struct nbd_ctx *c, uint64_t off, uint64_t len)
{
	while (len) {
		uint64_t n = len < c->max_io ? len : c->max_io;
		struct nbd_slot *s;
		int ret;

		ret = wait_for(c, c->depth);
		if (ret)
			return ret;
		s = &c->slots[c->free[--c->nfree]];
		s->off = off;
		s->len = n;
		ret = read_dev(c, s->buf, (size_t)n, off);
		if (ret) {
			c->free[c->nfree++] = (unsigned int)(s - c->slots);
			return nfail(c, ret, "read %s at offset %" PRIu64, c->dev, off);
		}
		if (nbd_aio_pwrite(c->h, s->buf, (size_t)n, off,
				   (nbd_completion_callback){ .callback = write_done,
							      .user_data = s }, 0) == -1) {
			ret = nbd_err();
			c->free[c->nfree++] = (unsigned int)(s - c->slots);
			if (nbd_aio_is_dead(c->h) == 1 || nbd_aio_is_closed(c->h) == 1)
				return nfail(c, ret, "connection to %s lost: %s", c->uri,
					     nbd_get_error());
			return nfail(c, ret, "write %s at offset %" PRIu64 ": %s", c->uri, off,
				     nbd_get_error());
		}
		/* Let libnbd send what it can and read the replies already there. */
		if (nbd_poll(c->h, 0) == -1)
			return nfail(c, nbd_err(), "connection to %s lost: %s", c->uri,
				     nbd_get_error());
		off += n;
		len -= n;
	}
	return 0;
}

static int send_run(struct nbd_ctx *c, uint64_t start, uint64_t count)
{
	uint64_t ps = c->res->page_size, off, len;

	if (start >= c->nr_pages)
		return 0;
	if (count > c->nr_pages - start)
		count = c->nr_pages - start;
	off = start * ps;
	len = count * ps;
	if (len > c->res->dev_size - off)
		len = c->res->dev_size - off;
	c->res->runs++;
	return send_bytes(c, off, len);
}

static int send_batch(const uint64_t *pages, size_t n, void *arg)
{
	struct nbd_ctx *c = arg;
	size_t nr, i;
	int ret;

	nr = tloop_plan_runs(pages, n, c->max_io / c->res->page_size, c->runs);
	for (i = 0; i < nr; i++) {
		c->res->pages += c->runs[i].count;
		ret = send_run(c, c->runs[i].start, c->runs[i].count);
		if (ret)
			return ret;
	}
	return 0;
}

static int nbd_full(struct nbd_ctx *c, enum tloop_sync_why why)
{
	uint64_t gen = 0;
	int ret;

	ret = drain(c);
	if (ret)
		return ret;
	c->res->full = 1;
	c->res->why = why;
	c->res->generation = 0;
	if (c->tracking) {
		ret = tloop_clear_all(c->fd, &gen);
		if (ret == -ENODATA) {
			c->tracking = 0;
			c->res->why = TLOOP_SYNC_WHY_TRACK_OFF;
		} else if (ret) {
			return nfail(c, ret, "clear the written set of %s", c->dev);
		}
	}
	c->total = c->res->bytes + c->res->dev_size;
	c->res->pages += c->nr_pages;
	ret = send_run(c, 0, c->nr_pages);
	if (!ret)
		ret = drain(c);
	if (!ret && c->tracking)
		c->res->generation = gen;
	return ret;
}

static int nbd_incremental(struct nbd_ctx *c, uint64_t generation)
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
	int ret, dret;

	c->res->full = 0;
	c->res->why = TLOOP_SYNC_WHY_INCREMENTAL;
	ret = tloop_walk(c->fd, &wk, send_batch, c, &r, &stop);
	c->res->calls += r.calls;
	if (stop == TLOOP_WALK_CALLBACK)
		return ret;
	dret = drain(c);
	if (dret)
		return dret;
	switch (stop) {
	case TLOOP_WALK_DONE:
		c->res->generation = r.generation;
		return 0;
	case TLOOP_WALK_CALLBACK:
		return ret;
	case TLOOP_WALK_OVERFLOW:
		return nbd_full(c, TLOOP_SYNC_WHY_OVERFLOW);
	case TLOOP_WALK_CONCURRENT:
		return nbd_full(c, TLOOP_SYNC_WHY_CONCURRENT);
	case TLOOP_WALK_PROTOCOL:
		return nfail(c, ret, "%s broke the TLOOP_GET_WRITTEN protocol", c->dev);
	case TLOOP_WALK_IOCTL:
		break;
	}
	if (ret == -ENODATA) {
		c->tracking = 0;
		return nbd_full(c, TLOOP_SYNC_WHY_TRACK_OFF);
	}
	if (ret == -EIO || ret == -ENOSPC || ret == -EDQUOT)
		return nfail(c, ret, "write back the page cache of %s to its backing file", c->dev);
	return nfail(c, ret, "get the written set of %s", c->dev);
}

/* mkdirs() - create @dir and its parents (mode 0700 for the last). */
static int mkdirs(const char *dir)
{
	char p[PATH_MAX];
	size_t i, n = strlen(dir);

	if (n >= sizeof(p))
		return -ENAMETOOLONG;
	memcpy(p, dir, n + 1);
	for (i = 1; i <= n; i++) {
		if (p[i] != '/' && p[i] != '\0')
			continue;
		p[i] = '\0';
		if (mkdir(p, i == n ? 0700 : 0755) < 0 && errno != EEXIST)
			return -errno;
		p[i] = i == n ? '\0' : '/';
	}
	return 0;
}

static int setup(struct nbd_ctx *c)
{
	uint64_t ps = c->res->page_size;
	int64_t smax = nbd_get_block_size(c->h, LIBNBD_SIZE_MAXIMUM);
	unsigned int i;

	c->o.batch = tloop_walk_batch(c->o.batch);
	c->max_io = c->o.max_io ? c->o.max_io : NBD_DEFAULT_MAX_IO;
	if (smax > 0 && c->max_io > (uint64_t)smax)
		c->max_io = (uint64_t)smax;
	c->max_io -= c->max_io % ps;
	if (!c->max_io)
		c->max_io = ps;
	c->depth = c->o.depth ? c->o.depth : NBD_DEFAULT_DEPTH;
	if (c->depth > NBD_MAX_DEPTH)
		c->depth = NBD_MAX_DEPTH;
	if (c->depth * c->max_io > NBD_MAX_BUFFERS)
		c->depth = NBD_MAX_BUFFERS / c->max_io ?
			   (unsigned int)(NBD_MAX_BUFFERS / c->max_io) : 1;
	c->slots = calloc(c->depth, sizeof(*c->slots));
	c->free = calloc(c->depth, sizeof(*c->free));
	c->pages = calloc(c->o.batch, sizeof(*c->pages));
	c->runs = calloc(c->o.batch, sizeof(*c->runs));
	if (!c->slots || !c->free || !c->pages || !c->runs)
		return nfail(c, -ENOMEM, "allocate buffers");
	for (i = 0; i < c->depth; i++) {
		c->slots[i].c = c;
		if (posix_memalign(&c->slots[i].buf, NBD_IO_ALIGN, (size_t)c->max_io))
			return nfail(c, -ENOMEM, "allocate %" PRIu64 " bytes", c->max_io);
		c->free[c->nfree++] = i;
	}
	return 0;
}

int tloop_sync_nbd(const char *dev, const char *uri, const struct tloop_sync_opts *opts,
		   struct tloop_sync_result *res)
{
	struct nbd_ctx c = { .dev = dev, .uri = uri, .res = res, .fd = -1, .rfd = -1,
			     .bfd = -1 };
	char state[PATH_MAX], lockpath[PATH_MAX + 8];
	struct tloop_track_status ts;
	struct tloop_info info;
	enum tloop_sync_why why;
	uint64_t generation = 0;
	int64_t esize;
	double t0 = tloop_now();
	int lockfd = -1, ret;
	unsigned int i;

	memset(res, 0, sizeof(*res));
	res->via = TLOOP_SYNC_VIA_DEVICE;	/* NBD refreshes read the device */
	if (opts) {
		size_t n = opts->sz < sizeof(c.o) ? opts->sz : sizeof(c.o);

		memcpy(&c.o, opts, n);
	}
	if (c.o.sz < offsetof(struct tloop_sync_opts, state_dir) + sizeof(c.o.state_dir))
		c.o.state_dir = NULL;
	snprintf(res->consumer, sizeof(res->consumer), "%s", TLOOP_CONSUMER_DEFAULT);
	/* Named consumers are not wired into the NBD engine yet: refuse, never ignore. */
	if (c.o.sz >= offsetof(struct tloop_sync_opts, consumer) + sizeof(c.o.consumer) &&
	    c.o.consumer && strcmp(c.o.consumer, TLOOP_CONSUMER_DEFAULT)) {
		ret = nfail(&c, -EOPNOTSUPP, "consumer %s with an NBD area2 (not supported yet)",
			    c.o.consumer);
		goto out;
	}

	c.fd = tloop_dev_open_ctl(dev);
	if (c.fd < 0) {
		ret = nfail(&c, c.fd, "open %s", dev);
		goto out;
	}
	ret = tloop_get_info(c.fd, &info, NULL, 0);
	if (ret) {
		ret = nfail(&c, ret, "get the configuration of %s", dev);
		goto out;
	}
	ret = tloop_track_status(c.fd, &ts);
	if (ret) {
		ret = nfail(&c, ret, "get the tracking status of %s", dev);
		goto out;
	}
	if (!ts.page_size || !info.dev_size) {
		ret = nfail(&c, -EPROTO, "%s reports page size %u, size %llu", dev,
			    ts.page_size, (unsigned long long)info.dev_size);
		goto out;
	}
	res->dev_size = info.dev_size;
	res->page_size = ts.page_size;
	res->attach_id = info.attach_id;
	c.nr_pages = (info.dev_size + ts.page_size - 1) / ts.page_size;
	c.tracking = !!(ts.flags & TLOOP_TRACK_ON);

	/* 1. Every check that can refuse, before anything changes. */
	ret = tloop_nbd_state_path(c.o.state_dir, uri, state, sizeof(state));
	if (ret) {
		ret = nfail(&c, ret, "the state file of %s", uri);
		goto out;
	}
	ret = mkdirs(tloop_state_dir(c.o.state_dir));
	if (ret) {
		ret = nfail(&c, ret, "create the state directory %s",
			    tloop_state_dir(c.o.state_dir));
		goto out;
	}
	snprintf(lockpath, sizeof(lockpath), "%s.lock", state);
	lockfd = open(lockpath, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lockfd < 0) {
		ret = nfail(&c, -errno, "open %s", lockpath);
		goto out;
	}
	if (flock(lockfd, LOCK_EX | LOCK_NB) < 0) {
		ret = nfail(&c, -errno, "%s is being refreshed by another process", uri);
		goto out;
	}
	ret = tloop_nbd_connect(uri, &c.h, res->msg, sizeof(res->msg));
	if (ret) {
		tloop_log(TLOOP_LOG_WARN, "%s: %s", dev, res->msg);
		goto out;
	}
	if (nbd_is_read_only(c.h) == 1) {
		ret = nfail(&c, -EROFS, "the export %s is read-only", uri);
		goto out;
	}
	esize = nbd_get_size(c.h);
	if (esize < 0) {
		ret = nfail(&c, nbd_err(), "size of %s: %s", uri, nbd_get_error());
		goto out;
	}
	if ((uint64_t)esize < info.dev_size) {
		ret = nfail(&c, -ENOSPC, "the export %s is %" PRId64 " bytes, %s is %" PRIu64
			    " bytes", uri, esize, dev, (uint64_t)info.dev_size);
		goto out;
	}
	/* The state file records the default consumer (id 0): the only one here. */
	why = tloop_sync_decide(state, &ts, res, 0, c.o.flags, 0, &generation);
	ret = setup(&c);
	if (ret)
		goto out;
	ret = tloop_open_read(dev, !!(c.o.flags & TLOOP_SYNC_BUFFERED), &c.rfd, &c.bfd);
	if (ret) {
		ret = nfail(&c, ret, "open %s for reading", dev);
		goto out;
	}
	c.direct = c.rfd != c.bfd;

	/* 2. From here on the export and the set change: no baseline until done. */
	ret = tloop_baseline_remove(state);
	if (ret) {
		ret = nfail(&c, ret, "remove the baseline %s%s", state, TLOOP_BASELINE_SUFFIX);
		goto out;
	}
	/* 3. The written set, cleared and sent; every reply received. */
	c.idle_since = ms_now();
	c.total = why == TLOOP_SYNC_WHY_INCREMENTAL ? ts.written * ts.page_size : info.dev_size;
	if (why == TLOOP_SYNC_WHY_INCREMENTAL)
		ret = nbd_incremental(&c, generation);
	else
		ret = nbd_full(&c, why);
	if (ret)
		goto out;
	/* 4. The server's answer to a flush: the writes are on its stable storage. */
	if (!(c.o.flags & TLOOP_SYNC_UNSAFE_NO_FSYNC)) {
		if (nbd_can_flush(c.h) != 1) {
			tloop_log(TLOOP_LOG_WARN, "%s: %s cannot flush: no baseline recorded, "
				  "the next refresh copies everything", dev, uri);
			goto done;
		}
		if (nbd_flush(c.h, 0) == -1) {
			ret = nfail(&c, nbd_err(), "flush %s%s: %s", uri,
				    nbd_aio_is_dead(c.h) == 1 ? " (connection lost)" : "",
				    nbd_get_error());
			goto out;
		}
	}
	/* 5. */
	if (c.tracking) {
		struct tloop_baseline b = {
			.attach_id = info.attach_id,
			.generation = res->generation,
			.dev_size = info.dev_size,
			.page_size = ts.page_size,
		};

		ret = tloop_baseline_store(state, &b);
		if (ret) {
			ret = nfail(&c, ret, "record the baseline %s%s", state,
				    TLOOP_BASELINE_SUFFIX);
			goto out;
		}
		res->baseline = 1;
	}
done:
	nbd_shutdown(c.h, 0);
	ret = 0;
out:
	/* The handle goes first: libnbd may hold the buffers until then. */
	if (c.h)
		nbd_close(c.h);
	if (c.slots)
		for (i = 0; i < c.depth; i++)
			free(c.slots[i].buf);
	free(c.slots);
	free(c.free);
	free(c.pages);
	free(c.runs);
	res->direct = c.direct;
	res->seconds = tloop_now() - t0;
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
