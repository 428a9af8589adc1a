// SPDX-License-Identifier: GPL-2.0
/*
 * 32-track-cycles: 100 cycles of write / get-and-clear.  Each cycle stores
 * through mmap into a random subset of pages (a small hot set is stored in
 * about half of the cycles, so mapped pages that were written back by the
 * previous GET are stored again) and writes a few pages with pwrite().  Each
 * GET+CLEAR must report exactly the pages of its cycle: a page not rewritten
 * never comes back, a page rewritten after the clear always does.
 */
#include "tlt-track.h"

#define DEV_SIZE (16UL << 20)
#define HOT 8

int main(void)
{
	unsigned long cycles = 100 * ttk_scale();
	uint64_t hot[HOT], missing_total = 0, extra_total = 0;
	unsigned long bad_cycles = 0;
	struct ttk_pages got = { 0 };
	struct ttk_set want;
	struct ttk_dev *d;
	uint8_t *map;
	char buf[TTK_PAGE];
	double t0;

	ttk_require_tracking();
	ttk_seed(0x32c7c1e5ULL);
	tlt_plan(3);
	d = ttk_dev_open("backing.img", DEV_SIZE, 0);
	ttk_set_init(&want, d->nr_pages);
	map = ttk_map(d->fd, DEV_SIZE, 0);
	for (int i = 0; i < HOT; i++)
		hot[i] = ttk_rand_below(d->nr_pages);
	if (ttk_enable(d->fd, 0))
		tlt_bail("TRACK_ENABLE");

	t0 = ttk_now();
	for (unsigned long c = 0; c < cycles; c++) {
		uint64_t n = ttk_rand_below(c % 10 == 9 ? 1500 : 40), miss, extra;
		int ret;

		ttk_set_reset(&want);
		if (ttk_rand() & 1)
			for (int i = 0; i < HOT; i++) {
				ttk_touch(map + hot[i] * TTK_PAGE + 64 * (uint64_t)i);
				want.bit[hot[i]] = 1;
			}
		for (uint64_t i = 0; i < n; i++) {
			uint64_t off = ttk_rand_below(DEV_SIZE);

			ttk_touch(map + off);
			ttk_set_bytes(&want, off, 1);
		}
		for (int i = 0; i < 3; i++) {
			uint64_t off = ttk_rand_below(DEV_SIZE - 1000), len = 1 + ttk_rand_below(1000);

			memset(buf, (int)c, len);
			ttk_pwrite_all(d->fd, buf, len, (off_t)off);
			ttk_set_bytes(&want, off, len);
		}
		ret = ttk_get_all(d->fd, TLOOP_GET_CLEAR, 512, d->nr_pages, &got);
		if (ret) {
			tlt_diag("cycle %lu: GET+CLEAR failed: %s", c, tlt_errname(-ret));
			bad_cycles++;
		} else if (!ttk_set_diff(&want, &got, "cycle", &miss, &extra)) {
			tlt_diag("cycle %lu differs", c);
			bad_cycles++;
			missing_total += miss;
			extra_total += extra;
		}
		ttk_pages_free(&got);
	}
	tlt_diag("%lu cycles in %.1f s", cycles, ttk_now() - t0);
	tlt_result(missing_total == 0, "no rewritten page is lost (%" PRIu64 " missing)",
		   missing_total);
	tlt_result(extra_total == 0 && bad_cycles == 0,
		   "no page comes back unless rewritten (%" PRIu64 " extra, %lu bad cycles)",
		   extra_total, bad_cycles);
	ttk_set_reset(&want);
	ttk_check_get(d->fd, 0, 64, &want, "empty after the last cycle");
	ttk_unmap(map, DEV_SIZE);
	if (ttk_dev_close(d))
		tlt_diag("removing the device failed");
	ttk_set_free(&want);
	tlt_exit();
}
