// SPDX-License-Identifier: GPL-2.0
/*
 * 41-track-pressure: tracking stays exact under memory pressure.  The device
 * is larger than the VM's RAM (a sparse backing file on a tmpfs mounted
 * larger than RAM), most free memory is taken by an anonymous allocation,
 * and every round the test stores through mmap into pages spread over the
 * whole device while reading large parts of the device, so that dirty and
 * clean pages of the device's page cache are written back and evicted by
 * reclaim rather than by GET.  Each GET+CLEAR must equal the round's stores.
 *
 * tloop-timeout: 900
 */
#include "tlt.h"

#include <sys/mount.h>

#define MIB (1UL << 20)

/* meminfo() - a /proc/meminfo field in bytes, or 0. */
static uint64_t meminfo(const char *field)
{
	char line[256];
	uint64_t kb = 0;
	size_t n = strlen(field);
	FILE *f = fopen("/proc/meminfo", "r");

	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, field, n) && line[n] == ':') {
			kb = strtoull(line + n + 1, NULL, 10);
			break;
		}
	if (f)
		fclose(f);
	return kb * 1024;
}

int main(void)
{
	uint64_t total = meminfo("MemTotal"), avail = meminfo("MemAvailable");
	uint64_t dev_size, budget, hog_size, per_round, rounds = 2 * tlt_scale();
	uint64_t stored = 0, reclaimed_before, churn, roff;
	struct tlt_set want, ever;
	struct tlt_tdev *d;
	uint8_t *map, *hog, *buf;
	char opts[64];

	tlt_require_tracking();
	if (!total || !avail)
		tlt_skip_all("no MemTotal/MemAvailable in /proc/meminfo");
	tlt_seed(0x41f00dULL);
	tlt_plan((int)rounds + 2);

	/* Larger than RAM, sparse, on a tmpfs that may grow beyond RAM. */
	dev_size = (total + total / 2) / MIB * MIB;
	mkdir("big", 0700);
	snprintf(opts, sizeof(opts), "size=%" PRIu64 "m", 2 * dev_size / MIB);
	if (mount("tmpfs", "big", "tmpfs", 0, opts))
		tlt_bail("mount tmpfs %s", opts);
	/* What may be written in total (it stays in RAM, in the tmpfs). */
	budget = avail / 16 < 16 * MIB * rounds ? avail / 16 : 16 * MIB * rounds;
	per_round = budget / TLT_PAGE / rounds;
	/* Leave 224 MiB besides the written budget: page cache, kernel, this test. */
	hog_size = avail > budget + 224 * MIB ? avail - budget - 224 * MIB : 0;
	tlt_diag("MemTotal %" PRIu64 " MiB, MemAvailable %" PRIu64 " MiB, device %" PRIu64
		 " MiB, memory taken %" PRIu64 " MiB, %" PRIu64 " pages stored per round",
		 total / MIB, avail / MIB, dev_size / MIB, hog_size / MIB, per_round);

	d = tlt_tdev_open("big/backing.img", dev_size, 0);
	tlt_result(d->size > total, "device (%" PRIu64 " MiB) is larger than RAM (%" PRIu64 " MiB)",
		   d->size / MIB, total / MIB);
	tlt_set_init(&want, d->nr_pages);
	tlt_set_init(&ever, d->nr_pages);
	hog = hog_size ? mmap(NULL, hog_size, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0) : NULL;
	if (hog == MAP_FAILED)
		tlt_bail("mmap %" PRIu64 " MiB", hog_size / MIB);
	for (uint64_t i = 0; i < hog_size; i += TLT_PAGE)
		hog[i] = 1;
	map = tlt_map(d->fd, d->size, 0);
	/* Random stores: no fault read-around (it would read 32 pages per store). */
	if (madvise(map, d->size, MADV_RANDOM))
		tlt_diag("madvise MADV_RANDOM: %s", strerror(errno));
	buf = malloc(MIB);
	if (!buf || tlt_enable(d->fd, 0))
		tlt_bail("setup");
	reclaimed_before = meminfo("Cached");
	churn = d->size / 2 < 160 * MIB ? d->size / 2 : 160 * MIB;
	roff = tlt_rand_below(d->size / MIB) * MIB;

	for (uint64_t r = 0; r < rounds; r++) {
		double t0 = tlt_now();

		tlt_set_reset(&want);
		/* Stores spread over the device, interleaved with reads that push the cache out. */
		for (uint64_t i = 0; i < per_round; i++) {
			uint64_t p;

			do
				p = tlt_rand_below(d->nr_pages);
			while (ever.bit[p]);
			ever.bit[p] = 1;
			want.bit[p] = 1;
			tlt_touch(map + p * TLT_PAGE + (p % TLT_PAGE));
			if (i % (per_round / 16 + 1) == 0)
				for (uint64_t n = 0; n < churn / 16; n += MIB) {
					tlt_pread_all(d->fd, buf, MIB, (off_t)roff);
					roff = (roff + MIB) % (d->size / MIB * MIB);
				}
		}
		stored += per_round;
		tlt_diag("round %" PRIu64 ": %.1f s, Dirty %" PRIu64 " KiB, Writeback %" PRIu64
			 " KiB, Cached %" PRIu64 " MiB", r, tlt_now() - t0, meminfo("Dirty") / 1024,
			 meminfo("Writeback") / 1024, meminfo("Cached") / MIB);
		tlt_check_get(d->fd, TLOOP_GET_CLEAR, 4096, &want,
			      "round under memory pressure: reported == stored");
	}
	tlt_diag("%" PRIu64 " pages stored; Cached %" PRIu64 " MiB before, %" PRIu64 " MiB now",
		 stored, reclaimed_before / MIB, meminfo("Cached") / MIB);
	tlt_set_reset(&want);
	tlt_check_get(d->fd, 0, 4096, &want, "nothing left after the last round");

	tlt_unmap(map, d->size);
	if (hog_size)
		munmap(hog, hog_size);
	free(buf);
	if (tlt_tdev_close(d))
		tlt_diag("removing the device failed");
	umount("big");
	tlt_set_free(&want);
	tlt_set_free(&ever);
	tlt_exit();
}
