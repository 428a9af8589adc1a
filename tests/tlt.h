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

#endif /* TLT_H */
