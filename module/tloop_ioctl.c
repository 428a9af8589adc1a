// SPDX-License-Identifier: GPL-2.0
/*
 * The ioctls of /dev/tloopN: configuration and tracking.
 */
#include <linux/blkdev.h>
#include <linux/capability.h>
#include <linux/dcache.h>
#include <linux/fs.h>
#include <linux/kdev_t.h>
#include <linux/lockdep.h>
#include <linux/mm.h>
#include <linux/pagemap.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/stat.h>
#include <linux/uaccess.h>
#include <linux/xarray.h>

#include "tloop_internal.h"

static bool tloop_zeroed(const void *p, size_t len)
{
	return !memchr_inv(p, 0, len);
}

/**
 * tloop_sync_pages() - write back the dirty page cache of device pages
 * [@first, @last) (every
 * partition's part of it: each partition has its own page cache), so that
 * mmap stores made there before the call are written, recorded, and their
 * pages write-protected again.  No tloop lock is held: the write-back I/O is
 * served by this device's own worker.
 *
 * @dev: the device.
 * @first: first page.
 * @last: page after the range.
 *
 * Return: 0, or the write-back's error (-EIO, -ENOSPC, ...): a write-back
 * of the page cache involved failed since that error was last reported.
 */
int tloop_sync_pages(struct tloop_device *dev, u64 first, u64 last)
{
	struct gendisk *disk = dev->disk;
	loff_t start = (loff_t)first << PAGE_SHIFT;
	loff_t end = (loff_t)last << PAGE_SHIFT;
	struct block_device *part;
	unsigned long idx;
	int ret = 0, err;

	lockdep_assert_not_held(&dev->written.lock);
	lockdep_assert_not_held(&dev->lock);
	if (first >= last)
		return 0;
	if (!(dev->flags & TLOOP_FLAG_PARTSCAN))
		return sync_blockdev_range(disk->part0, start, end - 1);

	/* Partitions are added and deleted under open_mutex. */
	mutex_lock(&disk->open_mutex);
	xa_for_each(&disk->part_tbl, idx, part) {
		loff_t pstart = (loff_t)part->bd_start_sect << SECTOR_SHIFT;
		loff_t pend = pstart + bdev_nr_bytes(part);
		loff_t a = max(start, pstart), b = min(end, pend);

		if (a >= b)
			continue;
		err = sync_blockdev_range(part, a - pstart, b - pstart - 1);
		if (err && !ret)
			ret = err;
	}
	mutex_unlock(&disk->open_mutex);
	return ret;
}

/*
 * First page at or after @pos in the page cache of @bdev that is dirty or under
 * write-back, as a page of the device whose first sector is @start_sect, or
 * U64_MAX.  A partition that does not start on a page boundary gives the
 * device page holding the start of its page: never a later one.
 */
static u64 tloop_next_dirty_bdev(struct block_device *bdev, sector_t start_sect,
				 u64 pos)
{
	struct address_space *mapping = tloop_bdev_mapping(bdev);
	u64 base = ((u64)start_sect << SECTOR_SHIFT) >> PAGE_SHIFT;
	unsigned long from = pos > base ? pos - base : 0, idx;
	u64 best = U64_MAX;
	const xa_mark_t marks[] = { PAGECACHE_TAG_DIRTY, PAGECACHE_TAG_WRITEBACK };
	unsigned int i;

	if (!mapping->nrpages)
		return U64_MAX;
	for (i = 0; i < ARRAY_SIZE(marks); i++) {
		idx = from;
		if (xa_find(&mapping->i_pages, &idx, ULONG_MAX, marks[i]) &&
		    base + idx < best)
			best = base + idx;
	}
	return best;
}

/*
 * First page of [@pos, @end) that may need writing back (dirty or under
 * write-back in the page cache of the disk or of one of its partitions), or
 * @end.  A query skips the write-back step over the pages before it: there is
 * nothing to wait for there, so the cost of a query over a huge, mostly clean
 * device follows its dirty pages, not its size.
 */
static u64 tloop_next_dirty(struct tloop_device *dev, u64 pos, u64 end)
{
	struct gendisk *disk = dev->disk;
	struct block_device *part;
	unsigned long idx;
	u64 best;

	if (!(dev->flags & TLOOP_FLAG_PARTSCAN)) {
		best = tloop_next_dirty_bdev(disk->part0, 0, pos);
	} else {
		best = U64_MAX;
		mutex_lock(&disk->open_mutex);
		xa_for_each(&disk->part_tbl, idx, part)
			best = min(best, tloop_next_dirty_bdev(part, part->bd_start_sect, pos));
		mutex_unlock(&disk->open_mutex);
	}
	return clamp(best, pos, end);
}

static int tloop_ioc_info(struct tloop_device *dev, struct tloop_info __user *uarg)
{
	struct tloop_info info;
	struct tloop_written_status st;
	struct kstat stat;
	char *buf, *path;
	int ret;

	ret = tloop_uarg_in(&info, sizeof(info), uarg);
	if (ret)
		return ret;
	if (!tloop_zeroed(info.reserved, sizeof(info.reserved)))
		return -EINVAL;

	/*
	 * What stat(2) says, not the inode's superblock: btrfs subvolumes and
	 * overlayfs report another st_dev (and overlayfs another st_ino).
	 */
	ret = vfs_getattr(&dev->backing->f_path, &stat, STATX_INO,
			  AT_STATX_SYNC_AS_STAT);
	if (ret)
		return ret;

	tloop_written_status(&dev->written, &st);
	info.flags = dev->flags | (st.on ? TLOOP_FLAG_TRACK : 0);
	info.index = dev->index;
	info.block_size = dev->block_size;
	info.dev_size = dev->size;
	info.size_limit = dev->size_limit;
	info.backing_dev = new_encode_dev(stat.dev);
	info.backing_ino = stat.ino;
	info.attach_id = dev->attach_id;

	buf = kmalloc(PATH_MAX, GFP_KERNEL);
	if (!buf)
		return -ENOMEM;
	path = d_path(&dev->backing->f_path, buf, PATH_MAX);
	if (IS_ERR(path)) {
		ret = PTR_ERR(path);
		goto out;
	}
	info.path_len = strlen(path);
	if (info.path && info.path_size) {
		size_t n = min_t(size_t, info.path_len, info.path_size - 1);
		char __user *upath = u64_to_user_ptr(info.path);

		if (copy_to_user(upath, path, n) || put_user('\0', upath + n)) {
			ret = -EFAULT;
			goto out;
		}
	}
	ret = tloop_uarg_out(uarg, &info, sizeof(info));
out:
	kfree(buf);
	return ret;
}

static int tloop_ioc_enable(struct tloop_device *dev,
			    struct tloop_track_enable __user *uarg)
{
	struct tloop_track_enable en;
	int ret;

	ret = tloop_uarg_in(&en, sizeof(en), uarg);
	if (ret)
		return ret;
	if (en.flags || !tloop_zeroed(en.reserved, sizeof(en.reserved)))
		return -EINVAL;
	/*
	 * Write back first, so that stores made before this call are not in
	 * the new set.  Its error is left for the next query to report.
	 */
	tloop_sync_pages(dev, 0, dev->written.nr_pages);
	ret = tloop_written_enable(&dev->written, en.mem_limit);
	if (!ret)
		tloop_pcache_hold(dev);
	return ret;
}

static int tloop_ioc_status(struct tloop_device *dev,
			    struct tloop_track_status __user *uarg)
{
	struct tloop_track_status ts;
	struct tloop_written_status st;
	struct tloop_written_set *set;
	struct tloop_consumer *hold;
	int ret;

	ret = tloop_uarg_in(&ts, sizeof(ts), uarg);
	if (ret)
		return ret;
	if (!tloop_zeroed(ts.reserved, sizeof(ts.reserved)))
		return -EINVAL;
	set = tloop_consumer_set(dev, ts.consumer, &hold);
	if (IS_ERR(set))
		return PTR_ERR(set);
	tloop_written_status(set, &st);
	tloop_consumer_put(hold);
	ts.flags = (st.on ? TLOOP_TRACK_ON : 0) | (st.overflow ? TLOOP_TRACK_OVERFLOW : 0);
	ts.generation = st.generation;
	ts.written = st.written;
	ts.nr_pages = dev->written.nr_pages;
	ts.page_size = PAGE_SIZE;
	ts.mem_used = st.mem_used;
	ts.mem_limit = st.mem_limit;
	return tloop_uarg_out(uarg, &ts, sizeof(ts));
}

/*
 * Pages written back by the first step of a query: its batch size, at least
 * this; each further step doubles.  Starting at the batch size means a call
 * under writers that dirty every page writes back about as many pages as it
 * returns, not more.
 */
#define TLOOP_SYNC_STEP_MIN	16ULL
#define TLOOP_SYNC_STEP_MAX	BIT_ULL(18)

/*
 * The reply buffer of one query: it starts at the number of pages in the
 * set (plus a little, since the write-back records pages as it goes) rather
 * than at the caller's capacity, and grows by doubling as the collect fills
 * it.  Debian's kernels zero every allocation, and an empty or sparse walk
 * with a large capacity would otherwise allocate and zero up to
 * TLOOP_GET_MAX_BATCH entries on every call.
 */
#define TLOOP_GET_BUF_MIN	64U

struct tloop_get_buf {
	u64 *pages;
	unsigned int alloc;	/* entries at @pages */
	unsigned int max;	/* the batch: min(capacity, TLOOP_GET_MAX_BATCH) */
};

static int tloop_get_buf_init(struct tloop_get_buf *b, struct tloop_written_set *set,
			      unsigned int max)
{
	u64 want = atomic64_read(&set->nr_set) + TLOOP_GET_BUF_MIN;

	b->max = max;
	b->alloc = min_t(u64, max, want);
	b->pages = kvmalloc_array(b->alloc, sizeof(*b->pages), GFP_KERNEL);
	return b->pages ? 0 : -ENOMEM;
}

/* Double @b (at most b->max), keeping its first @n entries. */
static bool tloop_get_buf_grow(struct tloop_get_buf *b, unsigned int n)
{
	unsigned int alloc = min_t(u64, (u64)b->alloc * 2, b->max);
	u64 *pages;

	pages = kvmalloc_array(alloc, sizeof(*pages), GFP_KERNEL | __GFP_NOWARN);
	if (!pages)
		return false;
	memcpy(pages, b->pages, n * sizeof(*pages));
	kvfree(b->pages);
	b->pages = pages;
	b->alloc = alloc;
	return true;
}

/*
 * List set pages of [@cursor, @end) into @b, at most b->max.  Unless
 * @nosync, each range of pages is written back just before it is examined,
 * so a call writes back the pages it examines (those before its
 * next_cursor), starting with a step the size of the batch: the cost of a
 * call follows its batch, not the device size, and a walk writes back each
 * page about once.  When @b fills before the batch does, it grows and the
 * collect goes on where it stopped; if it cannot grow, the call returns the
 * shorter batch with its next_cursor (the uapi allows a count below the
 * capacity while pages remain).
 */
static int tloop_get_collect(struct tloop_device *dev, struct tloop_written_set *set,
			     bool nosync, u64 cursor, u64 end, struct tloop_get_buf *b,
			     unsigned int *count,
			     u64 *next, u64 *epoch, bool *overflow)
{
	u64 step = max_t(u64, b->max, TLOOP_SYNC_STEP_MIN);
	u64 pos = cursor, first_epoch = 0;
	unsigned int n = 0, got;
	int ret;

	*count = 0;
	*next = U64_MAX;
	*overflow = false;
	do {
		u64 stop = end - pos > step ? pos + step : end;

		if (fatal_signal_pending(current))
			return -EINTR;
		if (nosync) {
			stop = end;
		} else {
			/* Clean pages need no write-back step: take them at once. */
			stop = max(stop, tloop_next_dirty(dev, pos, end));
			ret = tloop_sync_pages(dev, pos, stop);
			if (ret)
				return ret;
		}
		for (;;) {
			ret = tloop_written_collect(set, pos, stop, b->pages + n,
						    b->alloc - n, &got, next, epoch,
						    overflow);
			if (ret)
				return ret;
			if (*overflow) {
				*count = 0;
				*next = U64_MAX;
				return 0;
			}
			if (n && *epoch != first_epoch) {
				/* The table was replaced: these pages are of a new set. */
				*epoch = first_epoch;
				*next = pos;
				goto done;
			}
			first_epoch = *epoch;
			n += got;
			if (*next == U64_MAX)
				break;		/* [pos, stop) is exhausted */
			if (n == b->max || !tloop_get_buf_grow(b, n))
				goto done;	/* the batch is full */
			pos = *next;		/* written back already */
		}
		pos = stop;
		step = min(step * 2, TLOOP_SYNC_STEP_MAX);
		if (pos < end && n == b->max) {
			*next = pos;
			break;
		}
		cond_resched();
	} while (pos < end);
done:
	*count = n;
	return 0;
}

/* Put pages a failed GET+CLEAR had cleared back into the set. */
static void tloop_get_restore(struct tloop_written_set *set, const u64 *pages,
			      unsigned int count)
{
	unsigned int i = 0, j;

	while (i < count) {
		for (j = i + 1; j < count && pages[j] == pages[j - 1] + 1; j++)
			;
		tloop_written_record(set, pages[i], pages[j - 1]);
		i = j;
	}
}

static int tloop_ioc_get(struct tloop_device *dev, bool may_change,
			 struct tloop_written __user *uarg)
{
	struct tloop_written w;
	u64 nr_pages = dev->written.nr_pages;
	struct tloop_get_buf b;
	unsigned int count = 0;
	struct tloop_written_status st;
	struct tloop_written_set *set;
	struct tloop_consumer *hold;
	bool overflow = false, cleared = false;
	u64 next, epoch = 0;
	int ret;

	ret = tloop_uarg_in(&w, sizeof(w), uarg);
	if (ret)
		return ret;
	if ((w.flags & ~TLOOP_GET_FLAGS) ||
	    !tloop_zeroed(w.reserved, sizeof(w.reserved)))
		return -EINVAL;
	if ((w.flags & TLOOP_GET_CLEAR) && !may_change)
		return -EPERM;
	if (!w.end)
		w.end = nr_pages;
	if (!w.capacity || w.end > nr_pages || w.cursor > w.end)
		return -EINVAL;
	if (!w.pages)
		return -EFAULT;
	/* The reply must be writable before anything is cleared. */
	ret = tloop_uarg_out(uarg, &w, sizeof(w));
	if (ret)
		return ret;

	set = tloop_consumer_set(dev, w.consumer, &hold);
	if (IS_ERR(set))
		return PTR_ERR(set);
	ret = tloop_get_buf_init(&b, set, min(w.capacity, TLOOP_GET_MAX_BATCH));
	if (ret)
		goto out_put;

	ret = tloop_get_collect(dev, set, w.flags & TLOOP_GET_NOSYNC, w.cursor, w.end,
				&b, &count, &next, &epoch, &overflow);
	if (!(w.flags & TLOOP_GET_NOSYNC))
		tloop_pcache_check_all(dev);
	if (ret)
		goto out;
	if (count && copy_to_user(u64_to_user_ptr(w.pages), b.pages,
				  count * sizeof(*b.pages))) {
		ret = -EFAULT;
		goto out;
	}
	if ((w.flags & TLOOP_GET_CLEAR) && !overflow) {
		ret = tloop_written_clear_pages(set, b.pages, count, epoch,
						&w.generation);
		if (ret)
			goto out;
		cleared = true;
	} else {
		tloop_written_status(set, &st);
		w.generation = st.generation;
	}
	w.count = count;
	w.next_cursor = next == U64_MAX ? TLOOP_CURSOR_END : next;
	w.status = TLOOP_TRACK_ON | (overflow ? TLOOP_TRACK_OVERFLOW : 0);
	ret = tloop_uarg_out(uarg, &w, sizeof(w));
	/*
	 * The caller cannot learn which pages were cleared: set them again.
	 * A page put back that was written meanwhile is set anyway, so the
	 * set loses nothing; the generation did change.
	 */
	if (ret && cleared)
		tloop_get_restore(set, b.pages, count);
out:
	kvfree(b.pages);
out_put:
	tloop_consumer_put(hold);
	return ret;
}

static int tloop_ioc_clear(struct tloop_device *dev, struct tloop_clear __user *uarg)
{
	struct tloop_written_set *set;
	struct tloop_consumer *hold;
	struct tloop_clear c;
	int ret;

	ret = tloop_uarg_in(&c, sizeof(c), uarg);
	if (ret)
		return ret;
	if ((c.flags & ~TLOOP_CLEAR_ALL) || c.reserved0 || c.reserved1)
		return -EINVAL;
	if (c.flags & TLOOP_CLEAR_ALL) {
		if (c.start || c.end)
			return -EINVAL;
	} else {
		if (c.start >= c.end || c.end > dev->written.nr_pages)
			return -EINVAL;
	}
	set = tloop_consumer_set(dev, c.consumer, &hold);
	if (IS_ERR(set))
		return PTR_ERR(set);
	if (c.flags & TLOOP_CLEAR_ALL)
		ret = tloop_written_clear_all(set, &c.generation);
	else
		ret = tloop_written_clear_range(set, c.start, c.end, &c.generation);
	tloop_consumer_put(hold);
	if (ret)
		return ret;
	return tloop_uarg_out(uarg, &c, sizeof(c));
}

/**
 * tloop_ioctl() - block_device_operations.ioctl of /dev/tloopN: tloop's own
 * commands (the block layer handled its generic ones before calling this).
 * @bdev: the block device the ioctl came through (the disk or a partition).
 * @mode: the open mode of the caller's file.
 * @cmd: command.
 * @arg: user argument.
 *
 * Commands that change the tracking state need the file open for writing
 * or CAP_SYS_ADMIN.
 *
 * Return: the command's result, -ENOTTY for commands that are not tloop's.
 */
int tloop_ioctl(struct block_device *bdev, tloop_blk_mode_t mode,
		unsigned int cmd, unsigned long arg)
{
	struct tloop_device *dev = bdev->bd_disk->private_data;
	bool may_change = (mode & TLOOP_MODE_WRITE) || capable(CAP_SYS_ADMIN);
	void __user *uarg = (void __user *)arg;

	if (tloop_cmd_is(cmd, TLOOP_GET_INFO))
		return tloop_ioc_info(dev, uarg);
	if (tloop_cmd_is(cmd, TLOOP_TRACK_STATUS))
		return tloop_ioc_status(dev, uarg);
	if (tloop_cmd_is(cmd, TLOOP_GET_WRITTEN))
		return tloop_ioc_get(dev, may_change, uarg);

	if (tloop_cmd_is(cmd, TLOOP_TRACK_ENABLE))
		return may_change ? tloop_ioc_enable(dev, uarg) : -EPERM;
	if (tloop_cmd_is(cmd, TLOOP_TRACK_DISABLE)) {
		if (!may_change)
			return -EPERM;
		tloop_written_disable(&dev->written);
		tloop_snap_tracking_off(dev);
		tloop_consumers_remove_all(dev);
		tloop_pcache_release(dev);
		return 0;
	}
	if (tloop_cmd_is(cmd, TLOOP_CLEAR_WRITTEN))
		return may_change ? tloop_ioc_clear(dev, uarg) : -EPERM;
	if (tloop_cmd_is(cmd, TLOOP_SNAP_CREATE))
		return may_change ? tloop_snap_create(dev, uarg) : -EPERM;
	if (tloop_cmd_is(cmd, TLOOP_CONSUMER_LIST))
		return tloop_ioc_consumer_list(dev, uarg);
	if (tloop_cmd_is(cmd, TLOOP_CONSUMER_ADD))
		return may_change ? tloop_ioc_consumer_add(dev, uarg) : -EPERM;
	if (tloop_cmd_is(cmd, TLOOP_CONSUMER_REMOVE))
		return may_change ? tloop_ioc_consumer_remove(dev, uarg) : -EPERM;
	return -ENOTTY;
}
