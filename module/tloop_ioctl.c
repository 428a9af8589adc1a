// SPDX-License-Identifier: GPL-2.0
/*
 * tloop_ioctl.c - the ioctls of /dev/tloopN: configuration and tracking.
 */
#include <linux/blkdev.h>
#include <linux/capability.h>
#include <linux/dcache.h>
#include <linux/fs.h>
#include <linux/kdev_t.h>
#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/xarray.h>

#include "tloop.h"

static bool tloop_zeroed(const void *p, size_t len)
{
	return !memchr_inv(p, 0, len);
}

static int tloop_ioc_info(struct tloop_device *dev, struct tloop_info __user *uarg)
{
	struct tloop_info info;
	struct tloop_wset_status st;
	struct inode *inode = file_inode(dev->backing);
	char *buf, *path;
	int ret;

	ret = tloop_uarg_in(&info, sizeof(info), uarg);
	if (ret)
		return ret;
	if (!tloop_zeroed(info.reserved, sizeof(info.reserved)))
		return -EINVAL;

	tloop_wset_status(&dev->wset, &st);
	info.flags = dev->flags | (st.on ? TLOOP_FLAG_TRACK : 0);
	info.index = dev->index;
	info.block_size = dev->block_size;
	info.dev_size = dev->size;
	info.size_limit = dev->size_limit;
	info.backing_dev = new_encode_dev(inode->i_sb->s_dev);
	info.backing_ino = inode->i_ino;
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
	ret = tloop_wset_enable(&dev->wset, en.mem_limit);
	if (!ret)
		tloop_pcache_hold(dev);
	return ret;
}

static int tloop_ioc_status(struct tloop_device *dev,
			    struct tloop_track_status __user *uarg)
{
	struct tloop_track_status ts;
	struct tloop_wset_status st;
	int ret;

	ret = tloop_uarg_in(&ts, sizeof(ts), uarg);
	if (ret)
		return ret;
	if (ts.reserved0 || !tloop_zeroed(ts.reserved, sizeof(ts.reserved)))
		return -EINVAL;

	tloop_wset_status(&dev->wset, &st);
	ts.flags = (st.on ? TLOOP_TRACK_ON : 0) | (st.overflow ? TLOOP_TRACK_OVERFLOW : 0);
	ts.generation = st.generation;
	ts.written = st.written;
	ts.nr_pages = dev->wset.nr_pages;
	ts.page_size = PAGE_SIZE;
	ts.mem_used = st.mem_used;
	ts.mem_limit = st.mem_limit;
	return tloop_uarg_out(uarg, &ts, sizeof(ts));
}

/*
 * Write back the device's dirty page cache (every partition's, each has its
 * own), so that mmap stores made before the query are written, recorded,
 * and their pages write-protected again.  No tloop lock is held: the
 * write-back I/O is served by this device's own worker.
 */
static void tloop_sync_device(struct tloop_device *dev)
{
	struct gendisk *disk = dev->disk;
	struct block_device *part;
	unsigned long idx;

	if (!(dev->flags & TLOOP_FLAG_PARTSCAN)) {
		sync_blockdev(disk->part0);
		tloop_pcache_check(dev, disk->part0);
		return;
	}
	/* Partitions are added and deleted under open_mutex. */
	mutex_lock(&disk->open_mutex);
	xa_for_each(&disk->part_tbl, idx, part) {
		sync_blockdev(part);
		tloop_pcache_check(dev, part);
	}
	mutex_unlock(&disk->open_mutex);
}

static int tloop_ioc_get(struct tloop_device *dev, bool may_change,
			 struct tloop_written __user *uarg)
{
	struct tloop_written w;
	u64 nr_pages = dev->wset.nr_pages;
	unsigned int max, count = 0;
	struct tloop_wset_status st;
	bool overflow = false;
	u64 next, epoch = 0;
	u64 *buf;
	int ret;

	ret = tloop_uarg_in(&w, sizeof(w), uarg);
	if (ret)
		return ret;
	if ((w.flags & ~TLOOP_GET_FLAGS) || w.reserved0 ||
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

	if (!(w.flags & TLOOP_GET_NOSYNC))
		tloop_sync_device(dev);

	max = min(w.capacity, TLOOP_GET_MAX_BATCH);
	buf = kvmalloc_array(max, sizeof(*buf), GFP_KERNEL);
	if (!buf)
		return -ENOMEM;

	ret = tloop_wset_collect(&dev->wset, w.cursor, w.end, buf, max, &count,
				 &next, &epoch, &overflow);
	if (ret)
		goto out;
	if (count && copy_to_user(u64_to_user_ptr(w.pages), buf,
				  count * sizeof(*buf))) {
		ret = -EFAULT;
		goto out;
	}
	if ((w.flags & TLOOP_GET_CLEAR) && !overflow) {
		ret = tloop_wset_clear_pages(&dev->wset, buf, count, epoch,
					     &w.generation);
		if (ret)
			goto out;
	} else {
		tloop_wset_status(&dev->wset, &st);
		w.generation = st.generation;
	}
	w.count = count;
	w.next_cursor = next == U64_MAX ? TLOOP_CURSOR_END : next;
	w.status = TLOOP_TRACK_ON | (overflow ? TLOOP_TRACK_OVERFLOW : 0);
	ret = tloop_uarg_out(uarg, &w, sizeof(w));
out:
	kvfree(buf);
	return ret;
}

static int tloop_ioc_clear(struct tloop_device *dev, struct tloop_clear __user *uarg)
{
	struct tloop_clear c;
	int ret;

	ret = tloop_uarg_in(&c, sizeof(c), uarg);
	if (ret)
		return ret;
	if ((c.flags & ~TLOOP_CLEAR_ALL) || !tloop_zeroed(c.reserved, sizeof(c.reserved)))
		return -EINVAL;
	if (c.flags & TLOOP_CLEAR_ALL) {
		if (c.start || c.end)
			return -EINVAL;
		ret = tloop_wset_clear_all(&dev->wset, &c.generation);
	} else {
		if (c.start >= c.end || c.end > dev->wset.nr_pages)
			return -EINVAL;
		ret = tloop_wset_clear_range(&dev->wset, c.start, c.end, &c.generation);
	}
	if (ret)
		return ret;
	return tloop_uarg_out(uarg, &c, sizeof(c));
}

/**
 * tloop_dev_ioctl() - dispatch an ioctl on /dev/tloopN.
 * @dev: the device.
 * @bdev: the block device the ioctl came through.
 * @write: the file is open for writing.
 * @cmd: command.
 * @uarg: user argument.
 *
 * Commands that change the tracking state need @write or CAP_SYS_ADMIN.
 *
 * Return: the command's result, -ENOTTY for commands that are not tloop's.
 */
int tloop_dev_ioctl(struct tloop_device *dev, struct block_device *bdev,
		    bool write, unsigned int cmd, void __user *uarg)
{
	bool may_change = write || capable(CAP_SYS_ADMIN);

	if (tloop_cmd_is(cmd, TLOOP_GET_INFO))
		return tloop_ioc_info(dev, uarg);
	if (tloop_cmd_is(cmd, TLOOP_TRACK_STATUS))
		return tloop_ioc_status(dev, uarg);
	if (tloop_cmd_is(cmd, TLOOP_GET_WRITTEN))
		return tloop_ioc_get(dev, may_change, uarg);

	if (tloop_cmd_is(cmd, TLOOP_TRACK_ENABLE))
		return may_change ? tloop_ioc_enable(dev, uarg) : -EPERM;
	if (cmd == TLOOP_TRACK_DISABLE) {
		if (!may_change)
			return -EPERM;
		tloop_wset_disable(&dev->wset);
		tloop_pcache_release(dev);
		return 0;
	}
	if (tloop_cmd_is(cmd, TLOOP_CLEAR_WRITTEN))
		return may_change ? tloop_ioc_clear(dev, uarg) : -EPERM;
	return -ENOTTY;
}
