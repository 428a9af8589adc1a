// SPDX-License-Identifier: GPL-2.0
/*
 * 33-track-cursor: small arrays.  Walk a known set with capacity 1, 7 and 64
 * through the cursor and collect exactly the set; stop at @end; GET+CLEAR
 * with a small array clears exactly the pages it returned and leaves the
 * rest; a cursor at the page count gives an empty, complete answer;
 * CLEAR_WRITTEN of a range clears exactly that range.
 */
#include "tlt.h"

#define DEV_SIZE ((8UL << 20) + 3 * 512)	/* last page is partial */

/* Walk [cursor, end) with @cap entries per call; true if it equals want restricted there. */
static bool walk_window(struct tlt_tdev *d, const struct tlt_set *want, uint64_t from,
			uint64_t end, uint32_t cap)
{
	struct tlt_set sub;
	struct tlt_pages got = { 0 };
	uint64_t buf[64], cursor = from;
	bool ok = true;

	tlt_set_init(&sub, want->nr);
	for (uint64_t p = from; p < end; p++)
		sub.bit[p] = want->bit[p];
	for (int calls = 0;; calls++) {
		struct tloop_written w;
		int ret = tlt_get_one(d->fd, TLOOP_GET_NOSYNC, cursor, end, buf, cap, &w);

		if (ret || w.count > cap || calls > 100000) {
			tlt_diag("window [%" PRIu64 ", %" PRIu64 "): call failed (%s) or count %u",
				 from, end, ret ? tlt_errname(-ret) : "ok", w.count);
			ok = false;
			break;
		}
		for (uint32_t i = 0; i < w.count; i++)
			tlt_pages_push(&got, buf[i]);
		if (w.next_cursor == TLOOP_CURSOR_END)
			break;
		if (w.next_cursor <= cursor || w.next_cursor > end) {
			tlt_diag("window [%" PRIu64 ", %" PRIu64 "): next_cursor %" PRIu64
				 " after %" PRIu64, from, end, (uint64_t)w.next_cursor, cursor);
			ok = false;
			break;
		}
		cursor = w.next_cursor;
	}
	if (ok)
		ok = tlt_set_diff(&sub, &got, "window", NULL, NULL);
	tlt_pages_free(&got);
	tlt_set_free(&sub);
	return ok;
}

int main(void)
{
	struct tlt_pages got = { 0 };
	struct tloop_written w;
	struct tlt_set want;
	struct tlt_tdev *d;
	uint64_t buf[64], n;
	char data[TLT_PAGE];
	int ret;

	tlt_require_tracking();
	tlt_seed(0x33c0501ULL);
	tlt_plan(14);
	d = tlt_tdev_open("backing.img", DEV_SIZE, 0);
	tlt_set_init(&want, d->nr_pages);
	if (tlt_enable(d->fd, 0))
		tlt_bail("TRACK_ENABLE");

	memset(data, 0xc3, sizeof(data));
	for (int i = 0; i < 300; i++) {
		uint64_t p = tlt_rand_below(d->nr_pages - 1);

		tlt_pwrite_all(d->fd, data, 512, (off_t)(p * TLT_PAGE + 512 * (p % 8)));
		want.bit[p] = 1;
	}
	for (uint64_t p = 100; p < 180; p++)	/* one long run */
		want.bit[p] = 1;
	tlt_pwrite_all(d->fd, data, 512, 0);
	for (uint64_t p = 100; p < 180; p++)
		tlt_pwrite_all(d->fd, data, TLT_PAGE, (off_t)(p * TLT_PAGE));
	tlt_pwrite_all(d->fd, data, 512, DEV_SIZE - 512);	/* the partial last page */
	want.bit[0] = want.bit[d->nr_pages - 1] = 1;
	n = tlt_set_count(&want);
	tlt_diag("%" PRIu64 " pages written of %" PRIu64, n, d->nr_pages);

	tlt_check_get(d->fd, 0, 1, &want, "walk with capacity 1");
	tlt_check_get(d->fd, TLOOP_GET_NOSYNC, 7, &want, "walk with capacity 7");
	tlt_check_get(d->fd, TLOOP_GET_NOSYNC, 64, &want, "walk with capacity 64");
	tlt_get_all_or_bail(d->fd, TLOOP_GET_NOSYNC, 7, d->nr_pages, &got);
	tlt_result(got.calls >= (n + 6) / 7, "capacity 7 needs at least %" PRIu64 " calls (%u)",
		   (n + 6) / 7, got.calls);
	tlt_pages_free(&got);

	{
		bool ok = true;

		for (int i = 0; i < 20 && ok; i++) {
			uint64_t a = tlt_rand_below(d->nr_pages), b = a + 1 +
				     tlt_rand_below(d->nr_pages - a);

			ok = walk_window(d, &want, a, b, (uint32_t)(1 + tlt_rand_below(64)));
		}
		ok = ok && walk_window(d, &want, 100, 180, 7);
		tlt_result(ok, "walks of [cursor, end) windows report exactly the window");
	}

	/* cursor == nr_pages: empty and complete. */
	ret = tlt_get_one(d->fd, 0, d->nr_pages, 0, buf, 64, &w);
	tlt_result(ret == 0 && w.count == 0 && w.next_cursor == TLOOP_CURSOR_END,
		   "cursor == nr_pages: count 0, next_cursor END (ret %d count %u next %#" PRIx64 ")",
		   ret, w.count, (uint64_t)w.next_cursor);

	/* Small-array GET+CLEAR clears exactly what it returned. */
	ret = tlt_get_one(d->fd, TLOOP_GET_CLEAR, 0, 0, buf, 7, &w);
	{
		bool ok = ret == 0 && w.count >= 1 && w.count <= 7;
		uint64_t expect_next = 0;
		uint32_t k = 0;

		for (uint64_t p = 0; ok && p < d->nr_pages && k < w.count; p++)
			if (want.bit[p]) {
				if (buf[k] != p) {
					tlt_diag("entry %u: expected page %" PRIu64 ", got %" PRIu64,
						 k, p, buf[k]);
					ok = false;
				}
				want.bit[p] = 0;
				k++;
				expect_next = p + 1;
			}
		tlt_result(ok, "GET+CLEAR with capacity 7 returns the lowest pages (%u)", w.count);
		tlt_result(ret == 0 && w.next_cursor >= expect_next &&
			   (w.next_cursor == TLOOP_CURSOR_END || w.next_cursor <= d->nr_pages),
			   "its next_cursor %#" PRIx64 " is past the last returned page",
			   (uint64_t)w.next_cursor);
		tlt_check_get(d->fd, TLOOP_GET_NOSYNC, 64, &want,
			      "GET+CLEAR with capacity 7 cleared exactly the pages it returned");
		/* Resume from its cursor, clear one more batch with capacity 1. */
		ret = tlt_get_one(d->fd, TLOOP_GET_CLEAR, w.next_cursor, 0, buf, 1, &w);
		ok = ret == 0 && w.count == 1;
		for (uint64_t p = 0; ok && p < d->nr_pages; p++)
			if (want.bit[p]) {
				ok = buf[0] == p;
				want.bit[p] = 0;
				break;
			}
		tlt_result(ok, "resumed GET+CLEAR with capacity 1 returns the next page");
		tlt_check_get(d->fd, TLOOP_GET_NOSYNC, 64, &want, "and clears only that page");
	}

	/* CLEAR_WRITTEN of a range. */
	ret = tlt_clear(d->fd, 0, 120, 150, NULL);
	for (uint64_t p = 120; p < 150; p++)
		want.bit[p] = 0;
	tlt_result(ret == 0, "CLEAR_WRITTEN [120, 150)");
	tlt_check_get(d->fd, TLOOP_GET_NOSYNC, 64, &want, "range clear removed exactly [120, 150)");
	ret = tlt_clear(d->fd, 0, d->nr_pages - 1, d->nr_pages, NULL);
	want.bit[d->nr_pages - 1] = 0;
	tlt_check_get(d->fd, TLOOP_GET_NOSYNC, 7, &want,
		      ret ? "CLEAR_WRITTEN of the last page failed" :
			    "range clear of the last page removed only it");

	if (tlt_tdev_close(d))
		tlt_diag("removing the device failed");
	tlt_set_free(&want);
	tlt_exit();
}
