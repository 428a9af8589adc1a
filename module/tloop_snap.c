// SPDX-License-Identifier: GPL-2.0
/*
 * Point-in-time snapshots (tloop_snap.h, uapi TLOOP_SNAP_*).
 *
 * Creating one (TLOOP_SNAP_CREATE): write back the device's page cache,
 * freeze the queue (every write request in flight completes, and so is
 * recorded; new ones wait), move the written set into the snapshot's
 * pending set, publish the snapshot, unfreeze.  That instant is P.
 *
 * Writing after P (tloop_snap_before_write(), from the I/O worker before a
 * write, discard or write-zeroes reaches the backing file): each page of
 * the request that is still pending and not yet preserved is read from the
 * backing file into a preserved copy.  Reading (TLOOP_SNAP_READ): for each
 * pending page, its preserved copy, or else the backing file's bytes, then
 * the page is done.  Both hold the snapshot's @lock for the page, and the
 * reader clears a page from the pending set only after it has its content,
 * so a writer that finds a page not pending (without the lock) knows its
 * content as of P is taken; one that finds it pending takes the lock and
 * looks again.  A page's content as of P is what the backing file holds
 * until the first write after P, which preserves it first.
 *
 * Failing: a copy that cannot be made (the memory limit, no memory, a read
 * error) or tracking switched off fail the snapshot; the write goes on.
 * The preserved copies are freed at once; reads fail with -ESTALE; at the
 * end every page of the snapshot goes back into the live set.
 *
 * Lifetime: the snapshot belongs to its file.  The device points to it
 * (tloop_snap_slot) from P to the end (TLOOP_SNAP_END or the file's
 * release), and refuses removal meanwhile; after the end the file no
 * longer touches the device.  @state_lock serializes the file's commands
 * (and the end) with each other.
 *
 * Lock order: slot.lock -> queue freeze -> slot.rwsem (write);
 * state_lock -> slot.lock; slot.rwsem (read) -> @lock -> the backing file's
 * and the written sets' locks; state_lock -> @lock.
 */
#include <linux/anon_inodes.h>
#include <linux/blk-mq.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/highmem.h>
#include <linux/lockdep.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/uio.h>
#include <linux/xarray.h>

#include "tloop_internal.h"

/* Pending pages looked up per step of a write or a read. */
#define TLOOP_SNAP_STEP	32

/**
 * struct tloop_snap - one snapshot.
 * @dev: the device (not touched once @ended).
 * @state_lock: serializes the file's commands and the end.
 * @lock: serializes copies before writes with reads of the same pages,
 *	and protects the fields below it.
 * @pending: pages of P not yet read.
 * @done: pages read.
 * @preserved: page index -> struct page: copies made before writes.
 * @ended: the snapshot ended (under @state_lock).
 * @error: why it failed (negative errno), 0 if it did not.
 * @generation: the live set's generation after P.
 * @mem_limit: bytes allowed for @preserved (0: no limit).
 * @mem_used: bytes in @preserved.
 * @mem_peak: largest @mem_used.
 * @nr_preserved: pages in @preserved.
 * @preserved_total: pages preserved since P.
 */
struct tloop_snap {
	struct tloop_device *dev;
	struct mutex state_lock;	/* serializes commands and the end */
	struct mutex lock;	/* page copies and reads; fields below */
	struct tloop_written_set pending;
	struct tloop_written_set done;
	struct xarray preserved;
	bool ended;
	int error;
	u64 generation;
	u64 mem_limit;
	u64 mem_used;
	u64 mem_peak;
	u64 nr_preserved;
	u64 preserved_total;
};

/**
 * tloop_snap_init() - initialize @dev's snapshot slot (no snapshot).
 * @dev: a new device.
 */
void tloop_snap_init(struct tloop_device *dev)
{
	mutex_init(&dev->snapshot.lock);
	init_rwsem(&dev->snapshot.rwsem);
	dev->snapshot.snap = NULL;
}

/**
 * tloop_snap_active() - whether @dev has a snapshot (removal is refused then).
 * @dev: the device.
 *
 * Return: true if a snapshot is active.
 */
bool tloop_snap_active(struct tloop_device *dev)
{
	return READ_ONCE(dev->snapshot.snap);
}

/* Read device page @index from the backing file into @page (zeroes past the end). */
static int tloop_snap_read_backing(struct tloop_device *dev, u64 index, struct page *page)
{
	loff_t pos = (loff_t)index << PAGE_SHIFT;
	size_t len = min_t(u64, PAGE_SIZE, dev->size - pos);
	struct bio_vec bv = { .bv_page = page, .bv_len = len, .bv_offset = 0 };
	struct iov_iter iter;
	struct kiocb kiocb;
	ssize_t ret;

	iov_iter_bvec(&iter, ITER_DEST, &bv, 1, len);
	while (iov_iter_count(&iter)) {
		init_sync_kiocb(&kiocb, dev->backing);
		kiocb.ki_pos = pos;
		ret = dev->backing->f_op->read_iter(&kiocb, &iter);
		if (ret < 0)
			return ret;
		if (ret == 0) {
			/* The backing file shrank: the device reads zeroes there. */
			iov_iter_zero(iov_iter_count(&iter), &iter);
			break;
		}
		pos += ret;
	}
	if (len < PAGE_SIZE)
		memzero_page(page, len, PAGE_SIZE - len);
	return 0;
}

/* Free every preserved copy.  @lock held, or the snapshot is private. */
static void tloop_snap_free_preserved(struct tloop_snap *snap)
{
	unsigned long index;
	struct page *page;

	xa_for_each(&snap->preserved, index, page) {
		xa_erase(&snap->preserved, index);
		__free_page(page);
	}
	snap->nr_preserved = 0;
	snap->mem_used = 0;
}

/* Fail the snapshot with @error (the first error stays).  @lock held. */
static void tloop_snap_fail_locked(struct tloop_snap *snap, int error)
{
	lockdep_assert_held(&snap->lock);
	if (snap->error)
		return;
	/* Read without the lock by writers and readers that only look. */
	WRITE_ONCE(snap->error, error);
	tloop_snap_free_preserved(snap);
}

/*
 * Preserve pending page @index before a write reaches it.  Worker context
 * (no I/O from reclaim).
 */
static void tloop_snap_preserve(struct tloop_snap *snap, u64 index)
{
	struct page *page;
	int ret;

	mutex_lock(&snap->lock);
	if (snap->error || xa_load(&snap->preserved, index) ||
	    !tloop_written_test(&snap->pending, index, false))
		goto out;
	if (snap->mem_limit && snap->mem_used + PAGE_SIZE > snap->mem_limit) {
		tloop_snap_fail_locked(snap, -ENOSPC);
		goto out;
	}
	page = alloc_page(GFP_NOIO | __GFP_NOWARN);
	if (!page) {
		tloop_snap_fail_locked(snap, -ENOMEM);
		goto out;
	}
	ret = tloop_snap_read_backing(snap->dev, index, page);
	if (!ret)
		ret = xa_err(xa_store(&snap->preserved, index, page, GFP_NOIO | __GFP_NOWARN));
	if (ret) {
		__free_page(page);
		tloop_snap_fail_locked(snap, ret == -ENOMEM ? -ENOMEM : -EIO);
		goto out;
	}
	snap->nr_preserved++;
	snap->preserved_total++;
	snap->mem_used += PAGE_SIZE;
	snap->mem_peak = max(snap->mem_peak, snap->mem_used);
out:
	mutex_unlock(&snap->lock);
}

/**
 * tloop_snap_before_write() - a write (or discard, write-zeroes) covering
 * pages @first..@last is about to reach the backing file: preserve the
 * content as of P of those of its pages that a snapshot still needs.
 * @dev: the device.
 * @first: first page.
 * @last: last page (inclusive).
 *
 * Context: the I/O worker (may sleep, no I/O from reclaim).
 */
void tloop_snap_before_write(struct tloop_device *dev, u64 first, u64 last)
{
	struct tloop_snap_slot *slot = &dev->snapshot;
	u64 buf[TLOOP_SNAP_STEP], next, epoch, pos = first, end;
	struct tloop_snap *snap;
	unsigned int n, i;
	bool overflow;

	if (!READ_ONCE(slot->snap))
		return;
	end = min(last + 1, dev->written.nr_pages);
	down_read(&slot->rwsem);
	snap = slot->snap;
	while (snap && pos < end && !READ_ONCE(snap->error)) {
		if (tloop_written_collect(&snap->pending, pos, end, buf, ARRAY_SIZE(buf),
					  &n, &next, &epoch, &overflow) || overflow)
			break;
		for (i = 0; i < n; i++)
			tloop_snap_preserve(snap, buf[i]);
		if (next == U64_MAX)
			break;
		pos = next;
	}
	up_read(&slot->rwsem);
}

/**
 * tloop_snap_tracking_off() - tracking was switched off: fail the snapshot.
 * @dev: the device.
 */
void tloop_snap_tracking_off(struct tloop_device *dev)
{
	struct tloop_snap_slot *slot = &dev->snapshot;

	down_read(&slot->rwsem);
	if (slot->snap) {
		mutex_lock(&slot->snap->lock);
		tloop_snap_fail_locked(slot->snap, -ENODATA);
		mutex_unlock(&slot->snap->lock);
	}
	up_read(&slot->rwsem);
}

/* Record the pages of @src in the device's live set (they were written). */
static void tloop_snap_merge(struct tloop_device *dev, struct tloop_written_set *src)
{
	u64 buf[TLOOP_SNAP_STEP], next, epoch, pos = 0;
	unsigned int n, i, j;
	bool overflow;

	while (!tloop_written_collect(src, pos, src->nr_pages, buf, ARRAY_SIZE(buf),
				      &n, &next, &epoch, &overflow)) {
		if (overflow) {
			tloop_written_set_overflow(&dev->written);
			break;
		}
		for (i = 0; i < n; i = j) {
			for (j = i + 1; j < n && buf[j] == buf[j - 1] + 1; j++)
				;
			tloop_written_record(&dev->written, buf[i], buf[j - 1]);
		}
		if (next == U64_MAX)
			break;
		pos = next;
		cond_resched();
	}
}

/* Free what the snapshot holds (not the struct).  It is no longer published. */
static void tloop_snap_free_sets(struct tloop_snap *snap)
{
	tloop_snap_free_preserved(snap);
	xa_destroy(&snap->preserved);
	tloop_written_disable(&snap->pending);
	tloop_written_disable(&snap->done);
}

/*
 * End the snapshot: withdraw it from the device, put its pages back into the
 * live set (the done ones only unless @copied), free its memory.
 * @state_lock held; the snapshot was published.
 */
static int tloop_snap_finish(struct tloop_snap *snap, bool copied)
{
	struct tloop_device *dev = snap->dev;
	struct tloop_snap_slot *slot = &dev->snapshot;
	bool failed;

	lockdep_assert_held(&snap->state_lock);
	mutex_lock(&slot->lock);
	down_write(&slot->rwsem);
	slot->snap = NULL;
	up_write(&slot->rwsem);
	mutex_unlock(&slot->lock);

	/* No writer uses the snapshot now; reads are excluded by state_lock. */
	failed = snap->error;
	tloop_snap_merge(dev, &snap->pending);
	if (!copied || failed)
		tloop_snap_merge(dev, &snap->done);
	tloop_snap_free_sets(snap);
	snap->ended = true;
	return copied && failed ? -ESTALE : 0;
}

static int tloop_snap_release(struct inode *inode, struct file *file)
{
	struct tloop_snap *snap = file->private_data;

	mutex_lock(&snap->state_lock);
	if (!snap->ended)
		tloop_snap_finish(snap, false);
	mutex_unlock(&snap->state_lock);
	/* A snapshot never published (a failed create) still has its sets. */
	tloop_snap_free_sets(snap);
	kfree(snap);
	return 0;
}

/*
 * Take pending page @index into @bounce: 1 if taken (now done), 0 if it is
 * not pending, or -errno.  The page leaves the pending set only after its
 * content was taken, so a writer finding it absent need not wait.
 */
static int tloop_snap_take(struct tloop_snap *snap, u64 index, struct page *bounce)
{
	unsigned int noio;
	struct page *page;
	int ret = 1;

	noio = memalloc_noio_save();
	mutex_lock(&snap->lock);
	if (snap->error) {
		ret = -ESTALE;
		goto out;
	}
	if (!tloop_written_test(&snap->pending, index, false)) {
		ret = 0;
		goto out;
	}
	page = xa_erase(&snap->preserved, index);
	if (page) {
		copy_highpage(bounce, page);
		__free_page(page);
		snap->nr_preserved--;
		snap->mem_used -= PAGE_SIZE;
	} else {
		ret = tloop_snap_read_backing(snap->dev, index, bounce);
		if (ret)
			goto out;
		ret = 1;
	}
	tloop_written_record(&snap->done, index, index);
	tloop_written_test(&snap->pending, index, true);
out:
	mutex_unlock(&snap->lock);
	memalloc_noio_restore(noio);
	return ret;
}

static int tloop_snap_ioc_read(struct tloop_snap *snap, struct tloop_snap_read __user *uarg)
{
	u64 buf[TLOOP_SNAP_STEP], next, epoch, pos, nr_pages;
	struct tloop_snap_read r;
	unsigned int max, n = 0, got, i;
	struct page *bounce;
	bool overflow, full = false;
	int ret;

	ret = tloop_uarg_in(&r, sizeof(r), uarg);
	if (ret)
		return ret;
	if (r.flags || memchr_inv(r.reserved, 0, sizeof(r.reserved)))
		return -EINVAL;
	nr_pages = snap->pending.nr_pages;
	if (!r.end)
		r.end = nr_pages;
	if (!r.capacity || r.end > nr_pages || r.cursor > r.end)
		return -EINVAL;
	if (!r.pages || !r.data)
		return -EFAULT;
	ret = tloop_uarg_out(uarg, &r, sizeof(r));
	if (ret)
		return ret;
	max = min(r.capacity, TLOOP_SNAP_MAX_BATCH);
	bounce = alloc_page(GFP_KERNEL);
	if (!bounce)
		return -ENOMEM;

	mutex_lock(&snap->state_lock);
	if (snap->ended || READ_ONCE(snap->error)) {
		ret = -ESTALE;
		goto out;
	}
	pos = r.cursor;
	next = U64_MAX;
	while (pos < r.end && !full) {
		ret = tloop_written_collect(&snap->pending, pos, r.end, buf,
					    min_t(unsigned int, ARRAY_SIZE(buf), max - n),
					    &got, &next, &epoch, &overflow);
		if (ret || overflow) {
			ret = ret ? ret : -EIO;
			goto out;
		}
		for (i = 0; i < got; i++) {
			ret = tloop_snap_take(snap, buf[i], bounce);
			if (ret < 0)
				goto out;
			if (!ret)
				continue;
			if (copy_to_user(u64_to_user_ptr(r.data + (u64)n * PAGE_SIZE),
					 page_address(bounce), PAGE_SIZE) ||
			    put_user(buf[i], (u64 __user *)u64_to_user_ptr(r.pages) + n)) {
				mutex_lock(&snap->lock);
				tloop_snap_fail_locked(snap, -EFAULT);
				mutex_unlock(&snap->lock);
				ret = -EFAULT;
				goto out;
			}
			if (++n == max) {
				full = true;
				next = buf[i] + 1;
				break;
			}
		}
		if (!full && next == U64_MAX)
			break;
		if (!full)
			pos = next;
		cond_resched();
	}
	r.count = n;
	r.next_cursor = (!full || next >= r.end) ? TLOOP_CURSOR_END : next;
	ret = tloop_uarg_out(uarg, &r, sizeof(r));
	if (ret) {
		mutex_lock(&snap->lock);
		tloop_snap_fail_locked(snap, -EFAULT);
		mutex_unlock(&snap->lock);
	}
out:
	mutex_unlock(&snap->state_lock);
	__free_page(bounce);
	return ret;
}

static int tloop_snap_ioc_status(struct tloop_snap *snap, struct tloop_snap_status __user *uarg)
{
	struct tloop_snap_status st;
	struct tloop_written_status ws;
	int ret;

	ret = tloop_uarg_in(&st, sizeof(st), uarg);
	if (ret)
		return ret;
	if (st.reserved0 || memchr_inv(st.reserved, 0, sizeof(st.reserved)))
		return -EINVAL;
	mutex_lock(&snap->state_lock);
	st.flags = snap->ended ? TLOOP_SNAP_ENDED : 0;
	st.generation = snap->generation;
	st.pending = 0;
	st.done = 0;
	if (!snap->ended) {
		tloop_written_status(&snap->pending, &ws);
		st.pending = ws.written;
		tloop_written_status(&snap->done, &ws);
		st.done = ws.written;
	}
	mutex_lock(&snap->lock);
	st.flags |= snap->error ? TLOOP_SNAP_FAILED : 0;
	st.error = snap->error;
	st.preserved = snap->nr_preserved;
	st.preserved_total = snap->preserved_total;
	st.mem_used = snap->mem_used;
	st.mem_peak = snap->mem_peak;
	st.mem_limit = snap->mem_limit;
	mutex_unlock(&snap->lock);
	mutex_unlock(&snap->state_lock);
	return tloop_uarg_out(uarg, &st, sizeof(st));
}

static int tloop_snap_ioc_end(struct tloop_snap *snap, struct tloop_snap_end __user *uarg)
{
	struct tloop_snap_end e;
	int ret;

	ret = tloop_uarg_in(&e, sizeof(e), uarg);
	if (ret)
		return ret;
	if ((e.flags & ~TLOOP_SNAP_END_COPIED) || memchr_inv(e.reserved, 0, sizeof(e.reserved)))
		return -EINVAL;
	mutex_lock(&snap->state_lock);
	if (snap->ended)
		ret = -ESTALE;
	else
		ret = tloop_snap_finish(snap, e.flags & TLOOP_SNAP_END_COPIED);
	mutex_unlock(&snap->state_lock);
	return ret;
}

static long tloop_snap_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct tloop_snap *snap = file->private_data;
	void __user *uarg = (void __user *)arg;

	if (tloop_cmd_is(cmd, TLOOP_SNAP_READ))
		return tloop_snap_ioc_read(snap, uarg);
	if (tloop_cmd_is(cmd, TLOOP_SNAP_STATUS))
		return tloop_snap_ioc_status(snap, uarg);
	if (tloop_cmd_is(cmd, TLOOP_SNAP_END))
		return tloop_snap_ioc_end(snap, uarg);
	return -ENOTTY;
}

static const struct file_operations tloop_snap_fops = {
	.owner = THIS_MODULE,
	.release = tloop_snap_release,
	.unlocked_ioctl = tloop_snap_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.llseek = noop_llseek,
};

/*
 * Fix P: with the queue frozen (no write in flight), move the live set into
 * the pending set and publish the snapshot.  With TLOOP_SNAP_ALL the pending
 * set was filled beforehand and the live set is only emptied (into @done,
 * emptied after).  slot.lock held.
 */
static int tloop_snap_fix(struct tloop_device *dev, struct tloop_snap *snap, bool all,
			  u64 *prev_gen)
{
	struct request_queue *q = dev->disk->queue;
	struct tloop_snap_slot *slot = &dev->snapshot;
	unsigned int memflags;
	u64 gen;
	int ret;

	lockdep_assert_held(&slot->lock);
	memflags = tloop_freeze_queue(q);
	ret = tloop_written_move(&dev->written, all ? &snap->done : &snap->pending, all,
				 prev_gen, &gen);
	if (!ret) {
		snap->generation = gen;
		down_write(&slot->rwsem);
		slot->snap = snap;
		up_write(&slot->rwsem);
	}
	tloop_unfreeze_queue(q, memflags);
	if (!ret && all)
		tloop_written_clear_all(&snap->done, &gen);
	return ret;
}

/**
 * tloop_snap_create() - TLOOP_SNAP_CREATE: fix an instant P of @dev and
 * return a file for reading the pages written before it, as of P.
 * @dev: the device (open: it is not being removed).
 * @uarg: the user's struct tloop_snap_create.
 *
 * Return: the new file descriptor, or -errno (nothing changed then, except
 * that a reply that cannot be written after P ends the snapshot again,
 * putting its pages back: -EFAULT).
 */
int tloop_snap_create(struct tloop_device *dev, struct tloop_snap_create __user *uarg)
{
	struct tloop_snap_slot *slot = &dev->snapshot;
	u64 nr_pages = dev->written.nr_pages;
	struct tloop_written_status ws;
	struct tloop_snap_create c;
	struct tloop_snap *snap;
	struct file *file;
	bool all;
	int fd, ret;

	ret = tloop_uarg_in(&c, sizeof(c), uarg);
	if (ret)
		return ret;
	if ((c.flags & ~TLOOP_SNAP_CREATE_FLAGS) || c.reserved0 ||
	    memchr_inv(c.reserved, 0, sizeof(c.reserved)))
		return -EINVAL;
	all = c.flags & TLOOP_SNAP_ALL;
	ret = tloop_uarg_out(uarg, &c, sizeof(c));
	if (ret)
		return ret;

	snap = kzalloc(sizeof(*snap), GFP_KERNEL);
	if (!snap)
		return -ENOMEM;
	snap->dev = dev;
	snap->mem_limit = c.mem_limit;
	mutex_init(&snap->state_lock);
	mutex_init(&snap->lock);
	xa_init(&snap->preserved);
	tloop_written_init(&snap->pending, nr_pages);
	tloop_written_init(&snap->done, nr_pages);
	tloop_written_enable(&snap->pending, 0);
	tloop_written_enable(&snap->done, 0);
	snap->ended = true;	/* until published: the release frees only */
	if (all) {
		tloop_written_record(&snap->pending, 0, nr_pages - 1);
		tloop_written_status(&snap->pending, &ws);
		if (ws.overflow) {
			tloop_snap_free_sets(snap);
			kfree(snap);
			return -ENOMEM;
		}
	}

	fd = get_unused_fd_flags(O_CLOEXEC);
	if (fd < 0) {
		tloop_snap_free_sets(snap);
		kfree(snap);
		return fd;
	}
	file = anon_inode_getfile("[tloop-snap]", &tloop_snap_fops, snap, O_RDWR);
	if (IS_ERR(file)) {
		put_unused_fd(fd);
		tloop_snap_free_sets(snap);
		kfree(snap);
		return PTR_ERR(file);
	}
	/* From here the file owns the snapshot: fput() frees it. */

	mutex_lock(&slot->lock);
	if (slot->snap) {
		ret = -EBUSY;
		goto out_unlock;
	}
	/* Stores made through mmap before the call are part of P. */
	ret = tloop_sync_pages(dev, 0, nr_pages);
	if (ret)
		goto out_unlock;
	ret = tloop_snap_fix(dev, snap, all, &c.prev_generation);
	if (ret)
		goto out_unlock;
	snap->ended = false;
	mutex_unlock(&slot->lock);

	tloop_written_status(&snap->pending, &ws);
	c.fd = fd;
	c.generation = snap->generation;
	c.pending = ws.written;
	ret = tloop_uarg_out(uarg, &c, sizeof(c));
	if (ret)
		goto out_put;
	fd_install(fd, file);
	return fd;

out_unlock:
	mutex_unlock(&slot->lock);
out_put:
	put_unused_fd(fd);
	fput(file);
	return ret;
}
