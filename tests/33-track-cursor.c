// SPDX-License-Identifier: GPL-2.0
/*
 * 33-track-cursor: small arrays.  Walk a known set with capacity 1, 7 and 64
 * through the cursor and collect exactly the set; stop at @end; GET+CLEAR
 * with a small array clears exactly the pages it returned and leaves the
 * rest; a cursor at the page count gives an empty, complete answer;
 * CLEAR_WRITTEN of a range clears exactly that range.
 */
#include "tlt-track.h"

#define DEV_SIZE ((8UL << 20) + 3 * 512)	/* last page is partial */

/* Walk [cursor, end) with @cap entries per call; true if it equals want restricted there. */
static bool walk_window(struct ttk_dev *d, const struct ttk_set *want, uint64_t from,
			uint64_t end, uint32_t cap)
{
	struct ttk_set sub;
	struct ttk_pages got = { 0 };
	uint64_t buf[64], cursor = from;
	bool ok = true;

	ttk_set_init(&sub, want->nr);
	for (uint64_t p = from; p < end; p++)
		sub.bit[p] = want->bit[p];
	for (int calls = 0;; calls++) {
		struct tloop_written w;
		int ret = ttk_get_one(d->fd, TLOOP_GET_NOSYNC, cursor, end, buf, cap, &w);

		if (ret || w.count > cap || calls > 100000) {
			tlt_diag("window [%" PRIu64 ", %" PRIu64 "): call failed (%s) or count %u",
				 from, end, ret ? tlt_errname(-ret) : "ok", w.count);
			ok = false;
			break;
		}
		for (uint32_t i = 0; i < w.count; i++)
			ttk_pages_push(&got, buf[i]);
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
		ok = ttk_set_diff(&sub, &got, "window", NULL, NULL);
	ttk_pages_free(&got);
	ttk_set_free(&sub);
	return ok;
}

int main(void)
{
	struct ttk_pages got = { 0 };
	struct tloop_written w;
	struct ttk_set want;
	struct ttk_dev *d;
	uint64_t buf[64], n;
	char data[TTK_PAGE];
	int ret;

	ttk_require_tracking();
	ttk_seed(0x33c0501ULL);
	tlt_plan(14);
	d = ttk_dev_open("backing.img", DEV_SIZE, 0);
	ttk_set_init(&want, d->nr_pages);
	if (ttk_enable(d->fd, 0))
		tlt_bail("TRACK_ENABLE");

	memset(data, 0xc3, sizeof(data));
	for (int i = 0; i < 300; i++) {
		uint64_t p = ttk_rand_below(d->nr_pages - 1);

		ttk_pwrite_all(d->fd, data, 512, (off_t)(p * TTK_PAGE + 512 * (p % 8)));
		want.bit[p] = 1;
	}
	for (uint64_t p = 100; p < 180; p++)	/* one long run */
		want.bit[p] = 1;
	ttk_pwrite_all(d->fd, data, 512, 0);
	for (uint64_t p = 100; p < 180; p++)
		ttk_pwrite_all(d->fd, data, TTK_PAGE, (off_t)(p * TTK_PAGE));
	ttk_pwrite_all(d->fd, data, 512, DEV_SIZE - 512);	/* the partial last page */
	want.bit[0] = want.bit[d->nr_pages - 1] = 1;
	n = ttk_set_count(&want);
	tlt_diag("%" PRIu64 " pages written of %" PRIu64, n, d->nr_pages);

	ttk_check_get(d->fd, 0, 1, &want, "walk with capacity 1");
	ttk_check_get(d->fd, TLOOP_GET_NOSYNC, 7, &want, "walk with capacity 7");
	ttk_check_get(d->fd, TLOOP_GET_NOSYNC, 64, &want, "walk with capacity 64");
	ttk_get_all_or_bail(d->fd, TLOOP_GET_NOSYNC, 7, d->nr_pages, &got);
	tlt_result(got.calls >= (n + 6) / 7, "capacity 7 needs at least %" PRIu64 " calls (%u)",
		   (n + 6) / 7, got.calls);
	ttk_pages_free(&got);

	{
		bool ok = true;

		for (int i = 0; i < 20 && ok; i++) {
			uint64_t a = ttk_rand_below(d->nr_pages), b = a + 1 +
				     ttk_rand_below(d->nr_pages - a);

			ok = walk_window(d, &want, a, b, (uint32_t)(1 + ttk_rand_below(64)));
		}
		ok = ok && walk_window(d, &want, 100, 180, 7);
		tlt_result(ok, "walks of [cursor, end) windows report exactly the window");
	}

	/* cursor == nr_pages: empty and complete. */
	ret = ttk_get_one(d->fd, 0, d->nr_pages, 0, buf, 64, &w);
	tlt_result(ret == 0 && w.count == 0 && w.next_cursor == TLOOP_CURSOR_END,
		   "cursor == nr_pages: count 0, next_cursor END (ret %d count %u next %#" PRIx64 ")",
		   ret, w.count, (uint64_t)w.next_cursor);

	/* Small-array GET+CLEAR clears exactly what it returned. */
	ret = ttk_get_one(d->fd, TLOOP_GET_CLEAR, 0, 0, buf, 7, &w);
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
		ttk_check_get(d->fd, TLOOP_GET_NOSYNC, 64, &want,
			      "GET+CLEAR with capacity 7 cleared exactly the pages it returned");
		/* Resume from its cursor, clear one more batch with capacity 1. */
		ret = ttk_get_one(d->fd, TLOOP_GET_CLEAR, w.next_cursor, 0, buf, 1, &w);
		ok = ret == 0 && w.count == 1;
		for (uint64_t p = 0; ok && p < d->nr_pages; p++)
			if (want.bit[p]) {
				ok = buf[0] == p;
				want.bit[p] = 0;
				break;
			}
		tlt_result(ok, "resumed GET+CLEAR with capacity 1 returns the next page");
		ttk_check_get(d->fd, TLOOP_GET_NOSYNC, 64, &want, "and clears only that page");
	}

	/* CLEAR_WRITTEN of a range. */
	ret = ttk_clear(d->fd, 0, 120, 150, NULL);
	for (uint64_t p = 120; p < 150; p++)
		want.bit[p] = 0;
	tlt_result(ret == 0, "CLEAR_WRITTEN [120, 150)");
	ttk_check_get(d->fd, TLOOP_GET_NOSYNC, 64, &want, "range clear removed exactly [120, 150)");
	ret = ttk_clear(d->fd, 0, d->nr_pages - 1, d->nr_pages, NULL);
	want.bit[d->nr_pages - 1] = 0;
	ttk_check_get(d->fd, TLOOP_GET_NOSYNC, 7, &want,
		      ret ? "CLEAR_WRITTEN of the last page failed" :
			    "range clear of the last page removed only it");

	if (ttk_dev_close(d))
		tlt_diag("removing the device failed");
	ttk_set_free(&want);
	tlt_exit();
}
