// SPDX-License-Identifier: GPL-2.0
/*
 * 60-tool-sync-paths: the copy paths of `tloop sync` added by issue 15,
 * each checked against ground truth.  A tracked 32 MiB device (attached
 * with the tool) over a file of known content; area2 starts as a full copy.
 * Each case stores a new version into a seeded set of pages and refreshes;
 * the test checks the mode and reason, "pages" (the written pages),
 * "runs" and "bytes" against its own model of the planner (runs of written
 * pages, joined across gaps of at most --max-gap unwritten pages, split at
 * --max-io), and that area2 equals the device byte for byte and holds
 * exactly the versions the test stored.
 *   - reads across gaps: --max-gap 16K, the default (64K), with --max-io 16K;
 *   - many copies in flight: --queue-depth 64 without gaps, and one at a time
 *     (--queue-depth 1) with gaps;
 *   - the switch to a full copy: 30 % written gives mode full, reason dense,
 *     after which the next refresh is incremental and copies nothing;
 *     --full-at 101 keeps it incremental; --full-at 10 switches at 10 %;
 *   - a write error in the middle of a pipelined copy: area2 on a full
 *     tmpfs with holes punched in it, so that writes there fail with ENOSPC
 *     while others succeed: the refresh fails (status 1) naming area2, the
 *     offset and the error, leaves no baseline, and once there is room the
 *     next refresh is a full copy (no-baseline) and area2 is exact again.
 * tloop-timeout: 600
 */
#include "tlt.h"

#include <sys/mount.h>

#define NR_PAGES 8192UL		/* 32 MiB of 4 KiB pages */

static char node[64];
static uint32_t ver[NR_PAGES];	/* the version stored in each page */
static uint8_t set[NR_PAGES];	/* written since the last refresh */
static uint32_t next_ver = 1;
static uint64_t rng = 0x60;

static uint64_t dev_size(void)
{
	return NR_PAGES * TLT_PAGE;
}

/* store() - a new version into @n seeded random pages (plus @extra[]), through the device. */
static uint64_t store(uint64_t n, const uint64_t *extra, size_t nextra)
{
	uint8_t buf[TLT_PAGE];
	uint64_t count = 0;
	int fd = open(node, O_RDWR | O_CLOEXEC);

	if (fd < 0)
		tlt_bail("open %s", node);
	memset(set, 0, sizeof(set));
	for (uint64_t i = 0; i < n + nextra; i++) {
		uint64_t p = i < n ? tlt_rand_r(&rng) % NR_PAGES : extra[i - n];

		if (set[p])
			continue;
		set[p] = 1;
		count++;
		ver[p] = next_ver;
		tlt_page_pattern(buf, p, ver[p]);
		tlt_pwrite_all(fd, buf, TLT_PAGE, (off_t)(p * TLT_PAGE));
	}
	if (fsync(fd))
		tlt_bail("fsync %s", node);
	close(fd);
	next_ver++;
	return count;
}

/* model() - the runs and bytes the planner must produce for set[], @gap and @max pages. */
static void model(uint64_t gap, uint64_t max, uint64_t *runs, uint64_t *bytes)
{
	uint64_t start = 0, end = 0;	/* the open run [start, end) */
	bool open_run = false;

	*runs = 0;
	*bytes = 0;
	for (uint64_t p = 0; p < NR_PAGES; p++) {
		if (!set[p])
			continue;
		if (open_run && p - end <= gap && p - start < max) {
			end = p + 1;
			continue;
		}
		if (open_run)
			*bytes += (end - start) * TLT_PAGE;
		start = p;
		end = p + 1;
		open_run = true;
		(*runs)++;
	}
	if (open_run)
		*bytes += (end - start) * TLT_PAGE;
}

/* contents() - area2 holds exactly the stored versions: 0 if so. */
static int contents(const char *area2)
{
	uint8_t want[TLT_PAGE], got[TLT_PAGE];
	int fd = open(area2, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		tlt_bail("open %s", area2);
	for (uint64_t p = 0; p < NR_PAGES; p++) {
		tlt_page_pattern(want, p, ver[p]);
		tlt_pread_all(fd, got, TLT_PAGE, (off_t)(p * TLT_PAGE));
		if (memcmp(want, got, TLT_PAGE)) {
			tlt_diag("%s: page %" PRIu64 " does not hold version %u", area2, p, ver[p]);
			close(fd);
			return 1;
		}
	}
	close(fd);
	return 0;
}

/* exact() - area2 equals the device and the test's own record. */
static bool exact(const char *area2)
{
	int64_t diff = tlt_cmp_files(node, area2, dev_size());

	if (diff >= 0)
		tlt_diag("%s differs from %s at byte %lld", area2, node, (long long)diff);
	return diff < 0 && !contents(area2);
}

/*
 * incremental() - refresh with @opts after storing @n random pages (+ @extra);
 * the result must match the model for @gap_bytes and @max_io.
 */
static void incremental(const char *what, const char *opts, uint64_t n, const uint64_t *extra,
			size_t nextra, uint64_t gap_bytes, uint64_t max_io)
{
	uint64_t count = store(n, extra, nextra), runs, bytes;
	struct tlt_json *j;
	bool ok;

	model(gap_bytes / TLT_PAGE, max_io / TLT_PAGE, &runs, &bytes);
	j = tlt_sync_json(node, "area2.img", opts);
	ok = j && !strcmp(tlt_jstr(j, "mode"), "incremental") &&
	     tlt_ju64(j, "pages", 0) == count && tlt_ju64(j, "runs", 0) == runs &&
	     tlt_ju64(j, "bytes", 0) == bytes && tlt_jbool(j, "baseline") == 1;
	if (!ok && j)
		tlt_diag("%s: mode %s, pages %" PRIu64 " runs %" PRIu64 " bytes %" PRIu64
			 "; expected incremental, %" PRIu64 " / %" PRIu64 " / %" PRIu64, what,
			 tlt_jstr(j, "mode"), tlt_ju64(j, "pages", 0), tlt_ju64(j, "runs", 0),
			 tlt_ju64(j, "bytes", 0), count, runs, bytes);
	tlt_jfree(j);
	tlt_result(ok, "%s: %" PRIu64 " written pages copied in %" PRIu64 " runs, %" PRIu64
		   " bytes", what, count, runs, bytes);
	tlt_result(exact("area2.img"), "%s: area2 equals the device and the stored versions",
		   what);
}

/* full() - refresh with @opts after storing @n pages: a full copy for @reason. */
static void full(const char *what, const char *opts, uint64_t n, const char *reason)
{
	struct tlt_json *j;
	bool ok;

	store(n, NULL, 0);
	j = tlt_sync_json(node, "area2.img", opts);
	ok = j && !strcmp(tlt_jstr(j, "mode"), "full") && !strcmp(tlt_jstr(j, "reason"), reason) &&
	     tlt_ju64(j, "pages", 0) == NR_PAGES && tlt_ju64(j, "bytes", 0) == dev_size() &&
	     tlt_jbool(j, "baseline") == 1;
	if (!ok && j)
		tlt_diag("%s: mode %s reason %s pages %" PRIu64, what, tlt_jstr(j, "mode"),
			 tlt_jstr(j, "reason"), tlt_ju64(j, "pages", 0));
	tlt_jfree(j);
	tlt_result(ok, "%s: a full copy (%s)", what, reason);
	tlt_result(exact("area2.img"), "%s: area2 equals the device and the stored versions",
		   what);
}

/* nothing_left() - the next refresh is incremental and copies nothing. */
static void nothing_left(const char *what, const char *area2)
{
	struct tlt_json *j = tlt_sync_json(node, area2, "");

	tlt_result(j && !strcmp(tlt_jstr(j, "mode"), "incremental") &&
		   tlt_ju64(j, "pages", 1) == 0 && tlt_ju64(j, "bytes", 1) == 0,
		   "%s: the next refresh is incremental and copies nothing", what);
	tlt_jfree(j);
}

/* fill() - write @path until its filesystem is full. */
static void fill(const char *path)
{
	static uint8_t buf[1 << 16];
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	if (fd < 0)
		tlt_bail("create %s", path);
	memset(buf, 0xf1, sizeof(buf));
	for (;;) {
		ssize_t w = write(fd, buf, sizeof(buf));

		if (w < 0 && errno == ENOSPC)
			break;
		if (w <= 0)
			tlt_bail("fill %s", path);
	}
	/* Page by page for the last bit. */
	while (write(fd, buf, TLT_PAGE) > 0)
		;
	close(fd);
}

static void write_error(void)
{
	char opts[64], area2[] = "small/a2.img", side[] = "small/a2.img.tloop";
	uint64_t extra[64];
	struct tlt_tool_run r;
	struct tlt_json *j;
	int fd;

	/* tmpfs with room for area2 and 4 MiB more. */
	if (mkdir("small", 0700))
		tlt_bail("mkdir small");
	snprintf(opts, sizeof(opts), "size=%llu", (unsigned long long)(dev_size() + (4 << 20)));
	if (mount("tmpfs", "small", "tmpfs", 0, opts))
		tlt_bail("mount tmpfs %s", opts);
	j = tlt_sync_json(node, area2, "--create");
	tlt_result(j && !strcmp(tlt_jstr(j, "mode"), "full") && exact(area2),
		   "ENOSPC: area2 on a small tmpfs starts as an exact full copy");
	tlt_jfree(j);
	/* Holes in the second half of area2, then no room left for them. */
	fd = open(area2, O_RDWR | O_CLOEXEC);
	if (fd < 0 || fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				(off_t)(dev_size() / 2), (off_t)(dev_size() / 2)))
		tlt_bail("punch a hole in %s", area2);
	close(fd);
	fill("small/filler");
	/* Pages everywhere, and a run at each end, so that copies fail and succeed. */
	for (size_t i = 0; i < 32; i++) {
		extra[i] = i;
		extra[32 + i] = NR_PAGES - 1 - i;
	}
	store(400, extra, 64);
	tlt_tool(&r, "sync --queue-depth 32 %s %s", node, area2);
	tlt_result(r.status == 1 && strstr(r.err, "write small/a2.img at offset") &&
		   strstr(r.err, "No space left on device") && strstr(r.err, "stopped midway"),
		   "ENOSPC in the middle of a pipelined copy: status 1, area2, offset and error named");
	if (r.status != 1 || !strstr(r.err, "No space left"))
		tlt_tool_show("tloop sync", &r);
	else
		tlt_diag("%s", r.err);
	tlt_result(access(side, F_OK) && errno == ENOENT, "... and no baseline is left");
	if (unlink("small/filler"))
		tlt_bail("unlink small/filler");
	j = tlt_sync_json(node, area2, "");
	tlt_result(j && !strcmp(tlt_jstr(j, "mode"), "full") &&
		   !strcmp(tlt_jstr(j, "reason"), "no-baseline") && exact(area2),
		   "with room again the next refresh is a full copy (no-baseline), area2 exact");
	tlt_jfree(j);
	nothing_left("after the failed refresh", area2);
	if (unlink(side) || unlink(area2) || umount("small"))
		tlt_bail("clean up small/");
}

int main(void)
{
	struct tlt_json *j;
	uint64_t fixed[] = { 100, 103, 108, 117, 118, 119, 150, 151, 400, 404, 4000, 4016, 4033 };
	size_t nfixed = sizeof(fixed) / sizeof(fixed[0]);
	uint8_t buf[TLT_PAGE];
	int fd;

	tlt_plan(24);
	fd = open("area1.img", O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		tlt_bail("create area1.img");
	for (uint64_t p = 0; p < NR_PAGES; p++) {
		tlt_page_pattern(buf, p, 0);
		tlt_pwrite_all(fd, buf, TLT_PAGE, (off_t)(p * TLT_PAGE));
	}
	close(fd);
	tlt_tool_attach("area1.img", 0, "--track", node, sizeof(node));
	j = tlt_sync_json(node, "area2.img", "--create");
	tlt_result(j && !strcmp(tlt_jstr(j, "mode"), "full") && exact("area2.img"),
		   "first refresh: an exact full copy");
	tlt_jfree(j);

	incremental("--max-gap 16K", "--max-gap 16K", 150, fixed, nfixed, 16384, 1 << 20);
	incremental("default gap (64K)", "", 150, fixed, nfixed, 65536, 1 << 20);
	incremental("--max-gap 64K --max-io 16K", "--max-gap 64K --max-io 16K", 300, fixed, nfixed,
		    65536, 16384);
	incremental("--queue-depth 64 --max-gap 0", "--queue-depth 64 --max-gap 0", 600, fixed,
		    nfixed, 0, 1 << 20);
	incremental("--queue-depth 1 --max-gap 32K", "--queue-depth 1 --max-gap 32K", 300, fixed,
		    nfixed, 32768, 1 << 20);
	nothing_left("after the incremental refreshes", "area2.img");

	/* 30 % drawn with repeats: about 26 % distinct, above the default 25 %. */
	full("30 % written", "", NR_PAGES * 35 / 100, "dense");
	nothing_left("after the switch to a full copy", "area2.img");
	incremental("30 % with --full-at 101", "--full-at 101", NR_PAGES * 35 / 100, NULL, 0,
		    65536, 1 << 20);
	full("10 % with --full-at 10", "--full-at 10", NR_PAGES * 12 / 100, "dense");

	write_error();
	tlt_exit();
}
