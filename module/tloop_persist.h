/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Persistence of a device's written sets in a sidecar file (uapi DOC:
 * persistence; the format is described in tloop_persist.c).
 */
#ifndef TLOOP_PERSIST_H
#define TLOOP_PERSIST_H

#include <linux/mutex.h>
#include <linux/types.h>

#include <linux/tloop.h>

struct file;
struct tloop_device;
struct tloop_consumer;

/**
 * struct tloop_pbody - the extent of a sidecar's valid body on disk.
 * @off: its offset; 0 when the sidecar holds nothing valid.
 * @end: the offset of its end.
 */
struct tloop_pbody {
	loff_t off;
	loff_t end;
};

/**
 * struct tloop_persist - a device's sidecar.
 * @file: the device's own open file on the sidecar, or %NULL.
 * @status: TLOOP_PERSIST_* of the restore at add time.
 * @saved: a clean save was made; nothing may be recorded any more.
 * @body: where the sidecar's valid body is: a write never goes over it.
 * @lock: serializes the writes of the sidecar (and @saved, @body).
 */
struct tloop_persist {
	struct file *file;
	u32 status;
	bool saved;
	struct tloop_pbody body;
	struct mutex lock;		/* serializes the sidecar's writes */
};

/**
 * struct tloop_persist_load - what an add read from a sidecar.
 * @file: the device's own open file on the sidecar.
 * @status: TLOOP_PERSIST_*.
 * @why: why the sets are not trusted or the sidecar is invalid, or %NULL.
 * @attach_id: the attach id to use (restored or fresh).
 * @next_id: the next named consumer id.
 * @dflt: the default consumer's restored set (id 0), or %NULL.
 * @named: the named consumers, @nr of them, ready to be inserted.
 * @nr: entries of @named.
 * @body: where the sidecar's valid body is (see struct tloop_persist).
 */
struct tloop_persist_load {
	struct file *file;
	u32 status;
	const char *why;
	struct tloop_pbody body;
	u64 attach_id;
	u32 next_id;
	struct tloop_consumer *dflt;
	struct tloop_consumer *named[TLOOP_MAX_CONSUMERS];
	unsigned int nr;
};

int tloop_persist_load(int fd, struct file *backing, u64 dev_size,
		       unsigned int block_size, struct tloop_persist_load **out);
int tloop_persist_mark(struct tloop_persist_load *l, u64 dev_size,
		       unsigned int block_size);
u64 tloop_persist_mem_limit(const struct tloop_persist_load *l);
void tloop_persist_install(struct tloop_device *dev, struct tloop_persist_load *l);
void tloop_persist_free(struct tloop_persist_load *l);
void tloop_persist_save(struct tloop_device *dev);
void tloop_persist_remark(struct tloop_device *dev);
const char *tloop_persist_status_name(u32 status);

#endif /* TLOOP_PERSIST_H */
