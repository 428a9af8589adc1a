// SPDX-License-Identifier: GPL-2.0
/*
 * 62-tool-consistent: `tloop sync --consistent` while writers keep writing.
 * tloop-timeout: 400
 *
 * Writers (an O_DIRECT thread, a buffered thread, an mmap thread; each owns
 * the pages p % 3 == its number, above the accounts) and an accounts thread
 * (32 counters on different pages, constant sum, msync under a lock after
 * each transfer: its consistent points).  Each round pauses them all,
 * reads the device as the expected state, starts the tool, and resumes
 * them as soon as the written set's generation moves (the tool's instant
 * P), so the refresh runs under writes.  area2 must then equal the
 * expected state byte for byte, its counters must sum to the constant, and
 * --json must report the instant's generation.  The same rounds with the
 * plain `tloop sync` must give a torn area2 at least once.
 *
 * Then: a preserved-page limit too small fails visibly (exit 1, "snapshot
 * failed") and the next refresh recovers with nothing lost; a consumer
 * killed mid-refresh loses nothing; tracking off is refused; an ext4
 * filesystem mounted on the device and written to is frozen for the
 * instant only, and every area2 passes e2fsck.
 */
#include "tlt.h"

#include <pthread.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/wait.h>

#define DEV_SIZE	(8ULL << 20)


static char node[64];
static int dfd;			/* the device, for ioctls */
static uint8_t *map;
static struct tlt_crew crew;
static struct tlt_pit pit;
static const char *const tail[] = { "area2.img", NULL };

static void ext4_case(void)
{
	struct tlt_tool_run *r = malloc(sizeof(*r));
	int ok = 1, rounds = 3;
	pid_t w;

	if (tlt_need_ext4()) {
		tlt_skip("ext4 frozen for the instant", "no ext4 in this kernel");
		tlt_skip("the filesystem is thawed after the refresh", "no ext4 in this kernel");
		free(r);
		return;
	}
	if (tlt_run(TLT_MKE2FS " -q -F -t ext4 %s", node) ||
	    mkdir("mnt", 0755) || mount(node, "mnt", "ext4", 0, NULL))
		tlt_bail("mkfs/mount ext4 on %s", node);
	w = fork();
	if (w == 0) {
		/* Files rewritten and fsync'd without a pause. */
		uint8_t buf[16384];

		for (unsigned int i = 0;; i++) {
			char name[64];
			int fd;

			snprintf(name, sizeof(name), "mnt/f%u", i % 50);
			memset(buf, (int)i, sizeof(buf));
			fd = open(name, O_WRONLY | O_CREAT | O_TRUNC, 0644);
			if (fd < 0 || write(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf))
				_exit(1);
			fsync(fd);
			close(fd);
		}
	}
	for (int i = 0; i < rounds; i++) {
		usleep(200000);
		tlt_tool(r, "sync --consistent --freeze mnt --json %s area2.img", node);
		if (r->status) {
			tlt_tool_show("sync --consistent --freeze", r);
			ok = 0;
			break;
		}
		if (tlt_run(TLT_E2FSCK " -fn area2.img")) {
			tlt_diag("round %d: e2fsck of area2 failed", i);
			ok = 0;
		}
	}
	tlt_result(ok, "ext4 frozen for the instant: %d refreshes under writes, e2fsck -fn clean", rounds);
	tlt_result(!tlt_run("touch mnt/after-thaw"), "the filesystem is thawed after the refresh");
	kill(w, SIGKILL);
	waitpid(w, NULL, 0);
	if (umount("mnt"))
		tlt_bail("umount");
	free(r);
}

int main(void)
{
	uint64_t feat = tlt_require_tracking();
	int rounds = 4 * tlt_scale(), torn = 0, status, ok_sum = 1, fails = 0;
	uint8_t *expect, *area2;
	struct tlt_json *j;
	uint64_t preserved = 0;

	if (!(feat & TLOOP_FEAT_SNAPSHOT))
		tlt_skip_all("the module has no TLOOP_FEAT_SNAPSHOT");
	tlt_seed(0x62c0ULL);
	tlt_plan(rounds + 12);
	tlt_tool_attach("backing.img", DEV_SIZE, "--track", node, sizeof(node));
	dfd = open(node, O_RDWR | O_DIRECT);
	if (dfd < 0)
		tlt_bail("open %s", node);
	map = tlt_map(dfd, DEV_SIZE, 0);
	expect = tlt_alloc(DEV_SIZE);
	area2 = tlt_alloc(DEV_SIZE);
	tlt_crew_start(&crew, node, map, DEV_SIZE, 0x62000ULL);
	pit = (struct tlt_pit){ .crew = &crew, .dfd = dfd, .node = node, .tail = tail,
				.area2 = "area2.img", .size = DEV_SIZE };

	for (int r = 0; r < rounds; r++) {
		int nd = tlt_pit_round(&pit, r ? "--consistent --json" : "--consistent --json --create",
				    expect, area2, &status, &j);
		uint64_t g = j ? tlt_ju64(j, "snapshot_generation", 0) : 0;
		bool good = !status && j && tlt_jbool(j, "consistent") == 1 && !nd &&
			    g == tlt_pit_generation(&pit) && tlt_acc_sum(area2) == TLT_ACC_TOTAL;

		/* No one clears the set but the tool: g is still the live generation. */
		if (!good)
			tlt_pit_show();
		ok_sum &= tlt_acc_sum(area2) == TLT_ACC_TOTAL;
		preserved += j ? tlt_ju64(j, "pages_preserved", 0) : 0;
		tlt_result(good, "round %d: exit %d, %s, %llu pages, %llu preserved, generation %llu; area2 == P (%d pages differ), sum %llu",
			   r, status, j ? tlt_jstr(j, "mode") : "-",
			   (unsigned long long)(j ? tlt_ju64(j, "pages", 0) : 0),
			   (unsigned long long)(j ? tlt_ju64(j, "pages_preserved", 0) : 0),
			   (unsigned long long)g, nd, (unsigned long long)tlt_acc_sum(area2));
		tlt_jfree(j);
	}
	tlt_result(ok_sum, "the counters in every area2 sum to %llu",
		   (unsigned long long)TLT_ACC_TOTAL);
	tlt_result(preserved > 0, "pages were preserved before writes (%llu)",
		   (unsigned long long)preserved);

	for (int r = 0; r < 4 && !torn; r++) {
		int nd = tlt_pit_round(&pit, "", expect, area2, &status, NULL);

		torn += !status && nd;
		tlt_diag("plain round %d: exit %d, %d pages differ from P, sum %llu", r, status, nd,
			 (unsigned long long)tlt_acc_sum(area2));
	}
	tlt_result(torn > 0, "the plain `tloop sync` under the same writers is torn");

	/* A limit of one page under writes: a visible failure, then a recovery. */
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
	{
		int nd;

		tlt_crew_pause(&crew);
		tlt_pread_all(dfd, expect, DEV_SIZE, 0);
		status = tlt_pit_wait(tlt_pit_spawn(&pit, "--consistent"));
		nd = status ? -2 : (int)tlt_cmp_files("area2.img", node, DEV_SIZE);
		tlt_crew_resume(&crew);
		tlt_result(!status && nd == -1, "the next refresh recovers: area2 == device (exit %d, %d)",
			   status, nd);
	}

	/* A consumer killed mid-refresh. */
	{
		pid_t pid = tlt_pit_spawn(&pit, "--consistent");
		int nd;

		usleep(20000);
		kill(pid, SIGKILL);
		status = tlt_pit_wait(pid);
		tlt_diag("killed consumer: status %d", status);
		tlt_crew_pause(&crew);
		status = tlt_pit_wait(tlt_pit_spawn(&pit, "--consistent"));
		nd = status ? -2 : (int)tlt_cmp_files("area2.img", node, DEV_SIZE);
		tlt_crew_resume(&crew);
		tlt_result(!status && nd == -1,
			   "after a consumer was killed, the next refresh makes area2 == device (%d)", nd);
	}

	tlt_crew_stop(&crew);
	tlt_result(crew.writes[0] && crew.writes[1] && crew.writes[2],
		   "every writer wrote (%llu, %llu, %llu)",
		   (unsigned long long)crew.writes[0], (unsigned long long)crew.writes[1],
		   (unsigned long long)crew.writes[2]);
	/* Zero loss after repeated snapshots: one more refresh, area2 == device. */
	status = tlt_pit_wait(tlt_pit_spawn(&pit, "--consistent --json"));
	tlt_result(!status && tlt_cmp_files("area2.img", node, DEV_SIZE) == -1,
		   "writers stopped: one more refresh and area2 == device");
	status = tlt_pit_wait(tlt_pit_spawn(&pit, "--consistent --json"));
	{
		char b[4096];
		struct tlt_json *jj;

		tlt_slurp("out.txt", b, sizeof(b));
		jj = status ? NULL : tlt_jparse(b);
		tlt_result(jj && tlt_ju64(jj, "pages", 1) == 0 && !strcmp(tlt_jstr(jj, "mode"), "incremental"),
			   "a refresh after that copies nothing");
		tlt_jfree(jj);
	}
	tlt_unmap(map, DEV_SIZE);

	/* Tracking off: refused. */
	{
		struct tlt_tool_run *r = malloc(sizeof(*r));

		tlt_tool(r, "track off %s", node);
		tlt_tool(r, "sync --consistent %s area2.img", node);
		tlt_result(r->status == 1 && strstr(r->err, "tracking on"),
			   "tracking off: --consistent is refused (exit %d)", r->status);
		tlt_tool(r, "track on %s", node);
		free(r);
	}
	close(dfd);
	ext4_case();
	tlt_exit();
}
