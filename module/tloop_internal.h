/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Internal declarations shared by the files of tloop.ko.
 *
 * tloop_main.c     module init/exit, the device registry, /dev/tloop-control
 * tloop_dev.c      one device's lifecycle: disk, queue, sysfs, and the
 *                  block_device_operations (open, release; ioctl is in
 *                  tloop_ioctl.c)
 * tloop_io.c       the I/O path: requests served from the backing file
 * tloop_ioctl.c    the per-device ioctls (info, tracking)
 * tloop_uarg.c     copying extensible ioctl structs in and out
 * tloop_written.c  the written set (tloop_written.h)
 * tloop_snap.c     point-in-time snapshots (tloop_snap.h)
 * tloop_consumer.c named consumers: written sets beside the default one
 * tloop_persist.c  saving and restoring the sets in a sidecar (tloop_persist.h)
 * tloop_compat.h   kernel API differences between 6.1, 6.12 and 7.x
 */
#ifndef TLOOP_INTERNAL_H
#define TLOOP_INTERNAL_H

#include <linux/blk-mq.h>
#include <linux/mutex.h>
#include <linux/types.h>
#include <linux/workqueue.h>

#include <linux/tloop.h>

#include "tloop_compat.h"
#include "tloop_snap.h"
#include "tloop_consumer.h"
#include "tloop_persist.h"
#include "tloop_written.h"

/* Minors per device: the whole disk and up to 15 partitions. */
#define TLOOP_PART_SHIFT	4
/* Largest index + 1 (bounded by the minor space). */
#define TLOOP_MAX_DEVICES	(1U << (MINORBITS - TLOOP_PART_SHIFT))

/**
 * struct tloop_pcache - the hold that keeps the page cache exact (tloop_io.c).
 * @lock: serializes hold and release (tloop_pcache_check_all() runs without it).
 * @file: tloop's own open of the whole disk while tracking, or NULL.
 * @large: large folios may still be cached (the last check found some):
 *	the next queries look for them until none is left.
 */
struct tloop_pcache {
	struct mutex lock;	/* serializes hold and release */
	struct file *file;
	bool large;
};

/**
 * struct tloop_device - one /dev/tloopN.
 * @index: N.
 * @flags: TLOOP_FLAG_* it was created with (without TLOOP_FLAG_TRACK).
 * @block_size: logical block size.
 * @size: device size in bytes.
 * @size_limit: the size limit asked for at add time (0: none).
 * @attach_id: random identity of this attachment.
 * @backing: the device's own open file on the backing file.
 * @tag_set: blk-mq tag set.
 * @disk: the gendisk.
 * @wq: workqueue serving requests.
 * @lock: protects @openers and @removing.
 * @openers: opens of the disk not yet released.
 * @removing: the device is being removed, opens fail.
 * @written: the default consumer's written set (the one of ABI version 1).
 * @consumers: the named consumers' sets.
 * @pcache: keeps the device's page cache in order-0 folios while tracking.
 * @snapshot: the device's point-in-time snapshot, if any.
 * @persist: the sidecar of a device added with TLOOP_FLAG_PERSIST.
 */
struct tloop_device {
	int index;
	u32 flags;
	unsigned int block_size;
	u64 size;
	u64 size_limit;
	u64 attach_id;
	struct file *backing;
	struct blk_mq_tag_set tag_set;
	struct gendisk *disk;
	struct workqueue_struct *wq;
	struct mutex lock;	/* protects openers and removing */
	unsigned int openers;
	bool removing;
	struct tloop_written_set written;
	struct tloop_consumers consumers;
	struct tloop_pcache pcache;
	struct tloop_snap_slot snapshot;
	struct tloop_persist persist;
};

/**
 * struct tloop_cmd - per-request data (the blk-mq PDU).
 * @work: the worker item that serves the request.
 * @dev: the device.
 */
struct tloop_cmd {
	struct work_struct work;
	struct tloop_device *dev;
};

/* tloop_main.c: serialises every add and remove (see there). */
extern struct mutex tloop_ctl_mutex;

/* tloop_dev.c */
int tloop_dev_create(const struct tloop_add *add, struct file *backing,
		     struct tloop_persist_load *persist, int major,
		     struct tloop_device **out);
int tloop_dev_geometry(const struct tloop_add *add, struct file *user,
		       u64 *size, unsigned int *block_size);
int tloop_dev_begin_remove(struct tloop_device *dev);
void tloop_dev_destroy(struct tloop_device *dev);

/* tloop_io.c */
extern const struct blk_mq_ops tloop_mq_ops;
void tloop_pcache_init(struct tloop_device *dev);
void tloop_pcache_hold(struct tloop_device *dev);
void tloop_pcache_release(struct tloop_device *dev);
void tloop_pcache_check_all(struct tloop_device *dev);
void tloop_pcache_last_close(struct tloop_device *dev);

/* tloop_ioctl.c */
int tloop_sync_pages(struct tloop_device *dev, u64 first, u64 last);
int tloop_ioctl(struct block_device *bdev, tloop_blk_mode_t mode,
		unsigned int cmd, unsigned long arg);

/* tloop_uarg.c */
int tloop_uarg_in(void *karg, size_t ksize, const void __user *uarg);
int tloop_uarg_out(void __user *uarg, const void *karg, size_t ksize);
bool tloop_cmd_is(unsigned int cmd, unsigned int want);

#endif /* TLOOP_INTERNAL_H */
