// SPDX-License-Identifier: GPL-2.0
/*
 * sync-bench: the cost of a refresh (`tloop sync`) by density of written
 * pages, random and clustered, against full copies and against the query
 * plus a per-page copy loop (issue 15), in one VM boot (make bench-sync).
 *
 * A tracked tloop device of TLOOP_BENCH_SYNC_MB MiB (default 1024; backing
 * file and area2 in the VM's tmpfs) is filled and copied once (tloop sync
 * --create).  Full copies are timed TLOOP_BENCH_REPEAT times (default 3)
 * first: dd (iflag=direct bs=1M conv=fsync, to a file beside area2) and
 * `tloop sync --full`.  Then for each pattern (TLOOP_BENCH_SYNC_PATTERNS,
 * default "random clustered") and each density (TLOOP_BENCH_SYNC_PCT,
 * percent of the pages, default "0.01 0.1 1 10 30 100") and repetition,
 * the same seeded set of pages is written with O_DIRECT before each of:
 *   sync       `tloop sync` with its defaults;
 *   reflink    `tloop sync --via reflink` (only with TLOOP_BENCH_SYNC_XFS=1);
 *   variants   TLOOP_BENCH_SYNC_VARIANTS ("a;b;...": tool options);
 *   loop       up to TLOOP_BENCH_SYNC_LOOP_MAX percent (default 10: the
 *              loop costs one request through the device per page, minutes
 *              at 100 % of 1 GiB under TCG): the get-and-clear walk alone
 *              (batches of 16384, as the tool), then each page copied by one
 *              O_DIRECT pread of the device and one pwrite, then fdatasync;
 *              then the same pages moved in this process from the backing
 *              file, one copy_file_range(2) per run of consecutive pages,
 *              and fdatasync ("move": the floor of moving those bytes, so
 *              "sync/q+m" is the tool's cost over query plus moving the
 *              bytes; not on XFS, where copy_file_range clones);
 *              then `tloop sync --full` (its time joins the full copies: it
 *              also restores the baseline the walk invalidated);
 *   full       from DENSE_PCT (the tool's default --full-at) on, where the
 *              tool switches to a full copy: `tloop sync --full` after the
 *              same writes ("Frow/sy": the switch against a full copy made
 *              in the same conditions; its time joins the full copies too).
 * "lib s" is the refresh's own time as the tool reports it ("seconds": from
 * the library's start to its end, no process start), what each refresh of
 * a running `tloop sync --every` loop costs.
 * random: pages drawn uniformly; clustered: extents of CLUSTER pages
 * (128 KiB) at random places until the count is reached.  With
 * TLOOP_BENCH_SYNC_XFS=1 the files are on an XFS made with reflink=1 on a
 * loop device over a file in the tmpfs.  Every time is the wall time of the
 * process, medians of the repetitions; `tloop --version` is timed as the
 * fixed cost of starting the tool.  After the last refresh of each row
 * area2 is compared with the device byte for byte: a mismatch is a
 * "not ok" (the only assertion besides the tool's exit status).
 * The table is printed as "# bench:" lines, the rows also as
 * "# bench-data:" lines for bench/sync-plot.py (make bench-sync draws
 * them).
 *
 * tloop-timeout: 3500
 */
#include "tlt.h"
#include <sys/personality.h>
#include <sys/wait.h>

#define MIB (1ULL << 20)
#define MAX_REP 9
#define MAX_DENS 16
#define MAX_VAR 6
#define CLUSTER 32		/* pages per extent of the clustered pattern */
#define DENSE_PCT 25		/* the tool's default --full-at */

static struct tlt_tdev *d;
static int dfd;			/* the device, O_DIRECT, for writes and the loop's reads */
static uint8_t *chosen;		/* one byte per page: written in this round */
static uint64_t *list;		/* the pages the walk returned */
static uint8_t *iobuf;		/* 1 MiB, aligned */
static unsigned int repeat;

/*
 * pick() - the seeded set of @pct percent of the pages (all at 100):
 * uniformly drawn pages, or (@clustered) extents of CLUSTER pages.
 */
static uint64_t pick(double pct, int clustered, uint64_t seed)
{
	uint64_t n = d->nr_pages, want = (uint64_t)((double)n * pct / 100.0 + 0.5), k = 0;
	uint64_t s = seed;
	int invert = !clustered && want > n / 2;
	uint64_t draw = invert ? n - want : want;

	if (want > n)
		want = draw = n;
	if (want == n) {
		memset(chosen, 1, n);
		return n;
	}
	memset(chosen, invert, n);
	while (k < draw) {
		uint64_t p = tlt_rand_r(&s) % n;

		for (uint64_t e = p; e < n && e < p + (clustered ? CLUSTER : 1) && k < draw; e++) {
			if (chosen[e] == invert) {
				chosen[e] = !invert;
				k++;
			}
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
static double last_lib;		/* the refresh's own "seconds" (no process start) */

/*
 * start_norandom() - the wall time of `tloop --version` started with the
 * address space not randomized (personality ADDR_NO_RANDOMIZE).  Under TCG
 * a process whose libraries land at new addresses has their code translated
 * again, which is most of a dynamically linked program's start there and
 * does not exist on hardware; this shows that share.
 */
static double start_norandom(void)
{
	double t0 = tlt_now();
	pid_t pid = fork();
	int st;

	if (pid < 0)
		tlt_bail("fork");
	if (!pid) {
		int nul = open("/dev/null", O_WRONLY);

		if (nul < 0 || dup2(nul, 1) < 0 || personality(ADDR_NO_RANDOMIZE) < 0)
			_exit(126);
		execl(TLT_TOOL, "tloop", "--version", (char *)NULL);
		_exit(127);
	}
	if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st))
		tlt_bail("tloop --version without randomization: status %d", st);
	return tlt_now() - t0;
}

/* randomize_va_space() - /proc/sys/kernel/randomize_va_space, or -1. */
static int randomize_va_space(void)
{
	FILE *f = fopen("/proc/sys/kernel/randomize_va_space", "r");
	int v = -1;

	if (f) {
		if (fscanf(f, "%d", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

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
	{
		struct tlt_json *sec = j ? tlt_jget(j, "seconds") : NULL;

		last_lib = sec && sec->type == TLT_JNUM ? sec->d : -1;
	}
	tlt_jfree(j);
	if (want_mode && strcmp(m, want_mode)) {
		tlt_tool_show("tloop sync", &r);
		tlt_bail("tloop sync %s: mode %s, expected %s", args, m, want_mode);
	}
	if (mode)
		*mode = m;
	return t;
}

/*
 * move_bytes() - the in-process floor of moving the listed pages: each run
 * of consecutive pages of list[0..@n) by one copy_file_range(2) from the
 * backing file to area2 (what the tool does, without its start, checks and
 * baseline), then fdatasync.  Return: the time taken.
 */
static double move_bytes(uint64_t n)
{
	int afd = open("area2.img", O_WRONLY | O_CLOEXEC);
	int bfd = open("area1.img", O_RDONLY | O_CLOEXEC);
	double t0 = tlt_now();

	if (afd < 0 || bfd < 0)
		tlt_bail("open area1.img / area2.img");
	for (uint64_t i = 0; i < n;) {
		uint64_t j = i + 1;
		loff_t in, out;
		size_t len;

		while (j < n && list[j] == list[j - 1] + 1)
			j++;
		in = out = (loff_t)(list[i] * TLT_PAGE);
		len = (size_t)((j - i) * TLT_PAGE);
		while (len) {
			ssize_t k = copy_file_range(bfd, &in, afd, &out, len, 0);

			if (k <= 0)
				tlt_bail("copy_file_range at %lld", (long long)in);
			len -= (size_t)k;
		}
		i = j;
	}
	if (fdatasync(afd))
		tlt_bail("fdatasync");
	t0 = tlt_now() - t0;
	close(bfd);
	close(afd);
	return t0;
}

/*
 * query_loop() - the walk alone, then the per-page copy through the device,
 * then the same pages moved from the backing file (move_bytes()); times in
 * *@q, *@l and *@m.
 */
static void query_loop(double *q, double *l, double *m)
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
	*m = move_bytes(n);
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
	if (fd < 0 || ftruncate(fd, (off_t)(3 * size + (512ULL << 20))))
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

/*
 * own_tmpfs() - a tmpfs of its own, large enough for the backing file,
 * area2 and dd's copy (the VM's /tmp is half its memory), and go there.
 */
static void own_tmpfs(uint64_t size)
{
	char opt[64];

	snprintf(opt, sizeof(opt), "size=%llum", (unsigned long long)((3 * size) / MIB + 768));
	if (mkdir("sync-bench", 0700) || mount("tmpfs", "sync-bench", "tmpfs", 0, opt) ||
	    chdir("sync-bench"))
		tlt_bail("mount a tmpfs of %s", opt);
}

static double dd_time(void)
{
	char cmd[256];
	double t0 = tlt_now();

	snprintf(cmd, sizeof(cmd), "dd if=%s of=full.img iflag=direct bs=1M conv=fsync "
		 "2>/dev/null", d->node);
	if (system(cmd))
		tlt_bail("%s", cmd);
	t0 = tlt_now() - t0;
	unlink("full.img");
	return t0;
}

/* A cell that was not measured is negative; printed as "-". */
static const char *cell(char *b, size_t len, double v, const char *fmt)
{
	if (v < 0)
		snprintf(b, len, "-");
	else
		snprintf(b, len, fmt, v);
	return b;
}

int main(void)
{
	static const char *const pat_names[] = { "random", "clustered" };
	unsigned int ndens = 0, nvar = 0, npat = 0, pats[2];
	double dens[MAX_DENS], loop_max;
	char *vars[MAX_VAR], *vs, *save = NULL, *tok;
	uint64_t size = tlt_env_ul("TLOOP_BENCH_SYNC_MB", 1024) * MIB;
	double dd[MAX_REP], dd_med, full_med, fl, f, start[MAX_REP], start_med;
	double start_nr[MAX_REP], start_nr_med;
	double *full_all;
	unsigned int nfull = 0;
	const char *s;
	uint32_t ver = 1;
	int xfs;

	repeat = (unsigned int)tlt_env_ul("TLOOP_BENCH_REPEAT", 3);
	if (!repeat || repeat > MAX_REP)
		repeat = 3;
	s = getenv("TLOOP_BENCH_SYNC_LOOP_MAX");
	loop_max = s && *s ? strtod(s, NULL) : 10.0;
	s = getenv("TLOOP_BENCH_SYNC_PCT");
	vs = strdup(s && *s ? s : "0.01 0.1 1 10 30 100");
	for (tok = strtok_r(vs, " ,", &save); tok && ndens < MAX_DENS;
	     tok = strtok_r(NULL, " ,", &save))
		dens[ndens++] = strtod(tok, NULL);
	s = getenv("TLOOP_BENCH_SYNC_PATTERNS");
	vs = strdup(s && *s ? s : "random clustered");
	for (tok = strtok_r(vs, " ,", &save); tok && npat < 2; tok = strtok_r(NULL, " ,", &save))
		for (unsigned int k = 0; k < 2; k++)
			if (!strcmp(tok, pat_names[k]))
				pats[npat++] = k;
	s = getenv("TLOOP_BENCH_SYNC_VARIANTS");
	vs = strdup(s ? s : "");
	for (tok = strtok_r(vs, ";", &save); tok && nvar < MAX_VAR; tok = strtok_r(NULL, ";", &save)) {
		/* make bench-sync sends spaces as '+' (the kernel command line splits at spaces). */
		for (char *p = tok; *p; p++)
			if (*p == '+')
				*p = ' ';
		vars[nvar++] = tok;
	}
	if (!npat || !ndens)
		tlt_bail("no pattern or no density to measure");

	tlt_require_tracking();
	own_tmpfs(size);
	xfs = tlt_env_ul("TLOOP_BENCH_SYNC_XFS", 0) != 0;
	if (xfs)
		on_xfs(size);
	tlt_plan((int)(ndens * npat) + 1);
	d = tlt_tdev_open("area1.img", size, 0);
	if (tlt_enable(d->fd, 0))
		tlt_bail("TRACK_ENABLE");
	dfd = open(d->node, O_RDWR | O_DIRECT | O_CLOEXEC);
	chosen = malloc(d->nr_pages);
	list = malloc(d->nr_pages * sizeof(*list));
	full_all = calloc((size_t)repeat * (2 * ndens * npat + 1), sizeof(*full_all));
	if (dfd < 0 || !chosen || !list || !full_all ||
	    posix_memalign((void **)&iobuf, 4096, MIB))
		tlt_bail("setup");
	memset(chosen, 1, d->nr_pages);
	store(0);
	tool_time("--create", "full", NULL);
	for (unsigned int r = 0; r < repeat; r++)
		dd[r] = dd_time();
	for (unsigned int r = 0; r < repeat; r++)
		full_all[nfull++] = tool_time("--full", "full", NULL);
	dd_med = tlt_median(dd, repeat);
	/* The fixed cost of a run of the tool: starting it (dynamic libraries: libnbd's). */
	for (unsigned int r = 0; r < repeat; r++) {
		struct tlt_tool_run tr;
		double t0 = tlt_now();

		if (tlt_tool(&tr, "--version"))
			tlt_bail("tloop --version");
		start[r] = tlt_now() - t0;
	}
	start_med = tlt_median(start, repeat);
	for (unsigned int r = 0; r < repeat; r++)
		start_nr[r] = start_norandom();
	start_nr_med = tlt_median(start_nr, repeat);
	tlt_result(true, "dd: %.3f s", dd_med);
	tlt_diag("bench: %s, %llu MiB device, page %zu, %u repetitions (medians), wall time of "
		 "each process; area2 and the backing file on %s", "sync-bench",
		 (unsigned long long)(size / MIB), (size_t)TLT_PAGE, repeat,
		 xfs ? "XFS (reflink=1, on a loop device over tmpfs)" : "tmpfs");

	struct row {
		unsigned int pat;
		double pct;
		uint64_t pages;
		double q, l, m, sync, refl, frow, lib, var[MAX_VAR];
		char mode[8], via[16];
	} rows[2 * MAX_DENS];
	unsigned int nrows = 0;

	for (unsigned int pi = 0; pi < npat; pi++) {
		for (unsigned int i = 0; i < ndens; i++) {
			double q[MAX_REP], l[MAX_REP], mv[MAX_REP], sy[MAX_REP], rf[MAX_REP];
			double fr[MAX_REP], lb[MAX_REP];
			double v[MAX_VAR][MAX_REP];
			struct row *w = &rows[nrows++];
			int do_loop = dens[i] <= loop_max;
			int do_frow = dens[i] >= DENSE_PCT;
			const char *mode = "?";
			int64_t diff;

			w->pat = pats[pi];
			w->pct = dens[i];
			w->pages = pick(dens[i], w->pat == 1,
					0x5eed15 + (uint64_t)(dens[i] * 100) + 1000003ULL * w->pat);
			for (unsigned int r = 0; r < repeat; r++) {
				if (do_loop) {
					store(ver++);
					query_loop(&q[r], &l[r], &mv[r]);
					full_all[nfull++] = tool_time("--full", "full", NULL);
				}
				for (unsigned int k = 0; k < nvar; k++) {
					store(ver++);
					v[k][r] = tool_time(vars[k], NULL, NULL);
				}
				if (xfs) {
					store(ver++);
					rf[r] = tool_time("--via reflink", NULL, NULL);
				}
				if (do_frow) {
					store(ver++);
					fr[r] = tool_time("--full", "full", NULL);
					full_all[nfull++] = fr[r];
				}
				store(ver++);
				sy[r] = tool_time("", NULL, &mode);
				lb[r] = last_lib;
			}
			snprintf(w->via, sizeof(w->via), "%s", last_via);
			snprintf(w->mode, sizeof(w->mode), "%s", strcmp(mode, "full") ? "incr" : "full");
			w->q = do_loop ? tlt_median(q, repeat) : -1;
			w->l = do_loop ? tlt_median(l, repeat) : -1;
			w->m = do_loop ? tlt_median(mv, repeat) : -1;
			w->sync = tlt_median(sy, repeat);
			w->refl = xfs ? tlt_median(rf, repeat) : -1;
			w->frow = do_frow ? tlt_median(fr, repeat) : -1;
			w->lib = tlt_median(lb, repeat);
			for (unsigned int k = 0; k < nvar; k++)
				w->var[k] = tlt_median(v[k], repeat);
			/* The raw figures now, in case a later row does not finish. */
			tlt_diag("%s %g %%: %llu pages, sync %.3f s (%s, via %s), query %.3f s, "
				 "loop %.3f s, reflink %.3f s, move %.3f s, full %.3f s", pat_names[w->pat],
				 w->pct, (unsigned long long)w->pages, w->sync, mode, w->via, w->q, w->l,
				 w->refl, w->m, w->frow);
			diff = tlt_cmp_files(d->node, "area2.img", size);
			tlt_result(diff < 0, "%s %g %%: area2 equals the device after tloop sync",
				   pat_names[w->pat], w->pct);
			if (diff >= 0)
				tlt_diag("first difference at byte %lld", (long long)diff);
		}
	}
	full_med = tlt_median(full_all, nfull);
	f = dd_med < full_med ? dd_med : full_med;
	tlt_diag("bench: full copy by dd iflag=direct bs=1M conv=fsync: %.3f s", dd_med);
	tlt_diag("bench: full copy by tloop sync --full: %.3f s (median of %u)", full_med, nfull);
	tlt_diag("bench: F = the faster of the two = %.3f s", f);
	tlt_diag("bench: tloop --version (process start, no refresh): %.3f s", start_med);
	tlt_diag("bench-data: start %.6f", start_med);
	tlt_diag("bench: tloop --version with ADDR_NO_RANDOMIZE: %.3f s "
		 "(kernel.randomize_va_space = %d in this boot)", start_nr_med, randomize_va_space());
	tlt_diag("bench-data: start-norandom %.6f", start_nr_med);
	tlt_diag("bench-data: full dd %.6f", dd_med);
	tlt_diag("bench-data: full tloop %.6f", full_med);
	tlt_diag("bench: %-9s %7s %8s %8s %5s %8s %8s %8s %8s %9s %9s %8s %8s %7s", "pattern",
		 "dens %", "pages", "sync s", "mode", "F/sync", "loop s", "q s", "reflink",
		 "sync/q+l", "sync/q+m", "Frow/sy", "lib s", "F/lib");
	for (unsigned int i = 0; i < nrows; i++) {
		struct row *w = &rows[i];
		char b1[32], b2[32], b3[32], b4[32], b5[32], b6[32];
		double fm = w->q >= 0 ? w->q + w->m : -1;

		fl = w->q >= 0 ? w->q + w->l : -1;
		tlt_diag("bench: %-9s %7g %8llu %8.3f %5s %8.1f %8s %8s %8s %9s %9s %8s %8.4f %7.1f",
			 pat_names[w->pat], w->pct, (unsigned long long)w->pages, w->sync, w->mode,
			 f / w->sync, cell(b1, sizeof(b1), fl, "%.3f"),
			 cell(b2, sizeof(b2), w->q, "%.3f"), cell(b3, sizeof(b3), w->refl, "%.3f"),
			 cell(b4, sizeof(b4), fl >= 0 ? w->sync / fl : -1, "%.2f"),
			 cell(b5, sizeof(b5), fm >= 0 && !xfs ? w->sync / fm : -1, "%.2f"),
			 cell(b6, sizeof(b6), w->frow >= 0 ? w->frow / w->sync : -1, "%.2f"), w->lib,
			 w->lib > 0 ? f / w->lib : 0);
		tlt_diag("bench-data: row %s %g %llu %.6f %.6f %.6f %.6f", pat_names[w->pat],
			 w->pct, (unsigned long long)w->pages, w->sync, fl, w->refl,
			 fm >= 0 && !xfs ? fm : -1);
	}
	for (unsigned int k = 0; k < nvar; k++)
		for (unsigned int i = 0; i < nrows; i++)
			tlt_diag("bench: variant '%s' %s %g %%: %.3f s, F/variant %.1f", vars[k],
				 pat_names[rows[i].pat], rows[i].pct, rows[i].var[k],
				 f / rows[i].var[k]);
	close(dfd);
	tlt_tdev_close(d);
	if (xfs) {
		unlink("area2.img");
		unlink("area2.img.tloop");
		if (chdir("..") || umount("x"))
			tlt_diag("umount the XFS: %s", strerror(errno));
		tlt_detach(&xfs_loop);
		unlink("xfs.img");
	}
	if (chdir("..") || umount("sync-bench"))
		tlt_diag("umount the bench's tmpfs: %s", strerror(errno));
	tlt_exit();
}
