/* SPDX-License-Identifier: GPL-2.0 */
/*
 * tlt-track.h - helpers for the page-write tracking tests (tests/3x-track-*,
 * tests/4x-track-*): a device with a backing file in the test's directory,
 * tracking ioctl wrappers, a full walk of the written set through the cursor,
 * a page-set oracle and a seeded random generator.
 */
#ifndef TLT_TRACK_H
#define TLT_TRACK_H

#include "tlt.h"

#include <stdbool.h>
#include <stddef.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>

#define TTK_PAGE 4096UL

/* One device under test, removed at exit (also when a test bails). */
struct ttk_dev {
	int ctl;
	int index;
	int fd;		/* O_RDWR, buffered */
	char node[64];
	char backing[96];
	uint64_t size;
	uint64_t nr_pages;
};

#define TTK_MAX_DEVS 4
#define TTK_MAX_MAPS 64
static struct ttk_dev *ttk_devs[TTK_MAX_DEVS];
static struct { void *addr; size_t len; } ttk_maps[TTK_MAX_MAPS];
static pid_t ttk_owner;

/* ttk_unmap() - unmap a mapping made with ttk_map(). */
static inline void ttk_unmap(void *addr, size_t len)
{
	for (int i = 0; i < TTK_MAX_MAPS; i++)
		if (ttk_maps[i].addr == addr) {
			ttk_maps[i].addr = NULL;
			break;
		}
	munmap(addr, len);
}

/* ttk_map() - MAP_SHARED read-write mapping of @len bytes of @fd at @off, or bail. */
static inline void *ttk_map(int fd, size_t len, off_t off)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, off);

	if (p == MAP_FAILED)
		tlt_bail("mmap %zu bytes at %lld", len, (long long)off);
	for (int i = 0; i < TTK_MAX_MAPS; i++)
		if (!ttk_maps[i].addr) {
			ttk_maps[i].addr = p;
			ttk_maps[i].len = len;
			break;
		}
	return p;
}

/* ttk_dev_close() - close the node and remove the device; returns 0 or -errno. */
static inline int ttk_dev_close(struct ttk_dev *d)
{
	int ret;

	if (d->fd >= 0)
		close(d->fd);
	d->fd = -1;
	ret = tlt_remove(d->ctl, d->index);
	close(d->ctl);
	unlink(d->backing);
	for (int i = 0; i < TTK_MAX_DEVS; i++)
		if (ttk_devs[i] == d)
			ttk_devs[i] = NULL;
	return ret;
}

static inline void ttk_track_cleanup(void)
{
	if (getpid() != ttk_owner)
		return;
	for (int i = 0; i < TTK_MAX_MAPS; i++)
		if (ttk_maps[i].addr) {
			munmap(ttk_maps[i].addr, ttk_maps[i].len);
			ttk_maps[i].addr = NULL;
		}
	for (int i = 0; i < TTK_MAX_DEVS; i++)
		if (ttk_devs[i]) {
			int ret = ttk_dev_close(ttk_devs[i]);

			if (ret)
				printf("# cleanup: removing tloop device failed: %s\n",
				       tlt_errname(-ret));
		}
}

/*
 * ttk_dev_open() - create a @size-byte (sparse) backing file @name in the
 * current directory, attach it with @flags, open the node read-write.
 * Bails on failure; the device is removed at exit if the test does not.
 */
static inline struct ttk_dev *ttk_dev_open(const char *name, uint64_t size, unsigned int flags)
{
	struct ttk_dev *d = calloc(1, sizeof(*d));
	int slot;

	if (!d)
		tlt_bail("calloc");
	if (!ttk_owner) {
		ttk_owner = getpid();
		atexit(ttk_track_cleanup);
	}
	for (slot = 0; slot < TTK_MAX_DEVS && ttk_devs[slot]; slot++)
		;
	if (slot == TTK_MAX_DEVS)
		tlt_bail("too many devices");
	d->fd = -1;
	d->ctl = tlt_ctl_open();
	snprintf(d->backing, sizeof(d->backing), "%s", name);
	d->index = tlt_add(d->ctl, d->backing, (off_t)size, flags, 512);
	if (d->index < 0) {
		errno = -d->index;
		tlt_bail("TLOOP_CTL_ADD of %s (%" PRIu64 " bytes)", name, size);
	}
	ttk_devs[slot] = d;
	d->size = size;
	d->nr_pages = (size + TTK_PAGE - 1) / TTK_PAGE;
	tlt_dev_path(d->node, sizeof(d->node), d->index);
	for (int tries = 0; tries < 100; tries++) {
		d->fd = open(d->node, O_RDWR | O_CLOEXEC);
		if (d->fd >= 0 || errno != ENOENT)
			break;
		usleep(20000);
	}
	if (d->fd < 0)
		tlt_bail("open %s", d->node);
	return d;
}

/* ttk_enable() - TLOOP_TRACK_ENABLE with @mem_limit; returns 0 or -errno. */
static inline int ttk_enable(int fd, uint64_t mem_limit)
{
	struct tloop_track_enable en = { .size = sizeof(en), .mem_limit = mem_limit };

	return ioctl(fd, TLOOP_TRACK_ENABLE, &en) < 0 ? -errno : 0;
}

/* ttk_disable() - TLOOP_TRACK_DISABLE; returns 0 or -errno. */
static inline int ttk_disable(int fd)
{
	return ioctl(fd, TLOOP_TRACK_DISABLE) < 0 ? -errno : 0;
}

/* ttk_status() - TLOOP_TRACK_STATUS into @st; returns 0 or -errno. */
static inline int ttk_status(int fd, struct tloop_track_status *st)
{
	memset(st, 0, sizeof(*st));
	st->size = sizeof(*st);
	return ioctl(fd, TLOOP_TRACK_STATUS, st) < 0 ? -errno : 0;
}

/* ttk_clear() - TLOOP_CLEAR_WRITTEN of [@start, @end), or all with @flags; 0 or -errno. */
static inline int ttk_clear(int fd, unsigned int flags, uint64_t start, uint64_t end,
			    uint64_t *generation)
{
	struct tloop_clear c = { .size = sizeof(c), .flags = flags, .start = start, .end = end };

	if (ioctl(fd, TLOOP_CLEAR_WRITTEN, &c) < 0)
		return -errno;
	if (generation)
		*generation = c.generation;
	return 0;
}

/* ttk_clear_all() - clear the whole set, or bail. */
static inline void ttk_clear_all(int fd)
{
	int ret = ttk_clear(fd, TLOOP_CLEAR_ALL, 0, 0, NULL);

	if (ret) {
		errno = -ret;
		tlt_bail("TLOOP_CLEAR_WRITTEN all");
	}
}

/* A list of page indices as the kernel returned them. */
struct ttk_pages {
	uint64_t *v;
	size_t n, cap;
	uint32_t status;	/* status of the last call */
	uint64_t generation;	/* generation of the last call */
	unsigned int calls;
};

static inline void ttk_pages_free(struct ttk_pages *p)
{
	free(p->v);
	memset(p, 0, sizeof(*p));
}

static inline void ttk_pages_push(struct ttk_pages *p, uint64_t page)
{
	if (p->n == p->cap) {
		p->cap = p->cap ? p->cap * 2 : 256;
		p->v = realloc(p->v, p->cap * sizeof(*p->v));
		if (!p->v)
			tlt_bail("realloc");
	}
	p->v[p->n++] = page;
}

/*
 * ttk_get_one() - one TLOOP_GET_WRITTEN call from @cursor with @capacity
 * entries into @buf; fills @w.  Returns 0 or -errno.
 */
static inline int ttk_get_one(int fd, unsigned int flags, uint64_t cursor, uint64_t end,
			      uint64_t *buf, uint32_t capacity, struct tloop_written *w)
{
	memset(w, 0, sizeof(*w));
	w->size = sizeof(*w);
	w->flags = flags;
	w->cursor = cursor;
	w->end = end;
	w->pages = (uint64_t)(uintptr_t)buf;
	w->capacity = capacity;
	return ioctl(fd, TLOOP_GET_WRITTEN, w) < 0 ? -errno : 0;
}

/*
 * ttk_get_all() - walk the written set from page 0 to the end with batches
 * of @capacity entries, appending to @out.  Checks the protocol as it goes
 * (count <= capacity, ascending, within the device, cursor progress) and
 * prints what was wrong.  Returns 0, -errno of a failing call, or -EPROTO
 * when the kernel broke the protocol.
 */
static inline int ttk_get_all(int fd, unsigned int flags, uint32_t capacity, uint64_t nr_pages,
			      struct ttk_pages *out)
{
	uint64_t *buf = malloc((size_t)capacity * sizeof(*buf));
	uint64_t cursor = 0, last = 0;
	bool any = false;
	int ret = 0;

	if (!buf)
		tlt_bail("malloc");
	out->calls = 0;
	for (;;) {
		struct tloop_written w;

		ret = ttk_get_one(fd, flags, cursor, 0, buf, capacity, &w);
		if (ret)
			break;
		out->calls++;
		out->status = w.status;
		out->generation = w.generation;
		if (w.count > capacity) {
			tlt_diag("GET_WRITTEN count %u > capacity %u", w.count, capacity);
			ret = -EPROTO;
			break;
		}
		for (uint32_t i = 0; i < w.count; i++) {
			if (buf[i] >= nr_pages || buf[i] < cursor || (any && buf[i] <= last)) {
				tlt_diag("GET_WRITTEN page %" PRIu64 " out of order/range"
					 " (cursor %" PRIu64 ", previous %" PRIu64 ", nr_pages %"
					 PRIu64 ")", buf[i], cursor, last, nr_pages);
				ret = -EPROTO;
				goto out;
			}
			last = buf[i];
			any = true;
			ttk_pages_push(out, buf[i]);
		}
		if (w.next_cursor == TLOOP_CURSOR_END)
			break;
		if (w.next_cursor <= cursor || w.next_cursor > nr_pages ||
		    (w.count && w.next_cursor <= last)) {
			tlt_diag("GET_WRITTEN next_cursor %" PRIu64 " after cursor %" PRIu64
				 " (last page %" PRIu64 ", nr_pages %" PRIu64 ")",
				 (uint64_t)w.next_cursor, cursor, last, nr_pages);
			ret = -EPROTO;
			break;
		}
		if (out->calls > nr_pages + 2) {
			tlt_diag("GET_WRITTEN walk does not end");
			ret = -EPROTO;
			break;
		}
		cursor = w.next_cursor;
	}
out:
	free(buf);
	return ret;
}

/* ttk_get_all_or_bail() - ttk_get_all() that bails on error. */
static inline void ttk_get_all_or_bail(int fd, unsigned int flags, uint32_t capacity,
				       uint64_t nr_pages, struct ttk_pages *out)
{
	int ret = ttk_get_all(fd, flags, capacity, nr_pages, out);

	if (ret) {
		errno = -ret;
		tlt_bail("TLOOP_GET_WRITTEN walk (flags %#x, capacity %u)", flags, capacity);
	}
}

/* The ground truth: one byte per page, non-zero = written. */
struct ttk_set {
	uint8_t *bit;
	uint64_t nr;
};

static inline void ttk_set_init(struct ttk_set *s, uint64_t nr_pages)
{
	s->nr = nr_pages;
	s->bit = calloc(nr_pages ? nr_pages : 1, 1);
	if (!s->bit)
		tlt_bail("calloc %" PRIu64, nr_pages);
}

static inline void ttk_set_reset(struct ttk_set *s)
{
	memset(s->bit, 0, s->nr);
}

static inline void ttk_set_free(struct ttk_set *s)
{
	free(s->bit);
	s->bit = NULL;
}

/* ttk_set_bytes() - mark every page covered by the bytes [@off, @off + @len). */
static inline void ttk_set_bytes(struct ttk_set *s, uint64_t off, uint64_t len)
{
	if (!len)
		return;
	for (uint64_t p = off / TTK_PAGE; p <= (off + len - 1) / TTK_PAGE && p < s->nr; p++)
		s->bit[p] = 1;
}

static inline uint64_t ttk_set_count(const struct ttk_set *s)
{
	uint64_t n = 0;

	for (uint64_t i = 0; i < s->nr; i++)
		n += !!s->bit[i];
	return n;
}

/*
 * ttk_set_diff() - compare the reported pages with the expected set: print up
 * to 8 missing and 8 extra pages.  @missing/@extra receive the counts (may be NULL).
 * Returns true when they are equal.
 */
static inline bool ttk_set_diff(const struct ttk_set *want, const struct ttk_pages *got,
				const char *what, uint64_t *missing, uint64_t *extra)
{
	uint8_t *seen = calloc(want->nr ? want->nr : 1, 1);
	uint64_t nmiss = 0, nextra = 0;

	if (!seen)
		tlt_bail("calloc");
	for (size_t i = 0; i < got->n; i++) {
		uint64_t p = got->v[i];

		if (p < want->nr && seen[p]) {
			if (nextra++ < 8)
				tlt_diag("%s: page %" PRIu64 " reported twice", what, p);
			continue;
		}
		if (p < want->nr)
			seen[p] = 1;
		if (p >= want->nr || !want->bit[p]) {
			if (nextra++ < 8)
				tlt_diag("%s: page %" PRIu64 " reported but not written", what, p);
		}
	}
	for (uint64_t p = 0; p < want->nr; p++)
		if (want->bit[p] && !seen[p] && nmiss++ < 8)
			tlt_diag("%s: page %" PRIu64 " written but not reported", what, p);
	if (nmiss || nextra)
		tlt_diag("%s: expected %" PRIu64 " pages, got %zu (%" PRIu64 " missing, %"
			 PRIu64 " extra)", what, ttk_set_count(want), got->n, nmiss, nextra);
	free(seen);
	if (missing)
		*missing = nmiss;
	if (extra)
		*extra = nextra;
	return !nmiss && !nextra;
}

/*
 * ttk_check_get() - walk the set (capacity @capacity, @flags) and report one
 * KTAP result "name": reported == @want.  Returns ok.
 */
static inline int ttk_check_get(int fd, unsigned int flags, uint32_t capacity,
				const struct ttk_set *want, const char *name)
{
	struct ttk_pages got = { 0 };
	int ret = ttk_get_all(fd, flags, capacity, want->nr, &got);
	bool ok;

	if (ret) {
		tlt_diag("%s: GET_WRITTEN failed: %s", name, tlt_errname(-ret));
		ttk_pages_free(&got);
		return tlt_result(0, "%s", name);
	}
	ok = ttk_set_diff(want, &got, name, NULL, NULL);
	if (got.status & TLOOP_TRACK_OVERFLOW) {
		tlt_diag("%s: set reports TLOOP_TRACK_OVERFLOW", name);
		ok = false;
	}
	ttk_pages_free(&got);
	return tlt_result(ok, "%s", name);
}

/* Seeded generator (splitmix64): fixed default seed, TLOOP_SEED overrides it. */
static uint64_t ttk_rng_state;

static inline uint64_t ttk_seed(uint64_t dflt)
{
	const char *s = getenv("TLOOP_SEED");

	ttk_rng_state = s ? strtoull(s, NULL, 0) : dflt;
	tlt_diag("seed %#" PRIx64 " (set TLOOP_SEED to change)", ttk_rng_state);
	return ttk_rng_state;
}

static inline uint64_t ttk_rand_r(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static inline uint64_t ttk_rand(void)
{
	return ttk_rand_r(&ttk_rng_state);
}

/* ttk_rand_below() - uniform-enough value in [0, @n). */
static inline uint64_t ttk_rand_below(uint64_t n)
{
	return n ? ttk_rand() % n : 0;
}

/* ttk_scale() - TLOOP_SCALE from the environment (default 1, at least 1). */
static inline unsigned long ttk_scale(void)
{
	const char *s = getenv("TLOOP_SCALE");
	unsigned long v = s ? strtoul(s, NULL, 10) : 1;

	return v ? v : 1;
}

/* ttk_now() - monotonic seconds. */
static inline double ttk_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ttk_touch() - store one byte (a changing value) into @p. */
static inline void ttk_touch(volatile uint8_t *p)
{
	*p = (uint8_t)(*p + 1);
}

/* ttk_pwrite_all() - pwrite everything or bail. */
static inline void ttk_pwrite_all(int fd, const void *buf, size_t len, off_t off)
{
	const char *b = buf;

	while (len) {
		ssize_t n = pwrite(fd, b, len, off);

		if (n <= 0)
			tlt_bail("pwrite %zu bytes at %lld", len, (long long)off);
		b += n;
		len -= (size_t)n;
		off += n;
	}
}

/* ttk_pread_all() - pread everything or bail. */
static inline void ttk_pread_all(int fd, void *buf, size_t len, off_t off)
{
	char *b = buf;

	while (len) {
		ssize_t n = pread(fd, b, len, off);

		if (n <= 0)
			tlt_bail("pread %zu bytes at %lld", len, (long long)off);
		b += n;
		len -= (size_t)n;
		off += n;
	}
}

/* ttk_wait_ok() - wait for @pid; true when it exited with status 0. */
static inline bool ttk_wait_ok(pid_t pid)
{
	int st;

	if (waitpid(pid, &st, 0) != pid)
		return false;
	if (!WIFEXITED(st) || WEXITSTATUS(st)) {
		tlt_diag("child %d ended with status %#x", (int)pid, st);
		return false;
	}
	return true;
}

/* ttk_require_tracking() - skip the whole test if the module lacks tracking. */
static inline uint64_t ttk_require_tracking(void)
{
	struct tloop_version v = { .size = sizeof(v) };
	int ctl = open(TLOOP_CONTROL_NODE, O_RDWR | O_CLOEXEC);

	if (ctl < 0)
		tlt_bail("open %s", TLOOP_CONTROL_NODE);
	if (ioctl(ctl, TLOOP_CTL_VERSION, &v) < 0)
		tlt_bail("TLOOP_CTL_VERSION");
	close(ctl);
	if (!(v.features & TLOOP_FEAT_TRACKING))
		tlt_skip_all("module does not report TLOOP_FEAT_TRACKING");
	return v.features;
}

#endif /* TLT_TRACK_H */
