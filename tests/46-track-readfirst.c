// SPDX-License-Identifier: GPL-2.0
/*
 * 46-track-readfirst: the reported set stays exact when the device's page
 * cache was filled first, as blkid, udev or dd do: on kernels whose block
 * device page cache uses large folios, a store into a large folio would be
 * written back (and reported) as the whole folio.  Each pattern stores into
 * a few random pages (always the first and the last) through a MAP_SHARED
 * mapping after reading the whole device, and checks reported == stored,
 * then that every stored byte reached the backing file (nothing dirty was
 * dropped on the way):
 *   A  tracking on, read() of the whole device, stores
 *   B  tracking on, mmap read of the whole device, stores through that mapping
 *   C  read() of the whole device *before* tracking is turned on, stores
 *   D  attach with TLOOP_FLAG_TRACK (`tloop attach --track`) and no open; the
 *      device is opened later, read whole, stored through, closed; queried
 *      from yet another open
 *   E  D again on the same device: every opener closed, a new first open,
 *      mmap read, stores
 *   F  a block-size change (BLKBSZSET 1024, then back to 4096) resets the
 *      page cache; after the next query, read whole and store again
 */
#include <linux/fs.h>

#include "tlt.h"

#define DEV_SIZE (64UL << 20)
#define NSTORE 24

struct store {
	uint64_t off;
	uint8_t val;
};

static struct store stores[NSTORE];
static struct tlt_set want;

/* Read the whole device with read(), 1 MiB at a time. */
static void read_whole(int fd)
{
	static char buf[1 << 20];

	for (uint64_t off = 0; off < DEV_SIZE; off += sizeof(buf))
		tlt_pread_all(fd, buf, sizeof(buf), (off_t)off);
}

/* Read every byte of @map (one load per 64 bytes). */
static uint64_t read_map(const volatile uint8_t *map)
{
	uint64_t sum = 0;

	for (uint64_t off = 0; off < DEV_SIZE; off += 64)
		sum += map[off];
	return sum;
}

/* Store into the first, the last and random pages; one byte each, at a random offset. */
static void store_some(uint8_t *map, uint32_t gen)
{
	tlt_set_reset(&want);
	for (int i = 0; i < NSTORE; i++) {
		uint64_t page = i == 0 ? 0 : i == 1 ? DEV_SIZE / TLT_PAGE - 1 :
			tlt_rand_below(DEV_SIZE / TLT_PAGE);

		stores[i].off = page * TLT_PAGE + tlt_rand_below(TLT_PAGE);
		stores[i].val = (uint8_t)(gen * 37 + (uint32_t)i * 11 + 1);
		if (!stores[i].val)
			stores[i].val = 1;
		map[stores[i].off] = stores[i].val;
		tlt_set_bytes(&want, stores[i].off, 1);
	}
}

/* The last value stored at each offset must be in the backing file. */
static void check_backing(const struct tlt_tdev *d, const char *name)
{
	int fd = open(d->backing, O_RDONLY | O_CLOEXEC);
	int bad = 0;

	if (fd < 0)
		tlt_bail("open %s", d->backing);
	for (int i = 0; i < NSTORE; i++) {
		uint8_t v = 0;
		int last = 1;

		for (int j = i + 1; j < NSTORE; j++)
			last &= stores[j].off != stores[i].off;
		if (!last)
			continue;
		tlt_pread_all(fd, &v, 1, (off_t)stores[i].off);
		if (v != stores[i].val && bad++ < 4)
			tlt_diag("%s: byte %" PRIu64 " of the backing file is %#x, stored %#x",
				 name, stores[i].off, v, stores[i].val);
	}
	close(fd);
	tlt_result(!bad, "%s: every stored byte is in the backing file", name);
}

/* GET+CLEAR through a new open: reported == stored; then the data. */
static void check(const struct tlt_tdev *d, const char *name)
{
	int fd = open(d->node, O_RDWR | O_CLOEXEC);

	if (fd < 0)
		tlt_bail("open %s", d->node);
	tlt_check_get(fd, TLOOP_GET_CLEAR, 4096, &want, name);
	close(fd);
	check_backing(d, name);
}

static int open_node(const struct tlt_tdev *d, int flags)
{
	int fd = open(d->node, flags | O_CLOEXEC);

	if (fd < 0)
		tlt_bail("open %s", d->node);
	return fd;
}

/* Set the block size with BLKBSZSET (it needs an exclusive open); returns 0 or -errno. */
static int set_bsize(const struct tlt_tdev *d, int size)
{
	int fd = open_node(d, O_RDWR | O_EXCL);
	int ret = ioctl(fd, BLKBSZSET, &size) < 0 ? -errno : 0;

	close(fd);
	return ret;
}

int main(void)
{
	struct tlt_tdev *d;
	uint8_t *map;
	int fd, ret;

	tlt_require_tracking();
	tlt_seed(0x39f1e57ULL);
	tlt_plan(16);
	tlt_set_init(&want, DEV_SIZE / TLT_PAGE);

	/* A: tracking on, read(), stores. */
	d = tlt_tdev_open("a.img", DEV_SIZE, 0);
	if (tlt_enable(d->fd, 0))
		tlt_bail("TRACK_ENABLE");
	read_whole(d->fd);
	map = tlt_map(d->fd, DEV_SIZE, 0);
	store_some(map, 1);
	check(d, "A: read() of the whole device, then stores");
	tlt_unmap(map, DEV_SIZE);
	if (tlt_tdev_close(d))
		tlt_diag("A: removing the device failed");

	/* B: tracking on, mmap read, stores through the same mapping. */
	d = tlt_tdev_open("b.img", DEV_SIZE, 0);
	if (tlt_enable(d->fd, 0))
		tlt_bail("TRACK_ENABLE");
	map = tlt_map(d->fd, DEV_SIZE, 0);
	tlt_diag("B: read sum %" PRIu64, read_map(map));
	store_some(map, 2);
	check(d, "B: mmap read of the whole device, then stores");
	tlt_unmap(map, DEV_SIZE);
	if (tlt_tdev_close(d))
		tlt_diag("B: removing the device failed");

	/* C: read() before tracking is on. */
	d = tlt_tdev_open("c.img", DEV_SIZE, 0);
	read_whole(d->fd);
	if (tlt_enable(d->fd, 0))
		tlt_bail("TRACK_ENABLE");
	map = tlt_map(d->fd, DEV_SIZE, 0);
	store_some(map, 3);
	check(d, "C: read() before tracking, then stores");
	tlt_unmap(map, DEV_SIZE);
	if (tlt_tdev_close(d))
		tlt_diag("C: removing the device failed");

	/* D: attach --track, nobody has it open; opened later. */
	d = tlt_tdev_open("d.img", DEV_SIZE, TLOOP_FLAG_TRACK);
	close(d->fd);
	d->fd = -1;
	fd = open_node(d, O_RDWR);
	read_whole(fd);
	map = tlt_map(fd, DEV_SIZE, 0);
	store_some(map, 4);
	tlt_unmap(map, DEV_SIZE);
	close(fd);
	check(d, "D: attached with tracking, opened later, read(), stores");

	/* E: every opener gone again, a new first open, mmap read, stores. */
	fd = open_node(d, O_RDWR);
	map = tlt_map(fd, DEV_SIZE, 0);
	close(fd);
	tlt_diag("E: read sum %" PRIu64, read_map(map));
	store_some(map, 5);
	tlt_unmap(map, DEV_SIZE);
	check(d, "E: closed, opened again, mmap read, stores");

	/* F: block-size changes, each followed by a query, then read and stores. */
	d->fd = open_node(d, O_RDWR);
	for (int i = 0; i < 2; i++) {
		int bs = i ? 4096 : 1024;
		char name[80];

		ret = set_bsize(d, bs);
		if (ret) {
			errno = -ret;
			tlt_bail("BLKBSZSET %d", bs);
		}
		tlt_set_reset(&want);
		snprintf(name, sizeof(name), "F: block size %d: query", bs);
		tlt_check_get(d->fd, TLOOP_GET_CLEAR, 4096, &want, name);
		read_whole(d->fd);
		map = tlt_map(d->fd, DEV_SIZE, 0);
		store_some(map, 6 + (uint32_t)i);
		tlt_unmap(map, DEV_SIZE);
		snprintf(name, sizeof(name), "F: block size %d, read(), stores", bs);
		check(d, name);
	}
	if (tlt_tdev_close(d))
		tlt_diag("F: removing the device failed");
	tlt_set_free(&want);
	tlt_exit();
}
