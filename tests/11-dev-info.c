// SPDX-License-Identifier: GPL-2.0
/*
 * 11-dev-info: a tloop device reports the configuration it was created with,
 * through TLOOP_GET_INFO and through /sys/block/tloopN/tloop/, and the block
 * layer sees the same (size, logical block size, read-only).  Covers the
 * backing path (also one longer than half a page, and truncation into a
 * small buffer), st_dev/st_ino of the backing file, attach_id changing on
 * re-attach, and partition scanning: off by default, on with
 * TLOOP_FLAG_PARTSCAN, checked against the stock loop driver.
 *
 * tloop-timeout: 60
 */
#include "tlt.h"

#include <limits.h>
#include <sys/sysmacros.h>

static int ctl;

static int sysfs_attr(int idx, const char *attr, char *buf, size_t len)
{
	char path[128];

	snprintf(path, sizeof(path), "/sys/block/tloop%d/%s", idx, attr);
	return tlt_sysfs_read(path, buf, len);
}

static int check_attr(int idx, const char *attr, const char *want)
{
	char got[PATH_MAX + 64];
	int ret = sysfs_attr(idx, attr, got, sizeof(got));

	if (ret) {
		tlt_diag("%s: %s", attr, tlt_errname(-ret));
		return 0;
	}
	if (strcmp(got, want)) {
		tlt_diag("%s: expected \"%.200s\", got \"%.200s\" (lengths %zu, %zu)", attr, want,
			 got, strlen(want), strlen(got));
		return 0;
	}
	return 1;
}

static int get_info(int idx, struct tloop_info *info, char *path, size_t path_size)
{
	char dev[32];
	int fd, ret;

	memset(info, 0, sizeof(*info));
	info->size = sizeof(*info);
	info->path = (uintptr_t)path;
	info->path_size = (__u32)path_size;
	fd = open(tlt_dev_path(dev, sizeof(dev), idx), O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ret = ioctl(fd, TLOOP_GET_INFO, info) < 0 ? -errno : 0;
	close(fd);
	return ret;
}

/* One configuration: attach, compare GET_INFO, sysfs and block layer, detach. */
static void config_case(const char *file, off_t fsize, unsigned int flags, unsigned int bs,
			uint64_t limit)
{
	char name[96], want[PATH_MAX], path[PATH_MAX + 16], buf[64];
	struct tloop_info info;
	uint64_t want_size, eff_bs = bs ? bs : 512, attach_id = 0;
	struct stat st;
	int idx, ret, ok, round;

	snprintf(name, sizeof(name), "flags=0x%x bs=%u limit=%" PRIu64 " path_len=%zu", flags,
		 bs, limit, strlen(file));
	if (tlt_make_file(file, fsize, 0))
		tlt_bail("create %s", file);
	for (round = 0; round < 2; round++) {
		idx = tlt_add(ctl, file, 0, flags, bs);
		if (limit) {
			struct tloop_add add = { .size = sizeof(add), .flags = flags, .index = -1,
						 .block_size = bs, .size_limit = limit };

			if (idx >= 0)
				tlt_remove(ctl, idx);
			add.backing_fd = open(file, (flags & TLOOP_FLAG_READ_ONLY) ? O_RDONLY : O_RDWR);
			idx = ioctl(ctl, TLOOP_CTL_ADD, &add) < 0 ? -errno : add.index;
			close(add.backing_fd);
		}
		if (!tlt_result(idx >= 0, "%s: attach (round %d)", name, round)) {
			tlt_diag("attach: %s", tlt_errname(-idx));
			tlt_result(0, "%s: GET_INFO (not reached)", name);
			tlt_result(0, "%s: sysfs (not reached)", name);
			continue;
		}
		if (!realpath(file, want) || stat(file, &st))
			tlt_bail("realpath/stat %s", file);
		want_size = (uint64_t)fsize;
		if (limit && limit < want_size)
			want_size = limit;
		want_size -= want_size % eff_bs;

		memset(path, 'X', sizeof(path));
		ret = get_info(idx, &info, path, sizeof(path));
		ok = !ret && info.index == (unsigned int)idx && info.flags == flags &&
		     info.block_size == eff_bs && info.dev_size == want_size &&
		     info.size_limit == limit && info.backing_dev == st.st_dev &&
		     info.backing_ino == st.st_ino && info.attach_id != 0 &&
		     info.path_len == strlen(want) && !strcmp(path, want) &&
		     !info.reserved[0] && !info.reserved[3] && info.attach_id != attach_id;
		if (!ok)
			tlt_diag("GET_INFO %s: index %u flags 0x%x bs %u size %llu limit %llu "
				 "dev %llu:%llu ino %llu id %llx (previous %llx) path_len %u "
				 "path \"%.100s\"; want index %d flags 0x%x bs %" PRIu64 " size %"
				 PRIu64 " dev %u:%u ino %llu path_len %zu path \"%.100s\"",
				 ret ? tlt_errname(-ret) : "ok", info.index, info.flags,
				 info.block_size, (unsigned long long)info.dev_size,
				 (unsigned long long)info.size_limit,
				 (unsigned long long)major(info.backing_dev),
				 (unsigned long long)minor(info.backing_dev),
				 (unsigned long long)info.backing_ino,
				 (unsigned long long)info.attach_id, (unsigned long long)attach_id,
				 info.path_len, path, idx, flags, eff_bs, want_size,
				 major(st.st_dev), minor(st.st_dev),
				 (unsigned long long)st.st_ino, strlen(want), want);
		tlt_result(ok, "%s: GET_INFO reports the configuration%s", name,
			   round ? " and a new attach_id" : "");
		attach_id = info.attach_id;

		ok = check_attr(idx, "tloop/backing_file", want);
		snprintf(buf, sizeof(buf), "%" PRIu64, limit);
		ok &= check_attr(idx, "tloop/size_limit", buf);
		snprintf(buf, sizeof(buf), "%" PRIu64, eff_bs);
		ok &= check_attr(idx, "tloop/block_size", buf);
		ok &= check_attr(idx, "queue/logical_block_size", buf);
		ok &= check_attr(idx, "tloop/read_only", flags & TLOOP_FLAG_READ_ONLY ? "1" : "0");
		ok &= check_attr(idx, "ro", flags & TLOOP_FLAG_READ_ONLY ? "1" : "0");
		ok &= check_attr(idx, "tloop/direct_io", flags & TLOOP_FLAG_DIRECT_IO ? "1" : "0");
		ok &= check_attr(idx, "tloop/partscan", flags & TLOOP_FLAG_PARTSCAN ? "1" : "0");
		snprintf(buf, sizeof(buf), "%" PRIu64, want_size / 512);
		ok &= check_attr(idx, "size", buf);
		snprintf(buf, sizeof(buf), "%016llx", (unsigned long long)info.attach_id);
		ok &= check_attr(idx, "tloop/attach_id", buf);
		tlt_result(ok, "%s: sysfs and the block layer agree", name);

		ret = tlt_remove(ctl, idx);
		if (ret)
			tlt_bail("remove tloop%d: %s", idx, tlt_errname(-ret));
	}
}

static void path_buffer_cases(void)
{
	char want[PATH_MAX], small[8];
	struct tloop_info info;
	int idx, ret;

	idx = tlt_add(ctl, "short.img", 1 << 20, 0, 0);
	if (idx < 0)
		tlt_bail("add short.img: %s", tlt_errname(-idx));
	if (!realpath("short.img", want))
		tlt_bail("realpath");

	memset(small, 'X', sizeof(small));
	ret = get_info(idx, &info, small, 5);
	if (!tlt_result(!ret && info.path_len == strlen(want) && !memcmp(small, want, 4) &&
			small[4] == '\0' && small[5] == 'X',
			"GET_INFO: a 5-byte path buffer gets 4 bytes and a NUL, path_len is the full length"))
		tlt_diag("ret %s path_len %u (want %zu) buffer \"%.5s\" [4]=%d [5]=%d",
			 tlt_errname(-ret), info.path_len, strlen(want), small, small[4], small[5]);
	ret = get_info(idx, &info, NULL, 0);
	if (!tlt_result(!ret && info.path_len == strlen(want),
			"GET_INFO: no path buffer still reports path_len"))
		tlt_diag("ret %s path_len %u (want %zu)", tlt_errname(-ret), info.path_len,
			 strlen(want));
	{
		char dev[32];
		int fd = open(tlt_dev_path(dev, sizeof(dev), idx), O_RDONLY | O_CLOEXEC);

		memset(&info, 0, sizeof(info));
		info.size = sizeof(info);
		info.reserved[1] = 1;
		tlt_expect_errno(ioctl(fd, TLOOP_GET_INFO, &info), EINVAL,
				 "GET_INFO: reserved != 0 -> EINVAL");
		memset(&info, 0, sizeof(info));
		info.size = sizeof(info);
		info.path = 8;
		info.path_size = 64;
		tlt_expect_errno(ioctl(fd, TLOOP_GET_INFO, &info), EFAULT,
				 "GET_INFO: a bad path pointer -> EFAULT");
		tlt_expect_errno(ioctl(fd, TLOOP_GET_INFO, NULL), EFAULT,
				 "GET_INFO: NULL argument -> EFAULT");
		close(fd);
	}
	tlt_remove(ctl, idx);
}

/* A DOS label with one partition from sector 2048 to the end. */
static void write_mbr(const char *path, off_t size)
{
	unsigned char mbr[512] = { 0 };
	uint32_t start = 2048, count = (uint32_t)(size / 512) - start;
	int fd;

	mbr[446 + 4] = 0x83;
	memcpy(&mbr[446 + 8], &start, 4);
	memcpy(&mbr[446 + 12], &count, 4);
	mbr[510] = 0x55;
	mbr[511] = 0xAA;
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || ftruncate(fd, size) || tlt_pwrite_full(fd, mbr, sizeof(mbr), 0))
		tlt_bail("write %s", path);
	close(fd);
}

static void partscan_cases(void)
{
	static const unsigned int flags[] = { 0, TLOOP_FLAG_PARTSCAN };
	struct tlt_dev d;
	char part[96];
	int k, f, ret, have, fd;

	write_mbr("parts.img", 4 << 20);
	for (k = TLT_LOOP; k >= TLT_TLOOP; k--) {
		for (f = 0; f < 2; f++) {
			ret = tlt_attach(&d, (enum tlt_kind)k, "parts.img", flags[f], 0, 0);
			if (ret) {
				tlt_result(0, "%s partscan=%d: attach", tlt_kind_name(k), f);
				tlt_diag("attach: %s", tlt_errname(-ret));
				continue;
			}
			/* Opening the device settles a scan that the attach may have queued. */
			fd = open(d.path, O_RDONLY | O_CLOEXEC);
			if (fd >= 0)
				close(fd);
			snprintf(part, sizeof(part), "/sys/block/%s/%sp1", d.path + 5, d.path + 5);
			have = access(part, F_OK) == 0;
			if (!tlt_result(have == f, "%s: partition table %s without%s PARTSCAN",
					tlt_kind_name(k), f ? "scanned" : "ignored", f ? "" : "out"))
				tlt_diag("%s %s", part, have ? "exists" : "missing");
			ret = tlt_detach(&d);
			if (ret)
				tlt_diag("detach %s: %s", d.path, tlt_errname(-ret));
		}
	}
}

int main(void)
{
	char dir[PATH_MAX], file[PATH_MAX + 16];
	size_t len;

	if (access(TLOOP_CONTROL_NODE, F_OK))
		tlt_bail(TLOOP_CONTROL_NODE " missing");
	ctl = tlt_ctl_open();
	tlt_plan(4 * 2 * 3 + 5 + 4);

	config_case("plain.img", (3 << 20) + 1000, 0, 0, 0);
	config_case("ro4k.img", (3 << 20) + 1000, TLOOP_FLAG_READ_ONLY, 4096, 0);
	config_case("limit.img", 3 << 20, 0, 4096, (1 << 20) + 5000);

	/* A backing path longer than half a page, built from nested directories. */
	if (!getcwd(dir, sizeof(dir)))
		tlt_bail("getcwd");
	len = strlen(dir);
	while (len < 3000) {
		/* One more directory level of 100 characters ("/" and 99 'd'). */
		dir[len] = '/';
		memset(dir + len + 1, 'd', 99);
		dir[len + 100] = '\0';
		if (mkdir(dir, 0700) && errno != EEXIST)
			tlt_bail("mkdir (depth %zu)", len);
		len = strlen(dir);
	}
	snprintf(file, sizeof(file), "%s/long.img", dir);
	config_case(file, 1 << 20, 0, 0, 0);

	path_buffer_cases();
	partscan_cases();
	close(ctl);
	tlt_exit();
}
