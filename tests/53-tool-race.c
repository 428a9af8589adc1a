// SPDX-License-Identifier: GPL-2.0
/*
 * 53-tool-race: `tloop sync` in a loop while writers keep storing into the
 * device (mmap stores, buffered pwrite, O_DIRECT pwrite, partial pages),
 * and for a while a second consumer (`tloop written --clear`) steals pages
 * from the written set.  Every refresh must succeed; a theft must turn the
 * next refresh into a full copy rather than a stale area2; after the writers
 * stop, one more refresh must make area2 equal to the device byte for byte,
 * and a refresh after that must copy nothing.
 * tloop-timeout: 300
 */
#include "tlt.h"

#include <signal.h>

#define NR_PAGES 8192UL		/* 32 MiB */

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

/*
 * SIGTERM stays blocked from before each fork() until the child has its handler, so a child
 * told to stop at once (a slow refresh under load) still ends cleanly with status 0.
 */
static void block_term(bool block)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigprocmask(block ? SIG_BLOCK : SIG_UNBLOCK, &set, NULL);
}

static void start_child(void)
{
	signal(SIGTERM, on_term);
	block_term(false);
}

/* writer() - store into random pages until SIGTERM; never returns. */
static void __attribute__((noreturn)) writer(const char *node, unsigned int seed)
{
	int fd = open(node, O_RDWR | O_CLOEXEC);
	int dfd = open(node, O_RDWR | O_DIRECT | O_CLOEXEC);
	uint8_t *map, *dbuf;
	uint32_t ver = 1;

	start_child();
	if (fd < 0 || dfd < 0 || posix_memalign((void **)&dbuf, TLT_PAGE, TLT_PAGE))
		_exit(2);
	map = mmap(NULL, NR_PAGES * TLT_PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED)
		_exit(3);
	srand(seed);
	while (!stop) {
		uint64_t p = (uint64_t)rand() % NR_PAGES;
		int how = rand() % 8;

		ver++;
		if (how < 4) {
			tlt_page_pattern(map + p * TLT_PAGE, p, ver);
		} else if (how == 4) {
			/* A few bytes in the middle of a page. */
			memcpy(map + p * TLT_PAGE + 1000, &ver, sizeof(ver));
		} else if (how < 7) {
			uint8_t buf[TLT_PAGE];

			tlt_page_pattern(buf, p, ver);
			if (pwrite(fd, buf, TLT_PAGE, (off_t)(p * TLT_PAGE)) != (ssize_t)TLT_PAGE)
				_exit(4);
		} else {
			tlt_page_pattern(dbuf, p, ver);
			if (pwrite(dfd, dbuf, TLT_PAGE, (off_t)(p * TLT_PAGE)) != (ssize_t)TLT_PAGE)
				_exit(5);
		}
		if (!(ver % 64))
			usleep(1000);
	}
	munmap(map, NR_PAGES * TLT_PAGE);
	_exit(0);
}

/* stealer() - another consumer clearing the set now and then, until SIGTERM. */
static void __attribute__((noreturn)) stealer(const char *node)
{
	struct tlt_tool_run r;

	start_child();
	while (!stop) {
		if (tlt_tool(&r, "written --clear %s", node) != 0)
			_exit(6);
		usleep(30000);
	}
	_exit(0);
}

static int reap(pid_t pid, const char *what)
{
	int st;

	kill(pid, SIGTERM);
	if (waitpid(pid, &st, 0) < 0)
		tlt_bail("waitpid %s", what);
	if (!WIFEXITED(st) || WEXITSTATUS(st)) {
		tlt_diag("%s ended with status 0x%x", what, st);
		return 1;
	}
	return 0;
}

int main(void)
{
	unsigned int seed = 5353;
	int scale = getenv("TLOOP_SCALE") ? atoi(getenv("TLOOP_SCALE")) : 1;
	double secs = 6.0 * (scale > 0 ? scale : 1), t0;
	unsigned int syncs = 0, failures = 0, incr = 0, full = 0, stolen = 0;
	uint64_t copied = 0;
	pid_t wpid, spid = -1;
	bool stealing = false, stolen_phase_done = false;
	struct tlt_json *j;
	char node[64];
	int bad;

	tlt_plan(6);
	tlt_tool_attach("area1.img", NR_PAGES * TLT_PAGE, "--track", node, sizeof(node));
	j = tlt_sync_json(node, "area2.img", "--create");
	if (!j)
		tlt_bail("first sync");
	tlt_jfree(j);
	tlt_diag("seed %u, %.0f s of writes; stealer during the middle third "
		 "(kept until a refresh saw a theft, at most %.0f s)", seed, secs, 10 * secs);

	block_term(true);
	wpid = fork();
	if (wpid < 0)
		tlt_bail("fork");
	if (!wpid)
		writer(node, seed);

	t0 = tlt_now();
	/*
	 * The stealer's phase ends once a refresh noticed a theft (one refresh can take longer
	 * than the phase under load), or after 10 * secs, when the theft check below fails.
	 */
	while (tlt_now() - t0 < secs || stealing) {
		double t = tlt_now() - t0;

		if (!stealing && !stolen_phase_done && t > secs / 3) {
			spid = fork();
			if (spid < 0)
				tlt_bail("fork");
			if (!spid)
				stealer(node);
			stealing = true;
		}
		if (stealing && ((t > 2 * secs / 3 && stolen > 0) || t > 10 * secs)) {
			failures += reap(spid, "stealer");
			stealing = false;
			stolen_phase_done = true;
		}
		/* Every other refresh never switches to a full copy for density (issue 15). */
		j = tlt_sync_json(node, "area2.img", syncs % 2 ? "--full-at 101" : "");
		syncs++;
		if (!j) {
			failures++;
			continue;
		}
		if (!strcmp(tlt_jstr(j, "mode"), "incremental"))
			incr++;
		else
			full++;
		if (!strcmp(tlt_jstr(j, "reason"), "concurrent-clear") ||
		    !strcmp(tlt_jstr(j, "reason"), "generation"))
			stolen++;
		copied += tlt_ju64(j, "pages", 0);
		tlt_jfree(j);
	}
	if (stealing)
		failures += reap(spid, "stealer");
	bad = reap(wpid, "writer");
	tlt_diag("%u refreshes while writing: %u incremental, %u full (%u after a theft), "
		 "%" PRIu64 " pages copied", syncs, incr, full, stolen, copied);
	tlt_result(!failures && !bad, "every refresh and every writer succeeded");
	tlt_result(incr > 0, "refreshes were incremental while nobody stole (%u)", incr);
	tlt_result(!stolen_phase_done || stolen > 0,
		   "a theft by another consumer led to full copies (%u)", stolen);

	j = tlt_sync_json(node, "area2.img", "");
	tlt_result(j != NULL, "the final refresh succeeds");
	if (j)
		tlt_diag("final refresh: %s, %" PRIu64 " pages", tlt_jstr(j, "mode"),
			 tlt_ju64(j, "pages", 0));
	tlt_jfree(j);
	tlt_result(tlt_cmp_files(node, "area2.img", NR_PAGES * TLT_PAGE) < 0,
		   "after the writers stopped, area2 equals the device byte for byte");
	j = tlt_sync_json(node, "area2.img", "");
	tlt_result(j && !strcmp(tlt_jstr(j, "mode"), "incremental") && tlt_ju64(j, "pages", 1) == 0,
		   "one more refresh copies nothing");
	tlt_jfree(j);
	tlt_exit();
}
