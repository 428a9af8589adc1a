// SPDX-License-Identifier: GPL-2.0
/*
 * 38-track-overflow: a written set with a small mem_limit.  Scattered writes
 * that no 4 KiB structure can hold must put the set in the overflowed state
 * (never a silent loss: until then every written page is counted); status
 * and GET report TLOOP_TRACK_OVERFLOW, GET returns nothing and clears
 * nothing, a range clear keeps the overflow, CLEAR_ALL leaves it, and
 * tracking is exact again afterwards.
 *
 * tloop-timeout: 300 (96 s of the default 120 on the KASAN/lockdep kernel
 * with a loaded host, and over 120 s in two runs of 2026-11-29)
 */
#include "tlt.h"

#define DEV_SIZE (512UL << 20)	/* sparse: 131072 pages */
#define LIMIT 4096
#define STRIDE 8		/* 16384 pages every 8th: > 9 KB of information */

int main(void)
{
	struct tloop_track_status st;
	struct tloop_written w;
	struct tlt_pages got = { 0 };
	struct tlt_set want;
	struct tlt_tdev *d;
	uint64_t buf[64], written = 0, gen;
	uint8_t *dbuf;
	bool exact = true, over = false, under_limit = true;
	int dfd, ret;

	if (!(tlt_require_tracking() & TLOOP_FEAT_MEM_LIMIT))
		tlt_skip_all("module does not report TLOOP_FEAT_MEM_LIMIT");
	tlt_plan(13);
	d = tlt_tdev_open("backing.img", DEV_SIZE, 0);
	tlt_set_init(&want, d->nr_pages);
	ret = tlt_enable(d->fd, LIMIT);
	ret |= tlt_status(d->fd, &st);
	tlt_result(ret == 0 && st.mem_limit == LIMIT && (st.flags & TLOOP_TRACK_ON),
		   "enable with mem_limit %d (status says %" PRIu64 ")", LIMIT,
		   (uint64_t)st.mem_limit);

	dfd = open(d->node, O_RDWR | O_DIRECT | O_CLOEXEC);
	if (dfd < 0 || posix_memalign((void **)&dbuf, TLT_PAGE, TLT_PAGE))
		tlt_bail("O_DIRECT open");
	memset(dbuf, 0x77, TLT_PAGE);
	for (uint64_t p = 0; p < d->nr_pages; p += STRIDE) {
		if (pwrite(dfd, dbuf, 512, (off_t)(p * TLT_PAGE)) != 512)
			tlt_bail("O_DIRECT pwrite page %" PRIu64, p);
		want.bit[p] = 1;
		written++;
		if (written % 128 && p + STRIDE < d->nr_pages)
			continue;
		if (tlt_status(d->fd, &st))
			tlt_bail("STATUS");
		if (st.mem_used > LIMIT)
			under_limit = false;
		if (st.flags & TLOOP_TRACK_OVERFLOW) {
			over = true;
			break;
		}
		if (st.written != written) {
			tlt_diag("after %" PRIu64 " pages, not overflowed, status.written %" PRIu64,
				 written, (uint64_t)st.written);
			exact = false;
		}
	}
	tlt_diag("overflow after %" PRIu64 " pages, mem_used %" PRIu64, written,
		 (uint64_t)st.mem_used);
	tlt_result(exact, "until the overflow, every written page is counted");
	tlt_result(over, "scattered writes overflow a %d-byte set", LIMIT);
	tlt_result(under_limit, "mem_used stays within mem_limit");

	gen = st.generation;
	ret = tlt_get_one(d->fd, TLOOP_GET_CLEAR, 0, 0, buf, 64, &w);
	tlt_result(ret == 0 && (w.status & TLOOP_TRACK_OVERFLOW) && w.count == 0,
		   "GET+CLEAR while overflowed: status OVERFLOW, nothing returned (count %u)",
		   w.count);
	ret = tlt_status(d->fd, &st);
	tlt_result(ret == 0 && (st.flags & TLOOP_TRACK_OVERFLOW),
		   "GET+CLEAR does not leave the overflow");
	ret = tlt_clear(d->fd, 0, 0, 100, NULL);
	ret |= tlt_status(d->fd, &st);
	tlt_result(ret == 0 && (st.flags & TLOOP_TRACK_OVERFLOW), "a range clear keeps the overflow");
	ret = tlt_clear(d->fd, TLOOP_CLEAR_ALL, 0, 0, NULL);
	ret |= tlt_status(d->fd, &st);
	tlt_result(ret == 0 && !(st.flags & TLOOP_TRACK_OVERFLOW) && st.written == 0 &&
		   st.generation != gen, "CLEAR_ALL leaves the overflow: empty, new generation");

	/* Exact again with few pages. */
	tlt_set_reset(&want);
	for (uint64_t p = 1000; p < 1003; p++) {
		if (pwrite(dfd, dbuf, 512, (off_t)(p * TLT_PAGE)) != 512)
			tlt_bail("O_DIRECT pwrite");
		want.bit[p] = 1;
	}
	ret = tlt_get_all(d->fd, 0, 64, d->nr_pages, &got);
	if (ret == 0 && (got.status & TLOOP_TRACK_OVERFLOW)) {
		tlt_diag("3 adjacent pages overflow a %d-byte set again", LIMIT);
		tlt_result(got.n == 0, "overflowed again, and then nothing is returned");
	} else {
		tlt_result(ret == 0 && tlt_set_diff(&want, &got, "after CLEAR_ALL", NULL, NULL),
			   "after CLEAR_ALL, tracking is exact again");
	}
	tlt_pages_free(&got);

	/* Overflow again, then off/on: off drops the overflow. */
	for (uint64_t p = 0; p < d->nr_pages && !(st.flags & TLOOP_TRACK_OVERFLOW); p += STRIDE) {
		if (pwrite(dfd, dbuf, 512, (off_t)(p * TLT_PAGE)) != 512)
			tlt_bail("O_DIRECT pwrite");
		if (p % (128 * STRIDE) == 0 && tlt_status(d->fd, &st))
			tlt_bail("STATUS");
	}
	tlt_status(d->fd, &st);
	tlt_result((st.flags & TLOOP_TRACK_OVERFLOW) != 0, "overflowed a second time");
	ret = tlt_disable(d->fd);
	ret |= tlt_enable(d->fd, 0);
	ret |= tlt_status(d->fd, &st);
	tlt_result(ret == 0 && !(st.flags & TLOOP_TRACK_OVERFLOW) && st.written == 0 &&
		   st.mem_limit == 0, "off/on drops the overflow; no limit now");
	for (uint64_t p = 0; p < d->nr_pages; p += 4 * STRIDE) {
		if (pwrite(dfd, dbuf, 512, (off_t)(p * TLT_PAGE)) != 512)
			tlt_bail("O_DIRECT pwrite");
	}
	tlt_set_reset(&want);
	for (uint64_t p = 0; p < d->nr_pages; p += 4 * STRIDE)
		want.bit[p] = 1;
	ret = tlt_status(d->fd, &st);
	tlt_diag("mem_used with 4096 pages scattered over %" PRIu64 ": %" PRIu64 " bytes",
		 d->nr_pages, (uint64_t)st.mem_used);
	tlt_result(ret == 0 && st.mem_used <= d->nr_pages / 8 + 8192,
		   "mem_used is at most about one bit per page");
	tlt_check_get(d->fd, TLOOP_GET_CLEAR, 64, &want,
		      "without a limit, 4096 scattered pages are reported exactly");

	close(dfd);
	free(dbuf);
	if (tlt_tdev_close(d))
		tlt_diag("removing the device failed");
	tlt_set_free(&want);
	tlt_exit();
}
