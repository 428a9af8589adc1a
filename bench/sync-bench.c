// SPDX-License-Identifier: GPL-2.0
/*
 * sync-bench: the cost of a refresh (`tloop sync`) against a full copy and
 * against the query plus moving the bytes, by density of written pages
 * (issue 15), in one VM boot (make bench-sync).
 *
 * A tracked tloop device of TLOOP_BENCH_SYNC_MB MiB (default 256; backing
 * file and area2 in the VM's tmpfs, so fdatasync costs nothing for anyone)
 * is filled, copied once (tloop sync --create), then for each density
 * (TLOOP_BENCH_SYNC_DENSITIES, per mille of the pages: default
 * 1 10 100 300 1000, i.e. 0.1 / 1 / 10 / 30 / 100 %) and each repetition
 * (TLOOP_BENCH_REPEAT, default 3) the same seeded set of random pages is
 * written with O_DIRECT before each of:
 *   query+loop  the get-and-clear walk alone (batches of 16384, as the
 *               tool), then each page copied by one O_DIRECT pread and one
 *               pwrite, one after the other (the floor the issue measured
 *               against); then `tloop sync --full`, timed as "tloop --full"
 *               (it also restores the baseline the walk invalidated), and
 *               `tloop sync --full --via device';
 *   old         `tloop sync --via device --queue-depth 1 --max-gap 0
 *               --full-at 101`: device reads one copy at a time, runs of
 *               consecutive written pages only, no switch to a full copy
 *               (the engine before issue 15);
 *   device      `tloop sync --via device`: the defaults, but every byte read
 *               through the device (the engine of issue 15's first session);
 *   new         `tloop sync` with its defaults (--via auto: from the backing
 *               file, by FICLONERANGE where area2 can share its extents,
 *               else copy_file_range);
 *   variants    TLOOP_BENCH_SYNC_VARIANTS ("a;b;...": tool options, spaces
 *               allowed) at densities up to TLOOP_BENCH_SYNC_VARIANT_MAX
 *               per mille (default 300), to choose the defaults.
 * With TLOOP_BENCH_SYNC_XFS=1 the backing file, area2 and dd's copy are on
 * an XFS made with reflink=1 on a loop device over a file in the tmpfs
 * (so `new` clones).
 * Full copies by dd (iflag=direct bs=1M conv=fsync, to a file in the
 * same tmpfs) are timed TLOOP_BENCH_REPEAT times first.  Every time is the
 * wall time of the process, medians of the repetitions.  After the last
 * `new` of each density area2 is compared with the device byte for byte:
 * a mismatch is a "not ok" (the only assertion besides the tool's exit
 * status and mode).
 *
 * tloop-timeout: 3000
 */
#include "tlt.h"

#define MIB (1ULL << 20)
#define MAX_REP 9
#define MAX_DENS 16
#define MAX_VAR 8

static unsigned long env_ul(const char *name, unsigned long dflt)
{
	const char *s = getenv(name);

	return s && *s ? strtoul(s, NULL, 10) : dflt;
}

static struct tlt_tdev *d;
static int dfd;			/* the device, O_DIRECT, for writes and the loop's reads */
static uint8_t *chosen;		/* one byte per page: written in this round */
static uint64_t *list;		/* the pages the walk returned */
static uint8_t *iobuf;		/* 1 MiB, aligned */
static unsigned int repeat;

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, unsigned int n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n ? v[n / 2] : 0;
}

/* pick() - the seeded set of @permille of the pages (all of them at 1000). */
static uint64_t pick(unsigned int permille, uint64_t seed)
{
	uint64_t n = d->nr_pages, want = (n * permille + 500) / 1000, k = 0;
	uint64_t s = seed;
	int invert = want > n / 2;
	uint64_t draw = invert ? n - want : want;

	memset(chosen, invert, n);
	while (k < draw) {
		uint64_t p = tlt_rand_r(&s) % n;

		if (chosen[p] == invert) {
			chosen[p] = !invert;
			k++;
		}
	}
	return want;
}

/* store() - write version @ver of the chosen pages, runs of them at once (1 MiB at most). */
static void store(uint32_t ver)
{
	uint64_t p = 0, n = d->nr_pages, max = MIB / TLT_PAGE;

	while (p < n) {
		uint64_t q;

		if (!chosen[p]) {
			p++;
			continue;
		}
		for (q = p; q < n && chosen[q] && q - p < max; q++)
			tlt_page_pattern(iobuf + (q - p) * TLT_PAGE, q, ver);
		tlt_pwrite_all(dfd, iobuf, (size_t)((q - p) * TLT_PAGE), (off_t)(p * TLT_PAGE));
		p = q;
	}
}

/* tool_time() - run the tool with @args, return its wall time; bail out on failure. */
static char last_via[16];

static double tool_time(const char *args, const char *want_mode, const char **mode)
{
	static char m[32];
	struct tlt_tool_run r;
	struct tlt_json *j;
	double t0 = tlt_now(), t;

	if (tlt_tool(&r, "sync --json %s %s area2.img", args, d->node)) {
		tlt_tool_show("tloop sync", &r);
		tlt_bail("tloop sync %s failed", args);
	}
	t = tlt_now() - t0;
	j = tlt_jparse(r.out);
	snprintf(m, sizeof(m), "%s", j ? tlt_jstr(j, "mode") : "?");
	snprintf(last_via, sizeof(last_via), "%s", j ? tlt_jstr(j, "via") : "?");
	tlt_jfree(j);
	if (want_mode && strcmp(m, want_mode)) {
		tlt_tool_show("tloop sync", &r);
		tlt_bail("tloop sync %s: mode %s, expected %s", args, m, want_mode);
	}
	if (mode)
		*mode = m;
	return t;
}

/* query_loop() - the walk alone, then the per-page copy; times in *@q, *@l. */
static void query_loop(double *q, double *l)
{
	int afd = open("area2.img", O_WRONLY | O_CLOEXEC);
	uint64_t cursor = 0, n = 0;
	double t0, t1;

	if (afd < 0)
		tlt_bail("open area2.img");
	t0 = tlt_now();
	for (;;) {
		struct tloop_written w;

		if (tlt_get_one(d->fd, TLOOP_GET_CLEAR, cursor, 0, list + n, 16384, &w))
			tlt_bail("GET_WRITTEN");
		n += w.count;
		if (w.next_cursor == TLOOP_CURSOR_END)
			break;
		cursor = w.next_cursor;
	}
	t1 = tlt_now();
	for (uint64_t i = 0; i < n; i++) {
		tlt_pread_all(dfd, iobuf, TLT_PAGE, (off_t)(list[i] * TLT_PAGE));
		tlt_pwrite_all(afd, iobuf, TLT_PAGE, (off_t)(list[i] * TLT_PAGE));
	}
	if (fdatasync(afd))
		tlt_bail("fdatasync");
	close(afd);
	*q = t1 - t0;
	*l = tlt_now() - t1;
}

/* on_xfs() - make an XFS with reflink on a loop device, mount it on x/, go there. */
static struct tlt_dev xfs_loop;

static void on_xfs(uint64_t size)
{
	char cmd[160];
	int fd;

	if (tlt_modprobe("xfs"))
		tlt_skip_all("no xfs module");
	fd = open("xfs.img", O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || ftruncate(fd, (off_t)(4 * size + (512ULL << 20))))
		tlt_bail("create xfs.img");
	close(fd);
	if (tlt_attach(&xfs_loop, TLT_LOOP, "xfs.img", 0, 0, 0))
		tlt_bail("attach xfs.img");
	snprintf(cmd, sizeof(cmd), "mkfs.xfs -q -f -m reflink=1 %s >/dev/null 2>&1",
		 xfs_loop.path);
	if (system(cmd))
		tlt_bail("%s", cmd);
	if (mkdir("x", 0700) || mount(xfs_loop.path, "x", "xfs", 0, NULL) || chdir("x"))
		tlt_bail("mount the XFS");
}

static double dd_time(void)
{
	char cmd[256];
	double t0 = tlt_now();

	snprintf(cmd, sizeof(cmd), "dd if=%s of=full.img iflag=direct bs=1M conv=fsync "
		 "2>/dev/null", d->node);
	if (system(cmd))
		tlt_bail("%s", cmd);
	return tlt_now() - t0;
}

int main(void)
{
	unsigned int dens[MAX_DENS], ndens = 0, nvar = 0, var_max;
	char *vars[MAX_VAR], *vs, *save = NULL, *tok;
	uint64_t size = env_ul("TLOOP_BENCH_SYNC_MB", 256) * MIB;
	double dd[MAX_REP], full_all[MAX_REP * MAX_DENS], dd_med, full_med;
	double full_dev[MAX_REP * MAX_DENS], full_dev_med;
	unsigned int nfull = 0;
	const char *s;
	uint32_t ver = 1;
	int xfs;

	repeat = (unsigned int)env_ul("TLOOP_BENCH_REPEAT", 3);
	if (!repeat || repeat > MAX_REP)
		repeat = 3;
	var_max = (unsigned int)env_ul("TLOOP_BENCH_SYNC_VARIANT_MAX", 300);
	s = getenv("TLOOP_BENCH_SYNC_DENSITIES");
	vs = strdup(s && *s ? s : "1 10 100 300 1000");
	for (tok = strtok_r(vs, " ,", &save); tok && ndens < MAX_DENS;
	     tok = strtok_r(NULL, " ,", &save))
		dens[ndens++] = (unsigned int)strtoul(tok, NULL, 10);
	s = getenv("TLOOP_BENCH_SYNC_VARIANTS");
	vs = strdup(s ? s : "");
	for (tok = strtok_r(vs, ";", &save); tok && nvar < MAX_VAR; tok = strtok_r(NULL, ";", &save)) {
		/* make bench-sync sends spaces as '+' (the kernel command line splits at spaces). */
		for (char *p = tok; *p; p++)
			if (*p == '+')
				*p = ' ';
		vars[nvar++] = tok;
	}

	tlt_require_tracking();
	xfs = env_ul("TLOOP_BENCH_SYNC_XFS", 0) != 0;
	if (xfs)
		on_xfs(size);
	tlt_plan((int)ndens + 1);
	d = tlt_tdev_open("area1.img", size, 0);
	if (tlt_enable(d->fd, 0))
		tlt_bail("TRACK_ENABLE");
	dfd = open(d->node, O_RDWR | O_DIRECT | O_CLOEXEC);
	chosen = malloc(d->nr_pages);
	list = malloc(d->nr_pages * sizeof(*list));
	if (dfd < 0 || !chosen || !list || posix_memalign((void **)&iobuf, 4096, MIB))
		tlt_bail("setup");
	memset(chosen, 1, d->nr_pages);
	store(0);
	tool_time("--create", "full", NULL);
	for (unsigned int r = 0; r < repeat; r++)
		dd[r] = dd_time();
	dd_med = median(dd, repeat);
	unlink("full.img");
	tlt_result(true, "dd: %.3f s", dd_med);
	tlt_diag("bench: %s, %llu MiB device, page %zu, %u repetitions (medians), wall time of "
		 "each process; area2 and the backing file on %s", "sync-bench",
		 (unsigned long long)(size / MIB), (size_t)TLT_PAGE, repeat,
		 xfs ? "XFS (reflink=1, on a loop device over tmpfs)" : "tmpfs");
	tlt_diag("bench: full copy by dd iflag=direct bs=1M conv=fsync: %.3f s", dd_med);

	struct row {
		unsigned int permille;
		uint64_t pages;
		double q, l, old, dev, new, var[MAX_VAR];
		const char *mode;
		char via[16];
	} rows[MAX_DENS];

	for (unsigned int i = 0; i < ndens; i++) {
		double q[MAX_REP], l[MAX_REP], o[MAX_REP], n[MAX_REP], v[MAX_VAR][MAX_REP];
		double dv[MAX_REP];
		struct row *w = &rows[i];
		const char *mode = "?";
		int64_t diff;

		w->permille = dens[i];
		w->pages = pick(dens[i], 0x5eed15 + dens[i]);
		for (unsigned int r = 0; r < repeat; r++) {
			store(ver++);
			query_loop(&q[r], &l[r]);
			full_all[nfull++] = tool_time("--full", "full", NULL);
			full_dev[nfull - 1] = tool_time("--full --via device", "full", NULL);
			store(ver++);
			o[r] = tool_time("--via device --queue-depth 1 --max-gap 0 --full-at 101",
					 "incremental", NULL);
			for (unsigned int k = 0; k < nvar && dens[i] <= var_max; k++) {
				store(ver++);
				v[k][r] = tool_time(vars[k], NULL, NULL);
			}
			store(ver++);
			dv[r] = tool_time("--via device", NULL, NULL);
			store(ver++);
			n[r] = tool_time("", NULL, &mode);
		}
		snprintf(w->via, sizeof(w->via), "%s", last_via);
		w->mode = strcmp(mode, "full") ? "incr" : "full";
		w->q = median(q, repeat);
		w->l = median(l, repeat);
		w->old = median(o, repeat);
		w->new = median(n, repeat);
		w->dev = median(dv, repeat);
		for (unsigned int k = 0; k < nvar; k++)
			w->var[k] = dens[i] <= var_max ? median(v[k], repeat) : 0;
		/* The raw figures now, in case a later density does not finish. */
		tlt_diag("at %.1f %%: %llu pages, query %.3f s, loop %.3f s, old %.3f s, device "
			 "%.3f s, new %.3f s (%s, via %s)", dens[i] / 10.0,
			 (unsigned long long)w->pages, w->q, w->l, w->old, w->dev, w->new, mode,
			 w->via);
		diff = tlt_cmp_files(d->node, "area2.img", size);
		tlt_result(diff < 0, "%u.%u %%: area2 equals the device after tloop sync",
			   dens[i] / 10, dens[i] % 10);
		if (diff >= 0)
			tlt_diag("first difference at byte %lld", (long long)diff);
	}
	full_med = median(full_all, nfull);
	full_dev_med = median(full_dev, nfull);
	tlt_diag("bench: full copy by tloop sync --full: %.3f s (median of %u; via %s)", full_med,
		 nfull, rows[0].via);
	tlt_diag("bench: full copy by tloop sync --full --via device: %.3f s", full_dev_med);
	tlt_diag("bench: fastest full copy F = %.3f s", dd_med < full_med ? dd_med : full_med);
	if (full_med > dd_med)
		full_med = dd_med;
	tlt_diag("bench: %-6s %7s %8s %8s %8s %8s %8s %5s %7s %8s %8s %8s %9s", "dens%", "pages",
		 "query", "q+loop", "old", "device", "new", "mode", "via", "F/old", "F/dev",
		 "F/new", "new/q+l");
	for (unsigned int i = 0; i < ndens; i++) {
		struct row *w = &rows[i];

		tlt_diag("bench: %6.1f %7llu %8.3f %8.3f %8.3f %8.3f %8.3f %5s %7s %8.1f %8.1f %8.1f "
			 "%9.2f", w->permille / 10.0, (unsigned long long)w->pages, w->q,
			 w->q + w->l, w->old, w->dev, w->new, w->mode, w->via, full_med / w->old,
			 full_med / w->dev, full_med / w->new, w->new / (w->q + w->l));
	}
	for (unsigned int k = 0; k < nvar; k++)
		for (unsigned int i = 0; i < ndens; i++)
			if (rows[i].permille <= var_max)
				tlt_diag("bench: variant '%s' at %.1f %%: %.3f s, F/variant %.1f",
					 vars[k], rows[i].permille / 10.0, rows[i].var[k],
					 full_med / rows[i].var[k]);
	close(dfd);
	tlt_tdev_close(d);
	if (xfs) {
		unlink("area2.img");
		unlink("area2.img.tloop");
		if (chdir("..") || umount("x"))
			tlt_diag("umount the XFS: %s", strerror(errno));
		tlt_detach(&xfs_loop);
	}
	tlt_exit();
}
