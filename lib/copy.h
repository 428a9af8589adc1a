/* SPDX-License-Identifier: GPL-2.0 */
/*
 * copy.h - the sources a refresh copies from (copy.c; not installed).
 */
#ifndef TLOOP_COPY_H
#define TLOOP_COPY_H

#include <stdatomic.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "internal.h"

/*
 * struct copy_src - the device's backing file as a source, when it is safe
 * (see copy.c).  @fd: the backing file, read-only, or -1 (read the device);
 * @via: what copy_src_open() and copy_src_area2() settled on;
 * @want_reflink: 1: the caller asked for clones; 2: auto (no clones); @reflink, @cfr: FICLONERANGE and
 * copy_file_range(2) still worth trying (the first refusal turns one off
 * for the rest of the refresh); @block: area2's filesystem block size (the
 * clone granularity); @bytes_*: bytes moved by each way.
 */
struct copy_src {
	int fd;
	enum tloop_sync_via via;
	int want_reflink;
	atomic_int reflink;
	atomic_int cfr;
	uint64_t block;
	atomic_uint_fast64_t bytes_reflink;
	atomic_uint_fast64_t bytes_cfr;
	atomic_uint_fast64_t bytes_read;
};

__attribute__((visibility("hidden")))
void copy_src_init(struct copy_src *s);

/*
 * copy_src_open() - set @s up for @via (TLOOP_SYNC_VIA_*) for the device
 * open as @devfd (stat @devst).  Return: 0, or -1 with @why saying why the
 * backing file cannot be used (then @s reads the device).  Changes nothing.
 */
__attribute__((visibility("hidden")))
int copy_src_open(struct copy_src *s, enum tloop_sync_via via, int devfd,
		  const struct stat *devst, char *why, size_t whylen);

/*
 * copy_src_area2() - once area2 is open as @wfd: clone into it where asked
 * and it is a regular file on the backing file's filesystem.
 */
__attribute__((visibility("hidden")))
void copy_src_area2(struct copy_src *s, int wfd);

__attribute__((visibility("hidden")))
void copy_src_close(struct copy_src *s);

/*
 * copy_src_run() - move [@off, @off + @len) from the backing file to area2
 * (@wfd): cloned, copied in the kernel, or read into @buf (at least @len
 * bytes) and written.  Return: the bytes done from @off on (less than @len
 * where the backing file ends, 0 without a backing file: the caller reads
 * the rest from the device), or -errno (*@is_write: area2's side).
 */
__attribute__((visibility("hidden")))
int64_t copy_src_run(struct copy_src *s, int wfd, void *buf, uint64_t off, uint64_t len,
		     int *is_write);

#endif /* TLOOP_COPY_H */
