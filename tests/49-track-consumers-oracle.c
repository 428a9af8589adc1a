// SPDX-License-Identifier: GPL-2.0
/*
 * 49-track-consumers-oracle: the zero-loss oracle of 40-track-oracle with
 * two named consumers harvesting concurrently.  The writers of 40 (mmap
 * threads and processes, one O_DIRECT process) run while two threads, each
 * with its own consumer and its own area2 file, loop GET+CLEAR through the
 * cursor and copy the reported pages, on different schedules (the second
 * sleeps between rounds).  After the writers stop, one last round each;
 * each area2 must equal the device byte for byte, and each consumer's set
 * must then be empty while the default consumer (never cleared) still
 * holds every touched page.
 *
 * tloop-timeout: 1200
 */
#include "tlt.h"

#include <pthread.h>
#include <stdatomic.h>

#define DEV_SIZE (16UL << 20)
#define NPAGES (DEV_SIZE / TLT_PAGE)
#define NTHREADS 2
#define NPROCS 2
#define NWRITERS (NTHREADS + NPROCS)
#define BATCH 4096
#define MMAP_PAGES (NPAGES / 2)
#define DIO_ID 15
#define MIN_ROUNDS 12	/* writers keep going until the consumer did this many rounds */

/* Shared between the consumer, the threads and the writer processes. */
struct shared {
	atomic_ulong stores;
	atomic_int done;
	atomic_ulong dio_stores;
	atomic_ulong rounds;
	uint64_t min_rounds;
	uint64_t quota;
	uint64_t seed;
	uint8_t touched[];	/* NPAGES */
};

static struct shared *sh;
static uint8_t *map;

/* writer() - @quota page stores of (id << 56 | seq) at random 8-byte slots. */
static void writer(int id, uint8_t *m)
{
	uint64_t state = sh->seed + (uint64_t)id * 0x1000193ULL, seq = 0, counted = 0;

	while (seq < sh->quota || atomic_load(&sh->rounds) < sh->min_rounds) {
		uint64_t r = tlt_rand_r(&state), p = r % MMAP_PAGES, run = 1;

		if ((r >> 40) % 16 == 0)	/* now and then a run of adjacent pages */
			run = 2 + (r >> 48) % 7;
		for (uint64_t k = 0; k < run && p + k < MMAP_PAGES; k++) {
			uint64_t slot = (r >> 20) % (TLT_PAGE / 8);
			volatile uint64_t *v = (volatile uint64_t *)(m + (p + k) * TLT_PAGE) + slot;

			*v = ((uint64_t)id << 56) | ++seq;
			sh->touched[p + k] = 1;
		}
		if (seq - counted >= 4096) {
			atomic_fetch_add(&sh->stores, seq - counted);
			counted = seq;
		}
	}
	atomic_fetch_add(&sh->stores, seq - counted);
	atomic_fetch_add(&sh->done, 1);
}

static void *writer_thread(void *arg)
{
	writer((int)(uintptr_t)arg, map);
	return NULL;
}

static int writer_process(int id, const char *node)
{
	int fd = open(node, O_RDWR);
	uint8_t *m;

	if (fd < 0)
		return 2;
	m = mmap(NULL, DEV_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED)
		return 3;
	writer(id, m);
	munmap(m, DEV_SIZE);
	close(fd);
	return 0;
}

/* dio_writer() - O_DIRECT runs of whole pages into the second half until the others stop. */
static int dio_writer(const char *node)
{
	uint64_t state = sh->seed ^ 0xd10d10ULL, seq = 0, pages = 0;
	uint64_t *buf;
	int fd = open(node, O_RDWR | O_DIRECT);

	if (fd < 0 || posix_memalign((void **)&buf, TLT_PAGE, 16 * TLT_PAGE))
		return 2;
	while (atomic_load(&sh->done) < NWRITERS) {
		uint64_t r = tlt_rand_r(&state);
		uint64_t p = MMAP_PAGES + r % (NPAGES - MMAP_PAGES), run = 1 + (r >> 32) % 16;

		if (p + run > NPAGES)
			run = NPAGES - p;
		for (uint64_t i = 0; i < run * TLT_PAGE / 8; i++)
			buf[i] = ((uint64_t)DIO_ID << 56) | ++seq;
		if (pwrite(fd, buf, run * TLT_PAGE, (off_t)(p * TLT_PAGE)) != (ssize_t)(run * TLT_PAGE))
			return 3;
		for (uint64_t k = 0; k < run; k++)
			sh->touched[p + k] = 1;
		pages += run;
	}
	atomic_store(&sh->dio_stores, pages);
	free(buf);
	close(fd);
	return 0;
}

/*
 * copy_round() - one GET+CLEAR walk of consumer @id; copy reported pages to
 * area2.  Returns pages, -1 on error.
 */
static long copy_round(uint32_t id, int dev, int ddev, int area2, uint64_t *pages, uint8_t *buf,
		       uint64_t *calls)
{
	uint64_t cursor = 0;
	long n = 0;

	for (;;) {
		struct tloop_written w;
		int ret = tlt_cget_one(dev, id, TLOOP_GET_CLEAR, cursor, 0, pages, BATCH, &w);

		if (ret) {
			tlt_diag("GET+CLEAR: %s", tlt_errname(-ret));
			return -1;
		}
		(*calls)++;
		if (w.status & TLOOP_TRACK_OVERFLOW) {
			tlt_diag("set overflowed");
			return -1;
		}
		for (uint32_t i = 0; i < w.count;) {
			uint32_t j = i + 1;

			while (j < w.count && pages[j] == pages[j - 1] + 1 && j - i < 256 &&
			       pages[j] != MMAP_PAGES)
				j++;
			tlt_pread_all(pages[i] < MMAP_PAGES ? dev : ddev, buf, (j - i) * TLT_PAGE,
				      (off_t)(pages[i] * TLT_PAGE));
			tlt_pwrite_all(area2, buf, (j - i) * TLT_PAGE, (off_t)(pages[i] * TLT_PAGE));
			i = j;
		}
		n += w.count;
		if (w.next_cursor == TLOOP_CURSOR_END)
			return n;
		cursor = w.next_cursor;
	}
}

/* struct harvester - one consumer and its area2. */
struct harvester {
	uint32_t id;
	int dev, ddev, area2;
	unsigned int pause_us;
	uint64_t rounds, copied, calls;
	bool ok;
	uint64_t *pages;
	uint8_t *buf;
	pthread_t th;
};

static struct harvester hv[2];

static void *harvest(void *arg)
{
	struct harvester *h = arg;

	while (atomic_load(&sh->done) < NWRITERS) {
		long n = copy_round(h->id, h->dev, h->ddev, h->area2, h->pages, h->buf, &h->calls);

		if (n < 0) {
			h->ok = false;
			break;
		}
		h->copied += (uint64_t)n;
		h->rounds++;
		/* The writers go on until both did their rounds. */
		atomic_store(&sh->rounds, hv[0].rounds < hv[1].rounds ? hv[0].rounds : hv[1].rounds);
		if (h->pause_us)
			usleep(h->pause_us);
	}
	return NULL;
}

static uint64_t compare(int fd, int ddev, int area2, uint8_t *buf, uint8_t *buf2)
{
	uint64_t differ = 0;

	for (uint64_t off = 0; off < DEV_SIZE; off += 256 * TLT_PAGE) {
		tlt_pread_all(off < MMAP_PAGES * TLT_PAGE ? fd : ddev, buf, 256 * TLT_PAGE,
			      (off_t)off);
		tlt_pread_all(area2, buf2, 256 * TLT_PAGE, (off_t)off);
		for (uint64_t i = 0; i < 256; i++)
			if (memcmp(buf + i * TLT_PAGE, buf2 + i * TLT_PAGE, TLT_PAGE) &&
			    differ++ < 8)
				tlt_diag("page %" PRIu64 " differs from the device",
					 off / TLT_PAGE + i);
	}
	return differ;
}

int main(void)
{
	uint64_t total = 1000000ULL * tlt_scale();
	pthread_t th[NTHREADS];
	pid_t pids[NPROCS], dio_pid;
	uint8_t *buf = tlt_alloc(256 * TLT_PAGE), *buf2 = tlt_alloc(256 * TLT_PAGE);
	struct tlt_pages rest = { 0 };
	struct tlt_tdev *d;
	uint64_t missing = 0, ntouched = 0;
	bool ok = true;
	double t0, t1;
	int ddev;

	tlt_require_tracking();
	tlt_plan(9);
	sh = mmap(NULL, sizeof(*sh) + NPAGES, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
		  -1, 0);
	if (sh == MAP_FAILED)
		tlt_bail("allocations");
	sh->seed = tlt_seed(0x49a11ceULL);
	sh->quota = total / NWRITERS;
	sh->min_rounds = MIN_ROUNDS * (uint64_t)tlt_scale();
	d = tlt_tdev_open("backing.img", DEV_SIZE, 0);
	map = tlt_map(d->fd, DEV_SIZE, 0);
	ddev = open(d->node, O_RDONLY | O_DIRECT | O_CLOEXEC);
	if (ddev < 0)
		tlt_bail("open %s O_DIRECT", d->node);
	if (tlt_enable(d->fd, 0))
		tlt_bail("TRACK_ENABLE");
	for (int k = 0; k < 2; k++) {
		char name[32], a2[32];
		int64_t id;

		snprintf(name, sizeof(name), "harvester-%d", k);
		snprintf(a2, sizeof(a2), "area2-%d.img", k);
		id = tlt_consumer_add(d->fd, name, 0);
		if (id <= 0)
			tlt_bail("ADD %s", name);
		hv[k].id = (uint32_t)id;
		hv[k].dev = d->fd;
		hv[k].ddev = ddev;
		hv[k].area2 = open(a2, O_RDWR | O_CREAT | O_TRUNC, 0600);
		if (hv[k].area2 < 0 || ftruncate(hv[k].area2, DEV_SIZE))
			tlt_bail("%s", a2);
		hv[k].pause_us = k ? 20000 : 0;
		hv[k].ok = true;
		hv[k].pages = malloc(BATCH * sizeof(uint64_t));
		hv[k].buf = tlt_alloc(256 * TLT_PAGE);
		if (!hv[k].pages)
			tlt_bail("malloc");
	}
	tlt_diag("%d threads + %d processes, %" PRIu64 " page stores into %lu pages; one O_DIRECT"
		 " process writing into %lu pages; 2 consumers", NTHREADS, NPROCS,
		 sh->quota * NWRITERS, MMAP_PAGES, NPAGES - MMAP_PAGES);

	t0 = tlt_now();
	fflush(stdout);
	for (int i = 0; i < NPROCS; i++) {
		pids[i] = fork();
		if (pids[i] == 0)
			_exit(writer_process(NTHREADS + i, d->node));
		if (pids[i] < 0)
			tlt_bail("fork");
	}
	dio_pid = fork();
	if (dio_pid == 0)
		_exit(dio_writer(d->node));
	if (dio_pid < 0)
		tlt_bail("fork");
	for (int i = 0; i < NTHREADS; i++)
		if (pthread_create(&th[i], NULL, writer_thread, (void *)(uintptr_t)i))
			tlt_bail("pthread_create");
	for (int k = 0; k < 2; k++)
		if (pthread_create(&hv[k].th, NULL, harvest, &hv[k]))
			tlt_bail("pthread_create");

	for (int i = 0; i < NTHREADS; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < NPROCS; i++)
		ok = tlt_wait_ok(pids[i]) && ok;
	ok = tlt_wait_ok(dio_pid) && ok;
	for (int k = 0; k < 2; k++)
		pthread_join(hv[k].th, NULL);
	t1 = tlt_now();
	tlt_result(ok && atomic_load(&sh->stores) >= sh->quota * NWRITERS,
		   "writers made %lu page stores and %lu O_DIRECT page writes while 2 consumers"
		   " copied", atomic_load(&sh->stores), atomic_load(&sh->dio_stores));

	for (int k = 0; k < 2; k++) {
		struct harvester *h = &hv[k];
		long n = copy_round(h->id, d->fd, ddev, h->area2, h->pages, h->buf, &h->calls);

		tlt_result(h->ok && n >= 0, "consumer %d: %" PRIu64 " rounds, %" PRIu64
			   " pages copied, last round %ld pages", k, h->rounds + 1, h->copied, n);
	}
	tlt_diag("writers ran %.1f s, %.0f stores/s", t1 - t0,
		 atomic_load(&sh->stores) / (t1 - t0));
	for (int k = 0; k < 2; k++) {
		tlt_cget_all(d->fd, hv[k].id, 0, BATCH, d->nr_pages, &rest);
		tlt_result(rest.n == 0, "consumer %d: nothing left after its last round (%zu pages)",
			   k, rest.n);
		tlt_pages_free(&rest);
	}
	for (int k = 0; k < 2; k++) {
		uint64_t differ = compare(d->fd, ddev, hv[k].area2, buf, buf2);

		tlt_result(differ == 0, "consumer %d: area2 == device byte for byte (%" PRIu64
			   " pages differ)", k, differ);
	}
	tlt_get_all_or_bail(d->fd, 0, BATCH, d->nr_pages, &rest);
	{
		uint8_t *in = calloc(NPAGES, 1);

		for (size_t i = 0; i < rest.n; i++)
			in[rest.v[i]] = 1;
		for (uint64_t p = 0; p < NPAGES; p++) {
			ntouched += sh->touched[p];
			missing += sh->touched[p] && !in[p];
		}
		free(in);
	}
	tlt_result(missing == 0 && !(rest.status & TLOOP_TRACK_OVERFLOW),
		   "the default consumer, never cleared, holds all %" PRIu64 " touched pages (%"
		   PRIu64 " missing)", ntouched, missing);
	tlt_pages_free(&rest);
	tlt_result(hv[0].rounds > 1 && hv[1].rounds > 1,
		   "both consumers made several rounds (%" PRIu64 ", %" PRIu64 ")", hv[0].rounds,
		   hv[1].rounds);

	tlt_unmap(map, DEV_SIZE);
	for (int k = 0; k < 2; k++)
		close(hv[k].area2);
	close(ddev);
	unlink("area2-0.img");
	unlink("area2-1.img");
	if (tlt_tdev_close(d))
		tlt_diag("removing the device failed");
	tlt_exit();
}
