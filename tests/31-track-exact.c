// SPDX-License-Identifier: GPL-2.0
/*
 * 31-track-exact: one process stores through a MAP_SHARED mapping into random
 * page sets that include the first and the last page, adjacent runs and one
 * store straddling a page boundary; without any msync, the reported set must
 * equal the stored set exactly (no page missing, no page extra), a second
 * GET without CLEAR must say the same, status.written must match, and after
 * GET with CLEAR the set must be empty.
 */
#include "tlt.h"

#define DEV_SIZE (64UL << 20)

int main(void)
{
	unsigned long rounds = 6 * tlt_scale();
	struct tloop_track_status st;
	struct tlt_pages got = { 0 };
	struct tlt_set want;
	struct tlt_tdev *d;
	uint8_t *map;
	int ret;

	tlt_require_tracking();
	tlt_seed(0x31e8ac7ULL);
	tlt_plan((int)(rounds * 5));
	d = tlt_tdev_open("backing.img", DEV_SIZE, 0);
	tlt_set_init(&want, d->nr_pages);
	map = tlt_map(d->fd, DEV_SIZE, 0);
	if (tlt_enable(d->fd, 0))
		tlt_bail("TRACK_ENABLE");

	for (unsigned long r = 0; r < rounds; r++) {
		uint64_t n = 1 + tlt_rand_below(r & 1 ? 2000 : 50), b, len;
		const char *how = "single pages";

		tlt_set_reset(&want);
		/* First and last page, always. */
		tlt_touch(map);
		tlt_touch(map + DEV_SIZE - 1);
		tlt_set_bytes(&want, 0, 1);
		tlt_set_bytes(&want, DEV_SIZE - 1, 1);
		/* Random single pages at random offsets inside the page. */
		for (uint64_t i = 0; i < n; i++) {
			uint64_t off = tlt_rand_below(DEV_SIZE);

			tlt_touch(map + off);
			tlt_set_bytes(&want, off, 1);
		}
		/* Adjacent runs of 2..40 pages, each page touched at its start or end. */
		for (int k = 0; k < 3; k++) {
			b = tlt_rand_below(d->nr_pages - 40);
			len = 2 + tlt_rand_below(39);
			for (uint64_t p = b; p < b + len; p++)
				tlt_touch(map + p * TLT_PAGE + ((p & 1) ? TLT_PAGE - 1 : 0));
			tlt_set_bytes(&want, b * TLT_PAGE, len * TLT_PAGE);
		}
		/* One 8-byte store straddling a page boundary: 2 pages. */
		{
			uint64_t v = tlt_rand() | 1;

			b = 1 + tlt_rand_below(d->nr_pages - 2);
			memcpy(map + b * TLT_PAGE - 4, &v, sizeof(v));
			tlt_set_bytes(&want, b * TLT_PAGE - 4, sizeof(v));
		}
		if (r & 1)
			how = "many pages";
		tlt_diag("round %lu: %" PRIu64 " pages stored (%s)", r, tlt_set_count(&want), how);

		tlt_check_get(d->fd, 0, 4096, &want, "round: reported == stored (GET)");
		tlt_check_get(d->fd, TLOOP_GET_NOSYNC, 100, &want,
			      "round: a second GET (NOSYNC) reports the same");
		ret = tlt_status(d->fd, &st);
		tlt_result(ret == 0 && st.written == tlt_set_count(&want),
			   "round: status.written %" PRIu64 " == %" PRIu64, (uint64_t)st.written,
			   tlt_set_count(&want));
		tlt_check_get(d->fd, TLOOP_GET_CLEAR, 4096, &want,
			      "round: GET+CLEAR reports the same");
		tlt_set_reset(&want);
		tlt_get_all_or_bail(d->fd, 0, 4096, d->nr_pages, &got);
		tlt_result(got.n == 0, "round: empty after GET+CLEAR (got %zu pages)", got.n);
		tlt_pages_free(&got);
	}
	tlt_unmap(map, DEV_SIZE);
	if (tlt_tdev_close(d))
		tlt_diag("removing the device failed");
	tlt_set_free(&want);
	tlt_exit();
}
