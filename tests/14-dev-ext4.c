// SPDX-License-Identifier: GPL-2.0
/*
 * 14-dev-ext4: a filesystem on a device.  mkfs.ext4 on the device, mount
 * (with online discard), write files of many sizes in nested directories,
 * delete half of them, write more, umount, `e2fsck -fn` must report the
 * filesystem clean; mount again read-only and verify every remaining file
 * byte for byte; detach and run e2fsck on the backing file itself.  Same on
 * the stock loop driver as a reference.
 *
 * tloop-timeout: 120
 */
#include "tlt.h"

#define MNT	"mnt"

static const size_t file_sizes[] = { 0, 1, 511, 4096, 4097, 65536 + 3, 300000, 1 << 20 };
#define NSIZES	(sizeof(file_sizes) / sizeof(file_sizes[0]))

static size_t size_of(int i)
{
	return file_sizes[(size_t)i % NSIZES];
}

static void name_of(char *buf, size_t len, int i)
{
	snprintf(buf, len, MNT "/d%d/e%d/f%d", i % 4, i % 3, i);
}

static int write_file(int i, unsigned char *buf)
{
	char path[64];
	size_t len = size_of(i);
	int fd, ret;

	name_of(path, sizeof(path), i);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	tlt_pattern(buf, len, 0, (uint32_t)i + 1000);
	ret = tlt_pwrite_full(fd, buf, len, 0);
	close(fd);
	return ret;
}

static int check_file(int i, unsigned char *want, unsigned char *got)
{
	char path[64];
	size_t len = size_of(i);
	struct stat st;
	int fd, ok;

	name_of(path, sizeof(path), i);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st)) {
		tlt_diag("%s: %s", path, strerror(errno));
		return 0;
	}
	tlt_pattern(want, len, 0, (uint32_t)i + 1000);
	ok = (size_t)st.st_size == len && !tlt_pread_full(fd, got, len, 0) &&
	     tlt_compare(path, want, got, len, 0);
	if ((size_t)st.st_size != len)
		tlt_diag("%s: size %jd, want %zu", path, (intmax_t)st.st_size, len);
	close(fd);
	return ok;
}

#define RESULTS 9

static void fs_case(enum tlt_kind kind, int nfiles)
{
	const char *k = tlt_kind_name(kind);
	unsigned char *a = tlt_alloc(1 << 20), *b = tlt_alloc(1 << 20);
	char dir[64];
	struct tlt_dev d;
	int i, ret, ok;

	if (tlt_make_file("fs.img", 64 << 20, 0))
		tlt_bail("create fs.img");
	ret = tlt_attach(&d, kind, "fs.img", 0, 0, 0);
	if (!tlt_result(!ret, "%s: attach", k)) {
		tlt_diag("attach: %s", tlt_errname(-ret));
		goto out_free;
	}
	tlt_result(!tlt_run(TLT_MKE2FS " -q -F -t ext4 %s", d.path), "%s: mkfs.ext4", k);
	ret = mount(d.path, MNT, "ext4", 0, "discard");
	if (!tlt_result(!ret, "%s: mount", k)) {
		tlt_diag("mount: %s", strerror(errno));
		goto out_detach;
	}
	for (i = 0; i < 4 * 3; i++) {
		snprintf(dir, sizeof(dir), MNT "/d%d", i % 4);
		mkdir(dir, 0755);
		snprintf(dir, sizeof(dir), MNT "/d%d/e%d", i % 4, i % 3);
		mkdir(dir, 0755);
	}
	ok = 1;
	for (i = 0; i < nfiles && ok; i++)
		ok = !write_file(i, a);
	sync();
	for (i = 0; i < nfiles && ok; i += 2) {
		char path[64];

		name_of(path, sizeof(path), i);
		ok = !unlink(path);
	}
	sync();
	for (i = nfiles; i < nfiles + nfiles / 2 && ok; i++)
		ok = !write_file(i, a);
	if (!tlt_result(ok, "%s: write %d files, delete half, write %d more", k, nfiles,
			nfiles / 2))
		tlt_diag("file %d: %s", i, strerror(errno));
	ret = umount(MNT);
	if (!tlt_result(!ret, "%s: umount", k)) {
		tlt_diag("umount: %s", strerror(errno));
		umount2(MNT, MNT_DETACH);
	}
	tlt_result(!tlt_run(TLT_E2FSCK " -fn %s", d.path), "%s: e2fsck -fn is clean", k);

	ret = mount(d.path, MNT, "ext4", MS_RDONLY, NULL);
	ok = !ret;
	for (i = 1; i < nfiles + nfiles / 2 && ok; i++) {
		if (i < nfiles && !(i % 2))
			continue;
		ok = check_file(i, a, b);
	}
	if (!ret) {
		char path[64];

		name_of(path, sizeof(path), 0);
		if (access(path, F_OK) == 0) {
			tlt_diag("%s survived its deletion", path);
			ok = 0;
		}
		umount(MNT);
	}
	tlt_result(ok, "%s: after a remount every file reads back", k);

out_detach:
	ret = tlt_detach(&d);
	if (!tlt_result(!ret, "%s: detach", k))
		tlt_diag("detach: %s", tlt_errname(-ret));
	tlt_drop_caches();
	tlt_result(!tlt_run(TLT_E2FSCK " -fn fs.img"), "%s: e2fsck -fn of the backing file is clean",
		   k);
out_free:
	unlink("fs.img");
	free(a);
	free(b);
}

int main(void)
{
	int nfiles = 40 * tlt_scale(), k;

	if (tlt_need_ext4())
		tlt_skip_all("ext4 module unavailable");
	if (mkdir(MNT, 0700))
		tlt_bail("mkdir " MNT);
	tlt_plan(2 * RESULTS);
	for (k = TLT_LOOP; k >= TLT_TLOOP; k--) {
		int before = tlt_results();

		fs_case((enum tlt_kind)k, nfiles);
		while (tlt_results() < before + RESULTS)
			tlt_result(0, "%s: (not reached)", tlt_kind_name(k));
	}
	tlt_exit();
}
