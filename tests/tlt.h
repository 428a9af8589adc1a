/* SPDX-License-Identifier: GPL-2.0 */
/*
 * tlt.h - header-only helpers for tloop's in-VM tests: KTAP output, checks that
 * print expected vs actual, and thin wrappers around the tloop ioctls.
 */
#ifndef TLT_H
#define TLT_H

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <linux/tloop.h>

static int tlt_planned;
static int tlt_n;
static int tlt_failed;

/* tlt_plan() - print the KTAP header and the plan. */
static inline void tlt_plan(int n)
{
	tlt_planned = n;
	printf("KTAP version 1\n1..%d\n", n);
	fflush(stdout);
}

/* tlt_diag() - print one diagnostic line ("# ..."). */
static inline __attribute__((format(printf, 1, 2))) void tlt_diag(const char *fmt, ...)
{
	va_list ap;

	fputs("# ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
	fflush(stdout);
}

/* tlt_result() - report one result; returns ok. */
static inline __attribute__((format(printf, 2, 3))) int tlt_result(int ok, const char *fmt, ...)
{
	va_list ap;

	printf("%sok %d ", ok ? "" : "not ", ++tlt_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
	fflush(stdout);
	if (!ok)
		tlt_failed++;
	return ok;
}

/* tlt_skip() - report one skipped result with its reason. */
static inline void tlt_skip(const char *name, const char *reason)
{
	printf("ok %d %s # SKIP %s\n", ++tlt_n, name, reason);
	fflush(stdout);
}

/* tlt_skip_all() - the whole test cannot run: KTAP skip, exit 4. */
static inline __attribute__((noreturn)) void tlt_skip_all(const char *reason)
{
	printf("KTAP version 1\n1..0 # SKIP %s\n", reason);
	fflush(stdout);
	exit(4);
}

/* tlt_bail() - a setup step failed: report it and exit 1. */
static inline __attribute__((noreturn, format(printf, 1, 2))) void tlt_bail(const char *fmt, ...)
{
	va_list ap;

	printf("# setup failed: ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf(" (errno %d: %s)\n", errno, strerror(errno));
	fflush(stdout);
	exit(1);
}

/* tlt_exit() - finish: check the plan was met, exit 0 or 1. */
static inline __attribute__((noreturn)) void tlt_exit(void)
{
	if (tlt_n != tlt_planned) {
		tlt_diag("planned %d results, reported %d", tlt_planned, tlt_n);
		exit(1);
	}
	exit(tlt_failed ? 1 : 0);
}

/* tlt_errname() - "EINVAL" for EINVAL. */
static inline const char *tlt_errname(int err)
{
	const char *s = strerrorname_np(err);

	return s ? s : "?";
}

/*
 * tlt_expect_errno() - check that a call returned -1 with errno @want.
 * Use as: tlt_expect_errno(ioctl(...), EINVAL, "name").
 */
static inline int tlt_expect_errno(long ret, int want, const char *name)
{
	int err = errno;

	if (ret == -1 && err == want)
		return tlt_result(1, "%s", name);
	tlt_diag("%s: expected -1/%s, got %ld/%s", name, tlt_errname(want), ret,
		 ret == -1 ? tlt_errname(err) : "no error");
	return tlt_result(0, "%s", name);
}

/* tlt_ctl_open() - open the control node, or bail. */
static inline int tlt_ctl_open(void)
{
	int fd = open(TLOOP_CONTROL_NODE, O_RDWR | O_CLOEXEC);

	if (fd < 0)
		tlt_bail("open %s", TLOOP_CONTROL_NODE);
	return fd;
}

/*
 * tlt_add() - attach @path (created/extended to @size bytes if @size != 0)
 * as a tloop device with @flags and @block_size; returns the index or -errno.
 */
static inline int tlt_add(int ctl, const char *path, off_t size, unsigned int flags,
			  unsigned int block_size)
{
	struct tloop_add add = { .size = sizeof(add), .index = -1 };
	int fd, ret, err;

	fd = open(path, ((flags & TLOOP_FLAG_READ_ONLY) ? O_RDONLY : O_RDWR) | O_CREAT |
		  O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (size && ftruncate(fd, size) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	add.flags = flags;
	add.backing_fd = fd;
	add.block_size = block_size;
	ret = ioctl(ctl, TLOOP_CTL_ADD, &add);
	err = errno;
	close(fd);
	return ret < 0 ? -err : add.index;
}

/* tlt_remove() - detach device @index; returns 0 or -errno. */
static inline int tlt_remove(int ctl, int index)
{
	struct tloop_remove rm = { .size = sizeof(rm), .index = (__u32)index };

	return ioctl(ctl, TLOOP_CTL_REMOVE, &rm) < 0 ? -errno : 0;
}

/* tlt_dev_path() - "/dev/tloopN" into @buf. */
static inline const char *tlt_dev_path(char *buf, size_t len, int index)
{
	snprintf(buf, len, TLOOP_DEVICE_PREFIX "%d", index);
	return buf;
}

/*
 * Helpers for the device tests (issue 3): one interface over tloop and the
 * stock loop driver, so that every data check also runs on /dev/loopN as a
 * reference in the same boot, plus pattern, file and command helpers.
 */
#include <signal.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <linux/fs.h>
#include <linux/loop.h>

/* enum tlt_kind - which driver a struct tlt_dev lives on. */
enum tlt_kind { TLT_TLOOP, TLT_LOOP };

/* struct tlt_dev - an attached device: driver, index and node path. */
struct tlt_dev {
	enum tlt_kind kind;
	int index;
	char path[32];
};

/* tlt_kind_name() - "tloop" or "loop". */
static inline const char *tlt_kind_name(enum tlt_kind kind)
{
	return kind == TLT_TLOOP ? "tloop" : "loop";
}

/*
 * tlt_run() - run @fmt (a shell command line) with /bin/sh; its stdout and
 * stderr go to a file that is printed as diagnostics when the command fails.
 * Returns the exit status (0-255), or -1 if it could not run or was killed.
 */
static inline __attribute__((format(printf, 1, 2))) int tlt_run(const char *fmt, ...)
{
	char cmd[1024], line[256], log[] = "/tmp/tlt-run-XXXXXX";
	int fd, status, ret;
	va_list ap;
	FILE *f;
	pid_t pid;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	fd = mkstemp(log);
	if (fd < 0)
		return -1;
	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		close(fd);
		unlink(log);
		return -1;
	}
	if (pid == 0) {
		dup2(fd, 1);
		dup2(fd, 2);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	close(fd);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	ret = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
	if (ret != 0) {
		tlt_diag("command failed (%d): %s", ret, cmd);
		f = fopen(log, "r");
		while (f && fgets(line, sizeof(line), f)) {
			line[strcspn(line, "\n")] = '\0';
			tlt_diag("  %s", line);
		}
		if (f)
			fclose(f);
	}
	unlink(log);
	return ret;
}

/* tlt_modprobe() - load a Debian module quietly; returns 0 if it is there. */
static inline int tlt_modprobe(const char *name)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "modprobe %s >/dev/null 2>&1", name);
	return system(cmd) == 0 ? 0 : -1;
}

/*
 * tlt_pattern() - fill @buf with the test pattern of generation @seed for
 * the device bytes [@off, @off + @len): every byte depends on its absolute
 * offset, so a misplaced block never matches.
 */
static inline void tlt_pattern(void *buf, size_t len, uint64_t off, uint32_t seed)
{
	unsigned char *p = buf;
	size_t i;

	for (i = 0; i < len; i++) {
		uint64_t x = (off + i) / 8 * 0x9E3779B97F4A7C15ULL + seed * 0xC2B2AE3DULL;

		x ^= x >> 29;
		p[i] = (unsigned char)(x >> (8 * ((off + i) % 8)));
	}
}

/*
 * tlt_compare() - compare @got with @want (@len bytes at device offset
 * @off); prints the first difference as a diagnostic.  Returns 1 if equal.
 */
static inline int tlt_compare(const char *what, const void *want, const void *got, size_t len,
			      uint64_t off)
{
	const unsigned char *w = want, *g = got;
	size_t i, bad = 0, first = 0;

	for (i = 0; i < len; i++) {
		if (w[i] != g[i]) {
			if (!bad++)
				first = i;
		}
	}
	if (!bad)
		return 1;
	tlt_diag("%s: %zu of %zu bytes differ; first at offset %" PRIu64
		 ": expected 0x%02x, got 0x%02x", what, bad, len, off + first, w[first], g[first]);
	return 0;
}

/* tlt_pread_full() - pread exactly @len bytes; returns 0 or -errno (-EIO if short). */
static inline int tlt_pread_full(int fd, void *buf, size_t len, off_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, (char *)buf + done, len - done, off + (off_t)done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		done += (size_t)n;
	}
	return 0;
}

/* tlt_pwrite_full() - pwrite exactly @len bytes; returns 0 or -errno (-ENOSPC if short). */
static inline int tlt_pwrite_full(int fd, const void *buf, size_t len, off_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pwrite(fd, (const char *)buf + done, len - done, off + (off_t)done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ENOSPC;
		done += (size_t)n;
	}
	return 0;
}

/* tlt_alloc() - page-aligned zeroed buffer usable for O_DIRECT, or bail. */
static inline void *tlt_alloc(size_t len)
{
	void *p = NULL;

	if (posix_memalign(&p, 4096, len ? len : 1))
		tlt_bail("posix_memalign %zu", len);
	memset(p, 0, len);
	return p;
}

/* tlt_make_file() - create @path with @size bytes of pattern @seed (0: a sparse file). */
static inline int tlt_make_file(const char *path, off_t size, uint32_t seed)
{
	size_t chunk = 1 << 20;
	char *buf;
	off_t off;
	int fd, ret = 0;

	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, size) < 0) {
		ret = -errno;
		goto out;
	}
	if (!seed)
		goto out;
	buf = tlt_alloc(chunk);
	for (off = 0; off < size && !ret; off += (off_t)chunk) {
		size_t n = (size_t)(size - off) < chunk ? (size_t)(size - off) : chunk;

		tlt_pattern(buf, n, (uint64_t)off, seed);
		ret = tlt_pwrite_full(fd, buf, n, off);
	}
	free(buf);
	if (!ret && fsync(fd) < 0)
		ret = -errno;
out:
	close(fd);
	return ret;
}

/* tlt_drop_caches() - write back and drop clean page cache, dentries and inodes. */
static inline void tlt_drop_caches(void)
{
	int fd;

	sync();
	fd = open("/proc/sys/vm/drop_caches", O_WRONLY | O_CLOEXEC);
	if (fd >= 0) {
		if (write(fd, "3", 1) < 0)
			tlt_diag("drop_caches: %s", strerror(errno));
		close(fd);
	}
}

/* tlt_loop_control() - open /dev/loop-control, loading the loop module; -errno on failure. */
static inline int tlt_loop_control(void)
{
	int fd = open("/dev/loop-control", O_RDWR | O_CLOEXEC);

	if (fd < 0 && errno == ENOENT && !tlt_modprobe("loop"))
		fd = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

/*
 * tlt_attach_fd() - attach the open file @backing_fd to a new device of
 * driver @kind with TLOOP_FLAG_* @flags (READ_ONLY, DIRECT_IO, PARTSCAN map
 * to the loop driver's LO_FLAGS_*), @block_size (0: 512) and @size_limit
 * (0: none).  Fills @d; returns 0 or -errno.
 */
static inline int tlt_attach_fd(struct tlt_dev *d, enum tlt_kind kind, int backing_fd,
				unsigned int flags, unsigned int block_size, uint64_t size_limit)
{
	int ctl, ret, dfd, err;

	memset(d, 0, sizeof(*d));
	d->kind = kind;
	d->index = -1;
	if (kind == TLT_TLOOP) {
		struct tloop_add add = {
			.size = sizeof(add), .flags = flags, .backing_fd = backing_fd,
			.index = -1, .block_size = block_size, .size_limit = size_limit,
		};

		ctl = open(TLOOP_CONTROL_NODE, O_RDWR | O_CLOEXEC);
		if (ctl < 0)
			return -errno;
		ret = ioctl(ctl, TLOOP_CTL_ADD, &add);
		err = errno;
		close(ctl);
		if (ret < 0)
			return -err;
		d->index = add.index;
		if (ret != add.index)
			tlt_diag("TLOOP_CTL_ADD returned %d but index %d", ret, add.index);
		snprintf(d->path, sizeof(d->path), TLOOP_DEVICE_PREFIX "%d", d->index);
		return 0;
	} else {
		struct loop_config cfg = { .fd = (__u32)backing_fd, .block_size = block_size };

		cfg.info.lo_sizelimit = size_limit;
		cfg.info.lo_flags = ((flags & TLOOP_FLAG_READ_ONLY) ? LO_FLAGS_READ_ONLY : 0) |
				    ((flags & TLOOP_FLAG_DIRECT_IO) ? LO_FLAGS_DIRECT_IO : 0) |
				    ((flags & TLOOP_FLAG_PARTSCAN) ? LO_FLAGS_PARTSCAN : 0);
		ctl = tlt_loop_control();
		if (ctl < 0)
			return ctl;
		ret = ioctl(ctl, LOOP_CTL_GET_FREE);
		err = errno;
		close(ctl);
		if (ret < 0)
			return -err;
		d->index = ret;
		snprintf(d->path, sizeof(d->path), "/dev/loop%d", d->index);
		dfd = open(d->path, O_RDWR | O_CLOEXEC);
		if (dfd < 0)
			return -errno;
		ret = ioctl(dfd, LOOP_CONFIGURE, &cfg);
		err = errno;
		close(dfd);
		return ret < 0 ? -err : 0;
	}
}

/* tlt_attach() - open @path (read-only if @flags has READ_ONLY) and tlt_attach_fd() it. */
static inline int tlt_attach(struct tlt_dev *d, enum tlt_kind kind, const char *path,
			     unsigned int flags, unsigned int block_size, uint64_t size_limit)
{
	int fd = open(path, ((flags & TLOOP_FLAG_READ_ONLY) ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	int ret;

	if (fd < 0)
		return -errno;
	ret = tlt_attach_fd(d, kind, fd, flags, block_size, size_limit);
	close(fd);
	return ret;
}

/* tlt_detach() - remove a device made by tlt_attach(); returns 0 or -errno. */
static inline int tlt_detach(struct tlt_dev *d)
{
	int ctl, fd, ret = 0;

	if (d->index < 0)
		return 0;
	if (d->kind == TLT_TLOOP) {
		ctl = open(TLOOP_CONTROL_NODE, O_RDWR | O_CLOEXEC);
		if (ctl < 0)
			return -errno;
		ret = tlt_remove(ctl, d->index);
		close(ctl);
	} else {
		fd = open(d->path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return -errno;
		if (ioctl(fd, LOOP_CLR_FD) < 0)
			ret = -errno;
		close(fd);
		ctl = tlt_loop_control();
		if (ctl >= 0) {
			ioctl(ctl, LOOP_CTL_REMOVE, d->index);
			close(ctl);
		}
	}
	if (!ret)
		d->index = -1;
	return ret;
}

/* tlt_dev_size() - size in bytes of the block device open at @fd, or -1. */
static inline int64_t tlt_dev_size(int fd)
{
	uint64_t size;

	return ioctl(fd, BLKGETSIZE64, &size) < 0 ? -1 : (int64_t)size;
}

/* tlt_sysfs_read() - read a sysfs attribute into @buf without its newline; 0 or -errno. */
static inline int tlt_sysfs_read(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

/* tlt_scale() - TLOOP_SCALE from the environment (at least 1). */
static inline int tlt_scale(void)
{
	const char *s = getenv("TLOOP_SCALE");
	int v = s ? atoi(s) : 1;

	return v > 0 ? v : 1;
}

/* The real e2fsprogs (busybox's mke2fs applet only makes ext2). */
#define TLT_MKE2FS	"/sbin/mke2fs"
#define TLT_E2FSCK	"/sbin/e2fsck"

/*
 * tlt_need_ext4() - load ext4 and the crc32c it checksums with (the kernel
 * cannot load modules on demand in the test VM); returns 0 or -1.
 */
static inline int tlt_need_ext4(void)
{
	char line[64];
	FILE *f;
	int found = 0;

	tlt_modprobe("crc32c_generic");
	tlt_modprobe("crc32c");
	tlt_modprobe("ext4");
	/* Built in, or loaded just now: the kernel lists it either way. */
	f = fopen("/proc/filesystems", "r");
	while (f && !found && fgets(line, sizeof(line), f))
		found = !strcmp(line, "\text4\n");
	if (f)
		fclose(f);
	return found ? 0 : -1;
}

#endif /* TLT_H */
