// SPDX-License-Identifier: GPL-2.0
/*
 * 13-dev-discard: discard and write-zeroes on a device become hole punching
 * and zeroing in the backing file, and are not advertised where the backing
 * filesystem cannot punch holes.  Backing files on tmpfs, on ext4 over a brd
 * ramdisk, and on ramfs (no fallocate at all); every check also runs on the
 * stock loop driver, and tloop's outcome for FALLOC_FL_ZERO_RANGE on the
 * device (which filesystems may not support) must equal loop's.
 *
 * tloop-timeout: 90
 */
#include "tlt.h"

#include <linux/falloc.h>

#define SIZE	(8 << 20)
#define MIB	(1 << 20)
/* Sectors a punch may allocate for metadata (extent tree blocks on ext4). */
#define SLACK	64

struct fs {
	const char *name;
	const char *dir;
	int punch;	/* the filesystem can punch holes */
};

static const struct fs filesystems[] = {
	{ "tmpfs", ".", 1 },
	{ "ext4", "ext4mnt", 1 },
	{ "ramfs", "ramfsmnt", 0 },
};

static int zero_range_err[2][3];

static int sysfs_u64(const char *dev, const char *attr, uint64_t *v)
{
	char path[128], buf[64];

	snprintf(path, sizeof(path), "/sys/block/%s/%s", dev + 5, attr);
	if (tlt_sysfs_read(path, buf, sizeof(buf)))
		return -1;
	*v = strtoull(buf, NULL, 10);
	return 0;
}

static int64_t blocks_of(const char *path)
{
	struct stat st;

	return stat(path, &st) ? -1 : (int64_t)st.st_blocks;
}

/* Do [off, off + len) of @fd read as zeros and its neighbours as pattern 1? */
static int zeros_between(int fd, off_t off, size_t len, const char *what)
{
	unsigned char *got = tlt_alloc(len + 8192), *want = tlt_alloc(len + 8192);
	int ok;

	tlt_pattern(want, 4096, (uint64_t)off - 4096, 1);
	tlt_pattern(want + 4096 + len, 4096, (uint64_t)off + len, 1);
	ok = !tlt_pread_full(fd, got, len + 8192, off - 4096) &&
	     tlt_compare(what, want, got, len + 8192, (uint64_t)off - 4096);
	free(got);
	free(want);
	return ok;
}

#define PUNCH_RESULTS 10
#define NOPUNCH_RESULTS 4

static void fs_case(enum tlt_kind kind, int f)
{
	const struct fs *fs = &filesystems[f];
	char name[64], file[64];
	struct tlt_dev d;
	uint64_t max = 0;
	int64_t before, after;
	uint64_t range[2];
	int fd, bfd, ret;

	snprintf(name, sizeof(name), "%s on %s", tlt_kind_name(kind), fs->name);
	snprintf(file, sizeof(file), "%s/back-%d.img", fs->dir, kind);
	if (tlt_make_file(file, SIZE, 1))
		tlt_bail("create %s", file);
	ret = tlt_attach(&d, kind, file, 0, 0, 0);
	if (!tlt_result(!ret, "%s: attach", name)) {
		tlt_diag("attach: %s", tlt_errname(-ret));
		return;
	}
	fd = open(d.path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		tlt_bail("open %s", d.path);
	if (sysfs_u64(d.path, "queue/discard_max_bytes", &max))
		tlt_diag("%s: no queue/discard_max_bytes", d.path);

	if (!fs->punch) {
		if (!tlt_result(max == 0, "%s: discard is not advertised", name))
			tlt_diag("discard_max_bytes %" PRIu64, max);
		range[0] = MIB;
		range[1] = MIB;
		ret = ioctl(fd, BLKDISCARD, range);
		if (!tlt_result(ret < 0 && errno == EOPNOTSUPP, "%s: BLKDISCARD fails with EOPNOTSUPP",
				name))
			tlt_diag("BLKDISCARD: %d %s", ret, ret < 0 ? tlt_errname(errno) : "");
		goto out;
	}

	if (!tlt_result(max > 0, "%s: discard is advertised", name))
		tlt_diag("discard_max_bytes %" PRIu64, max);

	before = blocks_of(file);
	range[0] = MIB;
	range[1] = 2 * MIB;
	ret = ioctl(fd, BLKDISCARD, range);
	if (!tlt_result(!ret, "%s: BLKDISCARD of 2 MiB", name))
		tlt_diag("BLKDISCARD: %s", tlt_errname(errno));
	after = blocks_of(file);
	if (!tlt_result(after >= 0 && after <= before - 2 * MIB / 512 + SLACK,
			"%s: the backing file lost 2 MiB of blocks", name))
		tlt_diag("st_blocks %" PRId64 " -> %" PRId64 " (want <= %" PRId64 ")", before,
			 after, before - 2 * MIB / 512 + SLACK);
	tlt_result(zeros_between(fd, MIB, 2 * MIB, "after discard"),
		   "%s: the discarded range reads zeros, its neighbours are intact", name);

	/*
	 * Punch before any ZERO_RANGE: the stock loop driver stops advertising
	 * write-zeroes once the backing filesystem refused ZERO_RANGE (tmpfs),
	 * and fallocate(PUNCH_HOLE) on a block device is a write-zeroes request.
	 */
	bfd = open(file, O_RDONLY | O_CLOEXEC);
	if (bfd < 0)
		tlt_bail("open %s", file);
	before = blocks_of(file);
	ret = fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 5 * MIB, MIB);
	after = blocks_of(file);
	if (!tlt_result(!ret && after <= before - MIB / 512 + SLACK &&
			zeros_between(fd, 5 * MIB, MIB, "after punch") &&
			zeros_between(bfd, 5 * MIB, MIB, "backing after punch"),
			"%s: fallocate(PUNCH_HOLE) on the device punches the backing file", name))
		tlt_diag("fallocate: %s, st_blocks %" PRId64 " -> %" PRId64,
			 ret ? tlt_errname(errno) : "ok", before, after);

	range[0] = 4 * MIB + 4096;
	range[1] = 64 << 10;
	ret = ioctl(fd, BLKZEROOUT, range);
	if (!tlt_result(!ret && zeros_between(fd, (off_t)range[0], range[1], "after BLKZEROOUT") &&
			zeros_between(bfd, (off_t)range[0], range[1], "backing after BLKZEROOUT"),
			"%s: BLKZEROOUT zeroes the device and the backing file", name) && ret)
		tlt_diag("BLKZEROOUT: %s", tlt_errname(errno));

	ret = fallocate(fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, 7 * MIB, 256 << 10);
	zero_range_err[kind][f] = ret ? errno : 0;
	tlt_diag("%s: fallocate(ZERO_RANGE) on the device: %s", name,
		 ret ? tlt_errname(errno) : "ok");
	tlt_result(ret || (zeros_between(fd, 7 * MIB, 256 << 10, "after zero range") &&
			   zeros_between(bfd, 7 * MIB, 256 << 10, "backing after zero range")),
		   "%s: fallocate(ZERO_RANGE) zeroes, if it succeeds", name);
	close(bfd);

	tlt_result(!fsync(fd), "%s: fsync", name);
out:
	close(fd);
	ret = tlt_detach(&d);
	if (!tlt_result(!ret, "%s: detach", name))
		tlt_diag("detach: %s", tlt_errname(-ret));
	unlink(file);
}

int main(void)
{
	int have_ext4, k, f;

	have_ext4 = !tlt_modprobe("brd rd_nr=1 rd_size=65536") && !tlt_need_ext4() &&
		    !tlt_run(TLT_MKE2FS " -q -F -t ext4 -b 4096 /dev/ram0") &&
		    !mkdir("ext4mnt", 0700) && !mount("/dev/ram0", "ext4mnt", "ext4", 0, NULL);
	if (mkdir("ramfsmnt", 0700) || mount("ramfs", "ramfsmnt", "ramfs", 0, NULL))
		tlt_bail("mount ramfs");

	tlt_plan(2 * (2 * PUNCH_RESULTS + NOPUNCH_RESULTS) + 2);
	for (k = TLT_LOOP; k >= TLT_TLOOP; k--) {
		for (f = 0; f < 3; f++) {
			int before = tlt_results(), want = filesystems[f].punch ? PUNCH_RESULTS :
							      NOPUNCH_RESULTS;

			if (f == 1 && !have_ext4) {
				while (tlt_results() < before + want)
					tlt_skip("ext4 on brd", "brd or ext4 unavailable");
				continue;
			}
			fs_case((enum tlt_kind)k, f);
			while (tlt_results() < before + want)
				tlt_result(0, "%s on %s: (not reached)", tlt_kind_name(k),
					   filesystems[f].name);
		}
	}
	for (f = 0; f < 2; f++) {
		if (!tlt_result(zero_range_err[TLT_LOOP][f] == zero_range_err[TLT_TLOOP][f],
				"%s: tloop answers fallocate(ZERO_RANGE) like loop", filesystems[f].name))
			tlt_diag("loop %s, tloop %s",
				 zero_range_err[TLT_LOOP][f] ? tlt_errname(zero_range_err[TLT_LOOP][f]) : "ok",
				 zero_range_err[TLT_TLOOP][f] ? tlt_errname(zero_range_err[TLT_TLOOP][f]) : "ok");
	}
	umount2("ramfsmnt", MNT_DETACH);
	if (have_ext4)
		umount("ext4mnt");
	tlt_run("rmmod brd 2>/dev/null || true");
	tlt_exit();
}
