// SPDX-License-Identifier: GPL-2.0
/*
 * oracle.c - the writers, the ground truth and the harvesting round of the
 * zero-loss oracles (40-track-oracle, 49-track-consumers-oracle).
 */
#include "tlt.h"

#include <pthread.h>

#define DIO_ID 15		/* the O_DIRECT writer's id in its stored values */
#define MIN_ROUNDS 12		/* mmap writers go on until the test did this many rounds
				 * after they started */
#define MIN_SECONDS 4.0		/* ... and go on for at least this long (x TLOOP_SCALE),
				 * so that a fast host does not make a short, weak run */
#define COPY_PAGES 256		/* pages per pread/pwrite of a copy or a comparison */

/* One oracle at a time: the writer threads' arguments. */
static struct writer_arg {
	struct tlt_oracle *o;
	int id;
} wargs[TLT_ORACLE_THREADS];

/*
 * writer() - page stores of (id << 56 | seq) at random 8-byte slots: at least
 * @quota of them, during at least @min_seconds and @min_rounds rounds.
 */
static void writer(struct tlt_oracle *o, int id, uint8_t *m)
{
	uint64_t state = o->seed + (uint64_t)id * 0x1000193ULL, seq = 0, counted = 0;
	/*
	 * Rounds made before this writer started do not count: a consumer that
	 * ran its rounds on an empty set while the writers were still being
	 * forked once left the writers to stop at their quota with few rounds
	 * overlapping them (1.6 s instead of 13 s, a weak run).
	 */
	uint64_t r0 = atomic_load(&o->rounds);
	bool early = true;	/* still inside @min_seconds (checked every 4096 stores) */

	while (seq < o->quota || early || atomic_load(&o->rounds) - r0 < o->min_rounds) {
		uint64_t r = tlt_rand_r(&state), p = r % TLT_ORACLE_MMAP_PAGES, run = 1;

		if ((r >> 40) % 16 == 0)	/* now and then a run of adjacent pages */
			run = 2 + (r >> 48) % 7;
		for (uint64_t k = 0; k < run && p + k < TLT_ORACLE_MMAP_PAGES; k++) {
			uint64_t slot = (r >> 20) % (TLT_PAGE / 8);
			volatile uint64_t *v = (volatile uint64_t *)(m + (p + k) * TLT_PAGE) + slot;

			*v = ((uint64_t)id << 56) | ++seq;
			o->touched[p + k] = 1;
		}
		if (seq - counted >= 4096) {
			atomic_fetch_add(&o->stores, seq - counted);
			counted = seq;
			early = tlt_now() - o->t0 < o->min_seconds;
		}
	}
	atomic_fetch_add(&o->stores, seq - counted);
	atomic_fetch_add(&o->done, 1);
}

static void *writer_thread(void *arg)
{
	struct writer_arg *a = arg;

	writer(a->o, a->id, a->o->map);
	return NULL;
}

static int writer_process(struct tlt_oracle *o, int id)
{
	int fd;
	uint8_t *m = tlt_map_node(o->node, TLT_ORACLE_SIZE, &fd);

	if (!m)
		return 2;
	writer(o, id, m);
	munmap(m, TLT_ORACLE_SIZE);
	close(fd);
	return 0;
}

/* dio_writer() - O_DIRECT runs of whole pages into the second half until the others stop. */
static int dio_writer(struct tlt_oracle *o)
{
	uint64_t state = o->seed ^ 0xd10d10ULL, seq = 0, pages = 0;
	uint64_t *buf;
	int fd = open(o->node, O_RDWR | O_DIRECT);

	if (fd < 0 || posix_memalign((void **)&buf, TLT_PAGE, 16 * TLT_PAGE))
		return 2;
	while (atomic_load(&o->done) < TLT_ORACLE_WRITERS) {
		uint64_t r = tlt_rand_r(&state);
		uint64_t p = TLT_ORACLE_MMAP_PAGES + r % (TLT_ORACLE_PAGES - TLT_ORACLE_MMAP_PAGES);
		uint64_t run = 1 + (r >> 32) % 16;

		if (p + run > TLT_ORACLE_PAGES)
			run = TLT_ORACLE_PAGES - p;
		for (uint64_t i = 0; i < run * TLT_PAGE / 8; i++)
			buf[i] = ((uint64_t)DIO_ID << 56) | ++seq;
		if (pwrite(fd, buf, run * TLT_PAGE, (off_t)(p * TLT_PAGE)) != (ssize_t)(run * TLT_PAGE))
			return 3;
		for (uint64_t k = 0; k < run; k++)
			o->touched[p + k] = 1;
		pages += run;
	}
	atomic_store(&o->dio_stores, pages);
	free(buf);
	close(fd);
	return 0;
}

struct tlt_oracle *tlt_oracle_new(const struct tlt_tdev *d, uint64_t seed, uint64_t total)
{
	struct tlt_oracle *o;

	if (d->size != TLT_ORACLE_SIZE)
		tlt_bail("the oracle needs a %lu-byte device", TLT_ORACLE_SIZE);
	o = mmap(NULL, sizeof(*o) + TLT_ORACLE_PAGES, PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (o == MAP_FAILED)
		tlt_bail("allocations");
	o->seed = tlt_seed(seed);
	o->quota = total / TLT_ORACLE_WRITERS;
	o->min_rounds = MIN_ROUNDS * (uint64_t)tlt_scale();
	o->min_seconds = MIN_SECONDS * tlt_scale();
	o->fd = d->fd;
	snprintf(o->node, sizeof(o->node), "%s", d->node);
	o->map = tlt_map(d->fd, TLT_ORACLE_SIZE, 0);
	o->ddev = open(d->node, O_RDONLY | O_DIRECT | O_CLOEXEC);
	if (o->ddev < 0)
		tlt_bail("open %s O_DIRECT", d->node);
	return o;
}

void tlt_oracle_start(struct tlt_oracle *o)
{
	o->t0 = tlt_now();
	fflush(stdout);
	/* Only the parent stores the pids: @o is shared with the children. */
	for (int i = 0; i <= TLT_ORACLE_PROCS; i++) {
		pid_t pid = fork();

		if (pid == 0)
			_exit(i < TLT_ORACLE_PROCS ? writer_process(o, TLT_ORACLE_THREADS + i) :
			      dio_writer(o));
		if (pid < 0)
			tlt_bail("fork");
		if (i < TLT_ORACLE_PROCS)
			o->pids[i] = pid;
		else
			o->dio_pid = pid;
	}
	for (int i = 0; i < TLT_ORACLE_THREADS; i++) {
		wargs[i] = (struct writer_arg){ .o = o, .id = i };
		if (pthread_create(&o->th[i], NULL, writer_thread, &wargs[i]))
			tlt_bail("pthread_create");
	}
}

bool tlt_oracle_wait(struct tlt_oracle *o)
{
	bool ok = true;

	for (int i = 0; i < TLT_ORACLE_THREADS; i++)
		pthread_join(o->th[i], NULL);
	for (int i = 0; i < TLT_ORACLE_PROCS; i++)
		ok = tlt_wait_ok(o->pids[i]) && ok;
	ok = tlt_wait_ok(o->dio_pid) && ok;
	o->t1 = tlt_now();
	return ok;
}

long tlt_oracle_copy_round(struct tlt_oracle *o, uint32_t id, int area2, uint64_t *pages,
			   uint8_t *buf, uint64_t *calls)
{
	uint64_t cursor = 0;
	long n = 0;

	for (;;) {
		struct tloop_written w;
		int ret = id ? tlt_cget_one(o->fd, id, TLOOP_GET_CLEAR, cursor, 0, pages,
					    TLT_ORACLE_BATCH, &w) :
			       tlt_get_one(o->fd, TLOOP_GET_CLEAR, cursor, 0, pages,
					   TLT_ORACLE_BATCH, &w);

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

			while (j < w.count && pages[j] == pages[j - 1] + 1 && j - i < COPY_PAGES &&
			       pages[j] != TLT_ORACLE_MMAP_PAGES)
				j++;
			tlt_pread_all(pages[i] < TLT_ORACLE_MMAP_PAGES ? o->fd : o->ddev, buf,
				      (j - i) * TLT_PAGE, (off_t)(pages[i] * TLT_PAGE));
			tlt_pwrite_all(area2, buf, (j - i) * TLT_PAGE, (off_t)(pages[i] * TLT_PAGE));
			i = j;
		}
		n += w.count;
		if (w.next_cursor == TLOOP_CURSOR_END)
			return n;
		cursor = w.next_cursor;
	}
}

void tlt_oracle_compare(const struct tlt_oracle *o, int area2, struct tlt_oracle_cmp *c)
{
	uint8_t *buf = tlt_alloc(TLT_ORACLE_COPY), *buf2 = tlt_alloc(TLT_ORACLE_COPY);

	memset(c, 0, sizeof(*c));
	for (uint64_t off = 0; off < TLT_ORACLE_SIZE; off += TLT_ORACLE_COPY) {
		/* The O_DIRECT half is read with O_DIRECT, like the consumers do. */
		tlt_pread_all(off < TLT_ORACLE_MMAP_PAGES * TLT_PAGE ? o->fd : o->ddev, buf,
			      TLT_ORACLE_COPY, (off_t)off);
		tlt_pread_all(area2, buf2, TLT_ORACLE_COPY, (off_t)off);
		for (uint64_t i = 0; i < COPY_PAGES; i++) {
			uint64_t p = off / TLT_PAGE + i;
			const uint8_t *a = buf + i * TLT_PAGE, *b = buf2 + i * TLT_PAGE;
			bool nonzero = false;

			for (uint64_t k = 0; k < TLT_PAGE && !nonzero; k++)
				nonzero = a[k] != 0;
			c->touched += o->touched[p];
			if (o->touched[p] && !nonzero)
				c->zero_touched++;
			if (!o->touched[p] && nonzero)
				c->nonzero_untouched++;
			if (memcmp(a, b, TLT_PAGE) && c->differ++ < 8)
				tlt_diag("area2 page %" PRIu64 " differs from the device", p);
		}
	}
	free(buf);
	free(buf2);
}

void tlt_oracle_free(struct tlt_oracle *o)
{
	tlt_unmap(o->map, TLT_ORACLE_SIZE);
	close(o->ddev);
	munmap(o, sizeof(*o) + TLT_ORACLE_PAGES);
}
