// SPDX-License-Identifier: GPL-2.0
/*
 * consumers-bench: write throughput with several consumers (make
 * bench-consumers).  fio writes to the stock loop driver and to tloop
 * devices that track with 1 consumer (the default one), 2 and 8 (the default
 * one plus 1 and 7 named ones): psync 4 KiB random and 1 MiB sequential,
 * both O_DIRECT.  The devices exist at once and the runs rotate, so noise
 * from the host hits them alike; the median is reported.  Nothing is
 * asserted: a result is "not ok" only when a measurement could not be made.
 * Lines starting with "# bench:" carry the numbers.  Backing files live in
 * the VM's tmpfs, so the numbers are about the driver's CPU cost.
 * TLOOP_BENCH_FIO_SECONDS (default 5) and TLOOP_BENCH_FIO_REPS (default 3)
 * tune the run.
 *
 * tloop-timeout: 1800
 */
#include "tlt.h"

#define MIB (1UL << 20)
#define NT 4

static const struct {
	const char *name;
	const char *args;
} jobs[] = {
	{ "psync 4K random (O_DIRECT)", "--ioengine=psync --rw=randwrite --bs=4k --direct=1" },
	{ "psync 1M sequential (O_DIRECT)", "--ioengine=psync --rw=write --bs=1M --direct=1" },
};
#define NJOBS (sizeof(jobs) / sizeof(jobs[0]))

int main(void)
{
	static const char *const target[NT] = { "loop", "1 consumer", "2 consumers",
						"8 consumers" };
	static const int named[NT] = { 0, 0, 1, 7 };
	unsigned long secs = tlt_env_ul("TLOOP_BENCH_FIO_SECONDS", 5);
	unsigned long reps = tlt_env_ul("TLOOP_BENCH_FIO_REPS", 3);
	uint64_t size = 256 * MIB;
	double bw[NT][NJOBS], runs[NT][NJOBS][16];
	const char *node[NT];
	struct tlt_dev loopdev;
	struct tlt_tdev *d[NT] = { NULL };
	char sz[32];
	int ret;

	tlt_require_tracking();
	tlt_plan((int)NJOBS + 1);
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
	for (int t = 1; t < NT; t++) {
		char name[32];
		bool ok = true;

		snprintf(name, sizeof(name), "tloop-%d.img", t);
		d[t] = tlt_tdev_open(name, size, 0);
		if (tlt_enable(d[t]->fd, 0))
			tlt_bail("TRACK_ENABLE");
		for (int k = 0; k < named[t]; k++) {
			snprintf(name, sizeof(name), "c%d", k);
			ok = tlt_consumer_add(d[t]->fd, name, 0) > 0 && ok;
		}
		if (!ok)
			tlt_bail("TLOOP_CONSUMER_ADD");
		node[t] = d[t]->node;
	}
	tlt_result(tlt_consumer_list(d[3]->fd, NULL, 0, NULL) == 8, "8 consumers on the last device");
	for (size_t j = 0; j < NJOBS; j++) {
		char args[512];
		bool ok = true;

		snprintf(args, sizeof(args), "%s %s", jobs[j].args, sz);
		for (unsigned long r = 0; r < reps; r++)
			for (int k = 0; k < NT; k++) {
				int t = (int)((k + r) % NT);	/* rotate who goes first */

				runs[t][j][r] = tlt_fio_write_kib(node[t], args, secs);
				ok = ok && runs[t][j][r] > 0;
			}
		for (int t = 0; t < NT; t++) {
			bw[t][j] = tlt_median(runs[t][j], reps);
		}
		tlt_result(ok, "fio %s: loop %.0f, 1/2/8 consumers %.0f/%.0f/%.0f KiB/s",
			   jobs[j].name, bw[0][j], bw[1][j], bw[2][j], bw[3][j]);
	}
	tlt_detach(&loopdev);
	unlink("loop.img");
	for (int t = 1; t < NT; t++)
		tlt_tdev_close(d[t]);
	tlt_diag("bench: fio write throughput, KiB/s, median of %lu runs of %lu s, 256 MiB devices"
		 " on tmpfs", reps, secs);
	tlt_diag("bench: %-32s %10s %11s %11s %11s %7s %7s %7s", "job", target[0], target[1],
		 target[2], target[3], "1/loop", "2/1", "8/1");
	for (size_t j = 0; j < NJOBS; j++)
		tlt_diag("bench: %-32s %10.0f %11.0f %11.0f %11.0f %7.3f %7.3f %7.3f", jobs[j].name,
			 bw[0][j], bw[1][j], bw[2][j], bw[3][j],
			 bw[0][j] > 0 ? bw[1][j] / bw[0][j] : 0,
			 bw[1][j] > 0 ? bw[2][j] / bw[1][j] : 0,
			 bw[1][j] > 0 ? bw[3][j] / bw[1][j] : 0);
	tlt_exit();
}
