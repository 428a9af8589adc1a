// SPDX-License-Identifier: GPL-2.0
/*
 * copy.c - where a refresh takes its bytes from: the device (reads through
 * the driver), or the device's backing file once the query has written the
 * pages back: copy_file_range(2) into area2, or FICLONERANGE, which makes
 * area2 share the backing file's extents (XFS with reflink, btrfs).
 *
 * Why reading the backing file is as good as reading the device, for every
 * byte a refresh copies (the full argument is in doc/design.md, "Speed of
 * a refresh"): the device serves every write by writing the backing file
 * and records the pages after the backing file accepted the data; a query
 * without TLOOP_GET_NOSYNC writes back the device's page cache of the
 * pages it examines before it lists them.  So every write a listed page
 * holds is in the backing file (its page cache, coherent with any other
 * open file of it) when the copy reads it; a write still in flight, or a
 * store still dirty in the device's page cache, is recorded when it
 * reaches the backing file, after the clear, and the next refresh copies
 * the page again - the same as for a device read that races a write.
 * Used only when that holds for certain: the backing file opened by the
 * path the device reports is the very file (device and inode numbers), the
 * device node is the whole disk (offsets are the file's), and the device
 * does not use direct I/O to its backing file (its writes would bypass the
 * page cache these copies read); otherwise the refresh reads the device.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/vfs.h>
#include <unistd.h>
#include <linux/fs.h>

#include "copy.h"

const char *tloop_sync_via_name(enum tloop_sync_via via)
{
	switch (via) {
	case TLOOP_SYNC_VIA_AUTO:
		return "auto";
	case TLOOP_SYNC_VIA_DEVICE:
		return "device";
	case TLOOP_SYNC_VIA_BACKING:
		return "backing";
	case TLOOP_SYNC_VIA_REFLINK:
		return "reflink";
	}
	return "?";
}

void copy_src_init(struct copy_src *s)
{
	memset(s, 0, sizeof(*s));
	s->fd = -1;
}

void copy_src_close(struct copy_src *s)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
}

/*
 * whole_disk() - the node open as @fd (stat @st) is the whole device of
 * @size bytes, not a partition: sysfs has no "partition" for it (when sysfs
 * is there to ask), and it has the device's size (a partition is smaller).
 */
static int whole_disk(int fd, const struct stat *st, uint64_t size)
{
	char p[64];
	uint64_t bytes = 0;

	if (!S_ISBLK(st->st_mode) || ioctl(fd, BLKGETSIZE64, &bytes) < 0 || bytes != size)
		return 0;
	snprintf(p, sizeof(p), "/sys/dev/block/%u:%u", major(st->st_rdev), minor(st->st_rdev));
	if (access(p, F_OK) < 0)
		return 1;	/* no sysfs here: the size decided */
	snprintf(p, sizeof(p), "/sys/dev/block/%u:%u/partition", major(st->st_rdev),
		 minor(st->st_rdev));
	return access(p, F_OK) < 0 && errno == ENOENT;
}

int copy_src_open(struct copy_src *s, enum tloop_sync_via via, int devfd,
		  const struct stat *devst, char *why, size_t whylen)
{
	char path[PATH_MAX];
	struct tloop_info info;
	struct stat bst;
	int ret;

	s->via = TLOOP_SYNC_VIA_DEVICE;
	if (via == TLOOP_SYNC_VIA_DEVICE)
		return 0;
	ret = tloop_get_info(devfd, &info, path, sizeof(path));
	if (ret) {
		snprintf(why, whylen, "no configuration (%s)", strerror(-ret));
		return -1;
	}
	if (info.flags & TLOOP_FLAG_DIRECT_IO) {
		snprintf(why, whylen, "the device writes its backing file with direct I/O");
		return -1;
	}
	if (!whole_disk(devfd, devst, info.dev_size)) {
		snprintf(why, whylen, "not the whole disk");
		return -1;
	}
	if (info.path_len >= sizeof(path) || path[0] != '/') {
		snprintf(why, whylen, "its backing file has no reachable path");
		return -1;
	}
	s->fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
	if (s->fd < 0) {
		snprintf(why, whylen, "cannot open its backing file %s (%s)", path,
			 strerror(errno));
		return -1;
	}
	/* The same encoding (glibc's dev_t is the kernel's new_encode_dev()). */
	if (fstat(s->fd, &bst) < 0 || !S_ISREG(bst.st_mode) ||
	    (uint64_t)bst.st_dev != info.backing_dev ||
	    (uint64_t)bst.st_ino != info.backing_ino) {
		snprintf(why, whylen, "%s is not its backing file here", path);
		copy_src_close(s);
		return -1;
	}
	s->via = TLOOP_SYNC_VIA_BACKING;
	s->cfr = 1;
	s->want_reflink = via == TLOOP_SYNC_VIA_REFLINK ? 1 : via == TLOOP_SYNC_VIA_AUTO ? 2 : 0;
	return 0;
}

/* Filesystems whose copy_file_range(2) within one filesystem clones. */
#define XFS_MAGIC	0x58465342
#define BTRFS_MAGIC	0x9123683e

void copy_src_area2(struct copy_src *s, int wfd)
{
	struct stat bst, wst;
	struct statfs fs;

	if (s->fd < 0)
		return;
	if (fstat(s->fd, &bst) < 0 || fstat(wfd, &wst) < 0 || !S_ISREG(wst.st_mode) ||
	    wst.st_dev != bst.st_dev || fstatfs(wfd, &fs) < 0 || fs.f_bsize <= 0)
		return;
	if (s->want_reflink == 2) {
		/*
		 * auto: no clones of scattered runs.  Cloning 1 % of 128 MiB
		 * page by page on XFS took 2.0 s against 0.94 s through the
		 * device (make bench-sync TLOOP_BENCH_SYNC_XFS=1), and there
		 * copy_file_range clones as well: read and write instead.
		 */
		if ((unsigned long)fs.f_type == XFS_MAGIC || (unsigned long)fs.f_type == BTRFS_MAGIC)
			atomic_store(&s->cfr, 0);
		return;
	}
	if (!s->want_reflink)
		return;
	s->block = (uint64_t)fs.f_bsize;
	atomic_store(&s->reflink, 1);
	s->via = TLOOP_SYNC_VIA_REFLINK;
}


/* Count @n bytes moved by one of the ways. */
static void add(atomic_uint_fast64_t *ctr, uint64_t n)
{
	atomic_fetch_add(ctr, n);
}

/* clone_part() - FICLONERANGE of the block-aligned head of [@off, @off + @len). */
static int64_t clone_part(struct copy_src *s, int wfd, uint64_t off, uint64_t len)
{
	struct file_clone_range r;
	uint64_t n;

	if (!atomic_load(&s->reflink) || off % s->block)
		return 0;
	n = len - len % s->block;
	if (!n)
		return 0;
	r = (struct file_clone_range){ .src_fd = s->fd, .src_offset = off, .src_length = n,
				       .dest_offset = off };
	if (ioctl(wfd, FICLONERANGE, &r) < 0) {
		/*
		 * Not supported, another filesystem, not aligned for it: copy
		 * instead from now on.  Nothing was changed by the failed call.
		 */
		atomic_store(&s->reflink, 0);
		return 0;
	}
	add(&s->bytes_reflink, n);
	return (int64_t)n;
}

int64_t copy_src_run(struct copy_src *s, int wfd, void *buf, uint64_t off, uint64_t len,
		     int *is_write)
{
	uint64_t done = 0;
	int64_t n;

	*is_write = 0;
	if (s->fd < 0)
		return 0;
	n = clone_part(s, wfd, off, len);
	done += (uint64_t)n;
	while (done < len && atomic_load(&s->cfr)) {
		loff_t in = (loff_t)(off + done), out = in;
		ssize_t r = copy_file_range(s->fd, &in, wfd, &out, (size_t)(len - done), 0);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EXDEV || errno == EINVAL || errno == EOPNOTSUPP ||
			      errno == ENOSYS || errno == EBADF)) {
			atomic_store(&s->cfr, 0);	/* e.g. another filesystem */
			break;
		}
		if (r < 0) {
			*is_write = 1;
			return -errno;
		}
		if (!r)
			return (int64_t)done;	/* the backing file ends: the device reads the rest */
		add(&s->bytes_cfr, (uint64_t)r);
		done += (uint64_t)r;
	}
	while (done < len) {
		ssize_t r = pread(s->fd, buf, (size_t)(len - done), (off_t)(off + done));
		ssize_t w = 0;

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (!r)
			break;
		while (w < r) {
			ssize_t k = pwrite(wfd, (char *)buf + w, (size_t)(r - w),
					   (off_t)(off + done + (uint64_t)w));

			if (k < 0 && errno == EINTR)
				continue;
			if (k <= 0) {
				*is_write = 1;
				return k < 0 ? -errno : -ENOSPC;
			}
			w += k;
		}
		add(&s->bytes_read, (uint64_t)r);
		done += (uint64_t)r;
	}
	return (int64_t)done;
}
