// SPDX-License-Identifier: GPL-2.0
/*
 * consumer.c - named consumers of a device (TLOOP_CONSUMER_*, see DOC:
 * consumers in <linux/tloop.h>): add, remove, list, look a name up, and
 * the status and clear calls aimed at one consumer.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>

#include "internal.h"

int tloop_consumer_name_valid(const char *name)
{
	size_t len = name ? strnlen(name, TLOOP_CONSUMER_NAME_MAX) : 0, i;

	if (!len || len == TLOOP_CONSUMER_NAME_MAX)
		return 0;
	for (i = 0; i < len; i++) {
		char ch = name[i];
		int alnum = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			    (ch >= '0' && ch <= '9');

		if (!alnum && (!i || (ch != '.' && ch != '_' && ch != '-')))
			return 0;
	}
	return 1;
}

/* An old module knows no consumer command: say so plainly. */
static int no_consumers(int ret)
{
	return ret == -ENOTTY ? -EOPNOTSUPP : ret;
}

int tloop_consumer_add(int fd, const char *name, uint64_t mem_limit)
{
	struct tloop_consumer_add a;
	int ret;

	if (!tloop_consumer_name_valid(name))
		return -EINVAL;
	memset(&a, 0, sizeof(a));
	a.size = sizeof(a);
	a.mem_limit = mem_limit;
	memcpy(a.name, name, strlen(name));
	ret = tloop_ioctl(fd, TLOOP_CONSUMER_ADD, &a);
	return ret < 0 ? no_consumers(ret) : (int)a.id;
}

int tloop_consumer_remove(int fd, const char *name)
{
	struct tloop_consumer_remove r;
	int ret;

	if (!tloop_consumer_name_valid(name))
		return -EINVAL;
	memset(&r, 0, sizeof(r));
	r.size = sizeof(r);
	memcpy(r.name, name, strlen(name));
	ret = tloop_ioctl(fd, TLOOP_CONSUMER_REMOVE, &r);
	return ret < 0 ? no_consumers(ret) : 0;
}

int tloop_consumer_list(int fd, struct tloop_consumer_info *ci, size_t cap, size_t *count)
{
	struct tloop_consumer_list l;
	int ret;

	memset(&l, 0, sizeof(l));
	l.size = sizeof(l);
	l.capacity = cap > UINT32_MAX ? UINT32_MAX : (uint32_t)cap;
	l.consumers = (uintptr_t)ci;
	ret = tloop_ioctl(fd, TLOOP_CONSUMER_LIST, &l);
	if (ret < 0)
		return no_consumers(ret);
	if (count)
		*count = l.count;
	return (int)l.total;
}

int tloop_consumer_lookup(int fd, const char *name, uint32_t *id)
{
	struct tloop_consumer_info ci[TLOOP_MAX_CONSUMERS + 1];
	size_t n = 0, i;
	int ret;

	if (!name || !strcmp(name, TLOOP_CONSUMER_DEFAULT)) {
		*id = 0;
		return 0;
	}
	if (!tloop_consumer_name_valid(name))
		return -EINVAL;
	ret = tloop_consumer_list(fd, ci, TLOOP_MAX_CONSUMERS + 1, &n);
	if (ret < 0)
		return ret;
	for (i = 0; i < n; i++) {
		if (!strncmp(ci[i].name, name, sizeof(ci[i].name))) {
			*id = ci[i].id;
			return 0;
		}
	}
	return -ENOENT;
}

int tloop_consumer_status(int fd, uint32_t id, struct tloop_track_status *st)
{
	int ret;

	memset(st, 0, sizeof(*st));
	st->size = sizeof(*st);
	st->consumer = id;
	ret = tloop_ioctl(fd, TLOOP_TRACK_STATUS, st);
	return ret < 0 ? ret : 0;
}

int tloop_consumer_clear(int fd, uint32_t id, unsigned int flags, uint64_t start, uint64_t end,
			 uint64_t *generation)
{
	struct tloop_clear c;
	int ret;

	memset(&c, 0, sizeof(c));
	c.size = sizeof(c);
	c.flags = flags;
	c.start = start;
	c.end = end;
	c.consumer = id;
	ret = tloop_ioctl(fd, TLOOP_CLEAR_WRITTEN, &c);
	if (ret < 0)
		return ret;
	if (generation)
		*generation = c.generation;
	return 0;
}
