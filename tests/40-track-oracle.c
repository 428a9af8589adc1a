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
 * touched must hold non-zero data.  At least 10^6 page stores, 12 consumer
 * rounds and 4 s of writing (each times TLOOP_SCALE): the time floor keeps a
 * fast host from making a short, weak run.
 *
 * tloop-timeout: 1200
 */
#include "tlt.h"

int main(void)
{
	uint64_t rounds = 0, copied = 0, calls = 0;
	uint64_t *pages = malloc(TLT_ORACLE_BATCH * sizeof(*pages));
	uint8_t *buf = tlt_alloc(TLT_ORACLE_COPY);
	struct tlt_pages rest = { 0 };
	struct tlt_oracle_cmp c;
	struct tlt_oracle *o;
	struct tlt_tdev *d;
	bool ok = true;
	long n;
	int area2;

	tlt_require_tracking();
	tlt_plan(5);
	if (!pages)
		tlt_bail("allocations");
	d = tlt_tdev_open("backing.img", TLT_ORACLE_SIZE, 0);
	o = tlt_oracle_new(d, 0x40a11ceULL, 1000000ULL * tlt_scale());
	area2 = open("area2.img", O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (area2 < 0 || ftruncate(area2, TLT_ORACLE_SIZE))
		tlt_bail("area2");
	if (tlt_enable(d->fd, 0))
		tlt_bail("TRACK_ENABLE");
	tlt_diag("%d threads + %d processes, %" PRIu64 " page stores into %lu pages; one O_DIRECT"
		 " process writing into %lu pages", TLT_ORACLE_THREADS, TLT_ORACLE_PROCS,
		 o->quota * TLT_ORACLE_WRITERS, TLT_ORACLE_MMAP_PAGES,
		 TLT_ORACLE_PAGES - TLT_ORACLE_MMAP_PAGES);

	tlt_oracle_start(o);
	while (atomic_load(&o->done) < TLT_ORACLE_WRITERS) {
		n = tlt_oracle_copy_round(o, 0, area2, pages, buf, &calls);
		if (n < 0) {
			ok = false;
			break;
		}
		copied += (uint64_t)n;
		rounds++;
		atomic_store(&o->rounds, rounds);
		if (rounds % 50 == 0)
			tlt_diag("round %" PRIu64 ": %lu stores so far, %" PRIu64 " pages copied",
				 rounds, atomic_load(&o->stores), copied);
	}
	ok = tlt_oracle_wait(o) && ok;
	tlt_result(ok && atomic_load(&o->stores) >= o->quota * TLT_ORACLE_WRITERS,
		   "writers made %lu page stores and %lu O_DIRECT page writes while the consumer"
		   " copied", atomic_load(&o->stores), atomic_load(&o->dio_stores));

	n = tlt_oracle_copy_round(o, 0, area2, pages, buf, &calls);
	tlt_result(n >= 0, "last GET+CLEAR + copy (%ld pages)", n);
	copied += n > 0 ? (uint64_t)n : 0;
	rounds++;
	tlt_diag("%" PRIu64 " rounds, %" PRIu64 " GET calls, %" PRIu64 " pages copied (%.1f MiB),"
		 " writers ran %.1f s, %.0f stores/s", rounds, calls, copied,
		 copied * TLT_PAGE / 1048576.0, o->t1 - o->t0, atomic_load(&o->stores) / (o->t1 - o->t0));

	tlt_get_all_or_bail(d->fd, 0, TLT_ORACLE_BATCH, d->nr_pages, &rest);
	tlt_result(rest.n == 0, "nothing left in the set after the last round (%zu pages)", rest.n);
	tlt_pages_free(&rest);

	tlt_oracle_compare(o, area2, &c);
	tlt_result(c.differ == 0, "area2 == device byte for byte (%" PRIu64 " pages differ)",
		   c.differ);
	tlt_result(c.zero_touched == 0 && c.nonzero_untouched == 0,
		   "the device holds data exactly in the %" PRIu64 " touched pages (%" PRIu64
		   " empty, %" PRIu64 " unexpected)", c.touched, c.zero_touched,
		   c.nonzero_untouched);

	tlt_oracle_free(o);
	close(area2);
	unlink("area2.img");
	if (tlt_tdev_close(d))
		tlt_diag("removing the device failed");
	tlt_exit();
}
