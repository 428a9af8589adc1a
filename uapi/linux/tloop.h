/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * tloop: tracking loop devices.
 *
 * A tloop device (/dev/tloopN) is a block device backed by a regular file,
 * created and removed through the control node /dev/tloop-control.  While
 * tracking is on, the device records every page that any write reached
 * (mmap stores once written back, write(2), O_DIRECT, filesystems, discard,
 * write-zeroes) so that a consumer can copy exactly those pages elsewhere.
 *
 * Conventions of this interface:
 *  - Every argument struct starts with a __u32 @size that the caller sets
 *    to sizeof() the struct it was compiled with.  A size below the
 *    struct's first published size (for ABI version 1: the whole struct as
 *    defined here) is -EINVAL; when a struct grows, callers built against
 *    an older header keep working and the new fields read as zero.  A
 *    larger size from a newer caller is accepted as long as the bytes the
 *    kernel does not know are zero (otherwise -E2BIG); sizes above 4096
 *    are -E2BIG.  Replies are written up to the kernel's size.
 *  - Commands are matched on type, number and direction, not on the size
 *    encoded in the command word, so a grown struct keeps its command.
 *    This holds for every command, those without an argument included.
 *  - Reserved fields and undefined flag bits must be zero (-EINVAL).
 *    Output fields are not checked on input.
 *  - User pointers are passed as __u64.
 *  - Unknown commands fail with -ENOTTY.
 *  - Page indices count in units of &tloop_track_status.page_size bytes.
 */
#ifndef _UAPI_LINUX_TLOOP_H
#define _UAPI_LINUX_TLOOP_H

#include <linux/ioctl.h>
#include <linux/types.h>

/** TLOOP_IOC_MAGIC - ioctl type of every tloop command (unused elsewhere). */
#define TLOOP_IOC_MAGIC		0xBC

/** TLOOP_ABI_VERSION - version of this interface reported by TLOOP_CTL_VERSION. */
#define TLOOP_ABI_VERSION	1

/** TLOOP_CONTROL_NODE - path of the control node. */
#define TLOOP_CONTROL_NODE	"/dev/tloop-control"

/** TLOOP_DEVICE_PREFIX - device nodes are TLOOP_DEVICE_PREFIX followed by the index. */
#define TLOOP_DEVICE_PREFIX	"/dev/tloop"

/* Device configuration flags (struct tloop_add, struct tloop_info). */
/** TLOOP_FLAG_READ_ONLY - the device refuses writes. */
#define TLOOP_FLAG_READ_ONLY	(1U << 0)
/** TLOOP_FLAG_DIRECT_IO - I/O to the backing file bypasses its page cache. */
#define TLOOP_FLAG_DIRECT_IO	(1U << 1)
/** TLOOP_FLAG_PARTSCAN - scan the device for partitions. */
#define TLOOP_FLAG_PARTSCAN	(1U << 2)
/** TLOOP_FLAG_TRACK - (add only) turn tracking on before the device appears. */
#define TLOOP_FLAG_TRACK	(1U << 3)
/**
 * TLOOP_FLAG_PERSIST - (add only) save the written sets in the sidecar file
 * &tloop_add.persist_fd at a clean removal and restore them from it now
 * (see DOC: persistence).  Needs TLOOP_FLAG_TRACK.
 */
#define TLOOP_FLAG_PERSIST	(1U << 4)
/** TLOOP_ADD_FLAGS - every flag TLOOP_CTL_ADD accepts. */
#define TLOOP_ADD_FLAGS		(TLOOP_FLAG_READ_ONLY | TLOOP_FLAG_DIRECT_IO | \
				 TLOOP_FLAG_PARTSCAN | TLOOP_FLAG_TRACK | \
				 TLOOP_FLAG_PERSIST)

/* Feature bits reported by TLOOP_CTL_VERSION. */
/** TLOOP_FEAT_TRACKING - page-write tracking ioctls are available. */
#define TLOOP_FEAT_TRACKING	(1ULL << 0)
/** TLOOP_FEAT_DIRECT_IO - TLOOP_FLAG_DIRECT_IO is supported. */
#define TLOOP_FEAT_DIRECT_IO	(1ULL << 1)
/** TLOOP_FEAT_PARTSCAN - TLOOP_FLAG_PARTSCAN is supported. */
#define TLOOP_FEAT_PARTSCAN	(1ULL << 2)
/** TLOOP_FEAT_MEM_LIMIT - &tloop_track_enable.mem_limit is honoured. */
#define TLOOP_FEAT_MEM_LIMIT	(1ULL << 3)
/**
 * TLOOP_FEAT_WALK_SYNC - a TLOOP_GET_WRITTEN without TLOOP_GET_NOSYNC writes
 * back only the pages it examines (see &struct tloop_written), so a walk
 * writes back the device about once, whatever its batch size; without this
 * bit, every such call writes back the whole device.
 */
#define TLOOP_FEAT_WALK_SYNC	(1ULL << 4)
/**
 * TLOOP_FEAT_WB_ERROR - TLOOP_GET_WRITTEN fails with the error of a failed
 * write-back instead of answering as if the data had reached the backing
 * file.
 */
#define TLOOP_FEAT_WB_ERROR	(1ULL << 5)
/**
 * TLOOP_FEAT_SNAPSHOT - point-in-time snapshots of the written set:
 * TLOOP_SNAP_CREATE and the commands of the snapshot file it returns.
 */
#define TLOOP_FEAT_SNAPSHOT	(1ULL << 6)
/* Bit 7 is free. */
/**
 * TLOOP_FEAT_CONSUMERS - named consumers: TLOOP_CONSUMER_ADD,
 * TLOOP_CONSUMER_REMOVE, TLOOP_CONSUMER_LIST, and the consumer selectors
 * &tloop_track_status.consumer, &tloop_written.consumer and
 * &tloop_clear.consumer.
 */
#define TLOOP_FEAT_CONSUMERS	(1ULL << 8)
/**
 * TLOOP_FEAT_PERSIST - TLOOP_FLAG_PERSIST, &tloop_add.persist_fd and
 * &tloop_add.persist_status (DOC: persistence).
 */
#define TLOOP_FEAT_PERSIST	(1ULL << 9)

/**
 * struct tloop_version - reply of TLOOP_CTL_VERSION.
 * @size: in: sizeof(struct tloop_version).
 * @abi_version: out: TLOOP_ABI_VERSION of the running module (any value on
 *	input).
 * @features: out: TLOOP_FEAT_* bits (any value on input).
 * @max_devices: out: the largest index plus one that TLOOP_CTL_ADD accepts
 *	(any value on input).
 * @reserved: must be zero on input; zero on output.
 */
struct tloop_version {
	__u32 size;
	__u32 abi_version;
	__u64 features;
	__u32 max_devices;
	__u32 reserved[5];
};

/**
 * TLOOP_MAX_DEV_SIZE - the largest device, in bytes (1 EiB).
 *
 * TLOOP_CTL_ADD fails with -EFBIG when the device size (see
 * &tloop_add.size_limit) is larger.  The written set's memory does not grow
 * with the device size, only with what was written; the limit keeps every
 * byte offset of the device far from the loff_t limit.
 */
#define TLOOP_MAX_DEV_SIZE	(1ULL << 60)

/**
 * struct tloop_add - argument of TLOOP_CTL_ADD.
 * @size: in: sizeof(struct tloop_add).
 * @flags: in: TLOOP_FLAG_* (TLOOP_ADD_FLAGS).
 * @backing_fd: in: an open file descriptor of a regular file.  It must be
 *	open for writing unless TLOOP_FLAG_READ_ONLY is given (-EBADF).  The
 *	device takes its own reference; the caller may close the descriptor.
 * @index: in: the wanted index, or -1 for the lowest free one;
 *	out: the index of the new device (also the ioctl's return value).
 *	The reply is written before the device is created (a reply that
 *	cannot be written creates nothing: -EFAULT); the index stays taken
 *	meanwhile, and other control commands are not held up by it.
 * @block_size: in: logical block size, 512 or 4096; 0 means 512.
 * @reserved0: must be zero.
 * @size_limit: in: if non-zero, the device is at most this many bytes.
 *	The device size is min(file size, @size_limit) rounded down to
 *	@block_size and must be at least one block (-EINVAL) and at most
 *	TLOOP_MAX_DEV_SIZE (-EFBIG).
 * @persist_fd: in: with TLOOP_FLAG_PERSIST, an open file descriptor of the
 *	sidecar: a regular file open for reading and writing (-EBADF), not
 *	the backing file (-EINVAL), empty or written by tloop.  The device
 *	takes its own reference.  Must be zero without the flag.
 * @persist_status: in: must be zero; out: with TLOOP_FLAG_PERSIST, what
 *	was restored from the sidecar (TLOOP_PERSIST_*); written with @index.
 * @reserved: must be zero.
 *
 * Before TLOOP_FEAT_PERSIST, @persist_fd and @persist_status were part of
 * the reserved space: callers built against the older header pass zero.
 */
struct tloop_add {
	__u32 size;
	__u32 flags;
	__s32 backing_fd;
	__s32 index;
	__u32 block_size;
	__u32 reserved0;
	__u64 size_limit;
	__s32 persist_fd;
	__u32 persist_status;
	__u64 reserved[3];
};

/**
 * DOC: persistence
 *
 * A device added with TLOOP_FLAG_PERSIST keeps its written sets (the
 * default consumer's and every named consumer's: id, name, generation,
 * memory limit, overflowed state, pages) in a sidecar file across removal,
 * module unload and reboot.  The kernel saves them when nothing can write
 * any more: at TLOOP_CTL_REMOVE once opens are refused, at module unload,
 * and from a reboot notifier for devices that are not open (an open device
 * at reboot is not saved).  The save writes the backing file back and
 * fsyncs it, then records the backing file's identity (device, inode,
 * size, mtime, ctime, i_version where the filesystem keeps one) and the
 * sets, and fsyncs the sidecar.  At add, before the device appears, the
 * kernel reads the sidecar and rewrites it marked *in use* (fsynced): only
 * a clean save clears that mark.  Neither write goes over the sidecar it
 * replaces before it is complete and durable: a crash or an error midway
 * (a full filesystem) leaves the previous one, whole.
 *
 * The outcome, in &tloop_add.persist_status and in the device's sysfs
 * attribute tloop/persist:
 * TLOOP_PERSIST_NEW: the sidecar was empty, or saved while tracking was off;
 * nothing restored, a new attach id.
 * TLOOP_PERSIST_TRUSTED: the sets, their ids and generations and the
 * attach id were restored: a consumer's next copy can be incremental.
 * TLOOP_PERSIST_UNCLEAN: the last save was not clean (crash, power cut,
 * a save that failed, a device open at reboot): the consumers named at the
 * last add are restored in the overflowed state (every page counts as
 * written) and the attach id is new.
 * TLOOP_PERSIST_CHANGED: the backing file's identity or the device's size
 * or block size differs from the save: as for UNCLEAN.
 * TLOOP_PERSIST_CORRUPT: the sidecar is not a valid tloop sidecar (magic,
 * version, length or checksum): ignored (a kernel message says why),
 * nothing restored, and overwritten.
 * Changes the kernel cannot see (writes to the raw disk under the backing
 * file's filesystem, restored timestamps, a filesystem rolled back to a
 * snapshot) are described in doc/design.md.
 */
/** TLOOP_PERSIST_NONE - TLOOP_FLAG_PERSIST was not given. */
#define TLOOP_PERSIST_NONE	0
/** TLOOP_PERSIST_NEW - empty sidecar (or saved with tracking off), nothing restored. */
#define TLOOP_PERSIST_NEW	1
/** TLOOP_PERSIST_TRUSTED - sets, ids, generations and attach id restored. */
#define TLOOP_PERSIST_TRUSTED	2
/** TLOOP_PERSIST_UNCLEAN - last save not clean: consumers restored overflowed. */
#define TLOOP_PERSIST_UNCLEAN	3
/** TLOOP_PERSIST_CHANGED - backing file or geometry changed: restored overflowed. */
#define TLOOP_PERSIST_CHANGED	4
/** TLOOP_PERSIST_CORRUPT - invalid sidecar ignored, nothing restored. */
#define TLOOP_PERSIST_CORRUPT	5

/**
 * struct tloop_remove - argument of TLOOP_CTL_REMOVE.
 * @size: in: sizeof(struct tloop_remove).
 * @index: in: index of the device to remove.
 * @flags: in: must be zero (no flags are defined).
 * @reserved: must be zero.
 *
 * A device that is open (including a mapping or a mounted filesystem) is not
 * removed: -EBUSY.  An index with no device: -ENXIO.
 */
struct tloop_remove {
	__u32 size;
	__u32 index;
	__u32 flags;
	__u32 reserved;
};

/**
 * struct tloop_info - reply of TLOOP_GET_INFO (on a device node).
 * @size: in: sizeof(struct tloop_info).
 * @flags: out: TLOOP_FLAG_* the device was configured with
 *	(TLOOP_FLAG_TRACK is reported while tracking is on).
 * @index: out: device index (N of /dev/tloopN).
 * @block_size: out: logical block size in bytes.
 * @dev_size: out: device size in bytes.
 * @size_limit: out: the size limit given at add time (0: none).
 * @backing_dev: out: st_dev of the backing file as stat(2) reports it (new
 *	encoding), which on btrfs subvolumes and overlayfs is not the
 *	superblock's device.
 * @backing_ino: out: st_ino of the backing file as stat(2) reports it.
 * @attach_id: out: random identifier of this attachment; a device that is
 *	removed and added again gets a different one.
 * @path: in: user pointer to a buffer for the backing file's path, or 0.
 * @path_size: in: size of the buffer at @path in bytes.
 * @path_len: out: length of the full path without its NUL; the buffer
 *	holds a NUL-terminated copy, truncated if @path_len >= @path_size.
 * @reserved: must be zero.
 */
struct tloop_info {
	__u32 size;
	__u32 flags;
	__u32 index;
	__u32 block_size;
	__u64 dev_size;
	__u64 size_limit;
	__u64 backing_dev;
	__u64 backing_ino;
	__u64 attach_id;
	__u64 path;
	__u32 path_size;
	__u32 path_len;
	__u64 reserved[4];
};

/**
 * struct tloop_track_enable - argument of TLOOP_TRACK_ENABLE.
 * @size: in: sizeof(struct tloop_track_enable).
 * @flags: in: must be zero (no flags are defined).
 * @mem_limit: in: at most this many bytes for the written set (0: no limit
 *	beyond one bit per page).  A write that would need more memory puts
 *	the set in the overflowed state (TLOOP_TRACK_OVERFLOW); the set's
 *	&tloop_track_status.mem_used never exceeds it, even with concurrent
 *	writers.  The set's memory is counted as the slab sizes of its
 *	allocations.
 * @reserved: must be zero.
 *
 * Tracking starts with an empty set.  The call first writes back the
 * device's dirty page cache, so the set holds only writes made after the
 * call: a store through mmap made before it and still dirty is not
 * reported (a store that races with the call may be).  An error of that
 * write-back does not fail the call; the next query reports it.  Enabling
 * while tracking is on fails with -EBUSY.
 */
struct tloop_track_enable {
	__u32 size;
	__u32 flags;
	__u64 mem_limit;
	__u64 reserved[2];
};

/* Tracking state bits (struct tloop_track_status.flags, tloop_written.status). */
/** TLOOP_TRACK_ON - tracking is on. */
#define TLOOP_TRACK_ON		(1U << 0)
/**
 * TLOOP_TRACK_OVERFLOW - a write could not be recorded: every page counts as
 * written until the next TLOOP_CLEAR_ALL (or until tracking is turned off).
 */
#define TLOOP_TRACK_OVERFLOW	(1U << 1)

/**
 * struct tloop_track_status - reply of TLOOP_TRACK_STATUS.
 * @size: in: sizeof(struct tloop_track_status).
 * @flags: out: TLOOP_TRACK_ON, TLOOP_TRACK_OVERFLOW.
 * @generation: out: grows by exactly one for each clearing call (a
 *	TLOOP_CLEAR_WRITTEN, or a TLOOP_GET_WRITTEN with TLOOP_GET_CLEAR that
 *	was not answered with TLOOP_TRACK_OVERFLOW, even one that returned no
 *	page) and for each switch on or off, and for nothing else; it never
 *	goes back while the device exists.  A consumer whose clearing call
 *	returns its previous value plus one knows that nobody else cleared or
 *	switched in between.
 * @written: out: number of pages in the written set.
 * @nr_pages: out: number of pages of the device (the last may be partial).
 * @page_size: out: tracking granularity in bytes (the kernel's page size).
 * @consumer: in: the consumer whose set is reported: 0 for the default
 *	consumer (ABI-1 callers), else the id of a named consumer (see
 *	TLOOP_CONSUMER_ADD; -ENOENT if there is none with that id).
 *	@flags, @generation, @written, @mem_used and @mem_limit are then that
 *	consumer's.  Unchanged on output.
 * @mem_used: out: bytes of memory the written set uses now.
 * @mem_limit: out: the limit given when tracking was enabled (0: none).
 * @reserved: zero.
 */
struct tloop_track_status {
	__u32 size;
	__u32 flags;
	__u64 generation;
	__u64 written;
	__u64 nr_pages;
	__u32 page_size;
	__u32 consumer;
	__u64 mem_used;
	__u64 mem_limit;
	__u64 reserved[2];
};

/* struct tloop_written.flags */
/**
 * TLOOP_GET_CLEAR - clear exactly the pages returned, atomically per page:
 * a write that completes after a page was returned sets it again.
 */
#define TLOOP_GET_CLEAR		(1U << 0)
/**
 * TLOOP_GET_NOSYNC - do not write back the device's dirty page cache.
 * Without it, the call writes back the pages it examines before listing
 * them (see &struct tloop_written for the exact rule).
 */
#define TLOOP_GET_NOSYNC	(1U << 1)
/** TLOOP_GET_FLAGS - every flag TLOOP_GET_WRITTEN accepts. */
#define TLOOP_GET_FLAGS		(TLOOP_GET_CLEAR | TLOOP_GET_NOSYNC)

/** TLOOP_CURSOR_END - &tloop_written.next_cursor once the walk is complete. */
#define TLOOP_CURSOR_END	(~0ULL)

/** TLOOP_GET_MAX_BATCH - at most this many entries are returned per call. */
#define TLOOP_GET_MAX_BATCH	65536U

/**
 * struct tloop_written - argument of TLOOP_GET_WRITTEN.
 * @size: in: sizeof(struct tloop_written).
 * @flags: in: TLOOP_GET_CLEAR, TLOOP_GET_NOSYNC.
 * @cursor: in: first page index to look at (0 to start a walk); a cursor
 *	beyond the device's last page fails with -EINVAL, except that the
 *	page count itself returns an empty, complete answer.
 * @pages: in: user pointer to an array of @capacity __u64 page indices.
 * @capacity: in: number of entries at @pages; 0 is -EINVAL.
 * @count: out: number of entries stored, in ascending order.  It may be
 *	less than @capacity while pages remain (at most TLOOP_GET_MAX_BATCH;
 *	fewer when the kernel cannot allocate a larger reply, which it sizes
 *	by the pages set rather than by @capacity): continue until
 *	@next_cursor is TLOOP_CURSOR_END.
 * @next_cursor: out: the cursor for the next call, or TLOOP_CURSOR_END.
 * @generation: out: the generation after this call.
 * @status: out: TLOOP_TRACK_* state.  With TLOOP_TRACK_OVERFLOW nothing is
 *	returned or cleared: treat every page as written, then use
 *	TLOOP_CLEAR_WRITTEN with TLOOP_CLEAR_ALL *before* copying.
 * @consumer: in: 0 for the default consumer's set (ABI-1 callers), else
 *	the id of a named consumer, whose set is read and cleared instead
 *	(-ENOENT if there is none).  The write-back is the device's, shared.
 * @end: in: page index to stop before, 0 for the end of the device; an
 *	@end past the number of pages, or below @cursor, is -EINVAL.
 * @reserved: must be zero.
 *
 * A call examines the pages from @cursor up to @next_cursor (up to @end
 * when it completes the walk).  Without TLOOP_GET_NOSYNC it writes back
 * the device's dirty page cache of those pages before listing them, and
 * possibly of some pages past @next_cursor (at most about as many as it
 * examined, plus its batch size), not the rest of the device.  Hence the rule for a walk (calls from @cursor 0, or any start,
 * to TLOOP_CURSOR_END, each continuing at the previous @next_cursor):
 * every store made before the walk's first call, through any path, is
 * reported by the walk; a store made during the walk is reported by this
 * walk if the walk reaches its page after the store was written back, and
 * otherwise by the next walk, because its page stays dirty (or is recorded
 * set) until a later call examines it.  The walk writes back each page
 * about once, so its cost does not grow with the number of calls.
 *
 * Returns 0; -ENODATA if tracking is off; -EFAULT if @pages or the
 * argument cannot be written (a GET+CLEAR that fails so leaves every page
 * in the set: the pages it had cleared are set again before it returns,
 * though the generation may have changed); or the error of the write-back
 * (-EIO, -ENOSPC, ...) when writing back the device's page cache failed
 * since such an error was last reported (by this or another call that
 * writes it back, fsync(2) of the device included): some data the device
 * acknowledged may not have reached the backing file.  Nothing is listed
 * or cleared then, and the pages of the failed write-back stay in the set;
 * the error is reported once.
 */
struct tloop_written {
	__u32 size;
	__u32 flags;
	__u64 cursor;
	__u64 pages;
	__u32 capacity;
	__u32 count;
	__u64 next_cursor;
	__u64 generation;
	__u32 status;
	__u32 consumer;
	__u64 end;
	__u64 reserved[2];
};

/** TLOOP_CLEAR_ALL - clear the whole set and leave the overflowed state. */
#define TLOOP_CLEAR_ALL		(1U << 0)

/**
 * struct tloop_clear - argument of TLOOP_CLEAR_WRITTEN.
 * @size: in: sizeof(struct tloop_clear).
 * @flags: in: TLOOP_CLEAR_ALL, or 0 to clear the range [@start, @end).
 * @start: in: first page index of the range (0 with TLOOP_CLEAR_ALL).
 * @end: in: page index after the range (0 with TLOOP_CLEAR_ALL); must
 *	satisfy @start < @end <= number of pages.
 * @generation: out: the generation after the clear.
 * @consumer: in: 0 for the default consumer's set (ABI-1 callers), else
 *	the id of a named consumer, whose set is cleared instead (-ENOENT if
 *	there is none).
 * @reserved0: must be zero.
 * @reserved1: must be zero.
 *
 * Clearing does not write back the page cache: a store still dirty there
 * is recorded when it is written back, after the clear, so a consumer that
 * copied before clearing gets it in its next round.
 *
 * Returns 0, or -ENODATA if tracking is off.
 */
struct tloop_clear {
	__u32 size;
	__u32 flags;
	__u64 start;
	__u64 end;
	__u64 generation;
	__u32 consumer;
	__u32 reserved0;
	__u64 reserved1;
};

/**
 * DOC: consumers
 *
 * A device that tracks has a default consumer (id 0, named "default"),
 * whose written set is the one of ABI version 1: TLOOP_TRACK_ENABLE starts
 * it, TLOOP_TRACK_DISABLE ends it.  While tracking is on, up to
 * TLOOP_MAX_CONSUMERS named consumers can be added beside it.  Each has
 * its own written set with its own generation, memory limit and
 * overflowed state, read and cleared through the usual commands by giving
 * its id in their consumer field; every write is recorded in every set.
 * A named consumer's set starts empty when it is added (a store still
 * dirty in the page cache then may be reported by it too).  Turning
 * tracking off removes every named consumer.  Ids are never reused while
 * the device exists, so an id kept by a consumer that was removed (and
 * perhaps added again under the same name) fails with -ENOENT instead of
 * reaching another set.
 *
 * Names are 1 to TLOOP_CONSUMER_NAME_MAX - 1 bytes of [A-Za-z0-9._-],
 * starting with a letter or a digit, unique on the device; "default" is
 * the default consumer's.  The name field holds the name, NUL-terminated
 * and zero-padded (-EINVAL otherwise).
 */
/** TLOOP_MAX_CONSUMERS - named consumers per device, besides the default one. */
#define TLOOP_MAX_CONSUMERS	16
/** TLOOP_CONSUMER_NAME_MAX - size of a consumer name field (with its NUL). */
#define TLOOP_CONSUMER_NAME_MAX	32
/** TLOOP_CONSUMER_DEFAULT - the name of the default consumer (id 0). */
#define TLOOP_CONSUMER_DEFAULT	"default"

/**
 * struct tloop_consumer_add - argument of TLOOP_CONSUMER_ADD.
 * @size: in: sizeof(struct tloop_consumer_add).
 * @flags: in: must be zero (no flags are defined).
 * @mem_limit: in: as &tloop_track_enable.mem_limit, for this consumer's set.
 * @name: in: the new consumer's name (see DOC: consumers).
 * @id: out: its id (never 0, never reused while the device exists).
 * @reserved0: must be zero.
 * @reserved: must be zero.
 *
 * Returns 0; -ENODATA if tracking is off; -EINVAL for a bad name;
 * -EEXIST if the device has a consumer of that name; -ENOSPC if it has
 * TLOOP_MAX_CONSUMERS named consumers.
 */
struct tloop_consumer_add {
	__u32 size;
	__u32 flags;
	__u64 mem_limit;
	char name[TLOOP_CONSUMER_NAME_MAX];
	__u32 id;
	__u32 reserved0;
	__u64 reserved[2];
};

/**
 * struct tloop_consumer_remove - argument of TLOOP_CONSUMER_REMOVE.
 * @size: in: sizeof(struct tloop_consumer_remove).
 * @flags: in: must be zero (no flags are defined).
 * @name: in: the consumer to remove.
 * @reserved: must be zero.
 *
 * The consumer's set is dropped; a call on it that is in progress finishes
 * on the old set.  Returns 0; -EINVAL for a bad name or "default" (the
 * default consumer ends with TLOOP_TRACK_DISABLE); -ENOENT if there is no
 * consumer of that name.
 */
struct tloop_consumer_remove {
	__u32 size;
	__u32 flags;
	char name[TLOOP_CONSUMER_NAME_MAX];
	__u64 reserved[2];
};

/**
 * struct tloop_consumer_info - one entry of TLOOP_CONSUMER_LIST.
 * @id: the consumer's id (0: the default consumer).
 * @status: TLOOP_TRACK_* of its set.
 * @generation: its set's generation (see &tloop_track_status.generation).
 * @written: pages in its set.
 * @mem_used: bytes its set uses.
 * @mem_limit: its memory limit (0: none).
 * @name: its name, NUL-terminated and zero-padded.
 * @reserved: zero.
 */
struct tloop_consumer_info {
	__u32 id;
	__u32 status;
	__u64 generation;
	__u64 written;
	__u64 mem_used;
	__u64 mem_limit;
	char name[TLOOP_CONSUMER_NAME_MAX];
	__u64 reserved[2];
};

/**
 * struct tloop_consumer_list - argument of TLOOP_CONSUMER_LIST.
 * @size: in: sizeof(struct tloop_consumer_list).
 * @capacity: in: entries at @consumers (0: only @total is reported).
 * @consumers: in: user pointer to an array of @capacity
 *	struct tloop_consumer_info, or 0 with @capacity 0.
 * @count: out: entries stored: the default consumer first, then the named
 *	ones in the order they were added; at most @capacity.
 * @total: out: number of consumers, the default one included (1 plus
 *	the named ones; 0 while tracking is off).
 * @reserved: must be zero.
 */
struct tloop_consumer_list {
	__u32 size;
	__u32 capacity;
	__u64 consumers;
	__u32 count;
	__u32 total;
	__u64 reserved[2];
};

/* Commands of /dev/tloop-control.  Adding and removing need CAP_SYS_ADMIN. */
/** TLOOP_CTL_VERSION - report the interface version and features. */
#define TLOOP_CTL_VERSION	_IOWR(TLOOP_IOC_MAGIC, 0x00, struct tloop_version)
/** TLOOP_CTL_ADD - create a device; returns its index. */
#define TLOOP_CTL_ADD		_IOWR(TLOOP_IOC_MAGIC, 0x01, struct tloop_add)
/** TLOOP_CTL_REMOVE - remove an unused device. */
#define TLOOP_CTL_REMOVE	_IOW(TLOOP_IOC_MAGIC, 0x02, struct tloop_remove)
/** TLOOP_CTL_GET_FREE - return the lowest index not in use (no argument). */
#define TLOOP_CTL_GET_FREE	_IO(TLOOP_IOC_MAGIC, 0x03)

/*
 * Commands of /dev/tloopN.  Changing the tracking state needs the device
 * open for writing or CAP_SYS_ADMIN (-EPERM otherwise).
 */
/** TLOOP_GET_INFO - report the device's configuration. */
#define TLOOP_GET_INFO		_IOWR(TLOOP_IOC_MAGIC, 0x10, struct tloop_info)
/** TLOOP_TRACK_ENABLE - turn tracking on with an empty set. */
#define TLOOP_TRACK_ENABLE	_IOW(TLOOP_IOC_MAGIC, 0x11, struct tloop_track_enable)
/** TLOOP_TRACK_DISABLE - turn tracking off and drop the set (no argument; 0 if already off). */
#define TLOOP_TRACK_DISABLE	_IO(TLOOP_IOC_MAGIC, 0x12)
/** TLOOP_TRACK_STATUS - report the tracking state. */
#define TLOOP_TRACK_STATUS	_IOWR(TLOOP_IOC_MAGIC, 0x13, struct tloop_track_status)
/** TLOOP_GET_WRITTEN - read (and optionally clear) written page indices. */
#define TLOOP_GET_WRITTEN	_IOWR(TLOOP_IOC_MAGIC, 0x14, struct tloop_written)
/** TLOOP_CLEAR_WRITTEN - clear the whole set or a range of it. */
#define TLOOP_CLEAR_WRITTEN	_IOW(TLOOP_IOC_MAGIC, 0x15, struct tloop_clear)
/** TLOOP_CONSUMER_ADD - add a named consumer; needs write access. */
#define TLOOP_CONSUMER_ADD	_IOWR(TLOOP_IOC_MAGIC, 0x30, struct tloop_consumer_add)
/** TLOOP_CONSUMER_REMOVE - remove a named consumer; needs write access. */
#define TLOOP_CONSUMER_REMOVE	_IOW(TLOOP_IOC_MAGIC, 0x31, struct tloop_consumer_remove)
/** TLOOP_CONSUMER_LIST - list the consumers and the state of their sets. */
#define TLOOP_CONSUMER_LIST	_IOWR(TLOOP_IOC_MAGIC, 0x32, struct tloop_consumer_list)

/*
 * Point-in-time snapshots (TLOOP_FEAT_SNAPSHOT).
 *
 * TLOOP_SNAP_CREATE fixes an instant P.  It writes back the device's dirty
 * page cache, waits for every write request in flight to complete, and
 * moves the written set's pages into the snapshot's *pending* set: the live
 * written set starts empty at P (its generation grows by one, as for a
 * clearing call) and records the writes made after P, so none is lost.
 * Every write that completed before P is in the view, none after.  A store
 * through mmap counts once it was written back: an application makes P a
 * consistent point for itself by calling msync(2) (or fsync(2)) at its own
 * consistency point and not writing until TLOOP_SNAP_CREATE returns; a
 * filesystem mounted on the device is frozen (FIFREEZE) around the call
 * and thawed (FITHAW) right after it: the freeze covers the instant, not
 * the copy.
 *
 * From then on, before a write (or discard, write-zeroes) reaches the
 * backing file, each page it covers that is still pending is first copied
 * from the backing file into memory (copy-before-write; the writer waits for
 * at most these page copies).  TLOOP_SNAP_READ returns pending pages with
 * their content as of P (the preserved copy, or the backing file's bytes if
 * no write came) and marks them done, freeing their copies.  The memory of
 * preserved copies is bounded by &tloop_snap_create.mem_limit; a write that
 * would pass it *fails the snapshot* (the write itself succeeds): every
 * later TLOOP_SNAP_READ fails with -ESTALE, and when the snapshot ends all
 * its pages (pending and done) go back into the live written set, so the
 * next refresh copies them.  Tracking switched off also fails it.
 *
 * The snapshot is a file (the ioctl's return value, close-on-exec): it
 * ends with TLOOP_SNAP_END or when it is closed (a killed consumer).  An
 * end without TLOOP_SNAP_END_COPIED puts every page of the snapshot back
 * into the live set; one with it drops the done pages (the consumer has
 * stored them durably) and puts back only the pages it did not read.
 * A device has at most one snapshot (-EBUSY); a device with a snapshot
 * cannot be removed (-EBUSY).
 */

/** TLOOP_SNAP_ALL - (create) every page of the device is pending (a full copy of P). */
#define TLOOP_SNAP_ALL		(1U << 0)
/** TLOOP_SNAP_CREATE_FLAGS - every flag TLOOP_SNAP_CREATE accepts. */
#define TLOOP_SNAP_CREATE_FLAGS	TLOOP_SNAP_ALL

/**
 * struct tloop_snap_create - argument of TLOOP_SNAP_CREATE (on a device node).
 * @size: in: sizeof(struct tloop_snap_create).
 * @flags: in: TLOOP_SNAP_ALL or 0.
 * @mem_limit: in: at most this many bytes of preserved page copies (0: no
 *	limit but the memory the kernel can give without waiting for I/O).
 *	Each preserved page counts as one page size.
 * @fd: out: the snapshot's file descriptor (also the ioctl's return value).
 * @reserved0: must be zero.
 * @prev_generation: out: the live set's generation just before P.
 * @generation: out: the live set's generation just after P
 *	(@prev_generation + 1).  A consumer whose baseline names
 *	@prev_generation knows that nobody cleared the set since its last
 *	refresh; it records @generation once area2 equals the view.
 * @pending: out: pages pending at P (the view's pages to copy).
 * @reserved: must be zero.
 *
 * Returns the new file descriptor; -ENODATA if tracking is off;
 * -EOVERFLOW if the written set overflowed (nothing is known to be
 * unwritten: use TLOOP_SNAP_ALL); -EBUSY if the device has a snapshot;
 * -ENOMEM; or the error of the write-back (see &struct tloop_written),
 * then nothing changed.
 */
struct tloop_snap_create {
	__u32 size;
	__u32 flags;
	__u64 mem_limit;
	__s32 fd;
	__u32 reserved0;
	__u64 prev_generation;
	__u64 generation;
	__u64 pending;
	__u64 reserved[4];
};

/** TLOOP_SNAP_MAX_BATCH - at most this many pages are returned per TLOOP_SNAP_READ. */
#define TLOOP_SNAP_MAX_BATCH	1024U

/**
 * struct tloop_snap_read - argument of TLOOP_SNAP_READ (on a snapshot file).
 * @size: in: sizeof(struct tloop_snap_read).
 * @flags: in: must be zero.
 * @cursor: in: first page index to look at (0 to start).
 * @end: in: page index to stop before, 0 for the end of the device.
 * @pages: in: user pointer to @capacity __u64: the page indices returned,
 *	ascending.
 * @data: in: user pointer to @capacity pages of &tloop_track_status.page_size
 *	bytes: entry i receives the content of page @pages[i] as of P (bytes
 *	past the end of the device read as zero).
 * @capacity: in: number of entries; 0 is -EINVAL.
 * @count: out: entries stored (at most TLOOP_SNAP_MAX_BATCH).
 * @next_cursor: out: the cursor for the next call, or TLOOP_CURSOR_END
 *	when no pending page is left in [@cursor, @end).
 * @reserved: must be zero.
 *
 * Each page is returned once: it is done after this call.  Returns 0;
 * -ESTALE if the snapshot failed or ended (&struct tloop_snap_status says
 * why); -EFAULT (the snapshot fails: the pages of this call could not be
 * delivered); or the error of reading the backing file (the page stays
 * pending).
 */
struct tloop_snap_read {
	__u32 size;
	__u32 flags;
	__u64 cursor;
	__u64 end;
	__u64 pages;
	__u64 data;
	__u32 capacity;
	__u32 count;
	__u64 next_cursor;
	__u64 reserved[4];
};

/* struct tloop_snap_status.flags */
/** TLOOP_SNAP_FAILED - the snapshot failed: its view is no longer available. */
#define TLOOP_SNAP_FAILED	(1U << 0)
/** TLOOP_SNAP_ENDED - TLOOP_SNAP_END was called. */
#define TLOOP_SNAP_ENDED	(1U << 1)

/**
 * struct tloop_snap_status - reply of TLOOP_SNAP_STATUS (on a snapshot file).
 * @size: in: sizeof(struct tloop_snap_status).
 * @flags: out: TLOOP_SNAP_FAILED, TLOOP_SNAP_ENDED.
 * @error: out: why it failed: -ENOSPC (the memory limit of preserved
 *	pages was reached), -ENOMEM, -ENODATA (tracking was switched off),
 *	-EFAULT (a TLOOP_SNAP_READ could not deliver its pages), -EIO (the
 *	backing file could not be read for a copy); 0 if it did not fail.
 * @reserved0: zero.
 * @generation: out: &tloop_snap_create.generation.
 * @pending: out: pages still pending.
 * @done: out: pages returned by TLOOP_SNAP_READ.
 * @preserved: out: pages preserved now (copied before a write, not yet read).
 * @preserved_total: out: pages preserved since the snapshot was created.
 * @mem_used: out: bytes of preserved copies now.
 * @mem_peak: out: the largest @mem_used so far.
 * @mem_limit: out: &tloop_snap_create.mem_limit.
 * @reserved: zero.
 */
struct tloop_snap_status {
	__u32 size;
	__u32 flags;
	__s32 error;
	__u32 reserved0;
	__u64 generation;
	__u64 pending;
	__u64 done;
	__u64 preserved;
	__u64 preserved_total;
	__u64 mem_used;
	__u64 mem_peak;
	__u64 mem_limit;
	__u64 reserved[4];
};

/** TLOOP_SNAP_END_COPIED - (end) the done pages are stored: drop them from the snapshot. */
#define TLOOP_SNAP_END_COPIED	(1U << 0)

/**
 * struct tloop_snap_end - argument of TLOOP_SNAP_END (on a snapshot file).
 * @size: in: sizeof(struct tloop_snap_end).
 * @flags: in: TLOOP_SNAP_END_COPIED or 0.
 * @reserved: must be zero.
 *
 * Ends the snapshot (closing its file does too, without
 * TLOOP_SNAP_END_COPIED).  The pages that go back into the live set are
 * recorded there as written (they are not lost if the live set cannot
 * grow: it overflows).  With TLOOP_SNAP_END_COPIED on a failed snapshot
 * every page goes back anyway, and the call returns -ESTALE.  A second
 * end is -ESTALE.
 */
struct tloop_snap_end {
	__u32 size;
	__u32 flags;
	__u64 reserved[3];
};

/** TLOOP_SNAP_CREATE - (device) fix an instant; returns the snapshot's fd. */
#define TLOOP_SNAP_CREATE	_IOWR(TLOOP_IOC_MAGIC, 0x20, struct tloop_snap_create)
/** TLOOP_SNAP_READ - (snapshot) return pending pages with their content as of P. */
#define TLOOP_SNAP_READ		_IOWR(TLOOP_IOC_MAGIC, 0x21, struct tloop_snap_read)
/** TLOOP_SNAP_STATUS - (snapshot) report its state. */
#define TLOOP_SNAP_STATUS	_IOWR(TLOOP_IOC_MAGIC, 0x22, struct tloop_snap_status)
/** TLOOP_SNAP_END - (snapshot) end it. */
#define TLOOP_SNAP_END		_IOW(TLOOP_IOC_MAGIC, 0x23, struct tloop_snap_end)

#endif /* _UAPI_LINUX_TLOOP_H */
