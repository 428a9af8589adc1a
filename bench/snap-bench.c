// SPDX-License-Identifier: GPL-2.0
/*
 * snap-bench: what a point-in-time refresh costs the writers (make bench-snap).
 * tloop-timeout: 1200
 *
 * One boot.  A device of TLOOP_BENCH_SNAP_MB MiB (default 64) with tracking on;
 * before each refresh, TLOOP_BENCH_SNAP_PCT percent (default 25) of its pages
 * are written (the pages the refresh has to copy), then writer threads
 * (TLOOP_BENCH_SNAP_WRITERS, default 2) write random pages with O_DIRECT
 * while `tloop sync` runs into an area2 on tmpfs.  Per repetition
 * (TLOOP_BENCH_REPEAT, default 3), in this order: a plain refresh, a
 * point-in-time refresh (--consistent), and the writers alone for as long
 * as the point-in-time refresh took.  Printed: writer pages/s in each case
 * (and the ratios to "none"), refresh seconds, pages preserved and the
 * preserved-page memory peak.
 */
#include "tlt.h"

#include <pthread.h>

static char node[64];
static uint64_t nr;
static int stop, go;
static uint64_t wcount;

static void *writer(void *arg)
{
	uint64_t rs = 0xbe0000ULL + (uint64_t)(intptr_t)arg, v = 1;
	uint8_t *buf = tlt_alloc(TLT_PAGE);
	int fd = open(node, O_RDWR | O_DIRECT);

	if (fd < 0)
		tlt_bail("open %s", node);
	while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE)) {
		uint64_t p = tlt_rand_r(&rs) % nr;

		if (!__atomic_load_n(&go, __ATOMIC_ACQUIRE)) {
			usleep(100);
			continue;
		}
		memset(buf, (int)v++, 64);
		tlt_pwrite_all(fd, buf, TLT_PAGE, (off_t)(p * TLT_PAGE));
		__atomic_add_fetch(&wcount, 1, __ATOMIC_RELAXED);
	}
	close(fd);
	free(buf);
	return NULL;
}

static uint64_t envu(const char *name, uint64_t dflt)
{
	const char *s = getenv(name);

	return s && *s ? strtoull(s, NULL, 0) : dflt;
}

/* Write @pct percent of the pages (random), then flush: the refresh's work. */
static void prepare(unsigned int pct, uint64_t seed)
{
	int fd = open(node, O_RDWR | O_DIRECT);
	uint8_t *buf = tlt_alloc(TLT_PAGE);
	uint64_t n = nr * pct / 100, rs = seed;

	if (fd < 0)
		tlt_bail("open");
	for (uint64_t i = 0; i < n; i++) {
		uint64_t p = tlt_rand_r(&rs) % nr;

		memset(buf, (int)i, TLT_PAGE);
		tlt_pwrite_all(fd, buf, TLT_PAGE, (off_t)(p * TLT_PAGE));
	}
	close(fd);
	free(buf);
}

/* One refresh under the writers: its seconds, the writers' pages/s; JSON in *@j. */
static double run(const char *opts, double *rate, struct tlt_json **j)
{
	struct tlt_tool_run *r = malloc(sizeof(*r));
	uint64_t c0;
	double t0, t;

	c0 = __atomic_load_n(&wcount, __ATOMIC_RELAXED);
	__atomic_store_n(&go, 1, __ATOMIC_RELEASE);
	t0 = tlt_now();
	tlt_tool(r, "sync --json %s %s area2.img", opts, node);
	t = tlt_now() - t0;
	__atomic_store_n(&go, 0, __ATOMIC_RELEASE);
	*rate = (double)(__atomic_load_n(&wcount, __ATOMIC_RELAXED) - c0) / t;
	if (r->status) {
		tlt_tool_show(opts, r);
		tlt_bail("tloop sync %s failed", opts);
	}
	*j = tlt_jparse(r->out);
	free(r);
	return t;
}

static double idle(double secs)
{
	uint64_t c0 = __atomic_load_n(&wcount, __ATOMIC_RELAXED);
	double t0 = tlt_now();

	__atomic_store_n(&go, 1, __ATOMIC_RELEASE);
	usleep((useconds_t)(secs * 1e6));
	__atomic_store_n(&go, 0, __ATOMIC_RELEASE);
	return (double)(__atomic_load_n(&wcount, __ATOMIC_RELAXED) - c0) / (tlt_now() - t0);
}

int main(void)
{
	uint64_t mb = envu("TLOOP_BENCH_SNAP_MB", 64);
	unsigned int pct = (unsigned int)envu("TLOOP_BENCH_SNAP_PCT", 25);
	unsigned int nw = (unsigned int)envu("TLOOP_BENCH_SNAP_WRITERS", 2);
	unsigned int reps = (unsigned int)envu("TLOOP_BENCH_REPEAT", 3);
	struct tlt_tool_run *r = malloc(sizeof(*r));
	pthread_t th[16];

	tlt_require_tracking();
	tlt_plan(1);
	if (nw > 16)
		nw = 16;
	nr = (mb << 20) / TLT_PAGE;
	tlt_tool_attach("backing.img", mb << 20, "--track", node, sizeof(node));
	tlt_diag("bench: device %llu MiB, %u%% of the pages to copy per refresh, %u O_DIRECT writers, area2 on tmpfs",
		 (unsigned long long)mb, pct, nw);
	/* area2 and its baseline first: every later refresh is incremental. */
	tlt_tool(r, "sync --create %s area2.img", node);
	if (r->status)
		tlt_bail("first sync");
	for (unsigned int i = 0; i < nw; i++)
		pthread_create(&th[i], NULL, writer, (void *)(intptr_t)i);
	for (unsigned int k = 0; k < reps; k++) {
		double rp, rc, rn, tp, tc;
		struct tlt_json *jp, *jc;

		prepare(pct, 0x5eedULL + k);
		tp = run("", &rp, &jp);
		prepare(pct, 0x7eedULL + k);
		tc = run("--consistent", &rc, &jc);
		rn = idle(tc);
		tlt_diag("bench: rep %u: writer pages/s: none %.0f, plain refresh %.0f (%.2f), point-in-time %.0f (%.2f)",
			 k, rn, rp, rp / rn, rc, rc / rn);
		tlt_diag("bench: rep %u: refresh s: plain %.2f (%llu pages), point-in-time %.2f (%llu pages, %llu preserved, peak %llu KiB)",
			 k, tp, (unsigned long long)tlt_ju64(jp, "pages", 0), tc,
			 (unsigned long long)tlt_ju64(jc, "pages", 0),
			 (unsigned long long)tlt_ju64(jc, "pages_preserved", 0),
			 (unsigned long long)tlt_ju64(jc, "preserved_peak_bytes", 0) >> 10);
		tlt_jfree(jp);
		tlt_jfree(jc);
	}
	__atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
	for (unsigned int i = 0; i < nw; i++)
		pthread_join(th[i], NULL);
	tlt_result(1, "snap-bench");
	free(r);
	tlt_exit();
}
