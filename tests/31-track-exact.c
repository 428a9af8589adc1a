// SPDX-License-Identifier: GPL-2.0
/*
 * 31-track-exact: one process stores through a MAP_SHARED mapping into random
 * page sets that include the first and the last page, adjacent runs and one
 * store straddling a page boundary; without any msync, the reported set must
 * equal the stored set exactly (no page missing, no page extra), a second
 * GET without CLEAR must say the same, status.written must match, and after
 * GET with CLEAR the set must be empty.
 */
#include "tlt-track.h"

#define DEV_SIZE (64UL << 20)

int main(void)
{
	unsigned long rounds = 6 * ttk_scale();
	struct tloop_track_status st;
	struct ttk_pages got = { 0 };
	struct ttk_set want;
	struct ttk_dev *d;
	uint8_t *map;
	int ret;

	ttk_require_tracking();
	ttk_seed(0x31e8ac7ULL);
	tlt_plan((int)(rounds * 5));
	d = ttk_dev_open("backing.img", DEV_SIZE, 0);
	ttk_set_init(&want, d->nr_pages);
	map = ttk_map(d->fd, DEV_SIZE, 0);
	if (ttk_enable(d->fd, 0))
		tlt_bail("TRACK_ENABLE");

	for (unsigned long r = 0; r < rounds; r++) {
		uint64_t n = 1 + ttk_rand_below(r & 1 ? 2000 : 50), b, len;
		const char *how = "single pages";

		ttk_set_reset(&want);
		/* First and last page, always. */
		ttk_touch(map);
		ttk_touch(map + DEV_SIZE - 1);
		ttk_set_bytes(&want, 0, 1);
		ttk_set_bytes(&want, DEV_SIZE - 1, 1);
		/* Random single pages at random offsets inside the page. */
		for (uint64_t i = 0; i < n; i++) {
			uint64_t off = ttk_rand_below(DEV_SIZE);

			ttk_touch(map + off);
			ttk_set_bytes(&want, off, 1);
		}
		/* Adjacent runs of 2..40 pages, each page touched at its start or end. */
		for (int k = 0; k < 3; k++) {
			b = ttk_rand_below(d->nr_pages - 40);
			len = 2 + ttk_rand_below(39);
			for (uint64_t p = b; p < b + len; p++)
				ttk_touch(map + p * TTK_PAGE + ((p & 1) ? TTK_PAGE - 1 : 0));
			ttk_set_bytes(&want, b * TTK_PAGE, len * TTK_PAGE);
		}
		/* One 8-byte store straddling a page boundary: 2 pages. */
		{
			uint64_t v = ttk_rand() | 1;

			b = 1 + ttk_rand_below(d->nr_pages - 2);
			memcpy(map + b * TTK_PAGE - 4, &v, sizeof(v));
			ttk_set_bytes(&want, b * TTK_PAGE - 4, sizeof(v));
		}
		if (r & 1)
			how = "many pages";
		tlt_diag("round %lu: %" PRIu64 " pages stored (%s)", r, ttk_set_count(&want), how);

		ttk_check_get(d->fd, 0, 4096, &want, "round: reported == stored (GET)");
		ttk_check_get(d->fd, TLOOP_GET_NOSYNC, 100, &want,
			      "round: a second GET (NOSYNC) reports the same");
		ret = ttk_status(d->fd, &st);
		tlt_result(ret == 0 && st.written == ttk_set_count(&want),
			   "round: status.written %" PRIu64 " == %" PRIu64, (uint64_t)st.written,
			   ttk_set_count(&want));
		ttk_check_get(d->fd, TLOOP_GET_CLEAR, 4096, &want,
			      "round: GET+CLEAR reports the same");
		ttk_set_reset(&want);
		ttk_get_all_or_bail(d->fd, 0, 4096, d->nr_pages, &got);
		tlt_result(got.n == 0, "round: empty after GET+CLEAR (got %zu pages)", got.n);
		ttk_pages_free(&got);
	}
	ttk_unmap(map, DEV_SIZE);
	if (ttk_dev_close(d))
		tlt_diag("removing the device failed");
	ttk_set_free(&want);
	tlt_exit();
}
