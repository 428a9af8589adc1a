// SPDX-License-Identifier: GPL-2.0
/*
 * 55-tool-fallbacks: area2 is never left silently stale.  Each situation in
 * which the baseline cannot be trusted must make `tloop sync` copy
 * everything, with the documented reason: a new or resized area2, a missing
 * or damaged sidecar, a clear by someone else, tracking toggled, tracking
 * off, a re-attached device, an overflowed set, --full.  area2 may be a
 * block device; a device on area1's own backing file is refused.  A refresh that
 * fails midway (ENOSPC after the set was cleared) must drop the baseline so
 * that the next one is full; a refresh of an area2 that another one holds
 * is refused without touching anything.  After every refresh area2 must equal the
 * device byte for byte.
 * tloop-timeout: 300
 */
#include "tlt.h"

#include <sys/file.h>
#include <sys/mount.h>

#define NR_PAGES 1024UL		/* 4 MiB */
#define SIZE (NR_PAGES * TLT_PAGE)

static uint32_t ver = 1;

/* store() - write the next pattern version into @n pages from @p. */
static void store(const char *node, uint64_t p, uint64_t n)
{
	tlt_store(node, p, n, 1, ++ver);
}

/* store_every() - store() every @stride-th of @nr pages. */
static void store_every(const char *node, uint64_t nr, uint64_t stride)
{
	tlt_store(node, 0, nr, stride, ++ver);
}

/*
 * check() - `tloop sync --json @opts`: mode and reason as expected, @pages
 * copied (unless ~0), area2 equal to the device afterwards.
 */
static void check(const char *node, const char *area2, uint64_t size, const char *opts,
		  const char *mode, const char *reason, uint64_t pages, const char *name)
{
	struct tlt_json *j = tlt_sync_json(node, area2, opts);
	bool ok = j != NULL;

	if (ok && (strcmp(tlt_jstr(j, "mode"), mode) || strcmp(tlt_jstr(j, "reason"), reason))) {
		tlt_diag("mode %s, reason %s; expected %s, %s", tlt_jstr(j, "mode"),
			 tlt_jstr(j, "reason"), mode, reason);
		ok = false;
	}
	if (ok && pages != ~0ULL && tlt_ju64(j, "pages", 0) != pages) {
		tlt_diag("%" PRIu64 " pages copied, expected %" PRIu64, tlt_ju64(j, "pages", 0),
			 pages);
		ok = false;
	}
	if (ok && tlt_cmp_files(node, area2, size) >= 0)
		ok = false;
	tlt_result(ok, "%s: %s copy (%s), area2 equals the device", name, mode, reason);
	tlt_jfree(j);
}

static bool exists(const char *path)
{
	return access(path, F_OK) == 0;
}

int main(void)
{
	struct tlt_tool_run r;
	char node[64], big[64], blk[64], same[64], side[80];
	int fd, idx, filler;
	bool ok;

	tlt_plan(26);
	idx = tlt_tool_attach("area1.img", SIZE, "--track", node, sizeof(node));
	store(node, 0, NR_PAGES);

	check(node, "area2.img", SIZE, "--create", "full", "new-area2", NR_PAGES, "first sync");
	store(node, 7, 3);
	check(node, "area2.img", SIZE, "", "incremental", "incremental", 3, "3 pages written");

	unlink("area2.img.tloop");
	store(node, 500, 1);
	check(node, "area2.img", SIZE, "", "full", "no-baseline", NR_PAGES, "sidecar removed");

	fd = open("area2.img.tloop", O_WRONLY | O_TRUNC);
	if (fd < 0 || write(fd, "tloop-baseline 1\ngarbage\n", 25) != 25)
		tlt_bail("damage the sidecar");
	close(fd);
	check(node, "area2.img", SIZE, "", "full", "no-baseline", NR_PAGES, "sidecar damaged");

	store(node, 20, 2);
	tlt_tool(&r, "clear %s", node);
	check(node, "area2.img", SIZE, "", "full", "generation", NR_PAGES,
	      "set cleared by someone else");

	store(node, 30, 1);
	tlt_tool(&r, "track off %s", node);
	tlt_tool(&r, "track on %s", node);
	check(node, "area2.img", SIZE, "", "full", "generation", NR_PAGES, "tracking toggled");

	check(node, "area2.img", SIZE, "--full", "full", "requested", NR_PAGES, "--full");

	tlt_tool(&r, "track off %s", node);
	store(node, 40, 2);
	tlt_tool(&r, "sync %s area2.img", node);
	tlt_result(r.status == 0 && strstr(r.err, "tracking is off") && !exists("area2.img.tloop") &&
		   tlt_cmp_files(node, "area2.img", SIZE) < 0,
		   "tracking off: full copy, a warning, no baseline recorded");
	check(node, "area2.img", SIZE, "", "full", "tracking-off", NR_PAGES,
	      "tracking still off");

	tlt_tool(&r, "track on %s", node);
	check(node, "area2.img", SIZE, "", "full", "no-baseline", NR_PAGES, "tracking back on");

	/* Detach and attach the same file again: another attachment. */
	tlt_tool(&r, "detach %s", node);
	tlt_tool_forget(idx);
	idx = tlt_tool_attach("area1.img", 0, "--track", node, sizeof(node));
	check(node, "area2.img", SIZE, "", "full", "other-attachment", NR_PAGES, "re-attached");
	store(node, 1, 1);
	check(node, "area2.img", SIZE, "", "incremental", "incremental", 1, "after re-attach");

	/* Two refreshes of one area2 at once: the second is refused. */
	fd = open("area2.img", O_RDONLY);
	if (fd < 0 || flock(fd, LOCK_EX))
		tlt_bail("lock area2.img");
	store(node, 2, 1);
	tlt_tool(&r, "sync %s area2.img", node);
	tlt_result(r.status == 1 && strstr(r.err, "being refreshed by another process") &&
		   exists("area2.img.tloop"),
		   "a refresh of an area2 being refreshed is refused, its baseline kept");
	close(fd);
	check(node, "area2.img", SIZE, "", "incremental", "incremental", 1,
	      "once the other refresh is done");

	if (truncate("area2.img", SIZE / 4))
		tlt_bail("truncate");
	check(node, "area2.img", SIZE, "--resize", "full", "new-area2", NR_PAGES, "--resize");

	/*
	 * Overflow: a 64 MiB device (16384 pages) whose set may use 600
	 * bytes: enough for one page in any sensible layout, but not for
	 * every 8th page (2048 of 16384 pages carry ~9 kbit of information),
	 * whatever the set's layout.
	 */
	tlt_tool_attach("big.img", 64UL << 20, "", big, sizeof(big));
	tlt_tool(&r, "track on --mem-limit 600 %s", big);
	ok = r.status == 0;
	check(big, "big2.img", 64UL << 20, "--create", "full", "new-area2", 16384, "big device");
	store_every(big, 16384, 8);
	tlt_tool(&r, "status %s", big);
	ok = ok && strstr(r.out, "overflow") != NULL;
	if (!ok)
		tlt_tool_show("tloop status", &r);
	tlt_result(ok, "every 8th page written overflows a 600-byte set");
	{
		struct tlt_json *j;

		tlt_tool(&r, "written --json %s", big);
		j = tlt_jparse(r.out);
		tlt_result(r.status == 1 && j && tlt_jbool(j, "overflow") == 1 &&
			   tlt_ju64(j, "count", 1) == 0 && strstr(r.err, "overflowed"),
			   "written of an overflowed set: status 1, overflow in JSON, no pages");
		if (r.status != 1)
			tlt_tool_show("tloop written --json", &r);
		tlt_jfree(j);
	}
	check(big, "big2.img", 64UL << 20, "", "full", "overflow", 16384, "overflowed set");
	store(big, 1, 1);
	check(big, "big2.img", 64UL << 20, "", "incremental", "incremental", 1,
	      "after the overflow was handled");
	unlink("big2.img");

	/* area2 may be a block device: here another tloop device of the same size. */
	tlt_tool_attach("blk.img", SIZE, "", blk, sizeof(blk));
	check(node, blk, SIZE, "", "full", "no-baseline", NR_PAGES, "area2 is a block device");
	store(node, 3, 2);
	check(node, blk, SIZE, "", "incremental", "incremental", 2,
	      "block-device area2, written pages only");
	snprintf(side, sizeof(side), "%s.tloop", blk);
	unlink(side);

	/* A second device on area1's backing file is area1 too: refused. */
	tlt_tool_attach("area1.img", 0, "", same, sizeof(same));
	tlt_tool(&r, "sync %s %s", node, same);
	tlt_result(r.status == 1 && strstr(r.err, "is backed by the same file as"),
		   "area2 backed by area1's own file is refused");
	if (r.status != 1)
		tlt_tool_show("tloop sync", &r);

	/*
	 * A refresh that fails midway: area2 on a full filesystem where part of
	 * it is a hole.  The written pages were cleared by the failed refresh;
	 * the baseline must be gone so that the next refresh copies everything.
	 */
	mkdir("small", 0700);
	if (mount("tmpfs", "small", "tmpfs", 0, "size=8M"))
		tlt_bail("mount tmpfs");
	check(node, "small/a2.img", SIZE, "--create", "full", "new-area2", NR_PAGES,
	      "area2 on a small tmpfs");
	fd = open("small/a2.img", O_RDWR);
	if (fd < 0 || fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				 100 * TLT_PAGE, 100 * TLT_PAGE))
		tlt_bail("punch a hole in small/a2.img");
	close(fd);
	filler = open("small/filler", O_WRONLY | O_CREAT, 0600);
	if (filler < 0)
		tlt_bail("create filler");
	{
		uint8_t *zero = tlt_alloc(TLT_PAGE);

		while (write(filler, zero, TLT_PAGE) == (ssize_t)TLT_PAGE)
			;
		free(zero);
	}
	close(filler);
	store(node, 0, 300);
	tlt_tool(&r, "sync %s small/a2.img", node);
	tlt_result(r.status == 1 && strstr(r.err, "No space left on device") &&
		   strstr(r.err, "next sync copies everything") && !exists("small/a2.img.tloop"),
		   "a refresh failing midway (ENOSPC) says so and drops the baseline");
	if (r.status != 1)
		tlt_tool_show("tloop sync", &r);
	unlink("small/filler");
	check(node, "small/a2.img", SIZE, "", "full", "no-baseline", NR_PAGES,
	      "the refresh after the failure");
	umount("small");
	tlt_exit();
}
