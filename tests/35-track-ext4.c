// SPDX-License-Identifier: GPL-2.0
/*
 * 35-track-ext4: a filesystem on the device.  mkfs.ext4 (4 KiB blocks), mount,
 * write a file, sync: the file's data blocks (found with FIEMAP) are all in
 * the reported set (whatever else ext4 wrote is allowed).  Clear, overwrite
 * some blocks of the file in place, sync: those blocks are reported, and no
 * block of the file that was not rewritten comes back.
 */
#include "tlt.h"

#include <linux/fiemap.h>
#include <linux/fs.h>
#include <sys/mount.h>

#define DEV_SIZE (64UL << 20)
#define FILE_SIZE (3UL << 20)
#define MNT "mnt"

/* The file's extents, from FIEMAP. */
struct extents {
	struct fiemap *fm;
};

static int get_extents(int fd, struct extents *x)
{
	x->fm = calloc(1, sizeof(struct fiemap) + 512 * sizeof(struct fiemap_extent));
	if (!x->fm)
		return -1;
	x->fm->fm_length = FIEMAP_MAX_OFFSET;
	x->fm->fm_flags = FIEMAP_FLAG_SYNC;
	x->fm->fm_extent_count = 512;
	if (ioctl(fd, FS_IOC_FIEMAP, x->fm) < 0) {
		tlt_diag("FIEMAP: %s", strerror(errno));
		free(x->fm);
		x->fm = NULL;
		return -1;
	}
	return 0;
}

/* phys_page() - device page holding file byte @pos, or UINT64_MAX. */
static uint64_t phys_page(const struct extents *x, uint64_t pos, int fd)
{
	if (x->fm) {
		for (unsigned int i = 0; i < x->fm->fm_mapped_extents; i++) {
			const struct fiemap_extent *e = &x->fm->fm_extents[i];

			if (pos >= e->fe_logical && pos < e->fe_logical + e->fe_length)
				return (e->fe_physical + (pos - e->fe_logical)) / TLT_PAGE;
		}
		return UINT64_MAX;
	}
	/* FIBMAP fallback: file system block size is the page size (mkfs -b TLT_PAGE). */
	{
		int blk = (int)(pos / TLT_PAGE);

		if (ioctl(fd, FIBMAP, &blk) < 0 || blk == 0)
			return UINT64_MAX;
		return (uint64_t)blk;
	}
}

/* mark_file() - mark device pages of file bytes [@pos, @pos + @len) in @s; false if unmapped. */
static bool mark_file(const struct extents *x, int fd, struct tlt_set *s, uint64_t pos,
		      uint64_t len)
{
	for (uint64_t b = pos / TLT_PAGE; b <= (pos + len - 1) / TLT_PAGE; b++) {
		uint64_t p = phys_page(x, b * TLT_PAGE, fd);

		if (p >= s->nr) {
			tlt_diag("file block %" PRIu64 " has no device page", b);
			return false;
		}
		s->bit[p] = 1;
	}
	return true;
}

/* covered() - every page of @sub is in @got; prints the first missing ones. */
static bool covered(const struct tlt_set *sub, const struct tlt_pages *got, uint64_t *nmiss)
{
	uint8_t *seen = calloc(sub->nr, 1);

	*nmiss = 0;
	for (size_t i = 0; i < got->n; i++)
		if (got->v[i] < sub->nr)
			seen[got->v[i]] = 1;
	for (uint64_t p = 0; p < sub->nr; p++)
		if (sub->bit[p] && !seen[p] && (*nmiss)++ < 8)
			tlt_diag("data page %" PRIu64 " not reported", p);
	free(seen);
	return *nmiss == 0;
}

/* reported_in() - how many pages of @got are in @s (prints the first few). */
static uint64_t reported_in(const struct tlt_set *s, const struct tlt_pages *got)
{
	uint64_t n = 0;

	for (size_t i = 0; i < got->n; i++)
		if (got->v[i] < s->nr && s->bit[got->v[i]] && n++ < 8)
			tlt_diag("page %" PRIu64 " of a block not rewritten is reported",
				 got->v[i]);
	return n;
}

int main(void)
{
	struct tlt_set data, rewritten, stale;
	struct tlt_pages got = { 0 };
	struct extents x = { 0 };
	struct tlt_tdev *d;
	uint64_t miss = 0, extra;
	bool ok;
	char *buf;
	int fd, ret;

	tlt_require_tracking();
	if (access("/sbin/mke2fs", X_OK))
		tlt_skip_all("/sbin/mke2fs (e2fsprogs) not in the VM");
	tlt_seed(0x35e47ULL);
	tlt_plan(6);
	d = tlt_tdev_open("backing.img", DEV_SIZE, 0);
	tlt_set_init(&data, d->nr_pages);
	tlt_set_init(&rewritten, d->nr_pages);
	tlt_set_init(&stale, d->nr_pages);
	if (tlt_enable(d->fd, 0))
		tlt_bail("TRACK_ENABLE");

	ret = tlt_run("/sbin/mke2fs -q -F -t ext4 -b %zu -E lazy_itable_init=0,lazy_journal_init=0"
		      " %s", TLT_PAGE, d->node);
	if (ret)
		tlt_bail("mke2fs");
	tlt_get_all_or_bail(d->fd, TLOOP_GET_CLEAR, 4096, d->nr_pages, &got);
	tlt_result(got.n > 0, "mkfs writes are reported (%zu pages)", got.n);
	tlt_pages_free(&got);

	if (system("modprobe ext4 >/dev/null 2>&1"))
		tlt_diag("modprobe ext4 failed (built in?)");
	mkdir(MNT, 0700);
	if (mount(d->node, MNT, "ext4", 0, NULL))
		tlt_bail("mount ext4 on %s", d->node);
	buf = malloc(FILE_SIZE);
	if (!buf)
		tlt_bail("malloc");
	for (size_t i = 0; i < FILE_SIZE; i++)
		buf[i] = (char)tlt_rand();
	fd = open(MNT "/file", O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		tlt_bail("create file");
	tlt_pwrite_all(fd, buf, FILE_SIZE, 0);
	sync();
	if (get_extents(fd, &x))
		tlt_diag("using FIBMAP");
	ok = mark_file(&x, fd, &data, 0, FILE_SIZE);
	tlt_diag("file: %" PRIu64 " data pages", tlt_set_count(&data));
	tlt_get_all_or_bail(d->fd, TLOOP_GET_CLEAR, 4096, d->nr_pages, &got);
	tlt_diag("after write + sync: %zu pages reported", got.n);
	tlt_result(ok && tlt_set_count(&data) == FILE_SIZE / TLT_PAGE && covered(&data, &got, &miss),
		   "every data page of the new file is reported (%" PRIu64 " missing)", miss);
	tlt_pages_free(&got);

	/* Nothing written since the clear: an idle mounted file system adds little or nothing. */
	tlt_get_all_or_bail(d->fd, 0, 4096, d->nr_pages, &got);
	tlt_diag("idle after the clear: %zu pages reported", got.n);
	tlt_result(reported_in(&data, &got) == 0, "no data page is reported while idle");
	tlt_pages_free(&got);

	/* Overwrite 10 random blocks at odd offsets and one unaligned range, in place. */
	for (int i = 0; i < 10; i++) {
		uint64_t pos = tlt_rand_below(FILE_SIZE / TLT_PAGE) * TLT_PAGE + 7;

		tlt_pwrite_all(fd, buf, 100, (off_t)pos);
		ok = mark_file(&x, fd, &rewritten, pos, 100) && ok;
	}
	tlt_pwrite_all(fd, buf, 3 * TLT_PAGE, (off_t)(500 * TLT_PAGE + 2048));
	ok = mark_file(&x, fd, &rewritten, 500 * TLT_PAGE + 2048, 3 * TLT_PAGE) && ok;
	sync();
	for (uint64_t p = 0; p < data.nr; p++)
		stale.bit[p] = data.bit[p] && !rewritten.bit[p];
	tlt_diag("rewrote %" PRIu64 " data pages", tlt_set_count(&rewritten));
	{
		struct extents x2 = { 0 };
		struct tlt_set moved;

		/* The blocks must not have moved (ext4 overwrites in place). */
		tlt_set_init(&moved, d->nr_pages);
		if (!get_extents(fd, &x2) && mark_file(&x2, fd, &moved, 0, FILE_SIZE))
			for (uint64_t p = 0; p < moved.nr; p++)
				if (moved.bit[p] != data.bit[p]) {
					tlt_diag("file blocks moved (page %" PRIu64 ")", p);
					ok = false;
					break;
				}
		free(x2.fm);
		tlt_set_free(&moved);
	}
	tlt_get_all_or_bail(d->fd, TLOOP_GET_CLEAR, 4096, d->nr_pages, &got);
	tlt_diag("after overwrite + sync: %zu pages reported", got.n);
	tlt_result(ok && covered(&rewritten, &got, &miss),
		   "every rewritten data page is reported (%" PRIu64 " missing)", miss);
	extra = reported_in(&stale, &got);
	tlt_result(extra == 0, "no data page that was not rewritten is reported (%" PRIu64 ")",
		   extra);
	tlt_pages_free(&got);

	close(fd);
	free(x.fm);
	free(buf);
	ret = umount(MNT);
	tlt_result(ret == 0, "umount");
	if (tlt_tdev_close(d))
		tlt_diag("removing the device failed");
	tlt_set_free(&data);
	tlt_set_free(&rewritten);
	tlt_set_free(&stale);
	tlt_exit();
}
