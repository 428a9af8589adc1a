// SPDX-License-Identifier: GPL-2.0
/*
 * nbd.c - area2 on an NBD export (libnbd): the refresh of tloop_sync() when
 * area2 is an NBD URI, and the reading side of tloop_verify().
 *
 * The export holds no sidecar, so the baseline lives on the refreshing
 * side, in a state directory: "<state dir>/<URI, percent-encoded>.tloop",
 * the same format as a local sidecar (baseline.c).  It names the device's
 * attachment, the consumer followed (tloop_sync_opts.consumer) and that
 * consumer's generation, so it is valid for one device, one consumer and
 * one export URI at a time; a refresh of the same export from another
 * device, with another consumer, or of the same consumer through another
 * URI is another attachment, another consumer id or clears the consumer's
 * set (a new generation), and the next refresh is full.  The prologue (the
 * device, its consumer and set, their checks) is the local engine's:
 * tloop_sync_open_dev().
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
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "copy.h"
#include "internal.h"
#include "nbdapi.h"

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
	int e = tloop_libnbd.nbd_get_errno();

	return e > 0 ? -e : -EIO;
}

/* nbd_gone() - whether the connection of @h is dead or closed. */
static int nbd_gone(struct nbd_handle *h)
{
	return tloop_libnbd.nbd_aio_is_dead(h) == 1 || tloop_libnbd.nbd_aio_is_closed(h) == 1;
}

/* nbd_timeout() - @ms, or the default for 0. */
static unsigned int nbd_timeout(unsigned int ms)
{
	return ms ? ms : TLOOP_NBD_TIMEOUT_MS;
}

int tloop_nbd_connect(const char *uri, unsigned int timeout_ms, struct nbd_handle **out,
		      char *msg, size_t len)
{
	struct nbd_handle *h;
	int64_t deadline;
	int ret;

	*out = NULL;
	ret = tloop_libnbd_load(msg, len);
	if (ret)
		return ret;
	h = tloop_libnbd.nbd_create();
	if (!h) {
		snprintf(msg, len, "create an NBD handle: %s", tloop_libnbd.nbd_get_error());
		return nbd_err();
	}
	if (tloop_libnbd.nbd_aio_connect_uri(h, uri) == -1)
		goto err;
	timeout_ms = nbd_timeout(timeout_ms);
	deadline = ms_now() + timeout_ms;
	while (tloop_libnbd.nbd_aio_is_connecting(h)) {
		int64_t left = deadline - ms_now();

		if (left <= 0) {
			snprintf(msg, len, "connect to %s: no answer in %.3g s", uri,
				 timeout_ms / 1000.0);
			tloop_libnbd.nbd_close(h);
			return -ETIMEDOUT;
		}
		if (tloop_libnbd.nbd_poll(h, (int)(left < 1000 ? left : 1000)) == -1)
			goto err;
	}
	if (!tloop_libnbd.nbd_aio_is_ready(h)) {
		const char *why = tloop_libnbd.nbd_get_error();

		snprintf(msg, len, "connect to %s: %s", uri,
			 why ? why : "the server closed the connection");
		tloop_libnbd.nbd_close(h);
		return -ECONNREFUSED;
	}
	*out = h;
	return 0;
err:
	ret = nbd_err();
	snprintf(msg, len, "connect to %s: %s", uri, tloop_libnbd.nbd_get_error());
	tloop_libnbd.nbd_close(h);
	return ret;
}

/*
 * tloop_nbd_wait() - one round of nbd_poll() with the I/O timeout; 0, or
 * -errno with the reason in @msg (the connection is then unusable).
 */
int tloop_nbd_wait(struct nbd_handle *h, const char *uri, unsigned int timeout_ms,
		   int64_t *idle_since, char *msg, size_t len)
{
	int64_t left = *idle_since + nbd_timeout(timeout_ms) - ms_now();
	int r = tloop_libnbd.nbd_poll(h, left <= 0 ? 0 : left < 1000 ? (int)left : 1000);

	if (r == -1) {
		int ret = nbd_err();

		snprintf(msg, len, "connection to %s lost: %s", uri, tloop_libnbd.nbd_get_error());
		return ret;
	}
	if (r > 0) {
		*idle_since = ms_now();
		return 0;
	}
	if (ms_now() - *idle_since >= nbd_timeout(timeout_ms)) {
		snprintf(msg, len, "no reply from %s in %.3g s (the server hangs? see --timeout)",
			 uri, nbd_timeout(timeout_ms) / 1000.0);
		return -ETIMEDOUT;
	}
	return 0;
}

int tloop_nbd_wait_cmd(struct nbd_handle *h, const char *uri, unsigned int timeout_ms,
		       int64_t cookie, char *msg, size_t len)
{
	int64_t idle = ms_now();

	for (;;) {
		int r = tloop_libnbd.nbd_aio_command_completed(h, cookie);
		int ret;

		if (r == 1)
			return 0;
		if (r == -1) {
			ret = nbd_err();
			snprintf(msg, len, "%s%s: %s", uri,
				 tloop_libnbd.nbd_aio_is_dead(h) == 1 ? " (connection lost)" : "",
				 tloop_libnbd.nbd_get_error());
			return ret;
		}
		ret = tloop_nbd_wait(h, uri, timeout_ms, &idle, msg, len);
		if (ret)
			return ret;
	}
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
	uint32_t consumer;	/* id of the consumer whose set is used (0: default) */
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
	/*
	 * Recovery (see recover()): the runs of pages this refresh took out of
	 * the written set (with those an earlier failed refresh left to
	 * resend), and the set's generation after the last clear, if known.
	 */
	struct tloop_run *taken;
	size_t ntaken, captaken;
	int gen_known;
	uint64_t gen_now;
	int flush_none;		/* the server cannot flush: no baseline */
	int can_flush;		/* asked once connected (a dead handle cannot say) */
	struct copy_src src;	/* the backing file, when it may be read instead */
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
	if (nbd_gone(c->h))
		return nfail(c, c->err, "connection to %s lost (a write at offset %" PRIu64
			     " failed)", c->uri, c->err_off);
	return nfail(c, c->err, "write %s at offset %" PRIu64, c->uri, c->err_off);
}

/* wait_for() - poll until fewer than @busy requests are in flight. */
static int wait_for(struct nbd_ctx *c, unsigned int busy)
{
	while (c->depth - c->nfree > busy - 1 && !c->err) {
		int ret = tloop_nbd_wait(c->h, c->uri, c->o.timeout_ms, &c->idle_since,
					 c->res->msg, sizeof(c->res->msg));

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

/*
 * read_dev() - [@off, @off + @len) of the device: from its backing file
 * when copy.c says that is as good (a buffered read of the file's page
 * cache, no request through the driver), the rest from the device.
 */
static int read_dev(struct nbd_ctx *c, void *buf, size_t len, uint64_t off)
{
	size_t done = 0;

	while (c->src.fd >= 0 && done < len) {
		ssize_t n = pread(c->src.fd, (char *)buf + done, len - done, (off_t)(off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (!n)
			break;	/* the backing file ends: the device has the rest */
		atomic_fetch_add(&c->src.bytes_read, (uint64_t)n);
		done += (size_t)n;
	}

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

/* take_runs() - remember runs of pages taken out of the set (for recover()). */
static int take_runs(struct nbd_ctx *c, const struct tloop_run *runs, size_t nr)
{
	size_t i;

	for (i = 0; i < nr; i++) {
		struct tloop_run *last = c->ntaken ? &c->taken[c->ntaken - 1] : NULL;

		if (last && runs[i].start == last->start + last->count) {
			last->count += runs[i].count;
			continue;
		}
		if (c->ntaken == c->captaken) {
			size_t cap = c->captaken ? c->captaken * 2 : 256;
			struct tloop_run *t = realloc(c->taken, cap * sizeof(*t));

			if (!t)
				return -ENOMEM;
			c->taken = t;
			c->captaken = cap;
		}
		c->taken[c->ntaken++] = runs[i];
	}
	return 0;
}

/*
 * send_bytes() - send [@off, @off + @len) of the device in requests: read
 * from the device, or copied from @src (a snapshot's pages) when not NULL.
 */
static int send_bytes(struct nbd_ctx *c, uint64_t off, uint64_t len, const char *src)
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
		if (src) {
			memcpy(s->buf, src, (size_t)n);
			src += n;
			ret = 0;
		} else {
			ret = read_dev(c, s->buf, (size_t)n, off);
		}
		if (ret) {
			c->free[c->nfree++] = (unsigned int)(s - c->slots);
			return nfail(c, ret, "read %s at offset %" PRIu64, c->dev, off);
		}
		if (tloop_libnbd.nbd_aio_pwrite(c->h, s->buf, (size_t)n, off,
				   (nbd_completion_callback){ .callback = write_done,
							      .user_data = s }, 0) == -1) {
			ret = nbd_err();
			c->free[c->nfree++] = (unsigned int)(s - c->slots);
			if (nbd_gone(c->h))
				return nfail(c, ret, "connection to %s lost: %s", c->uri,
					     tloop_libnbd.nbd_get_error());
			return nfail(c, ret, "write %s at offset %" PRIu64 ": %s", c->uri, off,
				     tloop_libnbd.nbd_get_error());
		}
		/* Let libnbd send what it can and read the replies already there. */
		if (tloop_libnbd.nbd_poll(c->h, 0) == -1)
			return nfail(c, nbd_err(), "connection to %s lost: %s", c->uri,
				     tloop_libnbd.nbd_get_error());
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
	return send_bytes(c, off, len, NULL);
}

static int send_batch(const uint64_t *pages, size_t n, void *arg)
{
	struct nbd_ctx *c = arg;
	size_t nr, i;
	int ret;

	nr = tloop_plan_runs(pages, n, c->max_io / c->res->page_size, c->runs);
	/* Out of the set now: remembered before anything can fail. */
	ret = take_runs(c, c->runs, nr);
	if (ret)
		return nfail(c, ret, "allocate the list of pages sent");
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
	c->gen_known = 0;	/* a full copy that fails is done again in full */
	if (c->tracking) {
		ret = tloop_consumer_clear(c->fd, c->consumer, TLOOP_CLEAR_ALL, 0, 0, &gen);
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

/*
 * resend() - the pages a failed refresh took out of the set and may not
 * have stored (recover()), sent first, every reply received before the walk
 * starts: two writes of one page are never in flight at once, since the
 * server may complete them in any order.
 */
static int resend(struct nbd_ctx *c)
{
	size_t i, n = c->ntaken;
	int ret;

	for (i = 0; i < n; i++) {
		c->res->pages += c->taken[i].count;
		ret = send_run(c, c->taken[i].start, c->taken[i].count);
		if (ret)
			return ret;
	}
	return n ? drain(c) : 0;
}

static int nbd_incremental(struct nbd_ctx *c, uint64_t generation)
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
	ret = resend(c);
	if (ret)
		return ret;
	ret = tloop_walk(c->fd, &wk, send_batch, c, &r, &stop);
	c->res->calls += r.calls;
	/* Our own clears only (check_generation): the set's generation is known. */
	if (stop == TLOOP_WALK_CALLBACK || stop == TLOOP_WALK_DONE) {
		c->gen_now = r.generation;
	} else {
		c->gen_known = 0;	/* a failed clearing call may have cleared */
	}
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

/*
 * flush_export() - every reply received, then NBD_CMD_FLUSH answered: the
 * writes are on the server's stable storage.  A server that cannot flush
 * sets flush_none (no baseline then).
 */
static int flush_export(struct nbd_ctx *c)
{
	int64_t cookie;
	int ret;

	ret = drain(c);
	if (ret || (c->o.flags & TLOOP_SYNC_UNSAFE_NO_FSYNC))
		return ret;
	if (!c->can_flush) {
		c->flush_none = 1;
		return 0;
	}
	cookie = tloop_libnbd.nbd_aio_flush(c->h, NBD_NULL_COMPLETION, 0);
	if (cookie == -1)
		return nfail(c, nbd_err(), "flush %s%s: %s", c->uri,
			     tloop_libnbd.nbd_aio_is_dead(c->h) == 1 ? " (connection lost)" : "",
			     tloop_libnbd.nbd_get_error());
	ret = tloop_nbd_wait_cmd(c->h, c->uri, c->o.timeout_ms, cookie, c->res->msg,
				 sizeof(c->res->msg));
	if (ret) {
		char why[sizeof(c->res->msg)];

		snprintf(why, sizeof(why), "%s", c->res->msg);
		return nfail(c, ret, "flush %s", why);
	}
	return 0;
}

/* snap_send() - a snapshot batch (content as of P): runs of pages, copied and sent. */
static int snap_send(const uint64_t *pages, const void *data, size_t n, void *arg)
{
	struct nbd_ctx *c = arg;
	uint64_t ps = c->res->page_size, maxp = c->max_io / ps;
	size_t i = 0, j;
	int ret;

	while (i < n) {
		uint64_t off = pages[i] * ps, len;

		for (j = i + 1; j < n && pages[j] == pages[j - 1] + 1 && j - i < maxp; j++)
			;
		if (pages[i] >= c->nr_pages)
			return nfail(c, -EPROTO, "%s: snapshot page %" PRIu64 " past the end",
				     c->dev, pages[i]);
		len = (uint64_t)(j - i) * ps;
		if (len > c->res->dev_size - off)
			len = c->res->dev_size - off;
		c->res->runs++;
		ret = send_bytes(c, off, len, (const char *)data + i * ps);
		if (ret)
			return ret;
		i = j;
	}
	return 0;
}

/* Before the end with COPIED: the snapshot's pages are on stable storage. */
static int snap_before_end(void *arg)
{
	return flush_export(arg);
}

/*
 * nbd_consistent() - TLOOP_SYNC_CONSISTENT: send a snapshot of one instant P
 * (snap.c): its written pages when the baseline allows it, else every page.
 * Pages an earlier failed refresh left to resend go first, every reply
 * received before P: each of them is then either unchanged until P or in
 * the snapshot, so the export is still a copy of P.  On failure the
 * snapshot ends without TLOOP_SNAP_END_COPIED, which puts every one of its
 * pages back into the live set, whose generation is then the snapshot's.
 */
static int nbd_consistent(struct nbd_ctx *c, enum tloop_sync_why why, uint64_t generation)
{
	int written = why == TLOOP_SYNC_WHY_INCREMENTAL;
	struct tloop_snap_refresh_opts o = {
		.all = !written, .check_generation = written, .generation = generation,
		.mem_limit = c->o.snap_mem_limit, .freeze = c->o.freeze, .batch = c->o.batch,
		.page_size = c->res->page_size, .dev_size = c->res->dev_size,
		.fn = snap_send, .arg = c, .before_end = snap_before_end,
	};
	struct tloop_snap_refresh_result r;
	int ret;

	if (written) {
		ret = resend(c);
		if (ret)
			return ret;
	}
	ret = tloop_snap_refresh(c->fd, -1, &o, &r);
	if (r.started) {
		c->gen_known = 1;
		c->gen_now = r.generation;
	}
	c->res->full = r.all;
	if (r.concurrent)
		c->res->why = TLOOP_SYNC_WHY_CONCURRENT;
	else if (r.all && written)
		c->res->why = TLOOP_SYNC_WHY_OVERFLOW;
	else
		c->res->why = r.all ? why : TLOOP_SYNC_WHY_INCREMENTAL;
	c->res->pages += r.pages;
	c->res->snap_generation = r.generation;
	c->res->preserved = r.preserved;
	c->res->snap_mem_peak = r.mem_peak;
	if (ret == -ENOTTY)
		ret = -EOPNOTSUPP;	/* a module without TLOOP_FEAT_SNAPSHOT */
	if (ret) {
		/* The callbacks' own failures said what failed already. */
		if (!c->res->msg[0] || ret == -ESTALE)
			return nfail(c, ret, "%s", r.msg);
		return ret;
	}
	c->res->consistent = 1;
	c->res->generation = r.generation;
	return 0;
}

#define PENDING_SUFFIX	".resend"
#define PENDING_MAGIC	"tloop-nbd-resend 1"

/*
 * store_pending() - "<state>.resend", durably: the runs of pages to send
 * again, valid with a baseline of @attach_id and @generation only.
 */
static int store_pending(const char *state, uint64_t attach_id, uint64_t generation,
			 const struct tloop_run *runs, size_t n)
{
	char path[PATH_MAX + 16], tmp[PATH_MAX + 32];
	FILE *f;
	size_t i;
	int ret = 0;

	snprintf(path, sizeof(path), "%s%s", state, PENDING_SUFFIX);
	snprintf(tmp, sizeof(tmp), "%s.%ld", path, (long)getpid());
	f = fopen(tmp, "we");
	if (!f)
		return -errno;
	fprintf(f, "%s\nattach_id %" PRIu64 "\ngeneration %" PRIu64 "\nruns %zu\n",
		PENDING_MAGIC, attach_id, generation, n);
	for (i = 0; i < n; i++)
		fprintf(f, "%" PRIu64 " %" PRIu64 "\n", runs[i].start, runs[i].count);
	fprintf(f, "end\n");
	if (fflush(f) || fsync(fileno(f)) < 0)
		ret = -errno;
	if (fclose(f) && !ret)
		ret = -errno;
	if (!ret && rename(tmp, path) < 0)
		ret = -errno;
	if (ret) {
		unlink(tmp);
		return ret;
	}
	return tloop_fsync_dir_of(path);
}

static void remove_pending(const char *state)
{
	char path[PATH_MAX + 16];

	snprintf(path, sizeof(path), "%s%s", state, PENDING_SUFFIX);
	unlink(path);
}

/*
 * load_pending() - the runs of "<state>.resend" into c->taken when it
 * belongs to the baseline (@attach_id, @generation).  Return: 0 (loaded, or
 * no such file, or one of another baseline: stale, ignored) or -EINVAL (a
 * damaged file for this baseline: the refresh must be full).
 */
static int load_pending(struct nbd_ctx *c, const char *state, uint64_t attach_id,
			uint64_t generation)
{
	char path[PATH_MAX + 16], line[128];
	uint64_t a, g, start, count;
	size_t n, i;
	FILE *f;
	int ret = -EINVAL;

	snprintf(path, sizeof(path), "%s%s", state, PENDING_SUFFIX);
	f = fopen(path, "re");
	if (!f)
		return 0;
	if (!fgets(line, sizeof(line), f) || strcmp(line, PENDING_MAGIC "\n") ||
	    fscanf(f, "attach_id %" SCNu64 " generation %" SCNu64 " runs %zu", &a, &g, &n) != 3)
		goto out;
	if (a != attach_id || g != generation) {
		ret = 0;	/* of another baseline: a later refresh sent its pages */
		goto out;
	}
	for (i = 0; i < n; i++) {
		struct tloop_run r;

		if (fscanf(f, "%" SCNu64 " %" SCNu64, &start, &count) != 2 || !count ||
		    start >= c->nr_pages || count > c->nr_pages - start)
			goto out;
		r.start = start;
		r.count = count;
		if (take_runs(c, &r, 1)) {
			ret = -ENOMEM;
			goto out;
		}
	}
	if (fscanf(f, " %127s", line) != 1 || strcmp(line, "end"))
		goto out;
	ret = 0;
out:
	fclose(f);
	if (ret)
		c->ntaken = 0;
	return ret;
}

/*
 * recover() - after a failure in the middle of a refresh whose clears are
 * all known (c->gen_known): the export equals the device except for the
 * pages still in the written set and those this refresh took out of it
 * (c->taken).  Store the latter, then a baseline of the set's generation
 * after our last clear, both durably: the next refresh sends both, and is
 * incremental.  Any other failure leaves no baseline: a full copy.
 */
static void recover(struct nbd_ctx *c, const char *state, const struct tloop_baseline *b0,
		    int err)
{
	struct tloop_baseline b = *b0;
	char msg[sizeof(c->res->msg)];
	uint64_t pages = 0;
	size_t i;
	int ret;

	if (!c->gen_known || !c->tracking || !c->h || !c->can_flush ||
	    (c->o.flags & TLOOP_SYNC_UNSAFE_NO_FSYNC))
		return;
	/*
	 * A live connection (the failure was on our side, a device read):
	 * let the writes in flight finish, so that none of them lands after
	 * the next refresh's write of the same page.  (A hung server is not
	 * waited for twice; see design.md on what that leaves.)
	 */
	if (err != -ETIMEDOUT && !nbd_gone(c->h)) {
		memcpy(msg, c->res->msg, sizeof(msg));
		c->err = 0;
		while (c->depth - c->nfree > 0 &&
		       !tloop_nbd_wait(c->h, c->uri, c->o.timeout_ms, &c->idle_since,
				       c->res->msg, sizeof(c->res->msg)))
			;
		memcpy(c->res->msg, msg, sizeof(msg));
	}
	for (i = 0; i < c->ntaken; i++)
		pages += c->taken[i].count;
	ret = 0;
	if (c->ntaken)
		ret = store_pending(state, b.attach_id, c->gen_now, c->taken, c->ntaken);
	else
		remove_pending(state);
	if (ret) {
		tloop_log(TLOOP_LOG_WARN, "%s: record the pages to resend in %s%s: %s", c->dev,
			  state, PENDING_SUFFIX, strerror(-ret));
		return;
	}
	b.generation = c->gen_now;
	ret = tloop_baseline_store(state, &b);
	if (ret) {
		tloop_log(TLOOP_LOG_WARN, "%s: record the baseline %s%s: %s", c->dev, state,
			  TLOOP_BASELINE_SUFFIX, strerror(-ret));
		return;
	}
	tloop_log(TLOOP_LOG_WARN, "%s: the next refresh of %s is incremental: the written set "
		  "and %" PRIu64 " pages this one took out of it", c->dev, c->uri, pages);
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
	int64_t smax = tloop_libnbd.nbd_get_block_size(c->h, LIBNBD_SIZE_MAXIMUM);
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
	struct tloop_sync_dev d = { .fd = -1 };
	struct tloop_baseline b = { 0 };
	enum tloop_sync_why why;
	uint64_t generation = 0;
	int64_t esize;
	double t0 = tloop_now();
	int lockfd = -1, ret;
	unsigned int i;

	memset(res, 0, sizeof(*res));
	copy_src_init(&c.src);
	res->via = TLOOP_SYNC_VIA_DEVICE;
	if (opts) {
		size_t n = opts->sz < sizeof(c.o) ? opts->sz : sizeof(c.o);

		memcpy(&c.o, opts, n);
	}
	if (c.o.sz < offsetof(struct tloop_sync_opts, state_dir) + sizeof(c.o.state_dir))
		c.o.state_dir = NULL;
	if (c.o.sz < offsetof(struct tloop_sync_opts, timeout_ms) + sizeof(c.o.timeout_ms))
		c.o.timeout_ms = 0;
	if (c.o.sz < offsetof(struct tloop_sync_opts, via) + sizeof(c.o.via))
		c.o.via = TLOOP_SYNC_VIA_AUTO;
	if (c.o.sz < offsetof(struct tloop_sync_opts, consumer) + sizeof(c.o.consumer))
		c.o.consumer = NULL;
	if (c.o.via > TLOOP_SYNC_VIA_REFLINK) {
		ret = nfail(&c, -EINVAL, "unknown source %u", c.o.via);
		goto out;
	}
	/* libnbd is loaded here, the first time it is needed (nbdapi.c). */
	ret = tloop_libnbd_load(res->msg, sizeof(res->msg));
	if (ret) {
		tloop_log(TLOOP_LOG_WARN, "%s: %s", dev, res->msg);
		goto out;
	}

	/* The device, its consumer and its set: the local engine's checks (sync.c). */
	ret = tloop_sync_open_dev(dev, c.o.consumer, &d, res);
	if (ret)
		goto out;
	c.fd = d.fd;
	c.consumer = d.consumer;
	c.nr_pages = d.nr_pages;
	c.tracking = d.tracking;
	tloop_sync_baseline_init(&d, res, &b);

	/* 1. Every check that can refuse, before anything changes. */
	ret = tloop_sync_check_consistent(dev, c.o.flags, &d, res);
	if (ret)
		goto out;
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
	ret = tloop_nbd_connect(uri, c.o.timeout_ms, &c.h, res->msg, sizeof(res->msg));
	if (ret) {
		tloop_log(TLOOP_LOG_WARN, "%s: %s", dev, res->msg);
		goto out;
	}
	c.can_flush = tloop_libnbd.nbd_can_flush(c.h) == 1;
	if (tloop_libnbd.nbd_is_read_only(c.h) == 1) {
		ret = nfail(&c, -EROFS, "the export %s is read-only", uri);
		goto out;
	}
	esize = tloop_libnbd.nbd_get_size(c.h);
	if (esize < 0) {
		ret = nfail(&c, nbd_err(), "size of %s: %s", uri, tloop_libnbd.nbd_get_error());
		goto out;
	}
	if ((uint64_t)esize < d.info.dev_size) {
		ret = nfail(&c, -ENOSPC, "the export %s is %" PRId64 " bytes, %s is %" PRIu64
			    " bytes", uri, esize, dev, (uint64_t)d.info.dev_size);
		goto out;
	}
	/* The state file records the consumer: another one's means a full copy. */
	why = tloop_sync_decide(state, &d.ts, res, c.consumer, c.o.flags, 0, &generation);
	ret = setup(&c);
	if (ret)
		goto out;
	/* Pages a failed refresh left to send again belong to this baseline. */
	if (why == TLOOP_SYNC_WHY_INCREMENTAL &&
	    load_pending(&c, state, d.info.attach_id, generation)) {
		tloop_log(TLOOP_LOG_WARN, "%s: %s%s is damaged: copying everything", dev, state,
			  PENDING_SUFFIX);
		why = TLOOP_SYNC_WHY_NO_BASELINE;
	}
	c.gen_known = why == TLOOP_SYNC_WHY_INCREMENTAL;
	c.gen_now = generation;
	ret = tloop_open_read(dev, !!(c.o.flags & TLOOP_SYNC_BUFFERED), &c.rfd, &c.bfd);
	if (ret) {
		ret = nfail(&c, ret, "open %s for reading", dev);
		goto out;
	}
	c.direct = c.rfd != c.bfd;
	/*
	 * The backing file as the source (copy.c; no clones: the export is
	 * elsewhere).  --consistent sends the snapshot's pages, never these.
	 */
	if (!(c.o.flags & TLOOP_SYNC_CONSISTENT)) {
		char why_dev[PATH_MAX + 64];

		enum tloop_sync_via via = c.o.via == TLOOP_SYNC_VIA_REFLINK ?
					  TLOOP_SYNC_VIA_BACKING : (enum tloop_sync_via)c.o.via;

		if (copy_src_open(&c.src, via, c.fd, &d.st, why_dev, sizeof(why_dev)))
			tloop_log(c.o.via == TLOOP_SYNC_VIA_AUTO ? TLOOP_LOG_DEBUG : TLOOP_LOG_INFO,
				  "%s: reading the device, not its backing file", dev);
		res->via = c.src.via;
	}

	/* 2. From here on the export and the set change: no baseline until done. */
	ret = tloop_baseline_remove(state);
	if (ret) {
		ret = nfail(&c, ret, "remove the baseline %s%s", state, TLOOP_BASELINE_SUFFIX);
		goto out;
	}
	/* 3. The written set, cleared and sent; every reply received. */
	c.idle_since = ms_now();
	c.total = why == TLOOP_SYNC_WHY_INCREMENTAL ? d.ts.written * d.ts.page_size :
						      d.info.dev_size;
	for (i = 0; i < c.ntaken; i++)
		c.total += c.taken[i].count * d.ts.page_size;
	/*
	 * 4. The server's answer to a flush: the writes are on its stable
	 * storage (with --consistent, before the snapshot ends as copied).
	 */
	if (c.o.flags & TLOOP_SYNC_CONSISTENT) {
		ret = nbd_consistent(&c, why, generation);
	} else {
		if (why == TLOOP_SYNC_WHY_INCREMENTAL)
			ret = nbd_incremental(&c, generation);
		else
			ret = nbd_full(&c, why);
		if (!ret)
			ret = flush_export(&c);
	}
	if (ret) {
		recover(&c, state, &b, ret);
		goto out;
	}
	if (c.flush_none) {
		tloop_log(TLOOP_LOG_WARN, "%s: %s cannot flush: no baseline recorded, "
			  "the next refresh copies everything", dev, uri);
		goto done;
	}
	/* 5. */
	if (c.tracking) {
		b.generation = res->generation;
		ret = tloop_baseline_store(state, &b);
		if (ret) {
			ret = nfail(&c, ret, "record the baseline %s%s", state,
				    TLOOP_BASELINE_SUFFIX);
			goto out;
		}
		res->baseline = 1;
		/* Sent now; a leftover would be ignored (another generation). */
		remove_pending(state);
	}
done:
	tloop_libnbd.nbd_shutdown(c.h, 0);
	ret = 0;
out:
	/* The handle goes first: libnbd may hold the buffers until then. */
	if (c.h)
		tloop_libnbd.nbd_close(c.h);
	if (c.slots)
		for (i = 0; i < c.depth; i++)
			free(c.slots[i].buf);
	free(c.slots);
	free(c.free);
	free(c.pages);
	free(c.runs);
	free(c.taken);
	res->direct = c.direct;
	res->bytes_backing_read = atomic_load(&c.src.bytes_read);
	copy_src_close(&c.src);
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
