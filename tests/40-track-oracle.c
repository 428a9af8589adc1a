// SPDX-License-Identifier: GPL-2.0
/*
 * 40-track-oracle: the zero-loss oracle.  Writer threads (sharing one
 * mapping) and writer processes (each with its own mapping) store sequence
 * numbers into random pages of the first half of the device, and one more
 * process writes runs of pages with O_DIRECT into the second half (a write
 * in flight during a GET+CLEAR must be reported by a later one), while a
 * consumer loops: GET+CLEAR through the cursor, then copy the reported pages
 * from the device (pread; O_DIRECT for the second half) into an area2 file.  After the writers stop, one last GET+CLEAR + copy;
 * area2 must then equal the device byte for byte, and every page a writer
 * touched must hold non-zero data.  At least 10^6 page stores and 12
 * consumer rounds (both times TLOOP_SCALE).
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

/* copy_round() - one GET+CLEAR walk; copy reported pages to area2.  Returns pages, -1 on error. */
static long copy_round(int dev, int ddev, int area2, uint64_t *pages, uint8_t *buf,
		       uint64_t *calls)
{
	uint64_t cursor = 0;
	long n = 0;

	for (;;) {
		struct tloop_written w;
		int ret = tlt_get_one(dev, TLOOP_GET_CLEAR, cursor, 0, pages, BATCH, &w);

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

int main(void)
{
	uint64_t total = 1000000ULL * tlt_scale(), rounds = 0, copied = 0, calls = 0;
	pthread_t th[NTHREADS];
	pid_t pids[NPROCS], dio_pid;
	uint64_t *pages = malloc(BATCH * sizeof(*pages));
	uint8_t *buf = tlt_alloc(256 * TLT_PAGE), *buf2 = malloc(256 * TLT_PAGE);
	uint64_t differ = 0, zero_touched = 0, nonzero_untouched = 0, ntouched = 0;
	struct tlt_pages rest = { 0 };
	struct tlt_tdev *d;
	bool ok = true;
	double t0, t1;
	long n;
	int area2, ddev;

	tlt_require_tracking();
	tlt_plan(5);
	sh = mmap(NULL, sizeof(*sh) + NPAGES, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
		  -1, 0);
	if (sh == MAP_FAILED || !pages || !buf || !buf2)
		tlt_bail("allocations");
	sh->seed = tlt_seed(0x40a11ceULL);
	sh->quota = total / NWRITERS;
	sh->min_rounds = MIN_ROUNDS * (uint64_t)tlt_scale();
	d = tlt_tdev_open("backing.img", DEV_SIZE, 0);
	area2 = open("area2.img", O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (area2 < 0 || ftruncate(area2, DEV_SIZE))
		tlt_bail("area2");
	map = tlt_map(d->fd, DEV_SIZE, 0);
	ddev = open(d->node, O_RDONLY | O_DIRECT | O_CLOEXEC);
	if (ddev < 0)
		tlt_bail("open %s O_DIRECT", d->node);
	if (tlt_enable(d->fd, 0))
		tlt_bail("TRACK_ENABLE");
	tlt_diag("%d threads + %d processes, %" PRIu64 " page stores into %lu pages; one O_DIRECT"
		 " process writing into %lu pages", NTHREADS, NPROCS, sh->quota * NWRITERS,
		 MMAP_PAGES, NPAGES - MMAP_PAGES);

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

	while (atomic_load(&sh->done) < NWRITERS) {
		n = copy_round(d->fd, ddev, area2, pages, buf, &calls);
		if (n < 0) {
			ok = false;
			break;
		}
		copied += (uint64_t)n;
		rounds++;
		atomic_store(&sh->rounds, rounds);
		if (rounds % 50 == 0)
			tlt_diag("round %" PRIu64 ": %lu stores so far, %" PRIu64 " pages copied",
				 rounds, atomic_load(&sh->stores), copied);
	}
	for (int i = 0; i < NTHREADS; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < NPROCS; i++)
		ok = tlt_wait_ok(pids[i]) && ok;
	ok = tlt_wait_ok(dio_pid) && ok;
	t1 = tlt_now();
	tlt_result(ok && atomic_load(&sh->stores) >= sh->quota * NWRITERS,
		   "writers made %lu page stores and %lu O_DIRECT page writes while the consumer"
		   " copied", atomic_load(&sh->stores), atomic_load(&sh->dio_stores));

	n = copy_round(d->fd, ddev, area2, pages, buf, &calls);
	tlt_result(n >= 0, "last GET+CLEAR + copy (%ld pages)", n);
	copied += n > 0 ? (uint64_t)n : 0;
	rounds++;
	tlt_diag("%" PRIu64 " rounds, %" PRIu64 " GET calls, %" PRIu64 " pages copied (%.1f MiB),"
		 " writers ran %.1f s, %.0f stores/s", rounds, calls, copied,
		 copied * TLT_PAGE / 1048576.0, t1 - t0, atomic_load(&sh->stores) / (t1 - t0));

	tlt_get_all_or_bail(d->fd, 0, BATCH, d->nr_pages, &rest);
	tlt_result(rest.n == 0, "nothing left in the set after the last round (%zu pages)", rest.n);
	tlt_pages_free(&rest);

	for (uint64_t off = 0; off < DEV_SIZE; off += 256 * TLT_PAGE) {
		/* The O_DIRECT half is read with O_DIRECT, like the consumer did. */
		tlt_pread_all(off < MMAP_PAGES * TLT_PAGE ? d->fd : ddev, buf, 256 * TLT_PAGE,
			      (off_t)off);
		tlt_pread_all(area2, buf2, 256 * TLT_PAGE, (off_t)off);
		for (uint64_t i = 0; i < 256; i++) {
			uint64_t p = off / TLT_PAGE + i;
			const uint8_t *a = buf + i * TLT_PAGE, *b = buf2 + i * TLT_PAGE;
			bool nonzero = false;

			for (uint64_t k = 0; k < TLT_PAGE && !nonzero; k++)
				nonzero = a[k] != 0;
			ntouched += sh->touched[p];
			if (sh->touched[p] && !nonzero)
				zero_touched++;
			if (!sh->touched[p] && nonzero)
				nonzero_untouched++;
			if (memcmp(a, b, TLT_PAGE)) {
				if (differ++ < 8)
					tlt_diag("area2 page %" PRIu64 " differs from the device", p);
			}
		}
	}
	tlt_result(differ == 0, "area2 == device byte for byte (%" PRIu64 " pages differ)", differ);
	tlt_result(zero_touched == 0 && nonzero_untouched == 0,
		   "the device holds data exactly in the %" PRIu64 " touched pages (%" PRIu64
		   " empty, %" PRIu64 " unexpected)", ntouched, zero_touched, nonzero_untouched);

	tlt_unmap(map, DEV_SIZE);
	close(area2);
	close(ddev);
	unlink("area2.img");
	if (tlt_tdev_close(d))
		tlt_diag("removing the device failed");
	tlt_exit();
}
