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

/* struct harvester - one consumer and its area2. */
struct harvester {
	uint32_t id;
	int area2;
	unsigned int pause_us;
	uint64_t rounds, copied, calls;
	bool ok;
	uint64_t *pages;
	uint8_t *buf;
	pthread_t th;
};

static struct tlt_oracle *o;
static struct harvester hv[2];

static void *harvest(void *arg)
{
	struct harvester *h = arg;

	while (atomic_load(&o->done) < TLT_ORACLE_WRITERS) {
		long n = tlt_oracle_copy_round(o, h->id, h->area2, h->pages, h->buf, &h->calls);

		if (n < 0) {
			h->ok = false;
			break;
		}
		h->copied += (uint64_t)n;
		h->rounds++;
		/* The writers go on until both did their rounds. */
		atomic_store(&o->rounds, hv[0].rounds < hv[1].rounds ? hv[0].rounds : hv[1].rounds);
		if (h->pause_us)
			usleep(h->pause_us);
	}
	return NULL;
}

int main(void)
{
	struct tlt_pages rest = { 0 };
	struct tlt_tdev *d;
	uint64_t missing = 0;
	bool ok;

	tlt_require_tracking();
	tlt_plan(9);
	d = tlt_tdev_open("backing.img", TLT_ORACLE_SIZE, 0);
	o = tlt_oracle_new(d, 0x49a11ceULL, 1000000ULL * tlt_scale());
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
		hv[k].area2 = open(a2, O_RDWR | O_CREAT | O_TRUNC, 0600);
		if (hv[k].area2 < 0 || ftruncate(hv[k].area2, TLT_ORACLE_SIZE))
			tlt_bail("%s", a2);
		hv[k].pause_us = k ? 20000 : 0;
		hv[k].ok = true;
		hv[k].pages = malloc(TLT_ORACLE_BATCH * sizeof(uint64_t));
		hv[k].buf = tlt_alloc(TLT_ORACLE_COPY);
		if (!hv[k].pages)
			tlt_bail("malloc");
	}
	tlt_diag("%d threads + %d processes, %" PRIu64 " page stores into %lu pages; one O_DIRECT"
		 " process writing into %lu pages; 2 consumers", TLT_ORACLE_THREADS,
		 TLT_ORACLE_PROCS, o->quota * TLT_ORACLE_WRITERS, TLT_ORACLE_MMAP_PAGES,
		 TLT_ORACLE_PAGES - TLT_ORACLE_MMAP_PAGES);

	tlt_oracle_start(o);
	for (int k = 0; k < 2; k++)
		if (pthread_create(&hv[k].th, NULL, harvest, &hv[k]))
			tlt_bail("pthread_create");

	ok = tlt_oracle_wait(o);
	for (int k = 0; k < 2; k++)
		pthread_join(hv[k].th, NULL);
	tlt_result(ok && atomic_load(&o->stores) >= o->quota * TLT_ORACLE_WRITERS,
		   "writers made %lu page stores and %lu O_DIRECT page writes while 2 consumers"
		   " copied", atomic_load(&o->stores), atomic_load(&o->dio_stores));

	for (int k = 0; k < 2; k++) {
		struct harvester *h = &hv[k];
		long n = tlt_oracle_copy_round(o, h->id, h->area2, h->pages, h->buf, &h->calls);

		tlt_result(h->ok && n >= 0, "consumer %d: %" PRIu64 " rounds, %" PRIu64
			   " pages copied, last round %ld pages", k, h->rounds + 1, h->copied, n);
	}
	tlt_diag("writers ran %.1f s, %.0f stores/s", o->t1 - o->t0,
		 atomic_load(&o->stores) / (o->t1 - o->t0));
	for (int k = 0; k < 2; k++) {
		tlt_cget_all(d->fd, hv[k].id, 0, TLT_ORACLE_BATCH, d->nr_pages, &rest);
		tlt_result(rest.n == 0, "consumer %d: nothing left after its last round (%zu pages)",
			   k, rest.n);
		tlt_pages_free(&rest);
	}
	for (int k = 0; k < 2; k++) {
		struct tlt_oracle_cmp c;

		tlt_oracle_compare(o, hv[k].area2, &c);
		tlt_result(c.differ == 0, "consumer %d: area2 == device byte for byte (%" PRIu64
			   " pages differ)", k, c.differ);
	}
	tlt_get_all_or_bail(d->fd, 0, TLT_ORACLE_BATCH, d->nr_pages, &rest);
	{
		uint8_t *in = calloc(TLT_ORACLE_PAGES, 1);
		uint64_t ntouched = 0;

		if (!in)
			tlt_bail("calloc");
		for (size_t i = 0; i < rest.n; i++)
			in[rest.v[i]] = 1;
		for (uint64_t p = 0; p < TLT_ORACLE_PAGES; p++) {
			ntouched += o->touched[p];
			missing += o->touched[p] && !in[p];
		}
		free(in);
		tlt_result(missing == 0 && !(rest.status & TLOOP_TRACK_OVERFLOW),
			   "the default consumer, never cleared, holds all %" PRIu64
			   " touched pages (%" PRIu64 " missing)", ntouched, missing);
	}
	tlt_pages_free(&rest);
	tlt_result(hv[0].rounds > 1 && hv[1].rounds > 1,
		   "both consumers made several rounds (%" PRIu64 ", %" PRIu64 ")", hv[0].rounds,
		   hv[1].rounds);

	tlt_oracle_free(o);
	for (int k = 0; k < 2; k++)
		close(hv[k].area2);
	unlink("area2-0.img");
	unlink("area2-1.img");
	if (tlt_tdev_close(d))
		tlt_diag("removing the device failed");
	tlt_exit();
}
