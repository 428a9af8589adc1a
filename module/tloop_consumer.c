// SPDX-License-Identifier: GPL-2.0
/*
 * Named consumers (tloop_consumer.h): up to TLOOP_MAX_CONSUMERS written sets
 * beside the device's default one, each with its own generation, memory
 * limit and overflowed state.
 *
 * Every completed write is recorded in the default set and then, under the
 * read side of the table's lock, in each named set.  A call that reads or
 * clears a named set looks it up by id under the same read lock, takes a
 * reference and drops the lock before doing anything that may wait for I/O
 * (a query writes the device back, and that write-back is recorded by the
 * device's worker, which takes the read lock again): a remover waiting for
 * the write lock can then never stand between the two.  A removed set is
 * freed when its last call puts it.
 */
#include <linux/errno.h>
#include <linux/kref.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>

#include "tloop_internal.h"

/**
 * tloop_consumers_init() - an empty table.
 * @cs: the table.
 */
void tloop_consumers_init(struct tloop_consumers *cs)
{
	init_rwsem(&cs->lock);
	cs->nr = 0;
	cs->next_id = 1;
}

/**
 * tloop_consumers_record() - record a completed write in every set.
 * @dev: the device.
 * @first: first page index.
 * @last: last page index (inclusive).
 *
 * Context: process context, may sleep (the I/O worker).
 */
void tloop_consumers_record(struct tloop_device *dev, u64 first, u64 last)
{
	struct tloop_consumers *cs = &dev->consumers;
	unsigned int i;

	tloop_written_record(&dev->written, first, last);
	/* Pairs with the release in tloop_ioc_consumer_add(). */
	if (!smp_load_acquire(&cs->nr))
		return;
	down_read(&cs->lock);
	for (i = 0; i < cs->nr; i++)
		tloop_written_record(&cs->slot[i]->set, first, last);
	up_read(&cs->lock);
}

static void tloop_consumer_free(struct kref *ref)
{
	struct tloop_consumer *c = container_of(ref, struct tloop_consumer, ref);

	tloop_written_disable(&c->set);
	kfree(c);
}

/**
 * tloop_consumer_put() - drop a reference from tloop_consumer_set().
 * @c: the consumer, or %NULL (the default consumer).
 *
 * Context: may sleep (the last reference frees the set).
 */
void tloop_consumer_put(struct tloop_consumer *c)
{
	if (c)
		kref_put(&c->ref, tloop_consumer_free);
}

/**
 * tloop_consumer_set() - the written set of consumer @id.
 * @dev: the device.
 * @id: 0 for the default consumer, else a named consumer's id.
 * @hold: receives the reference to pass to tloop_consumer_put() when done
 *	(%NULL for the default consumer).
 *
 * Return: the set, or ERR_PTR(-ENOENT) if the device has no consumer @id.
 */
struct tloop_written_set *tloop_consumer_set(struct tloop_device *dev, u32 id,
					     struct tloop_consumer **hold)
{
	struct tloop_consumers *cs = &dev->consumers;
	struct tloop_consumer *c = NULL;
	unsigned int i;

	*hold = NULL;
	if (!id)
		return &dev->written;
	down_read(&cs->lock);
	for (i = 0; i < cs->nr; i++) {
		if (cs->slot[i]->id == id) {
			c = cs->slot[i];
			kref_get(&c->ref);
			break;
		}
	}
	up_read(&cs->lock);
	if (!c)
		return ERR_PTR(-ENOENT);
	*hold = c;
	return &c->set;
}

/**
 * tloop_consumers_remove_all() - remove every named consumer.
 * @dev: the device.
 *
 * Context: may sleep.
 */
void tloop_consumers_remove_all(struct tloop_device *dev)
{
	struct tloop_consumers *cs = &dev->consumers;
	struct tloop_consumer *gone[TLOOP_MAX_CONSUMERS];
	unsigned int i, n;

	down_write(&cs->lock);
	n = cs->nr;
	memcpy(gone, cs->slot, n * sizeof(gone[0]));
	/* Pairs with the acquire in tloop_consumers_record(). */
	smp_store_release(&cs->nr, 0);
	up_write(&cs->lock);
	for (i = 0; i < n; i++)
		tloop_consumer_put(gone[i]);
}

/* A valid name (uapi DOC: consumers): 0, or -EINVAL. */
static int tloop_consumer_name_check(const char *name)
{
	size_t len = strnlen(name, TLOOP_CONSUMER_NAME_MAX), i;

	if (!len || len == TLOOP_CONSUMER_NAME_MAX ||
	    memchr_inv(name + len, 0, TLOOP_CONSUMER_NAME_MAX - len))
		return -EINVAL;
	for (i = 0; i < len; i++) {
		char ch = name[i];
		bool alnum = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			     (ch >= '0' && ch <= '9');

		if (!alnum && (!i || (ch != '.' && ch != '_' && ch != '-')))
			return -EINVAL;
	}
	return 0;
}

/* Index of consumer @name in the table, or -1.  Context: cs->lock held. */
static int tloop_consumer_find(struct tloop_consumers *cs, const char *name)
{
	unsigned int i;

	for (i = 0; i < cs->nr; i++)
		if (!strcmp(cs->slot[i]->name, name))
			return i;
	return -1;
}

/* Insert @c; 0, -ENODATA, -EEXIST or -ENOSPC. */
static int tloop_consumer_insert(struct tloop_device *dev, struct tloop_consumer *c)
{
	struct tloop_consumers *cs = &dev->consumers;
	struct tloop_written_status st;
	unsigned int i;
	int ret = 0;

	down_write(&cs->lock);
	/* Tracking off: TLOOP_TRACK_DISABLE turns it off before emptying us. */
	tloop_written_status(&dev->written, &st);
	if (!st.on) {
		ret = -ENODATA;
		goto out;
	}
	if (tloop_consumer_find(cs, c->name) >= 0) {
		ret = -EEXIST;
		goto out;
	}
	if (cs->nr == TLOOP_MAX_CONSUMERS) {
		ret = -ENOSPC;
		goto out;
	}
	/* An id never handed out on this device (a u32 lasts for ages). */
	do {
		c->id = cs->next_id++;
		if (!cs->next_id)
			cs->next_id = 1;
		for (i = 0; i < cs->nr && cs->slot[i]->id != c->id; i++)
			;
	} while (!c->id || i < cs->nr);
	cs->slot[cs->nr] = c;
	/* Pairs with the acquire in tloop_consumers_record(). */
	smp_store_release(&cs->nr, cs->nr + 1);
out:
	up_write(&cs->lock);
	return ret;
}

/* Unlink consumer @name and return it (the table's reference), or NULL. */
static struct tloop_consumer *tloop_consumer_unlink(struct tloop_consumers *cs,
						    const char *name)
{
	struct tloop_consumer *c = NULL;
	int i;

	down_write(&cs->lock);
	i = tloop_consumer_find(cs, name);
	if (i >= 0) {
		c = cs->slot[i];
		memmove(&cs->slot[i], &cs->slot[i + 1],
			(cs->nr - i - 1) * sizeof(cs->slot[0]));
		/* Pairs with the acquire in tloop_consumers_record(). */
		smp_store_release(&cs->nr, cs->nr - 1);
	}
	up_write(&cs->lock);
	return c;
}

/**
 * tloop_ioc_consumer_add() - TLOOP_CONSUMER_ADD.
 * @dev: the device.
 * @uarg: the user's struct tloop_consumer_add.
 *
 * Return: 0 or a negative errno (see the uapi).
 */
int tloop_ioc_consumer_add(struct tloop_device *dev,
			   struct tloop_consumer_add __user *uarg)
{
	struct tloop_consumer_add a;
	struct tloop_consumer *c;
	int ret;

	ret = tloop_uarg_in(&a, sizeof(a), uarg);
	if (ret)
		return ret;
	if (a.flags || a.reserved0 || memchr_inv(a.reserved, 0, sizeof(a.reserved)))
		return -EINVAL;
	if (tloop_consumer_name_check(a.name))
		return -EINVAL;
	if (!strcmp(a.name, TLOOP_CONSUMER_DEFAULT))
		return -EEXIST;
	/* The reply must be writable before the consumer exists. */
	ret = tloop_uarg_out(uarg, &a, sizeof(a));
	if (ret)
		return ret;

	c = kzalloc(sizeof(*c), GFP_KERNEL);
	if (!c)
		return -ENOMEM;
	kref_init(&c->ref);
	memcpy(c->name, a.name, sizeof(c->name));
	tloop_written_init(&c->set, dev->written.nr_pages);
	ret = tloop_written_enable(&c->set, a.mem_limit);
	if (!ret)
		ret = tloop_consumer_insert(dev, c);
	if (ret) {
		tloop_consumer_put(c);
		return ret;
	}
	a.id = c->id;
	ret = tloop_uarg_out(uarg, &a, sizeof(a));
	if (ret) {
		/* The caller cannot know the id: undo, as if never added. */
		tloop_consumer_put(tloop_consumer_unlink(&dev->consumers, a.name));
		return ret;
	}
	tloop_persist_remark(dev);
	return 0;
}

/**
 * tloop_ioc_consumer_remove() - TLOOP_CONSUMER_REMOVE.
 * @dev: the device.
 * @uarg: the user's struct tloop_consumer_remove.
 *
 * Return: 0 or a negative errno (see the uapi).
 */
int tloop_ioc_consumer_remove(struct tloop_device *dev,
			      struct tloop_consumer_remove __user *uarg)
{
	struct tloop_consumer_remove r;
	struct tloop_consumer *c;
	int ret;

	ret = tloop_uarg_in(&r, sizeof(r), uarg);
	if (ret)
		return ret;
	if (r.flags || memchr_inv(r.reserved, 0, sizeof(r.reserved)))
		return -EINVAL;
	if (tloop_consumer_name_check(r.name) ||
	    !strcmp(r.name, TLOOP_CONSUMER_DEFAULT))
		return -EINVAL;
	c = tloop_consumer_unlink(&dev->consumers, r.name);
	if (!c)
		return -ENOENT;
	tloop_consumer_put(c);
	tloop_persist_remark(dev);
	return 0;
}

static void tloop_consumer_fill(struct tloop_consumer_info *ci, u32 id,
				const char *name, struct tloop_written_set *set)
{
	struct tloop_written_status st;

	tloop_written_status(set, &st);
	ci->id = id;
	ci->status = (st.on ? TLOOP_TRACK_ON : 0) | (st.overflow ? TLOOP_TRACK_OVERFLOW : 0);
	ci->generation = st.generation;
	ci->written = st.written;
	ci->mem_used = st.mem_used;
	ci->mem_limit = st.mem_limit;
	strscpy(ci->name, name, sizeof(ci->name));
}

/**
 * tloop_ioc_consumer_list() - TLOOP_CONSUMER_LIST.
 * @dev: the device.
 * @uarg: the user's struct tloop_consumer_list.
 *
 * Return: 0 or a negative errno (see the uapi).
 */
int tloop_ioc_consumer_list(struct tloop_device *dev,
			    struct tloop_consumer_list __user *uarg)
{
	struct tloop_consumers *cs = &dev->consumers;
	struct tloop_consumer_list l;
	struct tloop_consumer_info *ci;
	struct tloop_written_status st;
	unsigned int n = 0, i;
	int ret;

	ret = tloop_uarg_in(&l, sizeof(l), uarg);
	if (ret)
		return ret;
	if (memchr_inv(l.reserved, 0, sizeof(l.reserved)))
		return -EINVAL;
	if (l.capacity && !l.consumers)
		return -EFAULT;
	ci = kcalloc(TLOOP_MAX_CONSUMERS + 1, sizeof(*ci), GFP_KERNEL);
	if (!ci)
		return -ENOMEM;

	down_read(&cs->lock);
	tloop_written_status(&dev->written, &st);
	if (st.on)
		tloop_consumer_fill(&ci[n++], 0, TLOOP_CONSUMER_DEFAULT, &dev->written);
	for (i = 0; i < cs->nr; i++)
		tloop_consumer_fill(&ci[n++], cs->slot[i]->id, cs->slot[i]->name,
				    &cs->slot[i]->set);
	up_read(&cs->lock);

	l.total = n;
	l.count = min(n, l.capacity);
	if (l.count && copy_to_user(u64_to_user_ptr(l.consumers), ci,
				    l.count * sizeof(*ci)))
		ret = -EFAULT;
	else
		ret = tloop_uarg_out(uarg, &l, sizeof(l));
	kfree(ci);
	return ret;
}
