// SPDX-License-Identifier: GPL-2.0
/*
 * 67-tool-nbd-consistent: `tloop sync --consistent` to an NBD export (nbdkit
 * serving export.img over a Unix socket, with the log filter and a small
 * write delay so that the refresh runs under writes), checked on the server
 * side: the served file is read directly.
 * tloop-timeout: 400
 *
 * The writers and the accounts thread of 62-tool-consistent.  Each round
 * pauses them, reads the device as the expected state P, starts the tool
 * and resumes them at P: the export must then equal P byte for byte, its
 * counters sum to the constant, --json report consistent and the instant's
 * generation.  A quiet round: the pages nbdkit received are exactly the
 * pages written since the last refresh.  A preserved-page limit too small
 * fails visibly, and the next refresh is incremental (the snapshot's pages
 * went back to the set) and exact; a refresh killed midway, likewise;
 * tracking off is refused.
 */
#include "tlt.h"

#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>

#define DEV_SIZE	(8ULL << 20)


static char node[64], uri[PATH_MAX + 64], cwd[PATH_MAX];
static uint64_t nr;
static int dfd;			/* the device, for ioctls */
static uint8_t *map;
static struct tlt_crew crew;
static struct tlt_pit pit;
/* The refresh's arguments after the device: the export and the state directory. */
static const char *const tail[] = { uri, "--state-dir", "state", NULL };


/* The pages nbdkit logged as written after line @from of log.txt, in @got (a bitmap of nr bits). */
static uint64_t logged(uint64_t from, uint8_t *got, uint64_t *bad)
{
	FILE *f = fopen("log.txt", "r");
	char line[1024];
	uint64_t ln = 0, n = 0;

	*bad = 0;
	memset(got, 0, nr / 8 + 1);
	if (!f)
		tlt_bail("open log.txt");
	while (fgets(line, sizeof(line), f)) {
		unsigned long long o, c;
		char *p;

		if (ln++ < from || !(p = strstr(line, " Write id=")))
			continue;
		if (sscanf(p, " Write id=%*u offset=%llx count=%llx", &o, &c) != 2 ||
		    o % TLT_PAGE || c % TLT_PAGE) {
			(*bad)++;
			continue;
		}
		for (uint64_t q = o / TLT_PAGE; q < (o + c) / TLT_PAGE; q++) {
			n++;
			if (got[q / 8] & (1 << (q % 8)))
				(*bad)++;	/* sent twice */
			got[q / 8] |= (uint8_t)(1 << (q % 8));
		}
	}
	fclose(f);
	return n;
}

static uint64_t log_lines(void)
{
	FILE *f = fopen("log.txt", "r");
	uint64_t n = 0;
	int ch;

	if (!f)
		return 0;
	while ((ch = fgetc(f)) != EOF)
		n += ch == '\n';
	fclose(f);
	return n;
}

static int json_run(const char *opts, struct tlt_json **j)
{
	char *out = malloc(65536);
	int status = tlt_pit_wait(tlt_pit_spawn(&pit, opts));

	tlt_slurp("out.txt", out, 65536);
	*j = status ? NULL : tlt_jparse(out);
	if (status)
		tlt_pit_show();
	free(out);
	return status;
}

static void start_server(void)
{
	unlink("nbdkit.pid");
	if (tlt_run("nbdkit -U %s/nbd.sock -P %s/nbdkit.pid --filter=log --filter=delay file "
		    "%s/export.img logfile=%s/log.txt delay-write=2ms", cwd, cwd, cwd, cwd))
		tlt_bail("start nbdkit");
	for (int i = 0; i < 300 && access("nbdkit.pid", F_OK); i++)
		usleep(100000);
}

static void stop_server(void)
{
	char b[32];

	tlt_slurp("nbdkit.pid", b, sizeof(b));
	if (atoi(b) > 0)
		kill(atoi(b), SIGKILL);
	usleep(200000);
}

int main(void)
{
	uint64_t feat = tlt_require_tracking();
	int rounds = 4 * tlt_scale(), status, ok_sum = 1, fails = 0;
	uint8_t *expect, *area2, *got, *buf;
	struct tlt_json *j;
	uint64_t preserved = 0, n, bad, l0, want = 0;
	bool exact = true;

	if (!(feat & TLOOP_FEAT_SNAPSHOT))
		tlt_skip_all("the module has no TLOOP_FEAT_SNAPSHOT");
	tlt_seed(0x67c0ULL);
	tlt_plan(rounds + 9);
	if (!getcwd(cwd, sizeof(cwd)))
		tlt_bail("getcwd");
	snprintf(uri, sizeof(uri), "nbd+unix:///?socket=%s/nbd.sock", cwd);
	tlt_tool_attach("backing.img", DEV_SIZE, "--track", node, sizeof(node));
	if (tlt_run("truncate -s %llu export.img", (unsigned long long)DEV_SIZE))
		tlt_bail("truncate export.img");
	start_server();
	dfd = open(node, O_RDWR | O_DIRECT);
	if (dfd < 0)
		tlt_bail("open %s", node);
	nr = DEV_SIZE / TLT_PAGE;
	map = tlt_map(dfd, DEV_SIZE, 0);
	expect = tlt_alloc(DEV_SIZE);
	area2 = tlt_alloc(DEV_SIZE);
	got = tlt_alloc(nr / 8 + 1);
	buf = tlt_alloc(TLT_PAGE);
	tlt_crew_start(&crew, node, map, DEV_SIZE, 0x67000ULL);
	pit = (struct tlt_pit){ .crew = &crew, .dfd = dfd, .node = node, .tail = tail,
				.area2 = "export.img", .size = DEV_SIZE };

	for (int r = 0; r < rounds; r++) {
		int nd = tlt_pit_round(&pit, "--consistent --json", expect, area2, &status, &j);
		uint64_t g = j ? tlt_ju64(j, "snapshot_generation", 0) : 0;
		bool good = !status && j && tlt_jbool(j, "consistent") == 1 && !nd &&
			    g == tlt_pit_generation(&pit) && tlt_acc_sum(area2) == TLT_ACC_TOTAL &&
			    !strcmp(tlt_jstr(j, "mode"), r ? "incremental" : "full");

		if (!good)
			tlt_pit_show();
		ok_sum &= tlt_acc_sum(area2) == TLT_ACC_TOTAL;
		preserved += j ? tlt_ju64(j, "pages_preserved", 0) : 0;
		tlt_result(good, "round %d: exit %d, %s, %llu pages, %llu preserved, generation %llu; export == P (%d pages differ), sum %llu",
			   r, status, j ? tlt_jstr(j, "mode") : "-",
			   (unsigned long long)(j ? tlt_ju64(j, "pages", 0) : 0),
			   (unsigned long long)(j ? tlt_ju64(j, "pages_preserved", 0) : 0),
			   (unsigned long long)g, nd, (unsigned long long)tlt_acc_sum(area2));
		tlt_jfree(j);
	}
	tlt_result(ok_sum, "the counters in every export sum to %llu",
		   (unsigned long long)TLT_ACC_TOTAL);
	tlt_result(preserved > 0, "pages were preserved before writes (%llu)",
		   (unsigned long long)preserved);

	/* Quiet: exactly the pages written since the last refresh reach the server. */
	tlt_crew_pause(&crew);
	status = tlt_pit_wait(tlt_pit_spawn(&pit, "--consistent"));
	l0 = log_lines();
	for (uint64_t p = TLT_ACC_PAGES + 5; p < nr; p += 37 + (p % 3)) {
		tlt_page_pattern(buf, p, 0x6700);
		tlt_pwrite_all(dfd, buf, TLT_PAGE, (off_t)(p * TLT_PAGE));
		want++;
	}
	status |= json_run("--consistent --json", &j);
	n = logged(l0, got, &bad);
	{
		uint64_t p = TLT_ACC_PAGES + 5, hits = 0;

		for (; p < nr; p += 37 + (p % 3))
			hits += !!(got[p / 8] & (1 << (p % 8)));
		exact = !status && !bad && n == want && hits == want;
	}
	tlt_result(exact && j && tlt_ju64(j, "pages", 0) == want,
		   "quiet: the server received exactly the %llu pages written (%llu pages, %llu bad, --json %llu)",
		   (unsigned long long)want, (unsigned long long)n, (unsigned long long)bad,
		   (unsigned long long)(j ? tlt_ju64(j, "pages", 0) : 0));
	tlt_result(!status && tlt_cmp_files("export.img", node, DEV_SIZE) == -1,
		   "quiet: export == device");
	tlt_jfree(j);
	tlt_crew_resume(&crew);

	/* A limit of one page under writes: a visible failure, then an incremental recovery. */
	for (int r = 0; r < 5 && !fails; r++) {
		char b[4096];

		tlt_pit_round(&pit, "--consistent --snap-mem-limit 4096", expect, area2, &status, NULL);
		tlt_slurp("err.txt", b, sizeof(b));
		if (status == 1 && strstr(b, "snapshot failed"))
			fails++;
		else if (status)
			tlt_pit_show();
	}
	tlt_result(fails, "a one-page preserve limit under writes fails visibly (exit 1, \"snapshot failed\")");
	tlt_crew_pause(&crew);
	tlt_pread_all(dfd, expect, DEV_SIZE, 0);
	status = json_run("--consistent --json", &j);
	tlt_result(!status && j && !strcmp(tlt_jstr(j, "mode"), "incremental") &&
		   tlt_cmp_files("export.img", node, DEV_SIZE) == -1,
		   "the next refresh is incremental and export == device (exit %d, %s)", status,
		   j ? tlt_jstr(j, "mode") : "-");
	tlt_jfree(j);
	tlt_crew_resume(&crew);

	/* The refresh killed midway (SIGKILL of the tool: no recovery record, a full copy). */
	{
		pid_t pid = tlt_pit_spawn(&pit, "--consistent");

		usleep(20000);
		kill(pid, SIGKILL);
		status = tlt_pit_wait(pid);
		tlt_diag("killed tool: status %d", status);
		tlt_crew_pause(&crew);
		status = tlt_pit_wait(tlt_pit_spawn(&pit, "--consistent"));
		tlt_result(!status && tlt_cmp_files("export.img", node, DEV_SIZE) == -1,
			   "after the tool was killed, the next refresh makes export == device");
		tlt_crew_resume(&crew);
	}

	tlt_crew_stop(&crew);
	tlt_result(crew.writes[0] && crew.writes[1] && crew.writes[2],
		   "every writer wrote (%llu, %llu, %llu)",
		   (unsigned long long)crew.writes[0], (unsigned long long)crew.writes[1],
		   (unsigned long long)crew.writes[2]);
	tlt_unmap(map, DEV_SIZE);

	/* Tracking off: refused. */
	{
		struct tlt_tool_run *r = malloc(sizeof(*r));

		tlt_tool(r, "track off %s", node);
		tlt_tool(r, "sync --consistent --state-dir state %s %s", node, uri);
		tlt_result(r->status == 1 && strstr(r->err, "tracking on"),
			   "tracking off: --consistent is refused (exit %d)", r->status);
		tlt_tool(r, "track on %s", node);
		free(r);
	}
	close(dfd);
	stop_server();
	free(got);
	free(buf);
	tlt_exit();
}
