// SPDX-License-Identifier: GPL-2.0
/*
 * 43-track-memory: what the written set costs, per GiB of device, for
 * random pages (0.01 % to 100 %) and contiguous runs, as reported by
 * TLOOP_TRACK_STATUS.mem_used.  Writes are discards (recorded like any
 * write, free in the tmpfs backing file), made by two processes.  Each case
 * must cost at most min(16 bytes per written page, one bit per device page)
 * plus 4 KiB per GiB (the region entries and their root block), count the
 * pages exactly, and after GET+CLEAR of everything shrink back to at most
 * those 4 KiB.  The table is printed as diagnostics (doc/benchmarks.md
 * quotes it).  100 % of the pages in random order takes ~262144 discards:
 * only with TLOOP_SCALE >= 2 (at scale 1, 100 % is one discard of the
 * whole device; the final structure is the same).
 *
 * tloop-timeout: 600
 */
#include "tlt.h"

#include <sys/ioctl.h>
#include <linux/fs.h>

#define DEV_SIZE	(1ULL << 30)
#define GIB		(1ULL << 30)
#define FIXED		4096	/* per GiB of device */
#define WRITERS		2

struct mcase {
	const char *name;
	double fraction;	/* of the device's pages */
	uint64_t run;		/* pages per run; 1 = random pages */
	unsigned long min_scale;
};

static const struct mcase cases[] = {
	{ "random 0.01%", 0.0001, 1, 1 },
	{ "random 0.1%", 0.001, 1, 1 },
	{ "random 1%", 0.01, 1, 1 },
	{ "random 10%", 0.1, 1, 1 },
	{ "random 100%", 1.0, 1, 2 },
	{ "runs of 16 pages, 1%", 0.01, 16, 1 },
	{ "runs of 16 pages, 10%", 0.1, 16, 1 },
	{ "runs of 256 pages, 10%", 0.1, 256, 1 },
	{ "one run, 10%", 0.1, 26214, 1 },
	{ "one run, 100%", 1.0, 262144, 1 },
};

/* Discard runs @slots[from..to) (slot s = pages s*run .. s*run+run-1). */
static void discard_slots(const char *node, const uint32_t *slots, uint64_t from, uint64_t to,
			  uint64_t run)
{
	int fd = open(node, O_RDWR | O_CLOEXEC);

	if (fd < 0)
		_exit(2);
	for (uint64_t i = from; i < to; i++) {
		uint64_t range[2] = { (uint64_t)slots[i] * run * TLT_PAGE, run * TLT_PAGE };

		if (ioctl(fd, BLKDISCARD, range) < 0)
			_exit(3);
	}
	close(fd);
	_exit(0);
}

int main(void)
{
	unsigned long scale = tlt_scale();
	struct tloop_track_status st;
	struct tlt_pages got = { 0 };
	struct tlt_tdev *d;
	uint32_t *slots;
	int n = 0;

	tlt_require_tracking();
	tlt_seed(0x43);
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++)
		n += cases[c].min_scale <= scale ? 2 : 0;
	tlt_plan(n + 1);
	d = tlt_tdev_open("backing.img", DEV_SIZE, 0);
	slots = malloc(d->nr_pages * sizeof(*slots));
	if (!slots)
		tlt_bail("malloc");
	if (tlt_enable(d->fd, 0))
		tlt_bail("TLOOP_TRACK_ENABLE");
	tlt_diag("%-24s %8s %10s %9s %8s %12s", "case", "pages", "mem_used", "B/page",
		 "bit/pg", "after clear");
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		const struct mcase *mc = &cases[c];
		uint64_t nslots = d->nr_pages / mc->run;
		uint64_t k = (uint64_t)(mc->fraction * d->nr_pages / mc->run + 0.5);
		uint64_t want, bound, mem, after;
		pid_t pids[WRITERS];
		double t0 = tlt_now();
		bool ok = true;

		if (mc->min_scale > scale) {
			tlt_diag("%-24s (TLOOP_SCALE >= %lu)", mc->name, mc->min_scale);
			continue;
		}
		if (!k)
			k = 1;
		/* k distinct slots: a partial Fisher-Yates shuffle. */
		for (uint64_t i = 0; i < nslots; i++)
			slots[i] = (uint32_t)i;
		for (uint64_t i = 0; i < k; i++) {
			uint64_t j = i + tlt_rand_below(nslots - i);
			uint32_t t = slots[i];

			slots[i] = slots[j];
			slots[j] = t;
		}
		want = k * mc->run;
		tlt_clear_all(d->fd);
		for (int w = 0; w < WRITERS; w++) {
			pids[w] = fork();
			if (pids[w] < 0)
				tlt_bail("fork");
			if (!pids[w])
				discard_slots(d->node, slots, k * w / WRITERS, k * (w + 1) / WRITERS,
					      mc->run);
		}
		for (int w = 0; w < WRITERS; w++)
			ok &= tlt_wait_ok(pids[w]);
		if (!ok)
			tlt_bail("%s: a discarding process failed", mc->name);
		if (tlt_status(d->fd, &st))
			tlt_bail("STATUS");
		mem = st.mem_used;
		bound = (want * 16 < d->nr_pages / 8 ? want * 16 : d->nr_pages / 8) +
			FIXED * (DEV_SIZE / GIB);
		tlt_result(st.written == want && !(st.flags & TLOOP_TRACK_OVERFLOW) && mem <= bound,
			   "%s: %" PRIu64 " pages counted (want %" PRIu64 "), mem_used %" PRIu64
			   " <= %" PRIu64, mc->name, (uint64_t)st.written, want, mem, bound);
		/* Memory follows the set: consume everything, leaves shrink. */
		if (tlt_get_all(d->fd, TLOOP_GET_CLEAR | TLOOP_GET_NOSYNC, 65536, d->nr_pages,
				&got))
			tlt_bail("GET+CLEAR walk");
		if (tlt_status(d->fd, &st))
			tlt_bail("STATUS");
		after = st.mem_used;
		tlt_result(got.n == want && st.written == 0 && after <= FIXED * (DEV_SIZE / GIB),
			   "%s: GET+CLEAR returns the %zu pages and leaves mem_used %" PRIu64
			   " <= %llu", mc->name, got.n, after, FIXED * (DEV_SIZE / GIB));
		tlt_pages_free(&got);
		tlt_diag("%-24s %8" PRIu64 " %10" PRIu64 " %9.2f %8.3f %12" PRIu64 "  (%.1f s)",
			 mc->name, want, mem, (double)mem / want, mem * 8.0 / d->nr_pages, after,
			 tlt_now() - t0);
	}
	tlt_diag("per GiB of device (%" PRIu64 " pages); seed: ~64 B per written page; "
		 "dm-era: 32 bits per block = %" PRIu64 " B for 4 KiB blocks", d->nr_pages,
		 d->nr_pages * 4);
	free(slots);
	tlt_result(tlt_tdev_close(d) == 0, "the device is removed");
	tlt_exit();
}
