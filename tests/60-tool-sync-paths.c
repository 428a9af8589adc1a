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
 *   - reads across gaps: --max-gap 16K, the defaults (8K from the backing
 *     file, 64K with --via device), with --max-io 16K;
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
 * The cases above run with the default source (--via auto: the backing
 * file, on tmpfs by copy_file_range).  Then each source with writers
 * active (a child storing random pages through the device, buffered and
 * with O_DIRECT, while two refreshes run): afterwards every page where
 * area2 differs from the device must be in the written set (the refresh
 * never copied a page it did not also leave in the set), and one more
 * refresh with the writers stopped makes area2 equal the device:
 *   - --via device, --via backing (copy_file_range from the backing file);
 *   - --via reflink on XFS (reflink=1, on a loop device): the refreshes
 *     clone, and FIEMAP shows every extent of area2 shared; the default
 *     (--via auto) there reads the backing file and clones nothing;
 *   - the fallback to the device: a backing file that was unlinked (its
 *     path no longer names it), a device with direct I/O to its backing
 *     file (XFS): "via" is "device", area2 exact.
 * tloop-timeout: 900
 */
#include "tlt.h"

#include <linux/fiemap.h>
#include <linux/fs.h>
#include <signal.h>
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

/* writer() - the child: store random pages of @dev until killed. */
static void __attribute__((noreturn)) writer(const char *dev, uint64_t seed)
{
	int fd = open(dev, O_RDWR | O_CLOEXEC);
	int dfd = open(dev, O_RDWR | O_CLOEXEC | O_DIRECT);
	uint8_t *buf = tlt_alloc(TLT_PAGE);

	if (fd < 0 || dfd < 0)
		_exit(2);
	for (uint32_t v = 1;; v++) {
		uint64_t p = tlt_rand_r(&seed) % NR_PAGES;

		tlt_page_pattern(buf, p, 0x600000 + v);
		if (pwrite(v % 4 ? fd : dfd, buf, TLT_PAGE, (off_t)(p * TLT_PAGE)) != (ssize_t)TLT_PAGE)
			_exit(3);
		if (v % 64 == 0)
			fdatasync(fd);
	}
}

static pid_t start_writer(const char *dev, uint64_t seed)
{
	pid_t pid = fork();

	if (pid < 0)
		tlt_bail("fork");
	if (!pid)
		writer(dev, seed);
	return pid;
}

static void stop_writer(pid_t pid)
{
	int st;

	kill(pid, SIGKILL);
	if (waitpid(pid, &st, 0) != pid || !WIFSIGNALED(st))
		tlt_diag("the writer ended on its own (status %#x)", st);
}

/*
 * within_set() - with the writers stopped: every page where @area2 differs
 * from @dev is in the written set (a GET without CLEAR, which writes back
 * the device's page cache first).
 */
static bool within_set(const char *dev, const char *area2, uint64_t *ndiff)
{
	struct tlt_pages got = { 0 };
	uint8_t *in_set = calloc(NR_PAGES, 1), a[TLT_PAGE], b[TLT_PAGE];
	int fd = open(dev, O_RDWR | O_CLOEXEC), fa = open(area2, O_RDONLY | O_CLOEXEC);
	bool ok = true;

	if (!in_set || fd < 0 || fa < 0)
		tlt_bail("open %s, %s", dev, area2);
	tlt_get_all_or_bail(fd, 0, 4096, NR_PAGES, &got);
	for (size_t i = 0; i < got.n; i++)
		in_set[got.v[i]] = 1;
	*ndiff = 0;
	for (uint64_t p = 0; p < NR_PAGES; p++) {
		tlt_pread_all(fd, a, TLT_PAGE, (off_t)(p * TLT_PAGE));
		tlt_pread_all(fa, b, TLT_PAGE, (off_t)(p * TLT_PAGE));
		if (!memcmp(a, b, TLT_PAGE))
			continue;
		(*ndiff)++;
		if (!in_set[p]) {
			if (ok)
				tlt_diag("%s: page %" PRIu64 " differs from %s and is not in the set",
					 area2, p, dev);
			ok = false;
		}
	}
	tlt_diag("%" PRIu64 " pages differ, %zu in the set", *ndiff, got.n);
	tlt_pages_free(&got);
	free(in_set);
	close(fd);
	close(fa);
	return ok;
}

/*
 * with_writers() - two refreshes of @area2 from @dev with @opts while a
 * writer stores, each settling on source @via; then the set covers every
 * difference, and a last refresh without writers leaves area2 exact.
 * Returns the bytes the refreshes cloned.
 */
static uint64_t with_writers(const char *what, const char *dev, const char *area2,
			     const char *opts, const char *via)
{
	uint64_t cloned = 0, ndiff;
	bool ok = true;
	pid_t pid = start_writer(dev, 0x6000 + strlen(what));

	for (int i = 0; i < 2; i++) {
		struct tlt_json *j;

		usleep(200000);
		j = tlt_sync_json(dev, area2, opts);
		if (!j || strcmp(tlt_jstr(j, "via"), via)) {
			tlt_diag("%s: refresh %d: via %s, expected %s", what, i,
				 j ? tlt_jstr(j, "via") : "(failed)", via);
			ok = false;
		} else {
			cloned += tlt_ju64(j, "bytes_reflink", 0);
			tlt_diag("%s: refresh %d: %s, %" PRIu64 " bytes: %" PRIu64 " cloned, %"
				 PRIu64 " by copy_file_range, %" PRIu64 " read from the backing "
				 "file", what, i, tlt_jstr(j, "mode"), tlt_ju64(j, "bytes", 0),
				 tlt_ju64(j, "bytes_reflink", 0), tlt_ju64(j, "bytes_copy_range", 0),
				 tlt_ju64(j, "bytes_backing_read", 0));
		}
		tlt_jfree(j);
	}
	stop_writer(pid);
	tlt_result(ok && within_set(dev, area2, &ndiff),
		   "%s: two refreshes with a writer active settle on %s; every page of area2 "
		   "that differs from the device is in the written set", what, via);
	{
		struct tlt_json *j = tlt_sync_json(dev, area2, opts);
		int64_t diff = tlt_cmp_files(dev, area2, dev_size());

		tlt_result(j && !strcmp(tlt_jstr(j, "via"), via) && diff < 0,
			   "%s: with the writer stopped, one more refresh makes area2 equal the "
			   "device (first difference %lld)", what, (long long)diff);
		if (j)
			cloned += tlt_ju64(j, "bytes_reflink", 0);
		tlt_jfree(j);
	}
	return cloned;
}

/* all_shared() - every extent of @path is shared, and they cover @size bytes. */
static bool all_shared(const char *path, uint64_t size)
{
	const size_t n = 256;
	struct fiemap *fm = calloc(1, sizeof(*fm) + n * sizeof(struct fiemap_extent));
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	uint64_t covered = 0, unshared = 0, start = 0, extents = 0;
	bool last = false;

	if (!fm || fd < 0)
		tlt_bail("open %s", path);
	while (!last) {
		memset(fm, 0, sizeof(*fm));
		fm->fm_start = start;
		fm->fm_length = FIEMAP_MAX_OFFSET - start;
		fm->fm_flags = FIEMAP_FLAG_SYNC;
		fm->fm_extent_count = (uint32_t)n;
		if (ioctl(fd, FS_IOC_FIEMAP, fm) < 0)
			tlt_bail("FIEMAP %s", path);
		if (!fm->fm_mapped_extents)
			break;
		for (uint32_t i = 0; i < fm->fm_mapped_extents; i++) {
			const struct fiemap_extent *e = &fm->fm_extents[i];

			covered += e->fe_length;
			if (!(e->fe_flags & FIEMAP_EXTENT_SHARED))
				unshared += e->fe_length;
			last = e->fe_flags & FIEMAP_EXTENT_LAST;
			start = e->fe_logical + e->fe_length;
		}
		extents += fm->fm_mapped_extents;
	}
	tlt_diag("%s: %" PRIu64 " extents, %" PRIu64 " bytes, %" PRIu64 " of them not shared",
		 path, extents, covered, unshared);
	close(fd);
	free(fm);
	return covered >= size && !unshared;
}

/* make_area1() - @path of the device's size, filled with version 0 of every page. */
static void make_area1(const char *path)
{
	uint8_t buf[TLT_PAGE];
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	if (fd < 0)
		tlt_bail("create %s", path);
	for (uint64_t p = 0; p < NR_PAGES; p++) {
		tlt_page_pattern(buf, p, 0);
		tlt_pwrite_all(fd, buf, TLT_PAGE, (off_t)(p * TLT_PAGE));
	}
	close(fd);
}

/* first_full() - the first refresh of @area2: full, exact, via @via. */
static void first_full(const char *what, const char *dev, const char *area2,
		       const char *opts, const char *via)
{
	struct tlt_json *j = tlt_sync_json(dev, area2, opts);
	int64_t diff = tlt_cmp_files(dev, area2, dev_size());

	tlt_result(j && !strcmp(tlt_jstr(j, "mode"), "full") &&
		   !strcmp(tlt_jstr(j, "via"), via) && diff < 0,
		   "%s: the first refresh is an exact full copy via %s", what, via);
	if (j && strcmp(tlt_jstr(j, "via"), via))
		tlt_diag("%s: via %s", what, tlt_jstr(j, "via"));
	tlt_jfree(j);
}

#define XFS_CASES 11

/* xfs_cases() - reflink and direct I/O on an XFS with reflink=1. */
static void xfs_cases(void)
{
	char dev2[64], dev3[64], cmd[128];
	struct tlt_dev loop;
	uint64_t cloned;
	int fd, i2, i3;

	if (tlt_modprobe("xfs")) {
		for (int i = 0; i < XFS_CASES; i++)
			tlt_skip("XFS reflink and direct I/O cases", "no xfs module");
		return;
	}
	fd = open("xfs.img", O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || ftruncate(fd, 400 << 20))
		tlt_bail("create xfs.img");
	close(fd);
	if (tlt_attach(&loop, TLT_LOOP, "xfs.img", 0, 0, 0))
		tlt_bail("attach xfs.img to a loop device");
	snprintf(cmd, sizeof(cmd), "mkfs.xfs -q -f -m reflink=1 %s >/dev/null 2>&1", loop.path);
	if (system(cmd))
		tlt_bail("%s", cmd);
	if (mkdir("x", 0700) || mount(loop.path, "x", "xfs", 0, NULL))
		tlt_bail("mount XFS");

	make_area1("x/a1.img");
	i2 = tlt_tool_attach("x/a1.img", 0, "--track", dev2, sizeof(dev2));
	first_full("XFS --via reflink", dev2, "x/a2.img", "--create --via reflink", "reflink");
	cloned = with_writers("XFS --via reflink", dev2, "x/a2.img", "--via reflink", "reflink");
	tlt_result(cloned > 0, "XFS --via reflink: the refreshes cloned (%" PRIu64 " bytes)",
		   cloned);
	tlt_result(all_shared("x/a2.img", dev_size()),
		   "XFS --via reflink: every extent of area2 is shared with the backing file");
	cloned = with_writers("XFS --via auto", dev2, "x/a2.img", "", "backing");
	tlt_result(cloned == 0, "XFS --via auto: nothing cloned (%" PRIu64 " bytes)", cloned);

	make_area1("x/a3.img");
	i3 = tlt_tool_attach("x/a3.img", 0, "--track --direct-io", dev3, sizeof(dev3));
	first_full("direct I/O device", dev3, "x/a4.img", "--create --via backing", "device");
	with_writers("direct I/O device, --via backing", dev3, "x/a4.img", "--via backing",
		     "device");

	{
		static struct tlt_tool_run r;

		if (tlt_tool(&r, "detach %s", dev2) == 0)
			tlt_tool_forget(i2);
		if (tlt_tool(&r, "detach %s", dev3) == 0)
			tlt_tool_forget(i3);
	}
	if (umount("x"))
		tlt_diag("umount x: %s", strerror(errno));
	tlt_detach(&loop);
}

int main(void)
{
	struct tlt_json *j;
	uint64_t fixed[] = { 100, 103, 108, 117, 118, 119, 150, 151, 400, 404, 4000, 4016, 4033 };
	size_t nfixed = sizeof(fixed) / sizeof(fixed[0]);
	uint8_t buf[TLT_PAGE];
	int fd;

	tlt_plan(26 + 4 + 3 + XFS_CASES);
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
	incremental("default gap from the backing file (8K)", "", 150, fixed, nfixed, 8192,
		    1 << 20);
	incremental("default gap with --via device (64K)", "--via device", 150, fixed, nfixed,
		    65536, 1 << 20);
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
		    8192, 1 << 20);
	full("10 % with --full-at 10", "--full-at 10", NR_PAGES * 12 / 100, "dense");

	write_error();

	with_writers("--via device", node, "area2.img", "--via device", "device");
	with_writers("--via backing", node, "area2.img", "--via backing", "backing");
	{
		char dev4[64];

		make_area1("gone.img");
		tlt_tool_attach("gone.img", 0, "--track", dev4, sizeof(dev4));
		if (unlink("gone.img"))
			tlt_bail("unlink gone.img");
		first_full("unlinked backing file", dev4, "area2g.img", "--create --via backing",
			   "device");
		with_writers("unlinked backing file, --via backing", dev4, "area2g.img",
			     "--via backing", "device");
	}
	xfs_cases();
	tlt_exit();
}
