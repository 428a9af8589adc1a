// SPDX-License-Identifier: GPL-2.0
/*
 * 34-track-paths: every write path to the device node is tracked, exactly:
 * mmap stores, write() and pwrite() at odd offsets and lengths (through the
 * device's page cache, written back by GET), O_DIRECT (512-byte aligned,
 * partial pages), BLKDISCARD and BLKZEROOUT (partial pages), and a buffered
 * write made durable with fsync is seen by GET with TLOOP_GET_NOSYNC.
 */
#include "tlt.h"

#include <linux/fs.h>

#define DEV_SIZE (32UL << 20)

static struct tlt_tdev *d;
static struct tlt_set want;

/* Check and clear: GET+CLEAR with capacity 3 must report exactly want. */
static void check(const char *name)
{
	tlt_check_get(d->fd, TLOOP_GET_CLEAR, 3, &want, name);
	tlt_set_reset(&want);
}

int main(void)
{
	static char buf[64 << 10];
	uint8_t *map, *dbuf;
	int dfd, ret;

	tlt_require_tracking();
	tlt_seed(0x34a7b5ULL);
	tlt_plan(11);
	d = tlt_tdev_open("backing.img", DEV_SIZE, 0);
	tlt_set_init(&want, d->nr_pages);
	if (tlt_enable(d->fd, 0))
		tlt_bail("TRACK_ENABLE");
	memset(buf, 0xa5, sizeof(buf));

	/* mmap stores, including the last byte of the device. */
	map = tlt_map(d->fd, DEV_SIZE, 0);
	tlt_touch(map + 2 * TLT_PAGE + 17);
	tlt_touch(map + DEV_SIZE - 1);
	tlt_set_bytes(&want, 2 * TLT_PAGE + 17, 1);
	tlt_set_bytes(&want, DEV_SIZE - 1, 1);
	check("mmap stores");
	tlt_unmap(map, DEV_SIZE);

	/* write() at an odd offset, odd length. */
	if (lseek(d->fd, 3 * TLT_PAGE + 4095, SEEK_SET) < 0 || write(d->fd, buf, 5000) != 5000)
		tlt_bail("write");
	tlt_set_bytes(&want, 3 * TLT_PAGE + 4095, 5000);
	check("write() of 5000 bytes at an odd offset");

	/* pwrite() at random odd offsets and lengths. */
	for (int i = 0; i < 40; i++) {
		uint64_t len = 1 + tlt_rand_below(i < 30 ? 300 : sizeof(buf));
		uint64_t off = tlt_rand_below(DEV_SIZE - len);

		tlt_pwrite_all(d->fd, buf, len, (off_t)off);
		tlt_set_bytes(&want, off, len);
	}
	check("pwrite() at 40 random offsets and lengths");

	/* O_DIRECT: aligned to 512 bytes, partial pages and a page boundary. */
	dfd = open(d->node, O_RDWR | O_DIRECT | O_CLOEXEC);
	if (dfd < 0)
		tlt_bail("open %s O_DIRECT", d->node);
	if (posix_memalign((void **)&dbuf, TLT_PAGE, 4 * TLT_PAGE))
		tlt_bail("posix_memalign");
	memset(dbuf, 0x3c, 4 * TLT_PAGE);
	{
		const struct { uint64_t off, len; } dio[] = {
			{ 20 * TLT_PAGE, TLT_PAGE },
			{ 21 * TLT_PAGE + 1024, 512 },
			{ 30 * TLT_PAGE + 3584, 2 * TLT_PAGE },
			{ 0, 512 },
		};

		ret = 0;
		for (size_t i = 0; i < sizeof(dio) / sizeof(dio[0]); i++) {
			if (pwrite(dfd, dbuf, dio[i].len, (off_t)dio[i].off) != (ssize_t)dio[i].len) {
				tlt_diag("O_DIRECT pwrite at %" PRIu64 ": %s", dio[i].off,
					 strerror(errno));
				ret = -1;
			}
			tlt_set_bytes(&want, dio[i].off, dio[i].len);
		}
		/* Without NOSYNC nothing is dirty in the page cache; NOSYNC must also see it. */
		tlt_check_get(d->fd, TLOOP_GET_NOSYNC, 64, &want,
			      "O_DIRECT writes are reported without write-back (NOSYNC)");
		tlt_result(ret == 0, "O_DIRECT writes succeeded");
		check("O_DIRECT writes (GET+CLEAR)");
	}
	close(dfd);
	free(dbuf);

	/* BLKDISCARD of a range that starts and ends inside pages. */
	{
		uint64_t r[2] = { 40 * TLT_PAGE + 512, 3 * TLT_PAGE };

		tlt_pwrite_all(d->fd, buf, 8 * TLT_PAGE, 40 * TLT_PAGE);
		fsync(d->fd);
		tlt_clear_all(d->fd);
		ret = ioctl(d->fd, BLKDISCARD, r);
		if (ret)
			tlt_diag("BLKDISCARD: %s", strerror(errno));
		tlt_set_bytes(&want, r[0], r[1]);
		check(ret ? "BLKDISCARD (ioctl failed)" : "BLKDISCARD of partial pages");
	}

	/* BLKZEROOUT. */
	{
		uint64_t r[2] = { 50 * TLT_PAGE + 1024, TLT_PAGE };

		ret = ioctl(d->fd, BLKZEROOUT, r);
		if (ret)
			tlt_diag("BLKZEROOUT: %s", strerror(errno));
		tlt_set_bytes(&want, r[0], r[1]);
		check(ret ? "BLKZEROOUT (ioctl failed)" : "BLKZEROOUT of a page boundary");
		r[0] = 60 * TLT_PAGE;
		r[1] = 64 * TLT_PAGE;
		ret = ioctl(d->fd, BLKZEROOUT, r);
		tlt_set_bytes(&want, r[0], r[1]);
		check(ret ? "BLKZEROOUT (ioctl failed)" : "BLKZEROOUT of 64 pages");
	}

	/* Buffered write + fsync: written back, so GET with NOSYNC sees it. */
	tlt_pwrite_all(d->fd, buf, 100, 70 * TLT_PAGE + 4000);
	if (fsync(d->fd))
		tlt_bail("fsync");
	tlt_set_bytes(&want, 70 * TLT_PAGE + 4000, 100);
	tlt_check_get(d->fd, TLOOP_GET_NOSYNC | TLOOP_GET_CLEAR, 64, &want,
		      "pwrite + fsync is reported by GET with NOSYNC");
	tlt_set_reset(&want);
	check("nothing left");

	if (tlt_tdev_close(d))
		tlt_diag("removing the device failed");
	tlt_set_free(&want);
	tlt_exit();
}
