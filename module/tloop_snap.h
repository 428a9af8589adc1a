/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Point-in-time snapshots of a tloop device (uapi: TLOOP_SNAP_*).
 *
 * A snapshot moves the device's written set into its own pending set at an
 * instant P (with the queue frozen), then copies each pending page into
 * memory before the first write after P reaches it (copy-before-write), so
 * that a consumer can read every pending page with its content as of P
 * while writers go on.  The device keeps only a slot: everything else
 * lives in the snapshot, which is owned by its file (tloop_snap.c).
 */
#ifndef TLOOP_SNAP_H
#define TLOOP_SNAP_H

#include <linux/mutex.h>
#include <linux/rwsem.h>
#include <linux/types.h>

struct tloop_device;
struct tloop_snap;
struct tloop_snap_create;

/**
 * struct tloop_snap_slot - a device's view of its snapshot.
 * @lock: serializes creating and ending a snapshot.
 * @rwsem: read side held by writers while they copy before writing; write
 *	side to publish or withdraw @snap.
 * @snap: the active snapshot, or NULL.
 */
struct tloop_snap_slot {
	struct mutex lock;	/* serializes create and end */
	struct rw_semaphore rwsem;	/* protects @snap against its users */
	struct tloop_snap *snap;
};

void tloop_snap_init(struct tloop_device *dev);
bool tloop_snap_active(struct tloop_device *dev);
int tloop_snap_create(struct tloop_device *dev, struct tloop_snap_create __user *uarg);
void tloop_snap_before_write(struct tloop_device *dev, u64 first, u64 last);
void tloop_snap_tracking_off(struct tloop_device *dev);

#endif /* TLOOP_SNAP_H */
