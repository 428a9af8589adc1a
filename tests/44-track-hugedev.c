// SPDX-License-Identifier: GPL-2.0
/*
 * 44-track-hugedev: the largest supported device, on both sides of the
 * limit.  A sparse tmpfs file of TLOOP_MAX_DEV_SIZE + one page is refused
 * with EFBIG (and with a size_limit of TLOOP_MAX_DEV_SIZE it is accepted);
 * a device of exactly TLOOP_MAX_DEV_SIZE tracks without memory proportional
 * to its size: enable, CLEAR_ALL, disable and a walk of the empty set are
 * fast, mem_used stays within 22 B per page + 12 KiB for a few scattered pages (first, last,
 * random, one discard), and the set reports exactly those pages.
 *
 * tloop-timeout: 120
 */
#include "tlt.h"

#include <sys/ioctl.h>

#define NPAGES_W 10
#define CYCLES 50

static int add_file(int ctl, const char *path, uint64_t file_size, uint64_t size_limit,
		    unsigned int flags)
{
	struct tloop_add add = { .size = sizeof(add), .index = -1 };
	int fd, ret, err;

	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		tlt_bail("create %s", path);
	if (ftruncate(fd, (off_t)file_size) < 0)
		tlt_bail("ftruncate %s to %" PRIu64 " bytes (tmpfs s_maxbytes?)", path,
			 file_size);
	add.flags = flags;
	add.backing_fd = fd;
	add.size_limit = size_limit;
	ret = ioctl(ctl, TLOOP_CTL_ADD, &add);
	err = errno;
	close(fd);
	return ret < 0 ? -err : add.index;
}

/* GET (4 entries per call) of [@lo, @hi), appended to @out; 0 or -errno. */
static int get_all_window(int fd, unsigned int flags, uint64_t lo, uint64_t hi,
			      struct tlt_pages *out)
{
	uint64_t buf[4], cursor = lo;

	while (cursor < hi) {
		struct tloop_written w;
		int ret = tlt_get_one(fd, flags, cursor, hi, buf, 4, &w);

		if (ret)
			return ret;
		for (uint32_t i = 0; i < w.count; i++)
			tlt_pages_push(out, buf[i]);
		if (w.next_cursor == TLOOP_CURSOR_END)
			break;
		if (w.next_cursor <= cursor)
			return -EPROTO;
		cursor = w.next_cursor;
	}
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

int main(void)
{
	const uint64_t max = TLOOP_MAX_DEV_SIZE;
	const uint64_t nr_pages = max / TLT_PAGE;
	struct tloop_track_status st;
	struct tloop_info info;
	struct tlt_tdev *big;
	struct tlt_pages got = { 0 };
	uint64_t want[NPAGES_W], mem_max_seen = 0;
	char node[64];
	unsigned int nwant = 0;
	uint8_t *dbuf;
	double t0, t;
	int ctl, idx, fd, dfd, ret;
	bool ok;

	tlt_require_tracking();
	tlt_seed(0x39);
	tlt_plan(12);
	ctl = tlt_ctl_open();
	tlt_diag("TLOOP_MAX_DEV_SIZE = %" PRIu64 " bytes (%" PRIu64 " pages)", max, nr_pages);

	/* Just outside: one page more. */
	ret = add_file(ctl, "huge.img", max + TLT_PAGE, 0, 0);
	if (ret >= 0)
		tlt_remove(ctl, ret);
	tlt_result(ret == -EFBIG, "a %" PRIu64 "-byte backing file is refused with EFBIG (got %s)",
		   max + TLT_PAGE, ret >= 0 ? "a device" : tlt_errname(-ret));
	ret = add_file(ctl, "huge.img", UINT64_MAX >> 1, 0, 0);
	if (ret >= 0)
		tlt_remove(ctl, ret);
	tlt_result(ret == -EFBIG, "a 2^63-1-byte backing file is refused with EFBIG (got %s)",
		   ret >= 0 ? "a device" : tlt_errname(-ret));

	/* Same file, size_limit exactly at the limit: accepted. */
	idx = add_file(ctl, "huge.img", max + TLT_PAGE, max, 0);
	ok = idx >= 0;
	if (ok) {
		tlt_dev_path(node, sizeof(node), idx);
		fd = -1;
		for (int tries = 0; tries < 100 && fd < 0; tries++) {
			fd = open(node, O_RDONLY | O_CLOEXEC);
			if (fd < 0)
				usleep(20000);
		}
		memset(&info, 0, sizeof(info));
		info.size = sizeof(info);
		ok = fd >= 0 && ioctl(fd, TLOOP_GET_INFO, &info) == 0 && info.dev_size == max;
		if (fd >= 0)
			close(fd);
		ok = tlt_remove(ctl, idx) == 0 && ok;
	}
	tlt_result(ok, "with size_limit = TLOOP_MAX_DEV_SIZE the same file is accepted (%s)",
		   idx >= 0 ? "device of the limit's size" : tlt_errname(-idx));
	unlink("huge.img");

	/* Just inside: exactly the limit, tracking on from the start. */
	idx = add_file(ctl, "max.img", max, 0, TLOOP_FLAG_TRACK);
	if (idx < 0) {
		errno = -idx;
		tlt_bail("TLOOP_CTL_ADD of a %" PRIu64 "-byte file", max);
	}
	close(ctl);
	/* Removed at exit like the devices of tlt_tdev_open(). */
	big = tlt_tdev_adopt(idx, "max.img", max);
	fd = big->fd;
	snprintf(node, sizeof(node), "%s", big->node);
	ret = tlt_status(fd, &st);
	tlt_result(ret == 0 && (st.flags & TLOOP_TRACK_ON) && st.nr_pages == nr_pages &&
		   st.written == 0 && st.mem_used <= TLT_PAGE,
		   "a TLOOP_MAX_DEV_SIZE device tracks: %" PRIu64 " pages, mem_used %" PRIu64,
		   (uint64_t)st.nr_pages, (uint64_t)st.mem_used);

	/* Enable / clear all / disable cycles: no table proportional to the size. */
	t0 = tlt_now();
	ok = true;
	for (int i = 0; i < CYCLES && ok; i++) {
		uint64_t gen;

		ok = tlt_clear(fd, TLOOP_CLEAR_ALL, 0, 0, &gen) == 0 && tlt_disable(fd) == 0 &&
		     tlt_enable(fd, 0) == 0 && tlt_status(fd, &st) == 0;
		if (st.mem_used > mem_max_seen)
			mem_max_seen = st.mem_used;
	}
	t = tlt_now() - t0;
	tlt_diag("%d CLEAR_ALL+disable+enable cycles in %.3f s, max mem_used %" PRIu64, CYCLES,
		 t, mem_max_seen);
	tlt_result(ok && t < 5.0 && mem_max_seen <= TLT_PAGE,
		   "%d clear-all/disable/enable cycles take %.3f s (< 5 s) and no memory", CYCLES, t);

	/* A whole-device walk of the empty set, with the write-back of each step. */
	t0 = tlt_now();
	ret = get_all_window(fd, 0, 0, nr_pages, &got);
	t = tlt_now() - t0;
	tlt_result(ret == 0 && got.n == 0 && t < 5.0,
		   "GET over the whole empty device with write-back: %zu pages, %.3f s", got.n, t);
	tlt_pages_free(&got);

	/* A few scattered pages: first, last, random ones. */
	dfd = open(node, O_RDWR | O_DIRECT | O_CLOEXEC);
	if (dfd < 0 || posix_memalign((void **)&dbuf, TLT_PAGE, TLT_PAGE))
		tlt_bail("O_DIRECT open of %s", node);
	memset(dbuf, 0x5a, TLT_PAGE);
	want[nwant++] = 0;
	want[nwant++] = nr_pages - 1;
	while (nwant < NPAGES_W - 1) {
		uint64_t p = tlt_rand_below(nr_pages);
		bool dup = false;

		for (unsigned int i = 0; i < nwant; i++)
			dup |= want[i] == p;
		if (!dup)
			want[nwant++] = p;
	}
	for (unsigned int i = 0; i < nwant; i++)
		if (pwrite(dfd, dbuf, TLT_PAGE, (off_t)(want[i] * TLT_PAGE)) != (ssize_t)TLT_PAGE)
			tlt_bail("O_DIRECT pwrite of page %" PRIu64, want[i]);
	{
		/* One discard, in the middle. */
		uint64_t p = nr_pages / 2 + 12345, range[2] = { p * TLT_PAGE, TLT_PAGE };
		bool dup = false;

		if (ioctl(dfd, BLKDISCARD, range) < 0)
			tlt_bail("BLKDISCARD at page %" PRIu64, p);
		for (unsigned int i = 0; i < nwant; i++)
			dup |= want[i] == p;
		if (!dup)
			want[nwant++] = p;
	}
	qsort(want, nwant, sizeof(want[0]), cmp_u64);
	ret = tlt_status(fd, &st);
	tlt_diag("%u scattered pages: mem_used %" PRIu64 " bytes (%.0f per page)", nwant,
		 (uint64_t)st.mem_used, (double)st.mem_used / nwant);
	tlt_result(ret == 0 && st.written == nwant, "status counts the %u pages (written %" PRIu64
		   ")", nwant, (uint64_t)st.written);
	/* Per isolated page: one 16-byte region entry (22 B with the blocks' slack). */
	tlt_result(st.mem_used <= (uint64_t)nwant * 22 + 12288,
		   "mem_used %" PRIu64 " <= 22 B per isolated page + 12 KiB", (uint64_t)st.mem_used);

	t0 = tlt_now();
	if (fsync(dfd))
		tlt_bail("fsync %s", node);
	ret = 0;
	/*
	 * One GET+CLEAR walk of the whole device, 4 pages per call, with the
	 * write-back of each step: its cost follows the written and the dirty
	 * pages, not the 2^48 pages of the device.
	 */
	ret = get_all_window(fd, TLOOP_GET_CLEAR, 0, nr_pages, &got);
	t = tlt_now() - t0;
	ok = ret == 0 && got.n == nwant;
	for (size_t i = 0; ok && i < got.n; i++)
		ok = got.v[i] == want[i];
	if (!ok) {
		tlt_diag("ret %d, got %zu pages, want %u", ret, got.n, nwant);
		for (size_t i = 0; i < got.n && i < 16; i++)
			tlt_diag("got page %" PRIu64, got.v[i]);
		for (unsigned int i = 0; i < nwant; i++)
			tlt_diag("want page %" PRIu64, want[i]);
	}
	tlt_result(ok && t < 5.0, "a GET+CLEAR walk of the whole device returns exactly the %u pages in %.3f s",
		   nwant, t);
	tlt_pages_free(&got);
	ret = tlt_status(fd, &st);
	tlt_result(ret == 0 && st.written == 0, "the set is empty after GET+CLEAR (mem_used %" PRIu64
		   ")", (uint64_t)st.mem_used);

	ret = tlt_clear(fd, TLOOP_CLEAR_ALL, 0, 0, NULL);
	ret |= tlt_status(fd, &st);
	tlt_result(ret == 0 && st.written == 0 && st.mem_used == 0,
		   "CLEAR_ALL frees everything (mem_used %" PRIu64 ")", (uint64_t)st.mem_used);

	close(dfd);
	free(dbuf);
	ret = tlt_tdev_close(big);
	tlt_result(ret == 0, "the device is removed (%s)", ret ? tlt_errname(-ret) : "ok");
	tlt_exit();
}
