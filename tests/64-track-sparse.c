// SPDX-License-Identifier: GPL-2.0
/*
 * 64-track-sparse: the written set's index (a B+tree of 16-byte region
 * entries) against ground truth on large sparse devices (1 TiB and
 * TLOOP_MAX_DEV_SIZE on tmpfs): isolated random pages, ascending regions,
 * region-boundary pairs and clustered pages (inline, array and bitmap
 * leaves), each listed exactly and within 22 bytes per written page plus a
 * fixed 12 KiB; partial clears (CLEAR range and GET+CLEAR of a window) that
 * leave exactly the rest and shrink the memory; the memory limit hit at the
 * root block's growth and at a split (overflowed, never past the limit,
 * CLEAR_ALL recovers); and writer threads adding new regions while two
 * consumer threads get-and-clear, with every written page reported (zero
 * loss) and nothing else.  Writes are single-page discards (recorded like
 * any write, free on tmpfs).
 *
 * tloop-timeout: 600
 */
#include "tlt.h"

#include <pthread.h>
#include <sys/ioctl.h>
#include <linux/fs.h>

#define REGION		32768ULL	/* pages per region of the set (4 KiB pages) */
#define PER_PAGE	22		/* bytes per isolated written page, at most */
#define FIXED		12288		/* plus this: the root and interior blocks */
#define NISOLATED	4000
#define WRITERS		4
#define CLEARERS	2
#define PER_WRITER	3000

struct vec {
	uint64_t *v;
	size_t n, cap;
};

static void vec_push(struct vec *a, uint64_t x)
{
	if (a->n == a->cap) {
		a->cap = a->cap ? 2 * a->cap : 1024;
		a->v = realloc(a->v, a->cap * sizeof(*a->v));
		if (!a->v)
			tlt_bail("realloc");
	}
	a->v[a->n++] = x;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Sort and drop duplicates. */
static void vec_norm(struct vec *a)
{
	size_t k = 0;

	qsort(a->v, a->n, sizeof(*a->v), cmp_u64);
	for (size_t i = 0; i < a->n; i++)
		if (!k || a->v[k - 1] != a->v[i])
			a->v[k++] = a->v[i];
	a->n = k;
}

static bool vec_has(const struct vec *a, uint64_t x)
{
	return bsearch(&x, a->v, a->n, sizeof(x), cmp_u64) != NULL;
}

/* Remove the pages of [@lo, @hi) from the normalised @a. */
static void vec_cut(struct vec *a, uint64_t lo, uint64_t hi)
{
	size_t k = 0;

	for (size_t i = 0; i < a->n; i++)
		if (a->v[i] < lo || a->v[i] >= hi)
			a->v[k++] = a->v[i];
	a->n = k;
}

static int discard(int fd, uint64_t page, uint64_t pages)
{
	uint64_t range[2] = { page * TLT_PAGE, pages * TLT_PAGE };

	return ioctl(fd, BLKDISCARD, range);
}

/* Discard @page and note it in @truth, or bail. */
static void write_page(struct tlt_tdev *d, struct vec *truth, uint64_t page, uint64_t pages)
{
	if (discard(d->fd, page, pages))
		tlt_bail("BLKDISCARD of %" PRIu64 " pages at %" PRIu64, pages, page);
	for (uint64_t i = 0; i < pages; i++)
		vec_push(truth, page + i);
}

/* The set (GET without clear, no write-back) equals the normalised @truth. */
static bool same_as(struct tlt_tdev *d, const struct vec *truth, const char *what)
{
	struct tlt_pages got = { 0 };
	size_t bad = 0;
	bool ok;

	if (tlt_get_all(d->fd, TLOOP_GET_NOSYNC, 4096, d->nr_pages, &got))
		tlt_bail("%s: GET walk", what);
	ok = got.n == truth->n;
	for (size_t i = 0; ok && i < got.n; i++)
		if (got.v[i] != truth->v[i])
			ok = false, bad = i;
	if (!ok)
		tlt_diag("%s: got %zu pages, want %zu; first difference at %zu: %" PRIu64
			 " vs %" PRIu64, what, got.n, truth->n, bad,
			 bad < got.n ? got.v[bad] : 0, bad < truth->n ? truth->v[bad] : 0);
	tlt_pages_free(&got);
	return ok;
}

static uint64_t mem_used(struct tlt_tdev *d, struct tloop_track_status *st)
{
	if (tlt_status(d->fd, st))
		tlt_bail("STATUS");
	return st->mem_used;
}

/* Isolated random pages, then region-boundary pairs, on device @d. */
static void isolated(struct tlt_tdev *d, const char *name)
{
	struct tloop_track_status st;
	struct vec truth = { 0 };
	uint64_t mem, bound;

	tlt_clear_all(d->fd);
	while (truth.n < NISOLATED) {
		uint64_t p = tlt_rand_below(d->nr_pages);

		if (!vec_has(&truth, p)) {
			write_page(d, &truth, p, 1);
			vec_norm(&truth);
		}
	}
	mem = mem_used(d, &st);
	bound = (uint64_t)PER_PAGE * truth.n + FIXED;
	tlt_diag("%s: %zu random pages: mem_used %" PRIu64 " (%.2f B/page)", name, truth.n, mem,
		 (double)mem / truth.n);
	tlt_result(st.written == truth.n && !(st.flags & TLOOP_TRACK_OVERFLOW) && mem <= bound &&
		   same_as(d, &truth, name),
		   "%s: %zu random pages listed exactly, mem_used %" PRIu64 " <= %" PRIu64, name,
		   truth.n, mem, bound);

	/* Pairs across region boundaries: one discard of the last and first pages. */
	for (int i = 0; i < 500; i++) {
		uint64_t r = 1 + tlt_rand_below(d->nr_pages / REGION - 1);

		write_page(d, &truth, r * REGION - 1, 2);
	}
	vec_norm(&truth);
	mem = mem_used(d, &st);
	bound = (uint64_t)PER_PAGE * truth.n + FIXED;
	tlt_result(st.written == truth.n && mem <= bound && same_as(d, &truth, name),
		   "%s: + 500 region-boundary pairs: %zu pages exactly, mem_used %" PRIu64
		   " <= %" PRIu64, name, truth.n, mem, bound);

	/* Ascending regions, one page each. */
	tlt_clear_all(d->fd);
	truth.n = 0;
	for (uint64_t i = 0; i < NISOLATED; i++)
		write_page(d, &truth, (d->nr_pages / NISOLATED) * i + i % REGION, 1);
	vec_norm(&truth);
	mem = mem_used(d, &st);
	bound = (uint64_t)PER_PAGE * truth.n + FIXED;
	tlt_diag("%s: %zu pages in ascending regions: mem_used %" PRIu64 " (%.2f B/page)", name,
		 truth.n, mem, (double)mem / truth.n);
	tlt_result(st.written == truth.n && mem <= bound && same_as(d, &truth, name),
		   "%s: %zu pages in ascending regions exactly, mem_used %" PRIu64 " <= %" PRIu64,
		   name, truth.n, mem, bound);
	tlt_clear_all(d->fd);
	free(truth.v);
}

/* Clustered pages, partial clears, shrinking. */
static void clustered(struct tlt_tdev *d)
{
	const uint64_t a = 5 * REGION, b = 9 * REGION;
	struct tloop_track_status st;
	struct vec truth = { 0 };
	struct tlt_pages got = { 0 };
	uint64_t mem1, mem2, mem3, regions = 0, cursor;
	bool ok;

	tlt_clear_all(d->fd);
	while (truth.n < 4000) {	/* region a: a bitmap */
		write_page(d, &truth, a + tlt_rand_below(REGION), 1);
		vec_norm(&truth);
	}
	for (int i = 0; i < 600; i++)	/* region b: an array */
		write_page(d, &truth, b + tlt_rand_below(REGION), 1);
	for (int i = 0; i < 200; i++)	/* isolated */
		write_page(d, &truth, 64 * REGION + tlt_rand_below(d->nr_pages - 64 * REGION), 1);
	for (uint64_t r = 20; r < 30; r++)	/* boundaries */
		write_page(d, &truth, r * REGION - 2, 4);
	vec_norm(&truth);
	for (size_t i = 0; i < truth.n; i++)
		regions += !i || truth.v[i] / REGION != truth.v[i - 1] / REGION;
	mem1 = mem_used(d, &st);
	tlt_result(st.written == truth.n && same_as(d, &truth, "clustered"),
		   "clustered: %zu pages in %" PRIu64 " regions listed exactly (mem_used %" PRIu64 ")",
		   truth.n, regions, mem1);

	/* CLEAR range of most of region a: its bitmap becomes an array. */
	if (tlt_clear(d->fd, 0, a, a + 30000, NULL))
		tlt_bail("CLEAR range");
	vec_cut(&truth, a, a + 30000);
	mem2 = mem_used(d, &st);
	tlt_result(st.written == truth.n && mem2 + 2048 <= mem1 &&
		   same_as(d, &truth, "clear range"),
		   "CLEAR of a range leaves exactly the other %zu pages; mem_used %" PRIu64
		   " -> %" PRIu64, truth.n, mem1, mem2);

	/* GET+CLEAR of half of region b (the two-phase clear of listed pages). */
	cursor = b;
	ok = true;
	while (ok && cursor < b + REGION / 2) {
		uint64_t buf[64];
		struct tloop_written w;

		ok = tlt_get_one(d->fd, TLOOP_GET_CLEAR | TLOOP_GET_NOSYNC, cursor, b + REGION / 2,
				 buf, 64, &w) == 0;
		for (uint32_t i = 0; ok && i < w.count; i++)
			tlt_pages_push(&got, buf[i]);
		if (!ok || w.next_cursor == TLOOP_CURSOR_END)
			break;
		cursor = w.next_cursor;
	}
	for (size_t i = 0; ok && i < got.n; i++)
		ok = vec_has(&truth, got.v[i]) && got.v[i] >= b && got.v[i] < b + REGION / 2;
	{
		size_t before = truth.n;

		vec_cut(&truth, b, b + REGION / 2);
		ok = ok && before - truth.n == got.n;
	}
	tlt_result(ok && same_as(d, &truth, "get+clear window"),
		   "GET+CLEAR of half a region returns its %zu pages and leaves the other %zu",
		   got.n, truth.n);
	tlt_pages_free(&got);

	/* Everything cleared by range: the entries stay, their storage goes. */
	if (tlt_clear(d->fd, 0, 0, d->nr_pages, NULL))
		tlt_bail("CLEAR range");
	mem3 = mem_used(d, &st);
	tlt_result(st.written == 0 && mem3 <= 24 * regions + FIXED,
		   "CLEAR of the whole range: empty, mem_used %" PRIu64 " <= %" PRIu64
		   " (an entry per region written)", mem3, 24 * regions + FIXED);
	tlt_clear_all(d->fd);
	mem3 = mem_used(d, &st);
	tlt_result(st.written == 0 && mem3 == 0, "CLEAR_ALL frees everything (mem_used %" PRIu64 ")",
		   mem3);
	free(truth.v);
}

/* The limit at the root block's growth (@limit small) or at a split. */
static void limit(struct tlt_tdev *d, uint64_t lim, unsigned int regions)
{
	struct tloop_track_status st;
	uint64_t max_seen = 0;
	struct tloop_written w;
	uint64_t buf[4];
	bool ok = true;

	if (tlt_disable(d->fd) || tlt_enable(d->fd, lim))
		tlt_bail("re-enable with a limit");
	for (unsigned int i = 0; i < regions && ok; i++) {
		ok = discard(d->fd, (uint64_t)i * 1000 % (d->nr_pages / REGION) * REGION + i, 1) == 0;
		if (mem_used(d, &st) > max_seen)
			max_seen = st.mem_used;
	}
	ok = ok && (st.flags & TLOOP_TRACK_OVERFLOW) && max_seen <= lim;
	ok = ok && tlt_get_one(d->fd, TLOOP_GET_NOSYNC, 0, d->nr_pages, buf, 4, &w) == 0 &&
	     (w.status & TLOOP_TRACK_OVERFLOW) && !w.count;
	tlt_result(ok, "limit %" PRIu64 ": %u new regions overflow the set, mem_used never above"
		   " (max %" PRIu64 "), GET reports the overflow", lim, regions, max_seen);
	tlt_clear_all(d->fd);
	ok = tlt_status(d->fd, &st) == 0 && !(st.flags & TLOOP_TRACK_OVERFLOW) &&
	     st.mem_used == 0 && discard(d->fd, 77, 1) == 0 && tlt_status(d->fd, &st) == 0 &&
	     st.written == 1;
	tlt_result(ok, "limit %" PRIu64 ": CLEAR_ALL leaves the overflow, the set records again",
		   lim);
	if (tlt_disable(d->fd) || tlt_enable(d->fd, 0))
		tlt_bail("re-enable without a limit");
}

struct shared {
	struct tlt_tdev *d;
	volatile int stop;
	pthread_mutex_t lock;
	struct vec got;
	int errors;
};

struct writer {
	struct shared *sh;
	uint64_t seed;
	struct vec pages;
};

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	struct tlt_tdev *d = w->sh->d;
	int fd = open(d->node, O_RDWR | O_CLOEXEC);

	if (fd < 0) {
		__atomic_add_fetch(&w->sh->errors, 1, __ATOMIC_RELAXED);
		return NULL;
	}
	for (int i = 0; i < PER_WRITER; i++) {
		uint64_t r = tlt_rand_r(&w->seed), p;

		/* Half in 16 hot regions (leaves growing), half anywhere (new entries). */
		if (r & 1)
			p = (r >> 8) % 16 * 512 * REGION + (r >> 24) % REGION;
		else
			p = (r >> 1) % d->nr_pages;
		if (discard(fd, p, 1)) {
			__atomic_add_fetch(&w->sh->errors, 1, __ATOMIC_RELAXED);
			break;
		}
		if (w->pages.n < w->pages.cap)
			w->pages.v[w->pages.n++] = p;
	}
	close(fd);
	return NULL;
}

static void *clearer_main(void *arg)
{
	struct shared *sh = arg;
	uint32_t cap = 64;

	for (int last = 0; !last;) {
		struct tlt_pages got = { 0 };

		last = __atomic_load_n(&sh->stop, __ATOMIC_ACQUIRE);
		if (tlt_get_all(sh->d->fd, TLOOP_GET_CLEAR | TLOOP_GET_NOSYNC, cap,
				sh->d->nr_pages, &got) || (got.status & TLOOP_TRACK_OVERFLOW))
			__atomic_add_fetch(&sh->errors, 1, __ATOMIC_RELAXED);
		pthread_mutex_lock(&sh->lock);
		for (size_t i = 0; i < got.n; i++)
			vec_push(&sh->got, got.v[i]);
		pthread_mutex_unlock(&sh->lock);
		tlt_pages_free(&got);
		cap = cap == 64 ? 1000 : 64;
	}
	return NULL;
}

static void concurrent(struct tlt_tdev *d)
{
	struct shared sh = { .d = d, .lock = PTHREAD_MUTEX_INITIALIZER };
	struct writer w[WRITERS];
	pthread_t wt[WRITERS], ct[CLEARERS];
	struct vec all = { 0 };
	struct tlt_pages rest = { 0 };
	uint64_t lost = 0, extra = 0;

	tlt_clear_all(d->fd);
	for (int i = 0; i < WRITERS; i++) {
		w[i] = (struct writer){ .sh = &sh, .seed = tlt_rand() };
		w[i].pages.cap = PER_WRITER;
		w[i].pages.v = malloc(PER_WRITER * sizeof(uint64_t));
		if (!w[i].pages.v)
			tlt_bail("malloc");
	}
	for (int i = 0; i < CLEARERS; i++)
		if (pthread_create(&ct[i], NULL, clearer_main, &sh))
			tlt_bail("pthread_create");
	for (int i = 0; i < WRITERS; i++)
		if (pthread_create(&wt[i], NULL, writer_main, &w[i]))
			tlt_bail("pthread_create");
	for (int i = 0; i < WRITERS; i++)
		pthread_join(wt[i], NULL);
	__atomic_store_n(&sh.stop, 1, __ATOMIC_RELEASE);
	for (int i = 0; i < CLEARERS; i++)
		pthread_join(ct[i], NULL);
	/* What the consumers did not get yet. */
	tlt_get_all_or_bail(d->fd, TLOOP_GET_CLEAR | TLOOP_GET_NOSYNC, 4096, d->nr_pages, &rest);
	for (size_t i = 0; i < rest.n; i++)
		vec_push(&sh.got, rest.v[i]);
	for (int i = 0; i < WRITERS; i++)
		for (size_t j = 0; j < w[i].pages.n; j++)
			vec_push(&all, w[i].pages.v[j]);
	vec_norm(&all);
	vec_norm(&sh.got);
	for (size_t i = 0; i < all.n; i++)
		lost += !vec_has(&sh.got, all.v[i]);
	for (size_t i = 0; i < sh.got.n; i++)
		extra += !vec_has(&all, sh.got.v[i]);
	tlt_diag("%d writers, %d get-and-clear consumers: %zu distinct pages written, %zu reported,"
		 " %" PRIu64 " lost, %" PRIu64 " extra", WRITERS, CLEARERS, all.n, sh.got.n, lost,
		 extra);
	tlt_result(!sh.errors && all.n > WRITERS * PER_WRITER / 2 && !lost && !extra,
		   "concurrent writers and get-and-clear consumers: every one of %zu written pages "
		   "reported, nothing else (%d errors)", all.n, sh.errors);
	tlt_pages_free(&rest);
	for (int i = 0; i < WRITERS; i++)
		free(w[i].pages.v);
	free(all.v);
	free(sh.got.v);
}

int main(void)
{
	struct tlt_tdev *tib, *eib;

	tlt_require_tracking();
	tlt_seed(0x64);
	tlt_plan(3 * 2 + 5 + 2 * 2 * 2 + 1 + 2);
	tib = tlt_tdev_open("tib.img", 1ULL << 40, 0);
	eib = tlt_tdev_open("eib.img", TLOOP_MAX_DEV_SIZE, 0);
	if (tlt_enable(tib->fd, 0) || tlt_enable(eib->fd, 0))
		tlt_bail("TLOOP_TRACK_ENABLE");

	isolated(tib, "1 TiB");
	isolated(eib, "1 EiB");
	clustered(tib);
	/* Root block 512 bytes, the next is 1024: overflow at the 32nd region. */
	limit(eib, 1000, 40);
	/* Root block 4 KiB full at 255 regions, the split needs 8 KiB more. */
	limit(eib, 3 * 4096 - 1, 300);
	limit(tib, 1000, 40);
	limit(tib, 3 * 4096 - 1, 300);
	concurrent(tib);

	tlt_result(tlt_tdev_close(eib) == 0, "the 1 EiB device is removed");
	tlt_result(tlt_tdev_close(tib) == 0, "the 1 TiB device is removed");
	tlt_exit();
}
