// SPDX-License-Identifier: GPL-2.0
/*
 * device.c - the control node (attach, detach, list) and the per-device
 * ioctls (info, tracking state, one TLOOP_GET_WRITTEN call, clear); walks
 * of the written set are in walk.c.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

int tloop_ioctl(int fd, unsigned long cmd, void *arg)
{
	int ret = ioctl(fd, cmd, arg);

	return ret < 0 ? -errno : ret;
}

int tloop_ctl_open(void)
{
	int fd = open(TLOOP_CONTROL_NODE, O_RDWR | O_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

int tloop_ctl_version(int ctl, struct tloop_version *v)
{
	int ret;

	memset(v, 0, sizeof(*v));
	v->size = sizeof(*v);
	ret = tloop_ioctl(ctl, TLOOP_CTL_VERSION, v);
	return ret < 0 ? ret : 0;
}

int tloop_attach_fd(int ctl, int fd, const struct tloop_attach_opts *opts)
{
	struct tloop_add add;
	int ret;

	memset(&add, 0, sizeof(add));
	add.size = sizeof(add);
	add.index = -1;
	add.backing_fd = fd;
	if (opts) {
		add.flags = opts->flags;
		add.block_size = opts->block_size;
		add.size_limit = opts->size_limit;
	}
	ret = tloop_ioctl(ctl, TLOOP_CTL_ADD, &add);
	if (ret < 0)
		return ret;
	tloop_log(TLOOP_LOG_DEBUG, "attached fd %d as index %d", fd, add.index);
	return add.index;
}

#ifndef TLOOP_SYSFS_BLOCK
#define TLOOP_SYSFS_BLOCK "/sys/block"
#endif

int tloop_attach_persist(int ctl, int fd, int persist_fd, const struct tloop_attach_opts *opts,
			 unsigned int *status)
{
	struct tloop_version v;
	struct tloop_add add;
	int ret;

	ret = tloop_ctl_version(ctl, &v);
	if (ret)
		return ret;
	if (!(v.features & TLOOP_FEAT_PERSIST))
		return -EOPNOTSUPP;
	memset(&add, 0, sizeof(add));
	add.size = sizeof(add);
	add.index = -1;
	add.backing_fd = fd;
	add.persist_fd = persist_fd;
	if (opts) {
		add.flags = opts->flags;
		add.block_size = opts->block_size;
		add.size_limit = opts->size_limit;
	}
	add.flags |= TLOOP_FLAG_PERSIST | TLOOP_FLAG_TRACK;
	ret = tloop_ioctl(ctl, TLOOP_CTL_ADD, &add);
	if (ret < 0)
		return ret;
	*status = add.persist_status;
	tloop_log(TLOOP_LOG_DEBUG, "attached fd %d as index %d, sidecar fd %d: %s", fd, add.index,
		  persist_fd, tloop_persist_name(add.persist_status));
	return add.index;
}

const char *tloop_persist_name(unsigned int status)
{
	static const char *const names[] = { "off", "new", "trusted", "unclean", "changed",
					     "corrupt" };

	return status < sizeof(names) / sizeof(names[0]) ? names[status] : "unknown";
}

/* read_line() - the first line of @path into @buf (without its newline). */
static int read_line(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "re");
	size_t n;

	if (!f)
		return -errno;
	if (!fgets(buf, (int)len, f))
		buf[0] = 0;
	fclose(f);
	n = strlen(buf);
	if (n && buf[n - 1] == '\n')
		buf[n - 1] = 0;
	return 0;
}

int tloop_persist_info(unsigned int index, char *status, size_t slen, char *file, size_t flen)
{
	char p[96];
	int ret;

	snprintf(p, sizeof(p), TLOOP_SYSFS_BLOCK "/tloop%u/tloop/persist", index);
	ret = read_line(p, status, slen);
	if (ret)
		return ret;
	snprintf(p, sizeof(p), TLOOP_SYSFS_BLOCK "/tloop%u/tloop/persist_file", index);
	return read_line(p, file, flen);
}

int tloop_attach(int ctl, const char *path, const struct tloop_attach_opts *opts)
{
	int ro = opts && (opts->flags & TLOOP_FLAG_READ_ONLY);
	int fd, ret;

	fd = open(path, (ro ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ret = tloop_attach_fd(ctl, fd, opts);
	close(fd);
	return ret;
}

int tloop_detach(int ctl, unsigned int index)
{
	struct tloop_remove rm;
	int ret;

	memset(&rm, 0, sizeof(rm));
	rm.size = sizeof(rm);
	rm.index = index;
	ret = tloop_ioctl(ctl, TLOOP_CTL_REMOVE, &rm);
	return ret < 0 ? ret : 0;
}

/* parse_index() - N of "tloopN", or -1 if @name is not exactly that. */
static long parse_index(const char *name)
{
	const char *p = name + strlen("tloop");
	char *end;
	long v;

	if (strncmp(name, "tloop", 5) || !isdigit((unsigned char)*p))
		return -1;
	if (*p == '0' && p[1])
		return -1;
	errno = 0;
	v = strtol(p, &end, 10);
	if (*end || errno || v > 0x7fffffffL)
		return -1;
	return v;
}

static int cmp_uint(const void *a, const void *b)
{
	unsigned int x = *(const unsigned int *)a, y = *(const unsigned int *)b;

	return x < y ? -1 : x > y;
}

static int scan_dir(const char *dir, int want_blk, unsigned int *indices, size_t cap,
		    size_t *count)
{
	struct dirent *de;
	size_t n = 0;
	DIR *d;

	d = opendir(dir);
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		long idx = parse_index(de->d_name);

		if (idx < 0)
			continue;
		if (want_blk) {
			struct stat st;

			if (fstatat(dirfd(d), de->d_name, &st, 0) || !S_ISBLK(st.st_mode))
				continue;
		}
		if (n < cap)
			indices[n] = (unsigned int)idx;
		n++;
	}
	closedir(d);
	qsort(indices, n < cap ? n : cap, sizeof(*indices), cmp_uint);
	*count = n;
	return n > cap ? -ENOSPC : 0;
}

/* Where the disks are listed; the host test (lib/tests/test-list.c) builds with its own. */
#ifndef TLOOP_SYSFS_BLOCK
#define TLOOP_SYSFS_BLOCK "/sys/block"
#endif

int tloop_list(unsigned int *indices, size_t cap, size_t *count)
{
	int ret;

	/* /sys/block lists disks only (no partitions); /dev is the fallback. */
	ret = scan_dir(TLOOP_SYSFS_BLOCK, 0, indices, cap, count);
	if (ret == -ENOENT)
		ret = scan_dir("/dev", 1, indices, cap, count);
	return ret;
}

int tloop_list_all(unsigned int **indices, size_t *count)
{
	unsigned int *idx = NULL, *p;
	size_t cap = 256, n = 0;
	int ret;

	for (;;) {
		p = realloc(idx, cap * sizeof(*idx));
		if (!p) {
			ret = -ENOMEM;
			break;
		}
		idx = p;
		ret = tloop_list(idx, cap, &n);
		if (ret != -ENOSPC)
			break;
		/* Room for devices added before the next scan too. */
		cap = n + n / 8 + 64;
	}
	if (ret) {
		free(idx);
		idx = NULL;
		n = 0;
	}
	*indices = idx;
	*count = n;
	return ret;
}

int tloop_dev_path(unsigned int index, char *buf, size_t len)
{
	int n = snprintf(buf, len, TLOOP_DEVICE_PREFIX "%u", index);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int tloop_get_info(int fd, struct tloop_info *info, char *path, size_t path_len)
{
	int ret;

	memset(info, 0, sizeof(*info));
	info->size = sizeof(*info);
	if (path && path_len) {
		if (path_len > 0xffffffffu)
			path_len = 0xffffffffu;
		path[0] = '\0';
		info->path = (uintptr_t)path;
		info->path_size = (uint32_t)path_len;
	}
	ret = tloop_ioctl(fd, TLOOP_GET_INFO, info);
	if (ret < 0)
		return ret;
	if (path && path_len)
		path[path_len - 1] = '\0';
	return 0;
}

int tloop_dev_open(const char *path, int oflags)
{
	struct tloop_info info;
	struct stat st;
	int fd, ret;

	fd = open(path, oflags | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		ret = -errno;
		goto out_close;
	}
	if (!S_ISBLK(st.st_mode)) {
		ret = -ENOTTY;
		goto out_close;
	}
	ret = tloop_get_info(fd, &info, NULL, 0);
	if (ret < 0) {
		/* Another block driver rejects our command in its own way. */
		if (ret == -EINVAL || ret == -ENOSYS)
			ret = -ENOTTY;
		goto out_close;
	}
	return fd;

out_close:
	close(fd);
	return ret;
}

int tloop_dev_open_ctl(const char *path)
{
	int fd = tloop_dev_open(path, O_RDWR);

	if (fd == -EROFS || fd == -EACCES || fd == -EPERM || fd == -EBUSY)
		fd = tloop_dev_open(path, O_RDONLY);
	return fd;
}

int tloop_track_enable(int fd, uint64_t mem_limit)
{
	struct tloop_track_enable en;
	int ret;

	memset(&en, 0, sizeof(en));
	en.size = sizeof(en);
	en.mem_limit = mem_limit;
	ret = tloop_ioctl(fd, TLOOP_TRACK_ENABLE, &en);
	return ret < 0 ? ret : 0;
}

int tloop_track_disable(int fd)
{
	int ret;

	ret = tloop_ioctl(fd, TLOOP_TRACK_DISABLE, NULL);
	return ret < 0 ? ret : 0;
}

int tloop_track_status(int fd, struct tloop_track_status *st)
{
	int ret;

	memset(st, 0, sizeof(*st));
	st->size = sizeof(*st);
	ret = tloop_ioctl(fd, TLOOP_TRACK_STATUS, st);
	return ret < 0 ? ret : 0;
}

int tloop_get_written(int fd, struct tloop_written *w)
{
	int ret;

	w->size = sizeof(*w);
	ret = tloop_ioctl(fd, TLOOP_GET_WRITTEN, w);
	return ret < 0 ? ret : 0;
}

/* The default consumer's set (id 0): tloop_consumer_clear() (consumer.c). */
int tloop_clear_all(int fd, uint64_t *generation)
{
	return tloop_consumer_clear(fd, 0, TLOOP_CLEAR_ALL, 0, 0, generation);
}

int tloop_clear_range(int fd, uint64_t start, uint64_t end, uint64_t *generation)
{
	return tloop_consumer_clear(fd, 0, 0, start, end, generation);
}
