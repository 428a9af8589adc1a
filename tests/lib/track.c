// SPDX-License-Identifier: GPL-2.0
/*
 * track.c - page-write tracking: a device with a backing file in the test's
 * directory, the tracking ioctls, a full walk of the written set through the
 * cursor, a page-set oracle and a seeded random generator.
 */
#include "tlt.h"

/* What tlt_track_cleanup() undoes at exit, in the process that made them. */
#define TRACK_MAX_DEVS 4
#define TRACK_MAX_MAPS 64
static struct tlt_tdev *track_devs[TRACK_MAX_DEVS];
static struct { void *addr; size_t len; } track_maps[TRACK_MAX_MAPS];
static pid_t track_owner;

uint8_t *tlt_map_node(const char *node, size_t len, int *fd)
{
	void *m;

	*fd = open(node, O_RDWR);
	if (*fd < 0)
		return NULL;
	m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, *fd, 0);
	if (m == MAP_FAILED) {
		int err = errno;

		close(*fd);
		errno = err;
		return NULL;
	}
	return m;
}

void tlt_unmap(void *addr, size_t len)
{
	for (int i = 0; i < TRACK_MAX_MAPS; i++)
		if (track_maps[i].addr == addr) {
			track_maps[i].addr = NULL;
			break;
		}
	munmap(addr, len);
}

void *tlt_map(int fd, size_t len, off_t off)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, off);

	if (p == MAP_FAILED)
		tlt_bail("mmap %zu bytes at %lld", len, (long long)off);
	for (int i = 0; i < TRACK_MAX_MAPS; i++)
		if (!track_maps[i].addr) {
			track_maps[i].addr = p;
			track_maps[i].len = len;
			break;
		}
	return p;
}

int tlt_tdev_close(struct tlt_tdev *d)
{
	int ret;

	if (d->fd >= 0)
		close(d->fd);
	d->fd = -1;
	ret = tlt_remove(d->ctl, d->index);
	close(d->ctl);
	unlink(d->backing);
	for (int i = 0; i < TRACK_MAX_DEVS; i++)
		if (track_devs[i] == d)
			track_devs[i] = NULL;
	return ret;
}

/* track_cleanup() - at exit: unmap the tlt_map()s, remove the tlt_tdev_adopt()s. */
static void track_cleanup(void)
{
	if (getpid() != track_owner)
		return;
	for (int i = 0; i < TRACK_MAX_MAPS; i++)
		if (track_maps[i].addr) {
			munmap(track_maps[i].addr, track_maps[i].len);
			track_maps[i].addr = NULL;
		}
	for (int i = 0; i < TRACK_MAX_DEVS; i++)
		if (track_devs[i]) {
			int ret = tlt_tdev_close(track_devs[i]);

			if (ret)
				printf("# cleanup: removing tloop device failed: %s\n",
				       tlt_errname(-ret));
		}
}

struct tlt_tdev *tlt_tdev_adopt(int index, const char *backing, uint64_t size)
{
	struct tlt_tdev *d = calloc(1, sizeof(*d));
	struct tloop_track_status st;
	int slot;

	if (!d)
		tlt_bail("calloc");
	if (!track_owner) {
		track_owner = getpid();
		atexit(track_cleanup);
	}
	for (slot = 0; slot < TRACK_MAX_DEVS && track_devs[slot]; slot++)
		;
	if (slot == TRACK_MAX_DEVS)
		tlt_bail("too many devices");
	d->fd = -1;
	d->ctl = tlt_ctl_open();
	d->index = index;
	snprintf(d->backing, sizeof(d->backing), "%s", backing);
	track_devs[slot] = d;
	d->size = size;
	d->nr_pages = (size + TLT_PAGE - 1) / TLT_PAGE;
	tlt_dev_path(d->node, sizeof(d->node), d->index);
	for (int tries = 0; tries < 100; tries++) {
		d->fd = open(d->node, O_RDWR | O_CLOEXEC);
		if (d->fd >= 0 || errno != ENOENT)
			break;
		usleep(20000);
	}
	if (d->fd < 0)
		tlt_bail("open %s", d->node);
	/* The tests count pages of TLT_PAGE bytes: the kernel must track in those. */
	if (!tlt_status(d->fd, &st) && st.page_size != TLT_PAGE)
		tlt_bail("TLOOP_TRACK_STATUS page_size %u, but the page size is %zu", st.page_size,
			 TLT_PAGE);
	return d;
}

struct tlt_tdev *tlt_tdev_open(const char *name, uint64_t size, unsigned int flags)
{
	int ctl = tlt_ctl_open();
	int index = tlt_add(ctl, name, (off_t)size, flags, 512);

	if (index < 0) {
		errno = -index;
		tlt_bail("TLOOP_CTL_ADD of %s (%" PRIu64 " bytes)", name, size);
	}
	close(ctl);
	return tlt_tdev_adopt(index, name, size);
}

int tlt_enable(int fd, uint64_t mem_limit)
{
	struct tloop_track_enable en = { .size = sizeof(en), .mem_limit = mem_limit };

	return ioctl(fd, TLOOP_TRACK_ENABLE, &en) < 0 ? -errno : 0;
}

int tlt_disable(int fd)
{
	return ioctl(fd, TLOOP_TRACK_DISABLE) < 0 ? -errno : 0;
}

int tlt_status(int fd, struct tloop_track_status *st)
{
	memset(st, 0, sizeof(*st));
	st->size = sizeof(*st);
	return ioctl(fd, TLOOP_TRACK_STATUS, st) < 0 ? -errno : 0;
}

int tlt_clear(int fd, unsigned int flags, uint64_t start, uint64_t end,
	      uint64_t *generation)
{
	struct tloop_clear c = { .size = sizeof(c), .flags = flags, .start = start, .end = end };

	if (ioctl(fd, TLOOP_CLEAR_WRITTEN, &c) < 0)
		return -errno;
	if (generation)
		*generation = c.generation;
	return 0;
}

void tlt_clear_all(int fd)
{
	int ret = tlt_clear(fd, TLOOP_CLEAR_ALL, 0, 0, NULL);

	if (ret) {
		errno = -ret;
		tlt_bail("TLOOP_CLEAR_WRITTEN all");
	}
}

void tlt_pages_free(struct tlt_pages *p)
{
	free(p->v);
	memset(p, 0, sizeof(*p));
}

void tlt_pages_push(struct tlt_pages *p, uint64_t page)
{
	if (p->n == p->cap) {
		p->cap = p->cap ? p->cap * 2 : 256;
		p->v = realloc(p->v, p->cap * sizeof(*p->v));
		if (!p->v)
			tlt_bail("realloc");
	}
	p->v[p->n++] = page;
}

int tlt_get_one(int fd, unsigned int flags, uint64_t cursor, uint64_t end,
		uint64_t *buf, uint32_t capacity, struct tloop_written *w)
{
	return tlt_cget_one(fd, 0, flags, cursor, end, buf, capacity, w);
}

int tlt_cget_one(int fd, uint32_t id, unsigned int flags, uint64_t cursor, uint64_t end,
		 uint64_t *buf, uint32_t capacity, struct tloop_written *w)
{
	memset(w, 0, sizeof(*w));
	w->size = sizeof(*w);
	w->consumer = id;
	w->flags = flags;
	w->cursor = cursor;
	w->end = end;
	w->pages = (uint64_t)(uintptr_t)buf;
	w->capacity = capacity;
	return ioctl(fd, TLOOP_GET_WRITTEN, w) < 0 ? -errno : 0;
}

int tlt_get_all(int fd, unsigned int flags, uint32_t capacity, uint64_t nr_pages,
		struct tlt_pages *out)
{
	return tlt_cget_all(fd, 0, flags, capacity, nr_pages, out);
}

int tlt_cget_all(int fd, uint32_t id, unsigned int flags, uint32_t capacity, uint64_t nr_pages,
		 struct tlt_pages *out)
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

		ret = tlt_cget_one(fd, id, flags, cursor, 0, buf, capacity, &w);
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
			tlt_pages_push(out, buf[i]);
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

void tlt_get_all_or_bail(int fd, unsigned int flags, uint32_t capacity,
			 uint64_t nr_pages, struct tlt_pages *out)
{
	int ret = tlt_get_all(fd, flags, capacity, nr_pages, out);

	if (ret) {
		errno = -ret;
		tlt_bail("TLOOP_GET_WRITTEN walk (flags %#x, capacity %u)", flags, capacity);
	}
}

void tlt_set_init(struct tlt_set *s, uint64_t nr_pages)
{
	s->nr = nr_pages;
	s->bit = calloc(nr_pages ? nr_pages : 1, 1);
	if (!s->bit)
		tlt_bail("calloc %" PRIu64, nr_pages);
}

void tlt_set_reset(struct tlt_set *s)
{
	memset(s->bit, 0, s->nr);
}

void tlt_set_free(struct tlt_set *s)
{
	free(s->bit);
	s->bit = NULL;
}

void tlt_set_bytes(struct tlt_set *s, uint64_t off, uint64_t len)
{
	if (!len)
		return;
	for (uint64_t p = off / TLT_PAGE; p <= (off + len - 1) / TLT_PAGE && p < s->nr; p++)
		s->bit[p] = 1;
}

uint64_t tlt_set_count(const struct tlt_set *s)
{
	uint64_t n = 0;

	for (uint64_t i = 0; i < s->nr; i++)
		n += !!s->bit[i];
	return n;
}

bool tlt_set_diff(const struct tlt_set *want, const struct tlt_pages *got,
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
			 PRIu64 " extra)", what, tlt_set_count(want), got->n, nmiss, nextra);
	free(seen);
	if (missing)
		*missing = nmiss;
	if (extra)
		*extra = nextra;
	return !nmiss && !nextra;
}

int tlt_check_get(int fd, unsigned int flags, uint32_t capacity,
		  const struct tlt_set *want, const char *name)
{
	struct tlt_pages got = { 0 };
	int ret = tlt_get_all(fd, flags, capacity, want->nr, &got);
	bool ok;

	if (ret) {
		tlt_diag("%s: GET_WRITTEN failed: %s", name, tlt_errname(-ret));
		tlt_pages_free(&got);
		return tlt_result(0, "%s", name);
	}
	ok = tlt_set_diff(want, &got, name, NULL, NULL);
	if (got.status & TLOOP_TRACK_OVERFLOW) {
		tlt_diag("%s: set reports TLOOP_TRACK_OVERFLOW", name);
		ok = false;
	}
	tlt_pages_free(&got);
	return tlt_result(ok, "%s", name);
}

/* Seeded generator (splitmix64): fixed default seed, TLOOP_SEED overrides it. */
static uint64_t rng_state;

uint64_t tlt_seed(uint64_t dflt)
{
	const char *s = getenv("TLOOP_SEED");

	rng_state = s ? strtoull(s, NULL, 0) : dflt;
	tlt_diag("seed %#" PRIx64 " (set TLOOP_SEED to change)", rng_state);
	return rng_state;
}

void tlt_rand_seed(uint64_t seed)
{
	rng_state = seed;
}

uint64_t tlt_rand_r(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

uint64_t tlt_rand(void)
{
	return tlt_rand_r(&rng_state);
}

uint64_t tlt_rand_below(uint64_t n)
{
	return n ? tlt_rand() % n : 0;
}


void tlt_touch(volatile uint8_t *p)
{
	*p = (uint8_t)(*p + 1);
}

bool tlt_wait_ok(pid_t pid)
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

uint64_t tlt_require_tracking(void)
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

