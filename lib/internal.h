/* SPDX-License-Identifier: GPL-2.0 */
/*
 * internal.h - helpers shared by libtloop's source files (not installed).
 */
#ifndef TLOOP_INTERNAL_H
#define TLOOP_INTERNAL_H

#include <sys/stat.h>

#include "libtloop.h"

/* tloop_log() - pass a formatted message to the installed log callback. */
__attribute__((visibility("hidden")))
void tloop_log(enum tloop_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * tloop_fail() - format what failed into @msg (@len bytes), log it as a
 * warning "<who>: <msg>: <strerror(-err)>", and return @err (-errno).
 */
__attribute__((visibility("hidden"), format(printf, 5, 6)))
int tloop_fail(char *msg, size_t len, const char *who, int err, const char *fmt, ...);

/* tloop_now() - the monotonic clock, in seconds. */
__attribute__((visibility("hidden")))
double tloop_now(void);

/* tloop_pread_full() - read all @len bytes at @off; 0, or -errno (-EIO at EOF). */
__attribute__((visibility("hidden")))
int tloop_pread_full(int fd, void *buf, size_t len, uint64_t off);

/* tloop_pwrite_full() - write all @len bytes at @off; 0, or -errno (-ENOSPC if none). */
__attribute__((visibility("hidden")))
int tloop_pwrite_full(int fd, const void *buf, size_t len, uint64_t off);

/*
 * tloop_open_read() - the device's data descriptors of a refresh: *@bfd
 * buffered, *@rfd with O_DIRECT unless @buffered or refused (then *@bfd).
 * 0, or -errno of the buffered open (then neither is open).
 */
__attribute__((visibility("hidden")))
int tloop_open_read(const char *dev, int buffered, int *rfd, int *bfd);

/*
 * struct tloop_snap_refresh_opts - a point-in-time refresh (snap.c): copy
 * the pages of a snapshot of the device into area2 (@wfd).
 * @all: every page (TLOOP_SNAP_ALL), else the written set's pages.
 * @check_generation: without @all, the set's generation before P must be
 *	@generation (area2's baseline), else every page is copied.
 * @fn: where each batch goes (NULL: written to @wfd, a run per pwrite).
 * @arg: passed to @fn and @before_end.
 * @before_end: NULL, or called once every batch went to @fn and before the
 *	end with TLOOP_SNAP_END_COPIED: the pages must be stored durably by
 *	then (NBD: every reply, then a flush); an error ends without COPIED.
 */
struct tloop_snap_refresh_opts {
	int all;
	int check_generation;
	uint64_t generation;
	uint64_t mem_limit;
	const char *freeze;
	unsigned int batch;
	uint32_t page_size;
	uint64_t dev_size;
	tloop_snap_fn fn;
	void *arg;
	int (*before_end)(void *arg);
};

/* struct tloop_snap_refresh_result - what tloop_snap_refresh() did. */
struct tloop_snap_refresh_result {
	int all;		/* every page was copied */
	int started;		/* the snapshot was taken: @generation is valid */
	int concurrent;		/* because someone else cleared the set */
	uint64_t generation;	/* the set's generation after P */
	uint64_t pending;	/* pages of P */
	uint64_t pages;		/* pages copied */
	uint64_t bytes;
	uint64_t preserved;
	uint64_t mem_peak;
	int error;		/* the snapshot's failure, if it failed */
	char msg[200];
};

/* tloop_snap_refresh() - see snap.c; 0 or -errno (@res->msg says what failed). */
__attribute__((visibility("hidden")))
int tloop_snap_refresh(int fd, int wfd, const struct tloop_snap_refresh_opts *o,
		       struct tloop_snap_refresh_result *res);

/* tloop_ioctl() - ioctl(2) returning its result or -errno. */
__attribute__((visibility("hidden")))
int tloop_ioctl(int fd, unsigned long cmd, void *arg);

/*
 * tloop_continue_flags() - extra TLOOP_GET_WRITTEN flags for the calls that
 * continue a walk: TLOOP_GET_NOSYNC when the module writes back the whole
 * device on every call (no TLOOP_FEAT_WALK_SYNC), 0 otherwise or when the
 * module cannot be asked (then every call writes back what it examines or
 * more, which is never less than the walk needs).
 */
__attribute__((visibility("hidden")))
unsigned int tloop_continue_flags(void);

/*
 * struct tloop_walk - one walk of the written set (walk.c).
 * @flags: TLOOP_GET_CLEAR, TLOOP_GET_NOSYNC: passed on every call (the walk
 *	adds tloop_continue_flags() to the calls after the first).
 * @start: first page index to look at.
 * @end: page index to stop before (0: end of the device).
 * @buf: room for @batch page indices.
 * @batch: entries per call (see tloop_walk_batch()).
 * @check_generation: a clearing walk that must see its own clears only:
 *	every call must report @generation + 1, then one more per call.
 * @generation: the set's generation before the walk (with
 *	@check_generation).
 * @consumer: the consumer whose set is walked (0: the default one).
 */
struct tloop_walk {
	unsigned int flags;
	uint64_t start;
	uint64_t end;
	uint64_t *buf;
	unsigned int batch;
	int check_generation;
	uint64_t generation;
	uint32_t consumer;
};

/* enum tloop_walk_stop - why tloop_walk() returned. */
enum tloop_walk_stop {
	TLOOP_WALK_DONE,	/* reached TLOOP_CURSOR_END: 0 */
	TLOOP_WALK_IOCTL,	/* TLOOP_GET_WRITTEN failed: its -errno */
	TLOOP_WALK_OVERFLOW,	/* the set is overflowed: -EOVERFLOW */
	TLOOP_WALK_CONCURRENT,	/* another clear moved the generation: -ESTALE */
	TLOOP_WALK_PROTOCOL,	/* count above capacity, cursor stuck: -EPROTO */
	TLOOP_WALK_CALLBACK,	/* the callback's error */
};

/* tloop_walk_batch() - @batch, or the default for 0, at most TLOOP_GET_MAX_BATCH. */
__attribute__((visibility("hidden")))
unsigned int tloop_walk_batch(unsigned int batch);

/*
 * tloop_walk() - follow the cursor from @wk->start to TLOOP_CURSOR_END,
 * passing each non-empty batch to @fn; stops at the first error, overflow
 * or (with @wk->check_generation) foreign clear.  @res: filled in (calls
 * that succeeded, pages passed to @fn, the last generation and status);
 * @stop: why it returned.  Return: 0 or a negative errno (see @stop).
 */
__attribute__((visibility("hidden")))
int tloop_walk(int fd, const struct tloop_walk *wk, tloop_written_fn fn, void *arg,
	       struct tloop_walk_result *res, enum tloop_walk_stop *stop);

/*
 * tloop_sync_decide() - the kind of refresh a baseline allows (sync.c),
 * for the local and the NBD engine.
 */
__attribute__((visibility("hidden")))
enum tloop_sync_why tloop_sync_decide(const char *baseline, const struct tloop_track_status *ts,
				      const struct tloop_sync_result *res, uint32_t consumer,
				      unsigned int flags, int created, uint64_t *generation);

/*
 * struct tloop_sync_dev - the device as both refresh engines see it before
 * anything changes (tloop_sync_open_dev()).
 * @fd: the control descriptor (tloop_dev_open_ctl()); the caller closes it.
 * @st: its fstat().
 * @info: the device's configuration.
 * @ts: the tracking status of @consumer's written set.
 * @consumer: the id of the consumer the refresh follows (0: the default one).
 * @nr_pages: the device's pages (the last one may be partial).
 * @tracking: @consumer's set is on (TLOOP_TRACK_ON).
 */
struct tloop_sync_dev {
	int fd;
	struct stat st;
	struct tloop_info info;
	struct tloop_track_status ts;
	uint32_t consumer;
	uint64_t nr_pages;
	int tracking;
};

/*
 * tloop_sync_open_dev() - the prologue of both refresh engines (sync.c):
 * open @dev, read its configuration, look up @consumer (NULL or "default":
 * the default one) and its set's status, check them, fill @res's dev_size,
 * page_size, attach_id, consumer and consumer_id, and refuse (-EPERM) a
 * caller that may not clear the set.  0, or -errno with @res->msg said
 * (then @d->fd is -1).
 */
__attribute__((visibility("hidden")))
int tloop_sync_open_dev(const char *dev, const char *consumer, struct tloop_sync_dev *d,
			struct tloop_sync_result *res);

/*
 * tloop_sync_check_consistent() - with TLOOP_SYNC_CONSISTENT in @flags,
 * refuse a set that is not tracking (-ENODATA) or a named consumer
 * (-EOPNOTSUPP: a snapshot moves the default consumer's set).  0, or
 * -errno with @res->msg said.
 */
__attribute__((visibility("hidden")))
int tloop_sync_check_consistent(const char *dev, unsigned int flags,
				const struct tloop_sync_dev *d, struct tloop_sync_result *res);

/*
 * tloop_sync_baseline_init() - the baseline a refresh of @d records (both
 * engines): attachment, geometry and consumer; the caller sets generation.
 */
__attribute__((visibility("hidden")))
void tloop_sync_baseline_init(const struct tloop_sync_dev *d,
			      const struct tloop_sync_result *res, struct tloop_baseline *b);

/* tloop_fsync_dir_of() - fsync the directory of @path (baseline.c). */
__attribute__((visibility("hidden")))
int tloop_fsync_dir_of(const char *path);

struct nbd_handle;

/* tloop_sync_nbd() - tloop_sync() to an NBD URI (nbd.c). */
__attribute__((visibility("hidden")))
int tloop_sync_nbd(const char *dev, const char *uri, const struct tloop_sync_opts *opts,
		   struct tloop_sync_result *res);

/*
 * tloop_nbd_connect() - a connected handle to @uri in *@out, within
 * @timeout_ms (0: TLOOP_NBD_TIMEOUT_MS); 0, or -errno with the reason in @msg.
 */
__attribute__((visibility("hidden")))
int tloop_nbd_connect(const char *uri, unsigned int timeout_ms, struct nbd_handle **out,
		      char *msg, size_t len);

/*
 * tloop_nbd_wait() - one nbd_poll() of at most a second; fails when the
 * connection is lost or nothing happened for @timeout_ms (0:
 * TLOOP_NBD_TIMEOUT_MS) since *@idle_since (updated on progress).
 */
__attribute__((visibility("hidden")))
int tloop_nbd_wait(struct nbd_handle *h, const char *uri, unsigned int timeout_ms,
		   int64_t *idle_since, char *msg, size_t len);

/*
 * tloop_nbd_wait_cmd() - wait for command @cookie to complete, within
 * @timeout_ms of silence; 0, or -errno with the reason in @msg.
 */
__attribute__((visibility("hidden")))
int tloop_nbd_wait_cmd(struct nbd_handle *h, const char *uri, unsigned int timeout_ms,
		       int64_t cookie, char *msg, size_t len);

#endif /* TLOOP_INTERNAL_H */
