// SPDX-License-Identifier: GPL-2.0
/*
 * consumer.c - the named-consumer ioctls (TLOOP_CONSUMER_*) and the tracking
 * ioctls aimed at one consumer.
 */
#include "tlt.h"

int64_t tlt_consumer_add(int fd, const char *name, uint64_t mem_limit)
{
	struct tloop_consumer_add a = { .size = sizeof(a), .mem_limit = mem_limit };

	/* A name of 32 bytes or more is passed unterminated, on purpose. */
	memcpy(a.name, name, strnlen(name, sizeof(a.name)));
	return ioctl(fd, TLOOP_CONSUMER_ADD, &a) < 0 ? -errno : (int64_t)a.id;
}

int tlt_consumer_remove(int fd, const char *name)
{
	struct tloop_consumer_remove r = { .size = sizeof(r) };

	memcpy(r.name, name, strnlen(name, sizeof(r.name)));
	return ioctl(fd, TLOOP_CONSUMER_REMOVE, &r) < 0 ? -errno : 0;
}

int tlt_consumer_list(int fd, struct tloop_consumer_info *ci, uint32_t cap, uint32_t *count)
{
	struct tloop_consumer_list l = {
		.size = sizeof(l), .capacity = cap, .consumers = (uint64_t)(uintptr_t)ci,
	};

	if (ioctl(fd, TLOOP_CONSUMER_LIST, &l) < 0)
		return -errno;
	if (count)
		*count = l.count;
	return (int)l.total;
}

int tlt_cstatus(int fd, uint32_t id, struct tloop_track_status *st)
{
	memset(st, 0, sizeof(*st));
	st->size = sizeof(*st);
	st->consumer = id;
	return ioctl(fd, TLOOP_TRACK_STATUS, st) < 0 ? -errno : 0;
}

int tlt_cclear(int fd, uint32_t id, unsigned int flags, uint64_t start, uint64_t end,
	       uint64_t *generation)
{
	struct tloop_clear c = {
		.size = sizeof(c), .flags = flags, .start = start, .end = end, .consumer = id,
	};

	if (ioctl(fd, TLOOP_CLEAR_WRITTEN, &c) < 0)
		return -errno;
	if (generation)
		*generation = c.generation;
	return 0;
}
