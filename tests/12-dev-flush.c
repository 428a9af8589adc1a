// SPDX-License-Identifier: GPL-2.0
/*
 * 12-dev-flush: data written to a device reaches the backing file's disk when
 * the writer asks for it, and not merely the backing file's page cache.
 *
 * The backing file lives on ext4 over a brd ramdisk with periodic writeback
 * off; its blocks are allocated up front and located with FIEMAP, and "on
 * disk" is read from /dev/ram0 with O_DIRECT at those physical offsets.
 * For the stock loop driver (reference) and tloop:
 *  - buffered write: not on disk before fsync (control), on disk after;
 *  - O_DIRECT write: not on disk before fsync in buffered mode (control:
 *    the driver buffers in the backing file's page cache), on disk after;
 *  - O_DIRECT|O_DSYNC write (FUA or write + flush): on disk at once;
 *  - TLOOP_FLAG_DIRECT_IO / LO_FLAGS_DIRECT_IO: an O_DIRECT write is on
 *    disk at once.
 *
 * tloop-timeout: 90
 */
#include "tlt.h"

#include <linux/fiemap.h>

#define MNT		"mnt"
#define BACKING		MNT "/back.img"
#define BACKING_SIZE	(4 << 20)
#define MAX_EXTENTS	64

static struct {
	struct fiemap fm;
	struct fiemap_extent ext[MAX_EXTENTS];
} map;
static int ram = -1;
static char saved_interval[32], saved_expire[32];

static void sysctl_write(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);

	if (fd < 0 || write(fd, val, strlen(val)) < 0)
		tlt_diag("write %s: %s", path, strerror(errno));
	if (fd >= 0)
		close(fd);
}

static void restore(void)
{
	if (saved_interval[0])
		sysctl_write("/proc/sys/vm/dirty_writeback_centisecs", saved_interval);
	if (saved_expire[0])
		sysctl_write("/proc/sys/vm/dirty_expire_centisecs", saved_expire);
	if (ram >= 0)
		close(ram);
	umount2(MNT, MNT_DETACH);
	tlt_run("rmmod brd");
}

/* Read @len bytes of the backing file at @off from the ramdisk itself. */
static int disk_read(void *buf, size_t len, uint64_t off)
{
	unsigned char *blk = tlt_alloc(4096);
	size_t done = 0;

	while (done < len) {
		uint64_t pos = off + done, phys = 0;
		size_t n, in;
		unsigned int i;
		int found = 0;

		for (i = 0; i < map.fm.fm_mapped_extents; i++) {
			struct fiemap_extent *e = &map.ext[i];

			if (pos >= e->fe_logical && pos < e->fe_logical + e->fe_length) {
				phys = e->fe_physical + (pos - e->fe_logical);
				found = 1;
				break;
			}
		}
		if (!found) {
			tlt_diag("offset %" PRIu64 " is not mapped", pos);
			free(blk);
			return -1;
		}
		in = phys % 4096;
		n = 4096 - in < len - done ? 4096 - in : len - done;
		if (tlt_pread_full(ram, blk, 4096, (off_t)(phys - in))) {
			tlt_diag("read /dev/ram0 at %" PRIu64 ": %s", phys - in, strerror(errno));
			free(blk);
			return -1;
		}
		memcpy((char *)buf + done, blk + in, n);
		done += n;
	}
	free(blk);
	return 0;
}

/* Is [off, off + len) on disk equal to @want? */
static int on_disk(const void *want, size_t len, uint64_t off, const char *what)
{
	unsigned char *got = tlt_alloc(len);
	int same = !disk_read(got, len, off) && !memcmp(got, want, len);

	if (!same && what)
		tlt_compare(what, want, got, len, off);
	free(got);
	return same;
}

static void setup(void)
{
	unsigned int i;
	int fd;

	if (tlt_modprobe("brd rd_nr=1 rd_size=65536") || access("/dev/ram0", F_OK))
		tlt_skip_all("brd ramdisk module unavailable");
	if (tlt_need_ext4())
		tlt_skip_all("ext4 module unavailable");
	if (tlt_sysfs_read("/proc/sys/vm/dirty_writeback_centisecs", saved_interval,
			   sizeof(saved_interval)) ||
	    tlt_sysfs_read("/proc/sys/vm/dirty_expire_centisecs", saved_expire,
			   sizeof(saved_expire)))
		tlt_bail("read vm.dirty_* sysctls");
	atexit(restore);
	if (tlt_run(TLT_MKE2FS " -q -F -t ext4 -E nodiscard /dev/ram0"))
		tlt_bail("mke2fs");
	if (mkdir(MNT, 0700) || mount("/dev/ram0", MNT, "ext4", 0, "commit=600"))
		tlt_bail("mount ext4 on /dev/ram0");
	if (tlt_make_file(BACKING, BACKING_SIZE, 1))
		tlt_bail("create " BACKING);
	sync();
	/* No periodic writeback: only what the driver flushes reaches the disk. */
	sysctl_write("/proc/sys/vm/dirty_writeback_centisecs", "0");
	sysctl_write("/proc/sys/vm/dirty_expire_centisecs", "360000");

	fd = open(BACKING, O_RDONLY | O_CLOEXEC);
	map.fm.fm_length = FIEMAP_MAX_OFFSET;
	map.fm.fm_extent_count = MAX_EXTENTS;
	if (fd < 0 || ioctl(fd, FS_IOC_FIEMAP, &map.fm) < 0)
		tlt_bail("FIEMAP " BACKING);
	close(fd);
	for (i = 0; i < map.fm.fm_mapped_extents; i++) {
		if (map.ext[i].fe_flags & (FIEMAP_EXTENT_UNKNOWN | FIEMAP_EXTENT_DELALLOC |
					   FIEMAP_EXTENT_ENCODED | FIEMAP_EXTENT_UNWRITTEN))
			tlt_bail("extent %u has flags 0x%x", i, map.ext[i].fe_flags);
	}
	ram = open("/dev/ram0", O_RDONLY | O_DIRECT | O_CLOEXEC);
	if (ram < 0)
		tlt_bail("open /dev/ram0");
	{
		unsigned char *want = tlt_alloc(BACKING_SIZE);

		tlt_pattern(want, BACKING_SIZE, 0, 1);
		if (!on_disk(want, BACKING_SIZE, 0, "initial backing file on disk"))
			tlt_bail("FIEMAP does not locate the backing file's data");
		free(want);
	}
}

#define CASE_RESULTS 10

static void flush_cases(enum tlt_kind kind)
{
	const char *k = tlt_kind_name(kind);
	size_t len = 64 << 10;
	unsigned char *buf = tlt_alloc(len);
	struct tlt_dev d;
	uint64_t off;
	int fd, ret;

	ret = tlt_attach(&d, kind, BACKING, 0, 0, 0);
	if (!tlt_result(!ret, "%s: attach (buffered)", k)) {
		tlt_diag("attach: %s", tlt_errname(-ret));
		goto direct;
	}

	/* Buffered write, then fsync of the device. */
	off = 12345;
	tlt_pattern(buf, len, off, 2 + kind * 10);
	fd = open(d.path, O_RDWR | O_CLOEXEC);
	if (fd < 0 || tlt_pwrite_full(fd, buf, len, (off_t)off))
		tlt_bail("buffered write to %s", d.path);
	tlt_result(!on_disk(buf, len, off, NULL),
		   "%s: a buffered write is not on disk before fsync (control)", k);
	tlt_result(!fsync(fd), "%s: fsync of the device succeeds", k);
	tlt_result(on_disk(buf, len, off, "after fsync"),
		   "%s: after fsync the buffered write is on disk", k);
	close(fd);

	/* O_DIRECT write: reaches the backing file's page cache only. */
	off = 1 << 20;
	tlt_pattern(buf, len, off, 3 + kind * 10);
	fd = open(d.path, O_RDWR | O_DIRECT | O_CLOEXEC);
	if (fd < 0 || tlt_pwrite_full(fd, buf, len, (off_t)off))
		tlt_bail("O_DIRECT write to %s", d.path);
	tlt_result(!on_disk(buf, len, off, NULL),
		   "%s: an O_DIRECT write is not on disk before fsync (control: buffered backing)",
		   k);
	tlt_result(!fsync(fd) && on_disk(buf, len, off, "after fsync"),
		   "%s: after fsync the O_DIRECT write is on disk", k);
	close(fd);

	/* O_DSYNC: FUA, or a write followed by a flush. */
	off = 2 << 20;
	tlt_pattern(buf, len, off, 4 + kind * 10);
	fd = open(d.path, O_RDWR | O_DIRECT | O_DSYNC | O_CLOEXEC);
	if (fd < 0 || tlt_pwrite_full(fd, buf, len, (off_t)off))
		tlt_bail("O_DSYNC write to %s", d.path);
	tlt_result(on_disk(buf, len, off, "after an O_DSYNC write"),
		   "%s: an O_DIRECT|O_DSYNC write is on disk when it returns", k);
	close(fd);

	ret = tlt_detach(&d);
	if (!tlt_result(!ret, "%s: detach", k))
		tlt_diag("detach: %s", tlt_errname(-ret));

direct:
	ret = tlt_attach(&d, kind, BACKING, TLOOP_FLAG_DIRECT_IO, 0, 0);
	if (!tlt_result(!ret, "%s: attach with direct I/O to the backing file", k)) {
		tlt_diag("attach: %s", tlt_errname(-ret));
		free(buf);
		return;
	}
	off = 3 << 20;
	tlt_pattern(buf, len, off, 5 + kind * 10);
	fd = open(d.path, O_RDWR | O_DIRECT | O_CLOEXEC);
	if (fd < 0 || tlt_pwrite_full(fd, buf, len, (off_t)off))
		tlt_bail("O_DIRECT write to %s (direct I/O)", d.path);
	tlt_result(on_disk(buf, len, off, "direct I/O device"),
		   "%s: with direct I/O an O_DIRECT write is on disk when it returns", k);
	close(fd);
	ret = tlt_detach(&d);
	if (ret)
		tlt_diag("detach %s: %s", d.path, tlt_errname(-ret));
	free(buf);
}

int main(void)
{
	int n;

	setup();
	tlt_plan(2 * CASE_RESULTS);
	for (n = TLT_LOOP; n >= TLT_TLOOP; n--) {
		int before = tlt_results();

		flush_cases((enum tlt_kind)n);
		while (tlt_results() < before + CASE_RESULTS)
			tlt_result(0, "%s: (not reached)", tlt_kind_name(n));
	}
	tlt_exit();
}
