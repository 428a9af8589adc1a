// SPDX-License-Identifier: GPL-2.0
/*
 * verify.c - compare a device (or any file) with its area2, local or on an
 * NBD export, page by page, and report the runs of pages that differ.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "nbdapi.h"

#define VERIFY_DEFAULT_CHUNK	(4U << 20)

/* vfail() - record what failed in res->msg, log it, and return @err. */
#define vfail(res, err, ...) \
	tloop_fail((res)->msg, sizeof((res)->msg), "verify", (err), __VA_ARGS__)

static int fd_size(int fd, uint64_t *size)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (S_ISREG(st.st_mode)) {
		*size = (uint64_t)st.st_size;
		return 0;
	}
	if (S_ISBLK(st.st_mode))
		return ioctl(fd, BLKGETSIZE64, size) < 0 ? -errno : 0;
	return -EINVAL;
}


int tloop_verify(const char *dev, const char *area2, const struct tloop_verify_opts *opts,
		 tloop_diff_fn fn, void *arg, struct tloop_verify_result *res)
{
	struct tloop_verify_opts o = { 0 };
	struct nbd_handle *h = NULL;
	int dfd = -1, afd = -1, dead = 0, ret;
	char *a = NULL, *b = NULL;
	uint64_t off, ps, chunk, run_start = 0, run_len = 0;
	double t0 = tloop_now();

	memset(res, 0, sizeof(*res));
	if (opts)
		memcpy(&o, opts, opts->sz < sizeof(o) ? opts->sz : sizeof(o));
	ps = o.page_size ? o.page_size : (uint64_t)sysconf(_SC_PAGESIZE);
	chunk = o.chunk ? o.chunk : VERIFY_DEFAULT_CHUNK;
	chunk -= chunk % ps;
	if (!chunk)
		chunk = ps;
	res->page_size = (uint32_t)ps;

	dfd = open(dev, O_RDONLY | O_CLOEXEC);
	if (dfd < 0) {
		ret = vfail(res, -errno, "open %s", dev);
		goto out;
	}
	ret = fd_size(dfd, &res->size);
	if (ret) {
		ret = vfail(res, ret, "size of %s", dev);
		goto out;
	}
	if (tloop_is_nbd_uri(area2)) {
		int64_t s;

		ret = tloop_nbd_connect(area2, o.timeout_ms, &h, res->msg, sizeof(res->msg));
		if (ret)
			goto out;
		s = tloop_libnbd.nbd_get_size(h);
		if (s < 0) {
			ret = vfail(res, -EIO, "size of %s: %s", area2,
				    tloop_libnbd.nbd_get_error());
			goto out;
		}
		res->area2_size = (uint64_t)s;
		s = tloop_libnbd.nbd_get_block_size(h, LIBNBD_SIZE_MAXIMUM);
		if (s > 0 && chunk > (uint64_t)s && (uint64_t)s >= ps)
			chunk = (uint64_t)s - (uint64_t)s % ps;
	} else {
		afd = open(area2, O_RDONLY | O_CLOEXEC);
		if (afd < 0) {
			ret = vfail(res, -errno, "open %s", area2);
			goto out;
		}
		ret = fd_size(afd, &res->area2_size);
		if (ret) {
			ret = vfail(res, ret, "size of %s", area2);
			goto out;
		}
	}
	if (res->area2_size < res->size) {
		ret = vfail(res, -EINVAL, "%s is %" PRIu64 " bytes, %s is %" PRIu64 " bytes",
			    area2, res->area2_size, dev, res->size);
		goto out;
	}
	a = malloc((size_t)chunk);
	b = malloc((size_t)chunk);
	if (!a || !b) {
		ret = vfail(res, -ENOMEM, "allocate %" PRIu64 " bytes", chunk);
		goto out;
	}
	for (off = 0; off < res->size; off += chunk) {
		uint64_t len = res->size - off < chunk ? res->size - off : chunk, p;

		ret = tloop_pread_full(dfd, a, (size_t)len, off);
		if (ret) {
			ret = vfail(res, ret, "read %s at offset %" PRIu64, dev, off);
			goto out;
		}
		if (h) {
			int64_t ck = tloop_libnbd.nbd_aio_pread(h, b, (size_t)len, off,
								NBD_NULL_COMPLETION, 0);
			char why[sizeof(res->msg)];

			ret = 0;
			if (ck == -1) {
				int e = tloop_libnbd.nbd_get_errno();

				ret = e > 0 ? -e : -EIO;
				snprintf(why, sizeof(why), "%s", tloop_libnbd.nbd_get_error());
			} else {
				ret = tloop_nbd_wait_cmd(h, area2, o.timeout_ms, ck, why, sizeof(why));
			}
			if (ret) {
				dead = 1;
				ret = vfail(res, ret, "read %s at offset %" PRIu64 ": %s", area2, off,
					    why);
				goto out;
			}
		} else {
			ret = tloop_pread_full(afd, b, (size_t)len, off);
			if (ret) {
				ret = vfail(res, ret, "read %s at offset %" PRIu64, area2, off);
				goto out;
			}
		}
		for (p = 0; p < len; p += ps) {
			uint64_t n = len - p < ps ? len - p : ps;
			uint64_t page = (off + p) / ps;

			res->pages++;
			if (!memcmp(a + p, b + p, (size_t)n))
				continue;
			res->differing++;
			if (run_len && run_start + run_len == page) {
				run_len++;
				continue;
			}
			if (run_len && fn) {
				ret = fn(run_start, run_len, arg);
				if (ret)
					goto out;
			}
			run_start = page;
			run_len = 1;
		}
		res->bytes += len;
	}
	if (run_len && fn) {
		ret = fn(run_start, run_len, arg);
		if (ret)
			goto out;
	}
	ret = 0;
out:
	if (h) {
		if (!dead)
			tloop_libnbd.nbd_shutdown(h, 0);
		tloop_libnbd.nbd_close(h);
	}
	free(a);
	free(b);
	if (afd >= 0)
		close(afd);
	if (dfd >= 0)
		close(dfd);
	res->seconds = tloop_now() - t0;
	return ret;
}
