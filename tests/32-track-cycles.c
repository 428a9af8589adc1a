// SPDX-License-Identifier: GPL-2.0
/*
 * 32-track-cycles: 100 cycles of write / get-and-clear.  Each cycle stores
 * through mmap into a random subset of pages (a small hot set is stored in
 * about half of the cycles, so mapped pages that were written back by the
 * previous GET are stored again) and writes a few pages with pwrite().  Each
 * GET+CLEAR must report exactly the pages of its cycle: a page not rewritten
 * never comes back, a page rewritten after the clear always does.
 */
#include "tlt.h"

#define DEV_SIZE (16UL << 20)
#define HOT 8

int main(void)
{
	unsigned long cycles = 100 * tlt_scale();
	uint64_t hot[HOT], missing_total = 0, extra_total = 0;
	unsigned long bad_cycles = 0;
	struct tlt_pages got = { 0 };
	struct tlt_set want;
	struct tlt_tdev *d;
	uint8_t *map;
	char buf[TLT_PAGE];
	double t0;

	tlt_require_tracking();
	tlt_seed(0x32c7c1e5ULL);
	tlt_plan(3);
	d = tlt_tdev_open("backing.img", DEV_SIZE, 0);
	tlt_set_init(&want, d->nr_pages);
	map = tlt_map(d->fd, DEV_SIZE, 0);
	for (int i = 0; i < HOT; i++)
		hot[i] = tlt_rand_below(d->nr_pages);
	if (tlt_enable(d->fd, 0))
		tlt_bail("TRACK_ENABLE");

	t0 = tlt_now();
	for (unsigned long c = 0; c < cycles; c++) {
		uint64_t n = tlt_rand_below(c % 10 == 9 ? 1500 : 40), miss, extra;
		int ret;

		tlt_set_reset(&want);
		if (tlt_rand() & 1)
			for (int i = 0; i < HOT; i++) {
				tlt_touch(map + hot[i] * TLT_PAGE + 64 * (uint64_t)i);
				want.bit[hot[i]] = 1;
			}
		for (uint64_t i = 0; i < n; i++) {
			uint64_t off = tlt_rand_below(DEV_SIZE);

			tlt_touch(map + off);
			tlt_set_bytes(&want, off, 1);
		}
		for (int i = 0; i < 3; i++) {
			uint64_t off = tlt_rand_below(DEV_SIZE - 1000), len = 1 + tlt_rand_below(1000);

			memset(buf, (int)c, len);
			tlt_pwrite_all(d->fd, buf, len, (off_t)off);
			tlt_set_bytes(&want, off, len);
		}
		ret = tlt_get_all(d->fd, TLOOP_GET_CLEAR, 512, d->nr_pages, &got);
		if (ret) {
			tlt_diag("cycle %lu: GET+CLEAR failed: %s", c, tlt_errname(-ret));
			bad_cycles++;
		} else if (!tlt_set_diff(&want, &got, "cycle", &miss, &extra)) {
			tlt_diag("cycle %lu differs", c);
			bad_cycles++;
			missing_total += miss;
			extra_total += extra;
		}
		tlt_pages_free(&got);
	}
	tlt_diag("%lu cycles in %.1f s", cycles, tlt_now() - t0);
	tlt_result(missing_total == 0, "no rewritten page is lost (%" PRIu64 " missing)",
		   missing_total);
	tlt_result(extra_total == 0 && bad_cycles == 0,
		   "no page comes back unless rewritten (%" PRIu64 " extra, %lu bad cycles)",
		   extra_total, bad_cycles);
	tlt_set_reset(&want);
	tlt_check_get(d->fd, 0, 64, &want, "empty after the last cycle");
	tlt_unmap(map, DEV_SIZE);
	if (tlt_tdev_close(d))
		tlt_diag("removing the device failed");
	tlt_set_free(&want);
	tlt_exit();
}
