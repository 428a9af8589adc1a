/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Named consumers of a tloop device: written sets beside the default one
 * (tloop_device.written), each recording every write (see uapi DOC:
 * consumers).
 */
#ifndef TLOOP_CONSUMER_H
#define TLOOP_CONSUMER_H

#include <linux/kref.h>
#include <linux/rwsem.h>
#include <linux/types.h>

#include <linux/tloop.h>

#include "tloop_written.h"

struct tloop_device;

/**
 * struct tloop_consumer - a named consumer.
 * @ref: held by the device's table and by each call working on the set.
 * @id: its id (never 0, never reused on the device).
 * @name: its name, NUL-terminated.
 * @set: its written set.
 */
struct tloop_consumer {
	struct kref ref;
	u32 id;
	char name[TLOOP_CONSUMER_NAME_MAX];
	struct tloop_written_set set;
};

/**
 * struct tloop_consumers - the named consumers of a device.
 * @lock: read side to record a write in every set and to look one up;
 *	write side to add or remove one.  Never held across I/O.
 * @slot: the consumers in the order they were added; @nr are used.
 * @nr: named consumers.
 * @next_id: the id the next consumer gets.
 */
struct tloop_consumers {
	struct rw_semaphore lock;
	struct tloop_consumer *slot[TLOOP_MAX_CONSUMERS];
	unsigned int nr;
	u32 next_id;
};

void tloop_consumers_init(struct tloop_consumers *cs);
void tloop_consumers_record(struct tloop_device *dev, u64 first, u64 last);
struct tloop_written_set *tloop_consumer_set(struct tloop_device *dev, u32 id,
					     struct tloop_consumer **hold);
void tloop_consumer_put(struct tloop_consumer *c);
void tloop_consumers_remove_all(struct tloop_device *dev);
int tloop_ioc_consumer_add(struct tloop_device *dev,
			   struct tloop_consumer_add __user *uarg);
int tloop_ioc_consumer_remove(struct tloop_device *dev,
			      struct tloop_consumer_remove __user *uarg);
int tloop_ioc_consumer_list(struct tloop_device *dev,
			    struct tloop_consumer_list __user *uarg);

#endif /* TLOOP_CONSUMER_H */
