// SPDX-License-Identifier: GPL-2.0
/*
 * util.c - small helpers shared by the refresh engines (sync.c, nbd.c,
 * snap.c) and tloop_verify() (verify.c): recording a failure, the monotonic
 * clock, whole-buffer positioned I/O, and the device's read descriptors.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

int tloop_fail(char *msg, size_t len, const char *who, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, len, fmt, ap);
	va_end(ap);
	tloop_log(TLOOP_LOG_WARN, "%s: %s: %s", who, msg, strerror(-err));
	return err;
}

double tloop_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int tloop_pread_full(int fd, void *buf, size_t len, uint64_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, (char *)buf + done, len - done, (off_t)(off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (!n)
			return -EIO;
		done += (size_t)n;
	}
	return 0;
}

int tloop_pwrite_full(int fd, const void *buf, size_t len, uint64_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pwrite(fd, (const char *)buf + done, len - done, (off_t)(off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (!n)
			return -ENOSPC;
		done += (size_t)n;
	}
	return 0;
}

int tloop_open_read(const char *dev, int buffered, int *rfd, int *bfd)
{
	*bfd = open(dev, O_RDONLY | O_CLOEXEC);
	if (*bfd < 0)
		return -errno;
	*rfd = *bfd;
	if (!buffered) {
		*rfd = open(dev, O_RDONLY | O_CLOEXEC | O_DIRECT);
		if (*rfd < 0)
			*rfd = *bfd;
	}
	return 0;
}
