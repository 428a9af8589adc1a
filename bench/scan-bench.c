// SPDX-License-Identifier: GPL-2.0
/*
 * scan-bench: tloop's query beside the kernel's own ways of finding written
 * pages (issue 10, item 5), run inside one VM boot (make bench-scan).
 *
 * The same stores (one byte into each of k distinct random pages of a
 * 256 MiB region, k = 0.1 %, 1 % and 10 % of its 65536 pages) are made to
 * four targets, and what follows each is timed:
 *
 * (a) "pagemap": an anonymous private mapping, every page populated, then
 *     registered with a userfaultfd in write-protect mode with
 *     UFFD_FEATURE_WP_ASYNC and write-protected (UFFDIO_WRITEPROTECT).
 *     Timed: the PAGEMAP_SCAN calls on /proc/self/pagemap with
 *     PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC and category
 *     PAGE_IS_WRITTEN that return the written pages and protect them again.
 *     "tloop": a MAP_SHARED mapping of a tracked 256 MiB tloop device whose
 *     page cache was read in; the stores are written back (msync, untimed)
 *     so that the set holds them.  Timed: the TLOOP_GET_WRITTEN walk with
 *     TLOOP_GET_CLEAR | TLOOP_GET_NOSYNC (get-and-clear of the recorded set).
 * (b) "msync": a MAP_SHARED mapping of a stock loop device (/dev/loopN over
 *     a 256 MiB file in the VM's tmpfs), page cache read in.  Timed:
 *     msync(MS_SYNC) of the whole mapping.
 *     "tloop": the tloop device again.  Timed: the TLOOP_GET_WRITTEN walk
 *     with TLOOP_GET_CLEAR and without TLOOP_GET_NOSYNC (the query writes
 *     the stores back, then returns and clears them).
 *
 * Every tloop walk uses one call's worth of capacity (65536 entries) and
 * follows the cursor to the end.  Each count is measured 3 times (a new
 * random page set each time, the same set for all four targets); reported:
 * the medians and the ratios tloop / pagemap and tloop / msync of the
 * medians.  A result is "not ok" when a measurement could not be made or a
 * walk returned other than the k stored pages; "SKIP" when the kernel has
 * no userfaultfd write-protect in async mode or no PAGEMAP_SCAN.
 * Lines starting with "# bench:" carry the numbers.
 *
 * tloop-timeout: 600
 */
#include "tlt.h"

#include <sys/syscall.h>
#include <linux/userfaultfd.h>

/* The uapi of 6.7+ (linux/fs.h), absent from older user-space headers. */
#ifndef PAGEMAP_SCAN
struct page_region {
	__u64 start;
	__u64 end;
	__u64 categories;
};

struct pm_scan_arg {
	__u64 size;
	__u64 flags;
	__u64 start;
	__u64 end;
	__u64 walk_end;
	__u64 vec;
	__u64 vec_len;
	__u64 max_pages;
	__u64 category_inverted;
	__u64 category_mask;
	__u64 category_anyof_mask;
	__u64 return_mask;
};

#define PAGEMAP_SCAN _IOWR('f', 16, struct pm_scan_arg)
#define PAGE_IS_WRITTEN (1 << 1)
#define PM_SCAN_WP_MATCHING (1 << 0)
#define PM_SCAN_CHECK_WPASYNC (1 << 1)
#endif
#ifndef UFFD_FEATURE_WP_ASYNC
#define UFFD_FEATURE_WP_ASYNC (1 << 15)
#endif

#define MIB (1UL << 20)
#define REGION (256 * MIB)
#define NR_PAGES (REGION / TLT_PAGE)
#define REPS 3
#define CAP 65536U

static uint64_t *pages;	/* NR_PAGES: a permutation; the first k are stored to */
static uint64_t buf[CAP];
static struct page_region vec[CAP];

static void store(volatile uint8_t *map, uint64_t k, uint8_t val)
{
	for (uint64_t i = 0; i < k; i++)
		map[pages[i] * TLT_PAGE + pages[i] % TLT_PAGE] = val;
}

/* k distinct random pages: a partial Fisher-Yates shuffle of pages[]. */
static void pick(uint64_t k, uint64_t *seed)
{
	for (uint64_t i = 0; i < k; i++) {
		uint64_t j = i + tlt_rand_r(seed) % (NR_PAGES - i), t = pages[i];

		pages[i] = pages[j];
		pages[j] = t;
	}
}

/* ---- userfaultfd + PAGEMAP_SCAN ----------------------------------------------- */

static int pm_fd = -1;
static uint8_t *anon;

/* Set up the write-protected anonymous region; NULL or the reason it cannot be. */
static const char *pm_setup(void)
{
	static char why[128];
	struct uffdio_api api = { .api = UFFD_API, .features = UFFD_FEATURE_WP_ASYNC };
	struct uffdio_register reg;
	struct uffdio_writeprotect wp;
	struct pm_scan_arg arg;
	int uffd;

	anon = mmap(NULL, REGION, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (anon == MAP_FAILED)
		tlt_bail("mmap anonymous");
	madvise(anon, REGION, MADV_NOHUGEPAGE);
	for (uint64_t p = 0; p < NR_PAGES; p++)
		anon[p * TLT_PAGE] = 1;
	uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (uffd < 0) {
		snprintf(why, sizeof(why), "userfaultfd: %s", strerror(errno));
		return why;
	}
	if (ioctl(uffd, UFFDIO_API, &api) < 0) {
		snprintf(why, sizeof(why), "UFFDIO_API with UFFD_FEATURE_WP_ASYNC: %s",
			 strerror(errno));
		return why;
	}
	reg = (struct uffdio_register){ .range = { (uintptr_t)anon, REGION },
					.mode = UFFDIO_REGISTER_MODE_WP };
	if (ioctl(uffd, UFFDIO_REGISTER, &reg) < 0) {
		snprintf(why, sizeof(why), "UFFDIO_REGISTER_MODE_WP: %s", strerror(errno));
		return why;
	}
	wp = (struct uffdio_writeprotect){ .range = { (uintptr_t)anon, REGION },
					   .mode = UFFDIO_WRITEPROTECT_MODE_WP };
	if (ioctl(uffd, UFFDIO_WRITEPROTECT, &wp) < 0) {
		snprintf(why, sizeof(why), "UFFDIO_WRITEPROTECT: %s", strerror(errno));
		return why;
	}
	pm_fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (pm_fd < 0) {
		snprintf(why, sizeof(why), "/proc/self/pagemap: %s", strerror(errno));
		return why;
	}
	/* Probe: a scan of nothing written yet must answer 0 regions. */
	arg = (struct pm_scan_arg){ .size = sizeof(arg), .start = (uintptr_t)anon,
				    .end = (uintptr_t)anon + REGION, .vec = (uintptr_t)vec,
				    .vec_len = CAP, .category_mask = PAGE_IS_WRITTEN,
				    .return_mask = PAGE_IS_WRITTEN };
	if (ioctl(pm_fd, PAGEMAP_SCAN, &arg) < 0) {
		snprintf(why, sizeof(why), "PAGEMAP_SCAN: %s", strerror(errno));
		return why;
	}
	return NULL;
}

/* Get-and-clear of the written pages; returns how many, or -1. */
static int64_t pm_scan(void)
{
	uint64_t start = (uintptr_t)anon, end = start + REGION, n = 0;

	while (start < end) {
		struct pm_scan_arg arg = {
			.size = sizeof(arg), .flags = PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC,
			.start = start, .end = end, .vec = (uintptr_t)vec, .vec_len = CAP,
			.category_mask = PAGE_IS_WRITTEN, .return_mask = PAGE_IS_WRITTEN,
		};
		int ret = ioctl(pm_fd, PAGEMAP_SCAN, &arg);

		if (ret < 0) {
			tlt_diag("PAGEMAP_SCAN: %s", strerror(errno));
			return -1;
		}
		for (int i = 0; i < ret; i++)
			n += (vec[i].end - vec[i].start) / TLT_PAGE;
		if (arg.walk_end <= start)
			break;
		start = arg.walk_end;
	}
	return (int64_t)n;
}

/* ---- tloop --------------------------------------------------------------------- */

/* A whole walk with @flags; returns the number of pages, or -1. */
static int64_t tl_walk(int fd, unsigned int flags)
{
	uint64_t cursor = 0, n = 0;

	for (;;) {
		struct tloop_written w;
		int ret = tlt_get_one(fd, flags, cursor, 0, buf, CAP, &w);

		if (ret) {
			tlt_diag("GET_WRITTEN: %s", tlt_errname(-ret));
			return -1;
		}
		n += w.count;
		if (w.next_cursor == TLOOP_CURSOR_END)
			return (int64_t)n;
		cursor = w.next_cursor;
	}
}

static bool check(const char *what, int64_t got, uint64_t k)
{
	if (got == (int64_t)k)
		return true;
	tlt_diag("%s returned %" PRId64 " pages, %" PRIu64 " were stored", what, got, k);
	return false;
}

int main(void)
{
	static const unsigned int per_mille[] = { 1, 10, 100 };
	const size_t nk = sizeof(per_mille) / sizeof(per_mille[0]);
	uint64_t seed = tlt_seed(0x5ca11);
	volatile uint8_t *tmap, *lmap;
	const char *pm_why;
	struct tlt_tdev *d;
	struct tlt_dev loop;
	int lfd, ret;
	uint8_t val = 1;

	tlt_require_tracking();
	tlt_plan(2 * (int)nk);
	pm_why = pm_setup();
	if (pm_why)
		tlt_diag("bench: pagemap part skipped: %s", pm_why);

	d = tlt_tdev_open("scan.img", REGION, 0);
	if (tlt_enable(d->fd, 0))
		tlt_bail("TRACK_ENABLE");
	tmap = tlt_map(d->fd, REGION, 0);

	lfd = open("loop.img", O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (lfd < 0 || ftruncate(lfd, REGION))
		tlt_bail("loop.img");
	ret = tlt_attach_fd(&loop, TLT_LOOP, lfd, 0, 512, 0);
	close(lfd);
	if (ret) {
		errno = -ret;
		tlt_bail("attach loop device");
	}
	lfd = open(loop.path, O_RDWR | O_CLOEXEC);
	if (lfd < 0)
		tlt_bail("open %s", loop.path);
	lmap = tlt_map(lfd, REGION, 0);

	/* Read both page caches in; start from clean pages and an empty set. */
	pages = calloc(NR_PAGES, sizeof(*pages));
	if (!pages)
		tlt_bail("calloc");
	for (uint64_t p = 0; p < NR_PAGES; p++) {
		pages[p] = p;
		(void)tmap[p * TLT_PAGE];
		(void)lmap[p * TLT_PAGE];
	}
	if (msync((void *)tmap, REGION, MS_SYNC) || msync((void *)lmap, REGION, MS_SYNC))
		tlt_bail("msync");
	tlt_clear_all(d->fd);
	tlt_diag("bench: 256 MiB regions (%lu pages), %d repetitions, seed %#" PRIx64,
		 NR_PAGES, REPS, seed);

	for (size_t i = 0; i < nk; i++) {
		uint64_t k = NR_PAGES * per_mille[i] / 1000;
		double t_pm[REPS], t_tn[REPS], t_ms[REPS], t_tw[REPS];
		bool ok_a = true, ok_b = true;
		char name[96];

		for (int r = 0; r < REPS; r++) {
			double t0;
			int64_t n;

			pick(k, &seed);
			val++;
			if (!pm_why) {
				store(anon, k, val);
				t0 = tlt_now();
				n = pm_scan();
				t_pm[r] = tlt_now() - t0;
				ok_a &= check("PAGEMAP_SCAN", n, k);
			}
			/* (a) tloop: the stores written back untimed, then get-and-clear. */
			store(tmap, k, val);
			if (msync((void *)tmap, REGION, MS_SYNC))
				tlt_bail("msync tloop");
			t0 = tlt_now();
			n = tl_walk(d->fd, TLOOP_GET_CLEAR | TLOOP_GET_NOSYNC);
			t_tn[r] = tlt_now() - t0;
			ok_a &= check("GET_WRITTEN CLEAR|NOSYNC", n, k);
			/* (b) msync of the loop device's mapping ... */
			store(lmap, k, val);
			t0 = tlt_now();
			if (msync((void *)lmap, REGION, MS_SYNC))
				tlt_bail("msync loop");
			t_ms[r] = tlt_now() - t0;
			/* ... and tloop's query with write-back. */
			val++;
			store(tmap, k, val);
			t0 = tlt_now();
			n = tl_walk(d->fd, TLOOP_GET_CLEAR);
			t_tw[r] = tlt_now() - t0;
			ok_b &= check("GET_WRITTEN CLEAR", n, k);
		}
		{
			double tn = tlt_median(t_tn, REPS), ms = tlt_median(t_ms, REPS);
			double tw = tlt_median(t_tw, REPS);

			snprintf(name, sizeof(name), "(a) %u.%u%% (%" PRIu64 " pages): get-and-clear, "
				 "tloop beside PAGEMAP_SCAN", per_mille[i] / 10, per_mille[i] % 10, k);
			if (pm_why) {
				tlt_diag("bench: (a) %5.1f%% %6" PRIu64 " pages: tloop %.3f ms, "
					 "pagemap -", per_mille[i] / 10.0, k, tn * 1e3);
				tlt_skip(name, pm_why);
			} else {
				double pm = tlt_median(t_pm, REPS);

				tlt_diag("bench: (a) %5.1f%% %6" PRIu64 " pages: tloop %.3f ms, "
					 "pagemap %.3f ms, tloop/pagemap %.2f", per_mille[i] / 10.0, k,
					 tn * 1e3, pm * 1e3, tn / pm);
				tlt_result(ok_a, "%s", name);
			}
			tlt_diag("bench: (b) %5.1f%% %6" PRIu64 " pages: tloop %.3f ms, msync %.3f ms, "
				 "tloop/msync %.2f", per_mille[i] / 10.0, k, tw * 1e3, ms * 1e3, tw / ms);
			tlt_result(ok_b, "(b) %u.%u%% (%" PRIu64 " pages): tloop query with write-back "
				   "beside msync of a loop device", per_mille[i] / 10, per_mille[i] % 10,
				   k);
		}
	}
	tlt_unmap((void *)lmap, REGION);
	close(lfd);
	if (tlt_detach(&loop))
		tlt_diag("detaching %s failed", loop.path);
	unlink("loop.img");
	tlt_unmap((void *)tmap, REGION);
	tlt_tdev_close(d);
	tlt_exit();
}
