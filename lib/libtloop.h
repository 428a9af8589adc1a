/* SPDX-License-Identifier: GPL-2.0 */
/*
 * libtloop.h - libtloop, the user-space library for tloop tracking loop
 * devices (installed as <libtloop.h>; link with -ltloop or pkg-config
 * libtloop).
 *
 * Conventions (as in liburing and libbpf):
 *  - Every name starts with tloop_ (types, functions) or TLOOP_ (constants).
 *    The kernel interface itself is <linux/tloop.h>, included here.
 *  - Functions return 0 (or a non-negative value where said) on success and
 *    a negative errno on failure.  They never print and never exit; the
 *    optional log callback (tloop_set_log()) receives diagnostics.
 *  - Options structs start with a size_t @sz that the caller sets to
 *    sizeof() the struct; a zeroed options struct (or NULL) means defaults.
 *  - errno is not meaningful after a call; use the return value.
 */
#ifndef LIBTLOOP_H
#define LIBTLOOP_H

#include <stddef.h>
#include <stdint.h>
#include <linux/tloop.h>

/* TLOOP_VERSION, TLOOP_VERSION_MAJOR/MINOR/PATCH: generated from VERSION. */
#include "libtloop-version.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TLOOP_STR_(x)	#x
#define TLOOP_STR(x)	TLOOP_STR_(x)
/** TLOOP_LIB_VERSION - version of this library's interface: "MAJOR.MINOR". */
#define TLOOP_LIB_VERSION	TLOOP_STR(TLOOP_VERSION_MAJOR) "." TLOOP_STR(TLOOP_VERSION_MINOR)

/* ---- logging ---------------------------------------------------------- */

/** enum tloop_log_level - severity passed to the log callback. */
enum tloop_log_level {
	TLOOP_LOG_WARN,
	TLOOP_LOG_INFO,
	TLOOP_LOG_DEBUG,
};

/** tloop_log_fn - log callback: one message without a trailing newline. */
typedef void (*tloop_log_fn)(enum tloop_log_level level, const char *msg, void *arg);

/**
 * tloop_set_log() - install a process-wide log callback (NULL: silent).
 * @fn: the callback.
 * @arg: passed to every call of @fn.
 */
void tloop_set_log(tloop_log_fn fn, void *arg);

/* ---- control node ----------------------------------------------------- */

/**
 * tloop_ctl_open() - open TLOOP_CONTROL_NODE read-write, close-on-exec.
 * Return: a file descriptor, or -errno.
 */
int tloop_ctl_open(void);

/**
 * tloop_ctl_version() - query the module's interface version and features.
 * @ctl: control node descriptor.
 * @v: filled in (the function sets @v->size itself).
 * Return: 0 or -errno.
 */
int tloop_ctl_version(int ctl, struct tloop_version *v);

/**
 * struct tloop_attach_opts - options of tloop_attach().
 * @sz: sizeof(struct tloop_attach_opts).
 * @flags: TLOOP_FLAG_* (see TLOOP_ADD_FLAGS).
 * @block_size: logical block size, 512 or 4096; 0 means 512.
 * @size_limit: if non-zero, the device is at most this many bytes.
 */
struct tloop_attach_opts {
	size_t sz;
	unsigned int flags;
	unsigned int block_size;
	uint64_t size_limit;
};

/**
 * tloop_attach() - create a device backed by the file at @path.
 * @ctl: control node descriptor.
 * @path: the backing file; opened read-write, or read-only with
 *	TLOOP_FLAG_READ_ONLY.
 * @opts: options, or NULL for defaults.
 * Return: the new device's index (>= 0), or -errno.
 */
int tloop_attach(int ctl, const char *path, const struct tloop_attach_opts *opts);

/**
 * tloop_attach_fd() - like tloop_attach() with an open descriptor.
 * @ctl: control node descriptor.
 * @fd: descriptor of a regular file (the device takes its own reference).
 * @opts: options, or NULL for defaults.
 * Return: the new device's index (>= 0), or -errno.
 */
int tloop_attach_fd(int ctl, int fd, const struct tloop_attach_opts *opts);

/**
 * tloop_attach_persist() - like tloop_attach_fd() with TLOOP_FLAG_PERSIST
 * (and TLOOP_FLAG_TRACK) added: the written sets are saved in the sidecar
 * @persist_fd at a clean detach, module unload or reboot, and restored
 * from it now.
 * @ctl: control node descriptor.
 * @fd: descriptor of the backing file.
 * @persist_fd: descriptor of the sidecar, open for reading and writing
 *	(the device takes its own reference).
 * @opts: options, or NULL for defaults.
 * @status: receives TLOOP_PERSIST_*: what was restored.
 * Return: the new device's index (>= 0), or -errno (-EOPNOTSUPP: the
 * module has no TLOOP_FEAT_PERSIST).
 */
int tloop_attach_persist(int ctl, int fd, int persist_fd, const struct tloop_attach_opts *opts,
			 unsigned int *status);

/**
 * tloop_persist_name() - the word for a TLOOP_PERSIST_* value: "off",
 * "new", "trusted", "unclean", "changed", "corrupt" or "unknown".
 * @status: the value.
 * Return: a static string.
 */
const char *tloop_persist_name(unsigned int status);

/**
 * tloop_persist_info() - the persistence of device @index, from sysfs.
 * @index: the device index.
 * @status: receives the restore outcome word (see tloop_persist_name()),
 *	"off" without persistence.
 * @slen: size of @status.
 * @file: receives the sidecar's path ("" without persistence).
 * @flen: size of @file.
 * Return: 0 or -errno (-ENOENT: a module without persistence).
 */
int tloop_persist_info(unsigned int index, char *status, size_t slen, char *file, size_t flen);

/**
 * tloop_detach() - remove device @index; -EBUSY while it is open.
 * @ctl: control node descriptor.
 * @index: the device index.
 * Return: 0 or -errno.
 */
int tloop_detach(int ctl, unsigned int index);

/**
 * tloop_list() - indices of the existing devices, ascending.
 * @indices: array of @cap entries.
 * @cap: capacity of @indices.
 * @count: out: number of devices found (may exceed @cap: then only the
 *	first @cap are stored and -ENOSPC is returned).
 * Return: 0, -ENOSPC, or -errno.
 */
int tloop_list(unsigned int *indices, size_t cap, size_t *count);

/**
 * tloop_list_all() - indices of every existing device, ascending, however
 * many there are (the module allows up to &tloop_version.max_devices).
 * @indices: out: an array from malloc(3) that the caller frees, also when
 *	@count is 0 (it is NULL only on failure).
 * @count: out: number of devices.
 * Return: 0 or -errno.
 */
int tloop_list_all(unsigned int **indices, size_t *count);

/* ---- devices ---------------------------------------------------------- */

/**
 * tloop_dev_path() - TLOOP_DEVICE_PREFIX followed by @index into @buf.
 * @index: the device index.
 * @buf: output buffer.
 * @len: size of @buf.
 * Return: 0, or -ENAMETOOLONG if @buf is too small.
 */
int tloop_dev_path(unsigned int index, char *buf, size_t len);

/**
 * tloop_dev_open() - open a tloop device node and check that it is one.
 * @path: the node, e.g. "/dev/tloop0".
 * @oflags: open(2) flags (O_CLOEXEC is added).
 * Return: a descriptor, -ENOTTY if @path is not a tloop device, or -errno.
 */
int tloop_dev_open(const char *path, int oflags);

/**
 * tloop_dev_open_ctl() - open a tloop device for its tracking ioctls.
 * @path: the node.
 *
 * Changing the tracking state needs the device open for writing or
 * CAP_SYS_ADMIN: the node is opened read-write if possible, read-only if
 * it cannot be opened for writing (a read-only device or node).
 *
 * Return: a descriptor, -ENOTTY if @path is not a tloop device, or -errno.
 */
int tloop_dev_open_ctl(const char *path);

/**
 * tloop_get_info() - the device's configuration and backing file path.
 * @fd: device descriptor.
 * @info: filled in (the function sets @info->size and the path fields).
 * @path: buffer for the backing file's path, or NULL.
 * @path_len: size of @path; the copy is NUL-terminated and may be truncated
 *	(compare @info->path_len against @path_len).
 * Return: 0 or -errno.
 */
int tloop_get_info(int fd, struct tloop_info *info, char *path, size_t path_len);

/**
 * tloop_track_enable() - turn tracking on with an empty set.
 * @fd: device descriptor.
 * @mem_limit: bytes the set may use (0: no limit beyond one bit per page).
 * Return: 0, -EBUSY if tracking is already on, or -errno.
 */
int tloop_track_enable(int fd, uint64_t mem_limit);

/**
 * tloop_track_disable() - turn tracking off and drop the set.
 * @fd: device descriptor.
 * Return: 0 or -errno.
 */
int tloop_track_disable(int fd);

/**
 * tloop_track_status() - the tracking state.
 * @fd: device descriptor.
 * @st: filled in (the function sets @st->size).
 * Return: 0 or -errno.
 */
int tloop_track_status(int fd, struct tloop_track_status *st);

/**
 * tloop_get_written() - one TLOOP_GET_WRITTEN call.
 * @fd: device descriptor.
 * @w: in/out argument; the function sets @w->size.
 * Return: 0, -ENODATA if tracking is off, or -errno.
 */
int tloop_get_written(int fd, struct tloop_written *w);

/**
 * tloop_clear_all() - clear the whole written set, leave overflow.
 * @fd: device descriptor.
 * @generation: out (may be NULL): the generation after the clear.
 * Return: 0, -ENODATA if tracking is off, or -errno.
 */
int tloop_clear_all(int fd, uint64_t *generation);

/**
 * tloop_clear_range() - clear pages [@start, @end) of the written set.
 * @fd: device descriptor.
 * @start: first page index.
 * @end: page index after the range.
 * @generation: out (may be NULL): the generation after the clear.
 * Return: 0, -ENODATA if tracking is off, or -errno.
 */
int tloop_clear_range(int fd, uint64_t start, uint64_t end, uint64_t *generation);

/* ---- point-in-time snapshots (snap.c) ----------------------------------- */

/**
 * tloop_snap_create() - TLOOP_SNAP_CREATE: fix an instant P of the device.
 * @fd: the device, open for writing (or with CAP_SYS_ADMIN).
 * @flags: TLOOP_SNAP_ALL or 0.
 * @mem_limit: bytes of pages the kernel may preserve (0: no limit).
 * @out: the kernel's reply, or NULL.
 *
 * Return: the snapshot's file descriptor (close-on-exec; closing it ends
 * the snapshot and puts its pages back into the written set), or -errno
 * (see struct tloop_snap_create in <linux/tloop.h>).
 */
int tloop_snap_create(int fd, unsigned int flags, uint64_t mem_limit,
		      struct tloop_snap_create *out);
/** tloop_snap_status() - TLOOP_SNAP_STATUS of snapshot @sfd into @st; 0 or -errno. */
int tloop_snap_status(int sfd, struct tloop_snap_status *st);
/** tloop_snap_end() - TLOOP_SNAP_END with @flags (TLOOP_SNAP_END_COPIED); 0 or -errno. */
int tloop_snap_end(int sfd, unsigned int flags);

/**
 * tloop_snap_fn - called by tloop_snap_walk() for each batch.
 * @pages: @n page indices, ascending.
 * @data: @n pages of content as of P, in the same order.
 * @n: entries.
 * @arg: the caller's argument.
 *
 * Return: 0 to continue, or a negative errno to stop the walk with it.
 */
typedef int (*tloop_snap_fn)(const uint64_t *pages, const void *data, size_t n, void *arg);

/**
 * tloop_snap_walk() - read every pending page of snapshot @sfd.
 * @sfd: the snapshot.
 * @batch: pages per TLOOP_SNAP_READ (0: 256; at most TLOOP_SNAP_MAX_BATCH).
 * @page_size: the tracking page size (TLOOP_TRACK_STATUS).
 * @fn: called with each batch.
 * @arg: passed to @fn.
 * @pages_read: out: pages read, or NULL.
 *
 * Each page is returned once; the pages read are done in the kernel's
 * eyes (they go back into the written set only if the snapshot ends
 * without TLOOP_SNAP_END_COPIED, or failed).
 *
 * Return: 0; -ESTALE if the snapshot failed (tloop_snap_status() says why);
 * @fn's error; or another -errno.
 */
int tloop_snap_walk(int sfd, unsigned int batch, uint32_t page_size, tloop_snap_fn fn,
		    void *arg, uint64_t *pages_read);
/* ---- named consumers -------------------------------------------------- */

/**
 * tloop_consumer_name_valid() - whether @name follows the naming rules of
 * DOC: consumers in <linux/tloop.h> (1 to 31 bytes of [A-Za-z0-9._-],
 * starting with a letter or digit).  "default" is valid: it names the
 * default consumer.
 * @name: the name (may be NULL).
 * Return: 1 or 0.
 */
int tloop_consumer_name_valid(const char *name);

/**
 * tloop_consumer_add() - add a named consumer (tracking must be on).
 * @fd: device descriptor (open for writing, or CAP_SYS_ADMIN).
 * @name: its name.
 * @mem_limit: bytes its set may use (0: no limit).
 * Return: its id (> 0); -EINVAL (bad name), -EEXIST, -ENOSPC (the device
 * has TLOOP_MAX_CONSUMERS), -ENODATA (tracking off), -EOPNOTSUPP (a module
 * without TLOOP_FEAT_CONSUMERS), or -errno.
 */
int tloop_consumer_add(int fd, const char *name, uint64_t mem_limit);

/**
 * tloop_consumer_remove() - remove a named consumer and drop its set.
 * @fd: device descriptor.
 * @name: its name ("default" is -EINVAL).
 * Return: 0, -ENOENT, -EOPNOTSUPP, or -errno.
 */
int tloop_consumer_remove(int fd, const char *name);

/**
 * tloop_consumer_list() - the consumers and the state of their sets.
 * @fd: device descriptor.
 * @ci: array of @cap entries (may be NULL with @cap 0).
 * @cap: its capacity; TLOOP_MAX_CONSUMERS + 1 is always enough.
 * @count: out (may be NULL): entries stored.
 * Return: the number of consumers (the default one first; 0 while
 * tracking is off), -EOPNOTSUPP, or -errno.
 */
int tloop_consumer_list(int fd, struct tloop_consumer_info *ci, size_t cap, size_t *count);

/**
 * tloop_consumer_lookup() - the id of consumer @name.
 * @fd: device descriptor.
 * @name: the name; NULL or "default" is the default consumer (id 0).
 * @id: out.
 * Return: 0, -ENOENT (no such consumer), -EINVAL (bad name), -EOPNOTSUPP,
 * or -errno.
 */
int tloop_consumer_lookup(int fd, const char *name, uint32_t *id);

/**
 * tloop_consumer_status() - tloop_track_status() of consumer @id.
 * @fd: device descriptor.
 * @id: the consumer's id (0: default).
 * @st: filled in.
 * Return: 0, -ENOENT (no consumer @id), or -errno.
 */
int tloop_consumer_status(int fd, uint32_t id, struct tloop_track_status *st);

/**
 * tloop_consumer_clear() - TLOOP_CLEAR_WRITTEN on consumer @id's set.
 * @fd: device descriptor.
 * @id: the consumer's id (0: default).
 * @flags: TLOOP_CLEAR_ALL (then @start and @end must be 0), or 0 for the
 *	range [@start, @end).
 * @start: first page index.
 * @end: page index after the range.
 * @generation: out (may be NULL): that set's generation after the clear.
 * Return: 0, -ENOENT, -ENODATA, or -errno.
 */
int tloop_consumer_clear(int fd, uint32_t id, unsigned int flags, uint64_t start, uint64_t end,
			 uint64_t *generation);

/* ---- walking the written set ------------------------------------------ */

/**
 * tloop_written_fn - called by tloop_walk_written() for each batch.
 * @pages: ascending page indices.
 * @n: number of entries (> 0).
 * @arg: the caller's argument.
 * Return: 0 to continue, or a negative errno to stop the walk with it.
 */
typedef int (*tloop_written_fn)(const uint64_t *pages, size_t n, void *arg);

/**
 * struct tloop_walk_opts - options of tloop_walk_written().
 * @sz: sizeof(struct tloop_walk_opts).
 * @flags: TLOOP_GET_CLEAR, TLOOP_GET_NOSYNC.
 * @batch: entries per call (0: 16384; at most TLOOP_GET_MAX_BATCH).
 * @start: first page index to look at.
 * @end: page index to stop before (0: end of the device).
 * @consumer: id of the consumer whose set is walked (0: the default one;
 *	see tloop_consumer_lookup()).
 */
struct tloop_walk_opts {
	size_t sz;
	unsigned int flags;
	unsigned int batch;
	uint64_t start;
	uint64_t end;
	uint32_t consumer;
};

/**
 * struct tloop_walk_result - what tloop_walk_written() saw.
 * @pages: number of page indices passed to the callback.
 * @calls: number of TLOOP_GET_WRITTEN calls.
 * @generation: generation reported by the last call.
 * @status: TLOOP_TRACK_* reported by the last call.
 */
struct tloop_walk_result {
	uint64_t pages;
	uint64_t calls;
	uint64_t generation;
	uint32_t status;
};

/**
 * tloop_walk_written() - page through the written set with the cursor.
 * @fd: device descriptor.
 * @opts: options, or NULL (no clear, sync, whole device).
 * @fn: callback for each non-empty batch.
 * @arg: passed to @fn.
 * @res: out (may be NULL).
 *
 * With TLOOP_GET_CLEAR each batch is cleared by the kernel as it is
 * returned, before @fn sees it.
 *
 * Without TLOOP_GET_NOSYNC the walk writes back the device's dirty page
 * cache once, not once per call: every store made before the walk started
 * is reported by it, and a store made during the walk to a page the walk
 * already passed is reported by the next walk (see struct tloop_written in
 * <linux/tloop.h>).  A module without TLOOP_FEAT_WALK_SYNC writes back the
 * whole device on every such call; the walk then passes TLOOP_GET_NOSYNC on
 * its continuation calls, which gives the same rule.
 *
 * Return: 0; -EOVERFLOW if the set is in the overflowed state (nothing was
 * returned or cleared: every page counts as written); -ENODATA if tracking
 * is off; -EIO, -ENOSPC (or another write-back error) if the device's page
 * cache could not be written back to its backing file (nothing was returned
 * or cleared by that call); the callback's error; or -errno.
 */
int tloop_walk_written(int fd, const struct tloop_walk_opts *opts, tloop_written_fn fn,
		       void *arg, struct tloop_walk_result *res);

/* ---- copy planner ----------------------------------------------------- */

/**
 * struct tloop_run - a run of consecutive pages.
 * @start: first page index.
 * @count: number of pages.
 */
struct tloop_run {
	uint64_t start;
	uint64_t count;
};

/**
 * tloop_plan_runs() - coalesce page indices into runs of at most @max_pages.
 * @pages: page indices, normally ascending (duplicates of the previous
 *	entry are dropped; a step backwards starts a new run).
 * @n: number of entries.
 * @max_pages: the longest run (0 means unlimited).
 * @runs: output, room for @n entries (there are never more runs than pages).
 * Return: number of runs stored.
 */
size_t tloop_plan_runs(const uint64_t *pages, size_t n, uint64_t max_pages,
		       struct tloop_run *runs);

/* ---- area2 baseline (sidecar file) ------------------------------------ */

/** TLOOP_BASELINE_SUFFIX - the sidecar of AREA2 is AREA2 followed by this. */
#define TLOOP_BASELINE_SUFFIX	".tloop"

/** TLOOP_BASELINE_MAX - the largest sidecar file accepted, in bytes. */
#define TLOOP_BASELINE_MAX	1024

/**
 * struct tloop_baseline - what area2 is known to equal.
 * @attach_id: &tloop_info.attach_id of the device area2 was copied from.
 * @generation: the generation after the clear that followed the copy:
 *	area2 equals the device except for pages in the written set while the
 *	device's generation is still this one.
 * @dev_size: device size in bytes.
 * @page_size: tracking page size in bytes.
 * @consumer_id: the id of the named consumer whose set the baseline
 *	follows, 0 for the default consumer.
 * @consumer: that consumer's name, NUL-padded (all zero for the default
 *	consumer).
 */
struct tloop_baseline {
	uint64_t attach_id;
	uint64_t generation;
	uint64_t dev_size;
	uint32_t page_size;
	uint32_t consumer_id;
	char consumer[TLOOP_CONSUMER_NAME_MAX];
};

/**
 * tloop_baseline_format() - the sidecar text for @b.
 * @b: the baseline.
 * @buf: output buffer.
 * @len: size of @buf.
 * Return: the text length (without NUL), or -ENOSPC.
 */
int tloop_baseline_format(const struct tloop_baseline *b, char *buf, size_t len);

/**
 * tloop_baseline_parse() - parse sidecar text.
 * @buf: the text (need not be NUL-terminated).
 * @len: its length.
 * @b: out.
 * Return: 0, or -EINVAL if it is not a valid version-1 sidecar.
 */
int tloop_baseline_parse(const char *buf, size_t len, struct tloop_baseline *b);

/**
 * tloop_baseline_path() - @area2 followed by TLOOP_BASELINE_SUFFIX.
 * @area2: path of area2.
 * @buf: output buffer.
 * @len: size of @buf.
 * Return: 0 or -ENAMETOOLONG.
 */
int tloop_baseline_path(const char *area2, char *buf, size_t len);

/**
 * tloop_baseline_load() - read the sidecar of @area2.
 * @area2: path of area2.
 * @b: out.
 * Return: 0, -ENOENT if there is none, -EINVAL if it is malformed, or -errno.
 */
int tloop_baseline_load(const char *area2, struct tloop_baseline *b);

/**
 * tloop_baseline_store() - write the sidecar of @area2 atomically
 * (temporary file, fsync, rename, fsync of the directory).
 * @area2: path of area2.
 * @b: the baseline.
 * Return: 0 or -errno.
 */
int tloop_baseline_store(const char *area2, const struct tloop_baseline *b);

/**
 * tloop_baseline_remove() - delete the sidecar of @area2, durably: the
 * unlink, then an fsync of its directory (also when it was already absent).
 * @area2: path of area2.
 * Return: 0 or -errno (the sidecar may then still exist, or come back after
 * a crash: nothing that relies on its absence may follow).
 */
int tloop_baseline_remove(const char *area2);

/* ---- area2 refresh ---------------------------------------------------- */

/**
 * TLOOP_SYNC_FSYNC - kept for compatibility: area2 is always made durable
 * (fdatasync) before the new baseline is recorded, unless
 * TLOOP_SYNC_UNSAFE_NO_FSYNC.
 */
#define TLOOP_SYNC_FSYNC	(1U << 0)
/** TLOOP_SYNC_CREATE - create area2 (with the device's size) if missing. */
#define TLOOP_SYNC_CREATE	(1U << 1)
/** TLOOP_SYNC_RESIZE - truncate/extend a regular-file area2 of the wrong size. */
#define TLOOP_SYNC_RESIZE	(1U << 2)
/** TLOOP_SYNC_FULL - copy everything even if the baseline allows less. */
#define TLOOP_SYNC_FULL		(1U << 3)
/** TLOOP_SYNC_BUFFERED - read the device through its page cache, not O_DIRECT. */
#define TLOOP_SYNC_BUFFERED	(1U << 4)
/**
 * TLOOP_SYNC_UNSAFE_NO_FSYNC - do not fdatasync area2 before recording the
 * baseline.  Risk: after a power cut (or a write-back error reported only
 * later) the baseline may claim pages that never reached area2's storage,
 * and since they were cleared from the written set, no later incremental
 * refresh copies them again: area2 stays silently different.
 */
#define TLOOP_SYNC_UNSAFE_NO_FSYNC	(1U << 5)
/**
 * TLOOP_SYNC_NO_GAPS - never read across unwritten pages: each run of
 * consecutive written pages is its own request (the behaviour before
 * @max_gap existed).
 */
#define TLOOP_SYNC_NO_GAPS	(1U << 6)
/**
 * TLOOP_SYNC_NO_AUTO_FULL - copy only the written pages even when so many
 * are written that a full sequential copy would be faster.
 */
#define TLOOP_SYNC_NO_AUTO_FULL	(1U << 7)
/**
 * TLOOP_SYNC_CONSISTENT - point in time: copy the device as it was at one
 * instant P (a snapshot, TLOOP_SNAP_CREATE) while writers go on; needs
 * tracking on and TLOOP_FEAT_SNAPSHOT (-EOPNOTSUPP otherwise).  See
 * &tloop_sync_opts.freeze and &tloop_sync_opts.snap_mem_limit.
 */
#define TLOOP_SYNC_CONSISTENT	(1U << 12)

/** enum tloop_sync_why - why a refresh copied what it copied. */
enum tloop_sync_why {
	TLOOP_SYNC_WHY_INCREMENTAL,	/* the baseline held: written pages only */
	TLOOP_SYNC_WHY_NO_BASELINE,	/* area2 has no sidecar (first refresh) */
	TLOOP_SYNC_WHY_NEW_AREA2,	/* area2 was just created or resized */
	TLOOP_SYNC_WHY_OTHER_DEVICE,	/* the sidecar names another attachment */
	TLOOP_SYNC_WHY_GENERATION,	/* the set was cleared or toggled since */
	TLOOP_SYNC_WHY_GEOMETRY,	/* device or page size changed */
	TLOOP_SYNC_WHY_TRACK_OFF,	/* tracking is off: nothing is known */
	TLOOP_SYNC_WHY_OVERFLOW,	/* the set overflowed */
	TLOOP_SYNC_WHY_CONCURRENT,	/* another consumer cleared during the walk */
	TLOOP_SYNC_WHY_REQUESTED,	/* TLOOP_SYNC_FULL */
	TLOOP_SYNC_WHY_DENSE,		/* so much written that a full copy is faster */
	TLOOP_SYNC_WHY_OTHER_CONSUMER,	/* the baseline follows another consumer */
};

/**
 * tloop_sync_why_str() - a short English phrase for @why.
 * @why: the reason.
 * Return: a static string.
 */
const char *tloop_sync_why_str(enum tloop_sync_why why);

/**
 * tloop_sync_why_name() - a stable identifier for @why ("no-baseline", ...).
 * @why: the reason.
 * Return: a static string.
 */
const char *tloop_sync_why_name(enum tloop_sync_why why);

/**
 * tloop_progress_fn - progress callback of tloop_sync().
 * @done: bytes copied so far.
 * @total: bytes expected (an estimate during an incremental walk).
 * @arg: the caller's argument.
 */
typedef void (*tloop_progress_fn)(uint64_t done, uint64_t total, void *arg);

/**
 * struct tloop_sync_opts - options of tloop_sync().
 * @sz: sizeof(struct tloop_sync_opts).
 * @flags: TLOOP_SYNC_*.
 * @max_io: the largest single read/write in bytes (0: 1 MiB); rounded
 *	down to a multiple of the page size, at least one page.
 * @batch: page indices per TLOOP_GET_WRITTEN call (0: 16384).
 * @progress: called after every I/O is queued or completed (from the
 *	calling thread), or NULL.
 * @progress_arg: passed to @progress.
 * @depth: copies in flight at once, each a read of the device then a write
 *	of area2 by one of @depth threads (0: 8 when reading the device, 1
 *	when copying from the backing file; 1: one after another in the
 *	calling thread; at most 256, and at most 256 MiB of buffers: fewer
 *	with a large @max_io; with 0, also at most one thread per 128 pages
 *	to copy, so that a small refresh starts no thread).
 * @max_gap: the largest run of unwritten pages, in bytes, read and written
 *	along with the written pages around it so that both go in one request
 *	(0: 8 KiB when copying from the backing file, 64 KiB when reading
 *	the device; rounded down to pages; see TLOOP_SYNC_NO_GAPS).
 * @full_pct: with a valid baseline, a full sequential copy is made instead
 *	when at least this percentage of the device's pages is written
 *	(0: 25; see TLOOP_SYNC_NO_AUTO_FULL).
 * @freeze: with TLOOP_SYNC_CONSISTENT, the mount point of a filesystem on
 *	the device to freeze (FIFREEZE) just before the instant and thaw
 *	(FITHAW) right after it, or NULL.
 * @snap_mem_limit: with TLOOP_SYNC_CONSISTENT, bytes of pages the kernel
 *	may preserve for the snapshot (0: no limit but memory).
 * @state_dir: where the baselines of NBD area2s are kept (NULL: the
 *	environment's TLOOP_STATE_DIR, else TLOOP_STATE_DIR_DEFAULT); see
 *	tloop_nbd_state_path().
 * @consumer: the named consumer whose written set the refresh reads and
 *	clears, or NULL (or "default") for the default consumer.  area2's
 *	baseline (for an NBD area2, its state file) records it: a baseline of
 *	another consumer (or of a consumer removed and added again under the
 *	same name) means a full copy.  -ENOENT for an unknown name,
 *	-EOPNOTSUPP with TLOOP_SYNC_CONSISTENT (the default consumer only).
 * @via: where the bytes come from (enum tloop_sync_via; 0: auto).
 * @timeout_ms: NBD area2: give up (-ETIMEDOUT) when connecting takes, or
 *	the server answers nothing for, this long (0: TLOOP_NBD_TIMEOUT_MS).
 *
 * With an NBD area2, @depth is the number of write requests in flight
 * (0: 16), @max_io the largest request (also at most the server's
 * maximum), and @max_gap and @full_pct do not apply: only written pages are
 * sent, never a gap (each coalesced run of written pages is one or more
 * requests).  Pages are read from the backing file when @via allows it, as
 * for a file (never cloned: TLOOP_SYNC_VIA_REFLINK reads as BACKING), except
 * with TLOOP_SYNC_CONSISTENT (the snapshot's pages).
 */
struct tloop_sync_opts {
	size_t sz;
	unsigned int flags;
	unsigned int batch;
	uint64_t max_io;
	tloop_progress_fn progress;
	void *progress_arg;
	unsigned int depth;
	unsigned int full_pct;
	uint64_t max_gap;
	const char *state_dir;
	const char *freeze;
	uint64_t snap_mem_limit;
	const char *consumer;
	unsigned int via;
	unsigned int timeout_ms;
};

/**
 * enum tloop_sync_via - where a refresh reads the pages it copies.
 * @TLOOP_SYNC_VIA_AUTO: as BACKING, but never cloning: on XFS and btrfs,
 *	whose copy_file_range(2) clones, the backing file is read and area2
 *	written (cloning scattered pages measured slower than device reads).
 * @TLOOP_SYNC_VIA_DEVICE: read the device (through the driver).
 * @TLOOP_SYNC_VIA_BACKING: copy from the device's backing file
 *	(copy_file_range(2), else read and write), after the query wrote the
 *	pages back; the device when that is not certainly safe (the backing
 *	file not reachable by its path here, a partition, a device that uses
 *	direct I/O to its backing file).
 * @TLOOP_SYNC_VIA_REFLINK: as BACKING, but first FICLONERANGE: area2
 *	shares the backing file's extents (XFS with reflink, btrfs); runs the
 *	filesystem cannot clone are copied.
 */
enum tloop_sync_via {
	TLOOP_SYNC_VIA_AUTO,
	TLOOP_SYNC_VIA_DEVICE,
	TLOOP_SYNC_VIA_BACKING,
	TLOOP_SYNC_VIA_REFLINK,
};

/* tloop_sync_via_name() - "auto", "device", "backing", "reflink". */
const char *tloop_sync_via_name(enum tloop_sync_via via);

/**
 * struct tloop_sync_result - what a refresh did.
 * @full: 1 if everything was copied, 0 if only written pages.
 * @why: the reason for @full.
 * @pages: written pages copied (a full copy: every page).
 * @bytes: bytes copied (the last page of the device may be partial),
 *	including the unwritten pages of the gaps read across (@max_gap).
 * @runs: number of coalesced runs (each one or more I/Os of <= max_io).
 * @calls: TLOOP_GET_WRITTEN calls made.
 * @dev_size: device size in bytes (a full copy's size).
 * @page_size: tracking page size.
 * @generation: the baseline generation recorded (0 if none was).
 * @attach_id: the device's attach_id.
 * @baseline: 1 if a baseline sidecar was stored.
 * @direct: 1 if the device was read with O_DIRECT.
 * @seconds: wall time of the refresh.
 * @msg: on failure, which step failed and on what (NUL-terminated).
 * @consistent: 1 if area2 was refreshed to one instant (TLOOP_SYNC_CONSISTENT).
 * @snap_generation: the written set's generation just after the instant.
 * @preserved: pages the kernel preserved (copied before a write) for it.
 * @snap_mem_peak: the largest memory those copies used at once, in bytes.
 * @consumer_id: the id of the consumer whose set was used (0: default).
 * @consumer: its name ("default" for the default consumer).
 * @via: the source it settled on: TLOOP_SYNC_VIA_DEVICE, _BACKING (also
 *	when the filesystem refused to clone), or _REFLINK (cloning was
 *	possible and not refused); the bytes say what each way moved.
 * @bytes_reflink: bytes shared with the backing file by FICLONERANGE.
 * @bytes_copy_range: bytes copied from it by copy_file_range(2).
 * @bytes_backing_read: bytes read from it and written.
 *	The rest of @bytes was read from the device.
 */
struct tloop_sync_result {
	int full;
	enum tloop_sync_why why;
	uint64_t pages;
	uint64_t bytes;
	uint64_t runs;
	uint64_t calls;
	uint64_t dev_size;
	uint32_t page_size;
	uint64_t generation;
	uint64_t attach_id;
	int baseline;
	int direct;
	double seconds;
	char msg[256];
	int consistent;
	uint64_t snap_generation;
	uint64_t preserved;
	uint64_t snap_mem_peak;
	uint32_t consumer_id;
	char consumer[TLOOP_CONSUMER_NAME_MAX];
	enum tloop_sync_via via;
	uint64_t bytes_reflink;
	uint64_t bytes_copy_range;
	uint64_t bytes_backing_read;
};

/**
 * tloop_sync() - refresh area2 from the device's written set.
 * @dev: the device node, e.g. "/dev/tloop0".
 * @area2: the copy (a regular file or a block device of the device's size).
 * @opts: options, or NULL for defaults.
 * @res: out (required); @res->msg explains a failure.
 *
 * Copies everything when nothing is known about area2 (see enum
 * tloop_sync_why), written pages otherwise; each batch returned (and
 * cleared) by the kernel is copied before the next is asked for.
 * Crash-safe order: every check first; then the sidecar is removed durably
 * (unlink, directory fsync) before area2 is created, resized or written;
 * area2 is fdatasync'd (unless TLOOP_SYNC_UNSAFE_NO_FSYNC) and closed, both
 * checked, before the new sidecar is written durably.  A crash or failure
 * anywhere after the checks therefore leaves either the old sidecar with
 * nothing changed, or no sidecar (the next refresh is full): area2 is never
 * silently stale.  Pages written during the refresh may be copied torn;
 * they stay in the set and are copied again next time.
 *
 * Refuses, with nothing changed: no right to clear the set (-EPERM: the
 * device is not open for writing and the caller lacks CAP_SYS_ADMIN), an
 * area2 that is the device itself or its backing file (-EINVAL), of the
 * wrong size unless TLOOP_SYNC_RESIZE (-EINVAL), in a directory where the
 * sidecar cannot be replaced (-EACCES, -EROFS), not writable; a missing
 * area2 is -ENOENT unless TLOOP_SYNC_CREATE.
 *
 * An @area2 for which tloop_is_nbd_uri() holds is an NBD export (libnbd):
 * the same order, with the baseline in the state directory
 * (tloop_nbd_state_path()), the connection and the export's checks (not
 * read-only, at least the device's size) among the checks of step 1, and
 * NBD_CMD_FLUSH answered in step 5 (a server that cannot flush gets no
 * baseline: every refresh is then full).  The device's side is the same
 * as for a local area2: the same refusals (-EPERM, an unknown consumer),
 * and @opts->consumer followed (the state file records it).  Failures: -ECONNREFUSED,
 * -ETIMEDOUT (no answer for TLOOP_NBD_TIMEOUT_MS), -EROFS, -ENOSPC (export
 * smaller than the device), -ENOPKG (libnbd cannot be loaded: libtloop
 * does not link it but dlopen()s libnbd.so.0, Debian package libnbd0, the
 * first time an NBD URI is used; checked before the device is opened), or
 * libnbd's errno (-ECONNRESET, -ENOTCONN, ... when the connection is lost
 * midway).
 *
 * Return: 0 or -errno.
 */
int tloop_sync(const char *dev, const char *area2, const struct tloop_sync_opts *opts,
	       struct tloop_sync_result *res);

/* ---- area2 on an NBD export ------------------------------------------- */

/** TLOOP_STATE_DIR_DEFAULT - the default state directory of NBD baselines. */
#define TLOOP_STATE_DIR_DEFAULT	"/var/lib/tloop"

/** TLOOP_NBD_TIMEOUT_MS - connect or wait for a reply at most this long. */
#define TLOOP_NBD_TIMEOUT_MS	30000

/**
 * tloop_is_nbd_uri() - whether @s is an NBD URI ("nbd://", "nbds://",
 * "nbd+unix://", "nbds+unix://", "nbd+vsock://", ...) rather than a path.
 * @s: an area2 argument.
 * Return: 1 or 0.
 */
int tloop_is_nbd_uri(const char *s);

/**
 * tloop_state_dir() - the state directory: @dir if given, else the
 * environment's TLOOP_STATE_DIR, else TLOOP_STATE_DIR_DEFAULT.
 * @dir: the caller's choice, or NULL.
 * Return: a string (@dir, the environment's, or a static one).
 */
const char *tloop_state_dir(const char *dir);

/**
 * tloop_nbd_state_path() - where the baseline of an NBD area2 lives, minus
 * TLOOP_BASELINE_SUFFIX: "<state dir>/<@uri percent-encoded>" (every byte
 * but ASCII letters, digits, '.', '-' and '_' as %xx).  The URI is the key,
 * as written: two spellings of one export have two baselines (safe: each
 * refresh clears the device's set, so the other's generation no longer
 * matches and its next refresh is full).
 * @state_dir: as for tloop_state_dir().
 * @uri: the NBD URI.
 * @buf: output buffer.
 * @len: size of @buf.
 * Return: 0 or -ENAMETOOLONG.
 */
int tloop_nbd_state_path(const char *state_dir, const char *uri, char *buf, size_t len);

/* ---- verify ------------------------------------------------------------ */

/**
 * struct tloop_verify_opts - options of tloop_verify().
 * @sz: sizeof(struct tloop_verify_opts).
 * @page_size: the unit of comparison (0: the system's page size).
 * @chunk: bytes read from each side at once (0: 4 MiB).
 * @timeout_ms: NBD area2: give up (-ETIMEDOUT) when connecting takes, or
 *	the server answers nothing for, this long (0: TLOOP_NBD_TIMEOUT_MS).
 */
struct tloop_verify_opts {
	size_t sz;
	uint32_t page_size;
	uint64_t chunk;
	unsigned int timeout_ms;
};

/**
 * struct tloop_verify_result - what tloop_verify() compared.
 * @size: bytes compared (the size of @dev).
 * @area2_size: the size of area2 (at least @size).
 * @page_size: the unit of comparison.
 * @pages: pages compared.
 * @differing: pages that differ.
 * @bytes: bytes read from each side.
 * @seconds: wall time.
 * @msg: on failure, which step failed and on what.
 */
struct tloop_verify_result {
	uint64_t size;
	uint64_t area2_size;
	uint32_t page_size;
	uint64_t pages;
	uint64_t differing;
	uint64_t bytes;
	double seconds;
	char msg[256];
};

/**
 * tloop_diff_fn - called by tloop_verify() for each run of differing pages,
 * in ascending order.
 * @start: first page index of the run.
 * @count: number of pages.
 * @arg: the caller's argument.
 * Return: 0 to go on, or a negative errno to stop with it.
 */
typedef int (*tloop_diff_fn)(uint64_t start, uint64_t count, void *arg);

/**
 * tloop_verify() - compare @dev with @area2 byte for byte.
 * @dev: a device (or any file) read through its page cache.
 * @area2: a file, block device, or an NBD URI (tloop_is_nbd_uri()).
 * @opts: options, or NULL.
 * @fn: called for every run of differing pages, or NULL.
 * @arg: passed to @fn.
 * @res: out (required).
 *
 * Only the first @res->size bytes of area2 are compared.  Pages written to
 * @dev while it runs may differ; compare a device nobody writes to.
 *
 * Return: 0 if the comparison was made (@res->differing says whether they
 * differ), -EINVAL if area2 is smaller than @dev, -ENOPKG for an NBD URI
 * when libnbd cannot be loaded (as tloop_sync()), or -errno.
 */
int tloop_verify(const char *dev, const char *area2, const struct tloop_verify_opts *opts,
		 tloop_diff_fn fn, void *arg, struct tloop_verify_result *res);

#ifdef __cplusplus
}
#endif

#endif /* LIBTLOOP_H */
