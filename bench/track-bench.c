// SPDX-License-Identifier: GPL-2.0
/*
 * track-bench: page-write tracking benchmarks, run inside one VM boot
 * (make bench-track).  Nothing is asserted: a result is "not ok" only when a
 * measurement could not be made.  Lines starting with "# bench:" carry the
 * numbers.
 *
 *  1. fio write throughput on the stock loop driver, on tloop with tracking
 *     off and on: psync 4 KiB random (O_DIRECT), 1 MiB sequential (O_DIRECT),
 *     mmap engine 4 KiB random; printed as ratios.
 *  2. GET+CLEAR time per GiB of device at 0.1 %, 1 %, 10 % and 100 % of the
 *     pages written (random pages), three ways: with the write-back of the
 *     dirty pages the stores left, with the write-back but nothing dirty, and
 *     with TLOOP_GET_NOSYNC.
 *  3. Memory used by the written set (status.mem_used) at those fractions,
 *     random pages and one contiguous range.
 *
 * Backing files live in the VM's tmpfs (RAM), so the numbers are about the
 * driver's CPU cost, not about a disk.  TLOOP_BENCH_FIO_SECONDS (default 5),
 * TLOOP_BENCH_FIO_REPS (default 3) and TLOOP_BENCH_MIB (device size for 2 and 3,
 * default 256; times are scaled to a GiB) tune the run.
 *
 * tloop-timeout: 3000
 */
#include "tlt.h"

#include <linux/fs.h>

#define MIB (1UL << 20)
#define BATCH TLOOP_GET_MAX_BATCH

static const struct {
	const char *name;
	const char *args;
} jobs[] = {
	{ "psync 4K random (O_DIRECT)", "--ioengine=psync --rw=randwrite --bs=4k --direct=1" },
	{ "psync 1M sequential (O_DIRECT)", "--ioengine=psync --rw=write --bs=1M --direct=1" },
	{ "mmap 4K random", "--ioengine=mmap --rw=randwrite --bs=4k --fsync=256" },
};
#define NJOBS (sizeof(jobs) / sizeof(jobs[0]))

/*
 * Section 1: fio on loop, tloop (off), tloop (on).  The three devices exist
 * at once and the runs rotate (job by job, target by target, @reps times), so
 * that noise from the host hits all three alike; the median is reported.
 */
static void bench_fio(void)
{
	static const char *const target[] = { "loop", "tloop off", "tloop on" };
	unsigned long secs = tlt_env_ul("TLOOP_BENCH_FIO_SECONDS", 5);
	unsigned long reps = tlt_env_ul("TLOOP_BENCH_FIO_REPS", 3);
	uint64_t size = 256 * MIB;
	double bw[3][NJOBS], runs[3][NJOBS][16];
	const char *node[3];
	struct tlt_dev loopdev;
	struct tlt_tdev *d[3];
	struct tloop_track_status st;
	char sz[32];
	int ret;

	if (reps < 1 || reps > 16)
		reps = 3;
	snprintf(sz, sizeof(sz), "--size=%" PRIu64, size);
	if (tlt_make_file("loop.img", (off_t)size, 0))
		tlt_bail("loop.img");
	ret = tlt_attach(&loopdev, TLT_LOOP, "loop.img", 0, 512, 0);
	if (ret) {
		errno = -ret;
		tlt_bail("attach loop.img to the loop driver");
	}
	node[0] = loopdev.path;
	d[1] = tlt_tdev_open("tloop-off.img", size, 0);
	d[2] = tlt_tdev_open("tloop-on.img", size, 0);
	if (tlt_enable(d[2]->fd, 0))
		tlt_bail("TRACK_ENABLE");
	node[1] = d[1]->node;
	node[2] = d[2]->node;
	for (size_t j = 0; j < NJOBS; j++) {
		char args[512];
		bool ok = true;

		snprintf(args, sizeof(args), "%s %s", jobs[j].args, sz);
		for (unsigned long r = 0; r < reps; r++)
			for (int k = 0; k < 3; k++) {
				int t = (int)((k + r) % 3);	/* rotate who goes first */

				runs[t][j][r] = tlt_fio_write_kib(node[t], args, secs);
				ok = ok && runs[t][j][r] > 0;
			}
		for (int t = 0; t < 3; t++) {
			bw[t][j] = tlt_median(runs[t][j], reps);
		}
		tlt_result(ok, "fio %s: loop %.0f, tloop off %.0f, tloop on %.0f KiB/s (median of %lu)",
			   jobs[j].name, bw[0][j], bw[1][j], bw[2][j], reps);
	}
	if (!tlt_status(d[2]->fd, &st))
		tlt_diag("after fio: %" PRIu64 " pages in the set, mem_used %" PRIu64,
			 (uint64_t)st.written, (uint64_t)st.mem_used);
	tlt_detach(&loopdev);
	unlink("loop.img");
	tlt_tdev_close(d[1]);
	tlt_tdev_close(d[2]);
	tlt_diag("bench: fio write throughput, KiB/s, median of %lu runs of %lu s, 256 MiB devices"
		 " on tmpfs", reps, secs);
	tlt_diag("bench: %-32s %10s %10s %10s %9s %9s", "job", target[0], target[1], target[2],
		 "on/off", "on/loop");
	for (size_t j = 0; j < NJOBS; j++)
		tlt_diag("bench: %-32s %10.0f %10.0f %10.0f %9.3f %9.3f", jobs[j].name, bw[0][j],
			 bw[1][j], bw[2][j], bw[1][j] > 0 ? bw[2][j] / bw[1][j] : 0,
			 bw[0][j] > 0 ? bw[2][j] / bw[0][j] : 0);
}

/* timed_get_clear() - one full GET+CLEAR walk; seconds, pages into *n, or -1. */
static double timed_get_clear(int fd, unsigned int flags, uint64_t *buf, uint64_t *n)
{
	uint64_t cursor = 0;
	double t0 = tlt_now();

	*n = 0;
	for (;;) {
		struct tloop_written w;

		if (tlt_get_one(fd, TLOOP_GET_CLEAR | flags, cursor, 0, buf, BATCH, &w))
			return -1;
		*n += w.count;
		if (w.next_cursor == TLOOP_CURSOR_END)
			break;
		cursor = w.next_cursor;
	}
	return tlt_now() - t0;
}

/* Section 2 and 3: get-and-clear cost and set memory at several fractions. */
static void bench_get(void)
{
	static const double frac[] = { 0.001, 0.01, 0.1, 1.0 };
	uint64_t mib = tlt_env_ul("TLOOP_BENCH_MIB", 256), size = mib << 20;
	double gib = (double)mib / 1024;
	uint64_t *buf = malloc(BATCH * sizeof(*buf)), *pick;
	double res[4][3];
	uint64_t mem[4], npages[4];
	struct tlt_tdev *d;
	uint8_t *map;

	d = tlt_tdev_open("get.img", size, 0);
	pick = calloc(d->nr_pages, sizeof(*pick));
	if (!buf || !pick)
		tlt_bail("malloc");
	map = tlt_map(d->fd, size, 0);
	if (tlt_enable(d->fd, 0))
		tlt_bail("TRACK_ENABLE");
	/* A random permutation: the first k entries are k distinct random pages. */
	for (uint64_t i = 0; i < d->nr_pages; i++)
		pick[i] = i;
	for (uint64_t i = d->nr_pages - 1; i > 0; i--) {
		uint64_t j = tlt_rand_below(i + 1), t = pick[i];

		pick[i] = pick[j];
		pick[j] = t;
	}
	for (int f = 0; f < 4; f++) {
		uint64_t k = (uint64_t)(d->nr_pages * frac[f]), n[3];
		struct tloop_track_status st;
		struct tlt_pages tmp = { 0 };
		bool ok = true;

		npages[f] = k;
		/* 1: stores leave k dirty pages; GET+CLEAR writes them back. */
		for (uint64_t i = 0; i < k; i++)
			tlt_touch(map + pick[i] * TLT_PAGE);
		res[f][0] = timed_get_clear(d->fd, 0, buf, &n[0]);
		/* 2: stores again, written back by a GET without CLEAR; then NOSYNC. */
		for (uint64_t i = 0; i < k; i++)
			tlt_touch(map + pick[i] * TLT_PAGE);
		tlt_get_all_or_bail(d->fd, 0, BATCH, d->nr_pages, &tmp);
		tlt_pages_free(&tmp);
		if (tlt_status(d->fd, &st))
			tlt_bail("STATUS");
		mem[f] = st.mem_used;
		res[f][2] = timed_get_clear(d->fd, TLOOP_GET_NOSYNC, buf, &n[2]);
		/* 3: the same, but GET+CLEAR with the write-back that finds nothing dirty. */
		for (uint64_t i = 0; i < k; i++)
			tlt_touch(map + pick[i] * TLT_PAGE);
		tlt_get_all_or_bail(d->fd, 0, BATCH, d->nr_pages, &tmp);
		tlt_pages_free(&tmp);
		res[f][1] = timed_get_clear(d->fd, 0, buf, &n[1]);
		for (int m = 0; m < 3; m++)
			ok = ok && res[f][m] >= 0 && n[m] == k;
		if (!ok)
			tlt_diag("fraction %g: expected %" PRIu64 " pages, got %" PRIu64 "/%" PRIu64
				 "/%" PRIu64, frac[f], k, n[0], n[1], n[2]);
		tlt_result(ok, "GET+CLEAR at %g %% written (%" PRIu64 " pages)", frac[f] * 100, k);
	}
	tlt_diag("bench: GET+CLEAR of the whole set, %" PRIu64 " MiB device (%" PRIu64 " pages),"
		 " random pages, ms per GiB of device", mib, d->nr_pages);
	tlt_diag("bench: %8s %9s %14s %14s %12s %12s %10s", "written", "pages", "+write-back",
		 "+sync(clean)", "NOSYNC", "mem_used B", "B/page");
	for (int f = 0; f < 4; f++)
		tlt_diag("bench: %7g%% %9" PRIu64 " %14.3f %14.3f %12.3f %12" PRIu64 " %10.3f",
			 frac[f] * 100, npages[f], res[f][0] * 1000 / gib, res[f][1] * 1000 / gib,
			 res[f][2] * 1000 / gib, mem[f],
			 npages[f] ? (double)mem[f] / (double)npages[f] : 0);
	tlt_diag("bench: one bit per page would be %" PRIu64 " bytes", d->nr_pages / 8);
	/* The same fractions written as one contiguous range (BLKDISCARD: no page cache). */
	for (int f = 0; f < 4; f++) {
		uint64_t r[2] = { 0, npages[f] * TLT_PAGE };
		struct tloop_track_status st;

		tlt_clear_all(d->fd);
		if (tlt_disable(d->fd) || tlt_enable(d->fd, 0))
			tlt_bail("TRACK off/on");
		if (ioctl(d->fd, BLKDISCARD, r) || tlt_status(d->fd, &st)) {
			tlt_diag("bench: contiguous %g%%: BLKDISCARD/STATUS failed: %s",
				 frac[f] * 100, strerror(errno));
			continue;
		}
		tlt_diag("bench: contiguous %g%% (%" PRIu64 " pages in the set): mem_used %" PRIu64
			 " bytes", frac[f] * 100, (uint64_t)st.written, (uint64_t)st.mem_used);
	}
	tlt_unmap(map, size);
	tlt_tdev_close(d);
	free(pick);
	free(buf);
}

int main(void)
{
	tlt_require_tracking();
	tlt_seed(0xbe4c4ULL);
	tlt_plan((int)NJOBS + 4);
	bench_fio();
	bench_get();
	tlt_exit();
}
