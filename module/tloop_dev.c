// SPDX-License-Identifier: GPL-2.0
/*
 * The lifecycle of one tloop device, top to bottom: checks on
 * the backing file, allocation, queue setup, add_disk, open/release
 * accounting, and teardown in reverse order.
 */
#include <linux/blkdev.h>
#include <linux/dcache.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/lockdep.h>
#include <linux/random.h>
#include <linux/slab.h>
#include <linux/sysfs.h>

#include "tloop_internal.h"

/* Largest request: 1 MiB. */
#define TLOOP_MAX_SECTORS	2048

static struct tloop_device *tloop_from_dev(struct device *d)
{
	return dev_to_disk(d)->private_data;
}

static ssize_t backing_file_show(struct device *d, struct device_attribute *attr,
				 char *buf)
{
	struct tloop_device *dev = tloop_from_dev(d);
	char *p;

	p = d_path(&dev->backing->f_path, buf, PAGE_SIZE - 1);
	if (IS_ERR(p))
		return PTR_ERR(p);
	memmove(buf, p, strlen(p));
	buf[strlen(p)] = '\n';
	return strlen(p) + 1;
}

static ssize_t size_limit_show(struct device *d, struct device_attribute *attr,
			       char *buf)
{
	return sysfs_emit(buf, "%llu\n", tloop_from_dev(d)->size_limit);
}

static ssize_t block_size_show(struct device *d, struct device_attribute *attr,
			       char *buf)
{
	return sysfs_emit(buf, "%u\n", tloop_from_dev(d)->block_size);
}

static ssize_t flag_show(struct device *d, char *buf, u32 flag)
{
	return sysfs_emit(buf, "%d\n", !!(tloop_from_dev(d)->flags & flag));
}

static ssize_t read_only_show(struct device *d, struct device_attribute *attr,
			      char *buf)
{
	return flag_show(d, buf, TLOOP_FLAG_READ_ONLY);
}

static ssize_t direct_io_show(struct device *d, struct device_attribute *attr,
			      char *buf)
{
	return flag_show(d, buf, TLOOP_FLAG_DIRECT_IO);
}

static ssize_t partscan_show(struct device *d, struct device_attribute *attr,
			     char *buf)
{
	return flag_show(d, buf, TLOOP_FLAG_PARTSCAN);
}

static ssize_t attach_id_show(struct device *d, struct device_attribute *attr,
			      char *buf)
{
	return sysfs_emit(buf, "%016llx\n", tloop_from_dev(d)->attach_id);
}

static ssize_t tracking_show(struct device *d, struct device_attribute *attr,
			     char *buf)
{
	struct tloop_written_status st;

	tloop_written_status(&tloop_from_dev(d)->written, &st);
	return sysfs_emit(buf, "%s\n", !st.on ? "off" : st.overflow ? "overflow" : "on");
}

static ssize_t written_pages_show(struct device *d, struct device_attribute *attr,
				  char *buf)
{
	struct tloop_written_status st;

	tloop_written_status(&tloop_from_dev(d)->written, &st);
	return sysfs_emit(buf, "%llu\n", st.written);
}

static ssize_t generation_show(struct device *d, struct device_attribute *attr,
			       char *buf)
{
	struct tloop_written_status st;

	tloop_written_status(&tloop_from_dev(d)->written, &st);
	return sysfs_emit(buf, "%llu\n", st.generation);
}

static ssize_t persist_show(struct device *d, struct device_attribute *attr,
			    char *buf)
{
	return sysfs_emit(buf, "%s\n",
			  tloop_persist_status_name(tloop_from_dev(d)->persist.status));
}

/* The sidecar's path, or an empty line without persistence. */
static ssize_t persist_file_show(struct device *d, struct device_attribute *attr,
				 char *buf)
{
	struct tloop_device *dev = tloop_from_dev(d);
	char *p;

	if (!dev->persist.file)
		return sysfs_emit(buf, "\n");
	p = d_path(&dev->persist.file->f_path, buf, PAGE_SIZE - 1);
	if (IS_ERR(p))
		return PTR_ERR(p);
	memmove(buf, p, strlen(p));
	buf[strlen(p)] = '\n';
	return strlen(p) + 1;
}

static DEVICE_ATTR_RO(backing_file);
static DEVICE_ATTR_RO(size_limit);
static DEVICE_ATTR_RO(block_size);
static DEVICE_ATTR_RO(read_only);
static DEVICE_ATTR_RO(direct_io);
static DEVICE_ATTR_RO(partscan);
static DEVICE_ATTR_RO(attach_id);
static DEVICE_ATTR_RO(tracking);
static DEVICE_ATTR_RO(written_pages);
static DEVICE_ATTR_RO(generation);
static DEVICE_ATTR_RO(persist);
static DEVICE_ATTR_RO(persist_file);

static struct attribute *tloop_attrs[] = {
	&dev_attr_backing_file.attr,
	&dev_attr_size_limit.attr,
	&dev_attr_block_size.attr,
	&dev_attr_read_only.attr,
	&dev_attr_direct_io.attr,
	&dev_attr_partscan.attr,
	&dev_attr_attach_id.attr,
	&dev_attr_tracking.attr,
	&dev_attr_written_pages.attr,
	&dev_attr_generation.attr,
	&dev_attr_persist.attr,
	&dev_attr_persist_file.attr,
	NULL,
};

static const struct attribute_group tloop_attr_group = {
	.name = "tloop",
	.attrs = tloop_attrs,
};

static const struct attribute_group *tloop_attr_groups[] = {
	&tloop_attr_group,
	NULL,
};

/*
 * tloop_open() - a process opens the disk or one of its partitions: counted,
 * unless the device is being removed (-ENXIO).
 */
#ifdef TLOOP_HAVE_OPEN_GENDISK
static int tloop_open(struct gendisk *disk, blk_mode_t mode)
{
#else
static int tloop_open(struct block_device *bdev, fmode_t mode)
{
	struct gendisk *disk = bdev->bd_disk;
#endif
	struct tloop_device *dev = disk->private_data;
	int ret = 0;

	mutex_lock(&dev->lock);
	if (dev->removing)
		ret = -ENXIO;
	else
		dev->openers++;
	mutex_unlock(&dev->lock);
	return ret;
}

/*
 * tloop_release() - the matching release of tloop_open().  A last close
 * while tloop holds the disk open for its page cache does what the kernel's
 * last close would (tloop_pcache_last_close()).
 */
#ifdef TLOOP_HAVE_RELEASE_NOMODE
static void tloop_release(struct gendisk *disk)
#else
static void tloop_release(struct gendisk *disk, fmode_t mode)
#endif
{
	struct tloop_device *dev = disk->private_data;

	mutex_lock(&dev->lock);
	dev->openers--;
	mutex_unlock(&dev->lock);
	tloop_pcache_last_close(dev);
}

static const struct block_device_operations tloop_fops = {
	.owner = THIS_MODULE,
	.open = tloop_open,
	.release = tloop_release,
	.ioctl = tloop_ioctl,
	.compat_ioctl = blkdev_compat_ptr_ioctl,
};

/* Open the device's own file on the backing file, with its own flags. */
static struct file *tloop_open_backing(struct file *user, u32 flags,
				       unsigned int block_size)
{
	int oflags = O_LARGEFILE;
	struct super_block *sb;
	struct file *f;

	oflags |= (flags & TLOOP_FLAG_READ_ONLY) ? O_RDONLY : O_RDWR;
	if (flags & TLOOP_FLAG_DIRECT_IO)
		oflags |= O_DIRECT;
	/* The caller proved its access by holding @user open this way. */
	f = dentry_open(&user->f_path, oflags, user->f_cred);
	if (IS_ERR(f))
		return f;

	sb = file_inode(f)->i_sb;
	if ((flags & TLOOP_FLAG_DIRECT_IO) && sb->s_bdev &&
	    block_size < bdev_logical_block_size(sb->s_bdev)) {
		fput(f);
		return ERR_PTR(-EINVAL);
	}
	return f;
}

/**
 * tloop_dev_geometry() - check the backing file of an add and compute the
 * device's size and block size.
 * @add: validated add request.
 * @user: the caller's file on the backing file.
 * @size: the device size in bytes.
 * @block_size: the logical block size.
 *
 * Return: 0, -EBADF (file not open as needed), -EINVAL (not a regular file,
 * smaller than one block), -EFBIG (larger than TLOOP_MAX_DEV_SIZE).
 */
int tloop_dev_geometry(const struct tloop_add *add, struct file *user,
		       u64 *size, unsigned int *block_size)
{
	bool read_only = add->flags & TLOOP_FLAG_READ_ONLY;
	unsigned int bs = add->block_size ? add->block_size : SECTOR_SIZE;
	u64 s;

	if (!S_ISREG(file_inode(user)->i_mode))
		return -EINVAL;
	if (!(user->f_mode & FMODE_READ) ||
	    (!read_only && !(user->f_mode & FMODE_WRITE)))
		return -EBADF;

	s = i_size_read(file_inode(user));
	if (add->size_limit && add->size_limit < s)
		s = add->size_limit;
	s = round_down(s, bs);
	if (s < bs)
		return -EINVAL;
	if (s > TLOOP_MAX_DEV_SIZE)
		return -EFBIG;
	*size = s;
	*block_size = bs;
	return 0;
}

/**
 * tloop_dev_create() - create and register /dev/tloopN.
 * @add: validated add request; @add->index is the index to use.
 * @user: the caller's file on the backing file.
 * @persist: what was read from the sidecar (TLOOP_FLAG_PERSIST), or %NULL;
 *	always consumed (freed or given to the device).
 * @major: tloop's block major.
 * @out: the new device.
 *
 * Context: tloop_ctl_mutex held.
 *
 * Return: 0, -EBADF (file not open as needed), -EINVAL (not a regular file,
 * smaller than one block, direct I/O impossible), -EFBIG (larger than
 * TLOOP_MAX_DEV_SIZE), -ENOMEM, or what registration returned.
 */
int tloop_dev_create(const struct tloop_add *add, struct file *user,
		     struct tloop_persist_load *persist, int major,
		     struct tloop_device **out)
{
	bool read_only = add->flags & TLOOP_FLAG_READ_ONLY;
	struct tloop_queue_conf conf = { };
	struct tloop_device *dev;
	struct gendisk *disk;
	unsigned int bs;
	u64 size;
	int ret;

	lockdep_assert_held(&tloop_ctl_mutex);
	ret = tloop_dev_geometry(add, user, &size, &bs);
	if (ret)
		goto out_free_persist;
	conf.block_size = bs;

	dev = kzalloc(sizeof(*dev), GFP_KERNEL);
	if (!dev) {
		ret = -ENOMEM;
		goto out_free_persist;
	}
	dev->index = add->index;
	dev->flags = add->flags & ~TLOOP_FLAG_TRACK;
	dev->block_size = bs;
	dev->size = size;
	dev->size_limit = add->size_limit;
	dev->attach_id = get_random_u64();
	mutex_init(&dev->lock);
	mutex_init(&dev->persist.lock);
	tloop_written_init(&dev->written, DIV_ROUND_UP_ULL(size, PAGE_SIZE));
	tloop_snap_init(dev);
	tloop_consumers_init(&dev->consumers);

	dev->backing = tloop_open_backing(user, add->flags, bs);
	if (IS_ERR(dev->backing)) {
		ret = PTR_ERR(dev->backing);
		goto out_free_dev;
	}

	if (add->flags & TLOOP_FLAG_TRACK) {
		ret = tloop_written_enable(&dev->written,
					   tloop_persist_mem_limit(persist));
		if (ret)
			goto out_put_backing;
	}

	dev->wq = alloc_workqueue("tloop%d", WQ_UNBOUND | WQ_FREEZABLE | WQ_MEM_RECLAIM,
				  0, dev->index);
	if (!dev->wq) {
		ret = -ENOMEM;
		goto out_written;
	}

	dev->tag_set.ops = &tloop_mq_ops;
	dev->tag_set.nr_hw_queues = 1;
	dev->tag_set.queue_depth = 128;
	dev->tag_set.numa_node = NUMA_NO_NODE;
	dev->tag_set.cmd_size = sizeof(struct tloop_cmd);
	dev->tag_set.flags = TLOOP_TAG_SET_FLAGS;
	dev->tag_set.driver_data = dev;
	ret = blk_mq_alloc_tag_set(&dev->tag_set);
	if (ret)
		goto out_destroy_wq;

	conf.max_sectors = TLOOP_MAX_SECTORS;
	conf.discard = !read_only && dev->backing->f_op->fallocate;
	disk = tloop_compat_alloc_disk(&dev->tag_set, &conf, dev);
	if (IS_ERR(disk)) {
		ret = PTR_ERR(disk);
		goto out_free_tags;
	}
	dev->disk = disk;
	disk->major = major;
	disk->first_minor = dev->index << TLOOP_PART_SHIFT;
	disk->minors = 1 << TLOOP_PART_SHIFT;
	disk->fops = &tloop_fops;
	disk->private_data = dev;
	if (!(add->flags & TLOOP_FLAG_PARTSCAN))
		disk->flags |= GENHD_FL_NO_PART;
	snprintf(disk->disk_name, DISK_NAME_LEN, "tloop%d", dev->index);
	set_capacity(disk, size >> SECTOR_SHIFT);
	set_disk_ro(disk, read_only);

	/* Before the disk appears: no write can be missed by a restored set. */
	if (persist)
		tloop_persist_install(dev, persist);
	persist = NULL;

	ret = device_add_disk(NULL, disk, tloop_attr_groups);
	if (ret)
		goto out_put_disk;

	*out = dev;
	return 0;

out_put_disk:
	put_disk(disk);
	/* Restored sets, if any (the sidecar stays marked in use). */
	tloop_consumers_remove_all(dev);
	if (dev->persist.file)
		fput(dev->persist.file);
out_free_tags:
	blk_mq_free_tag_set(&dev->tag_set);
out_destroy_wq:
	destroy_workqueue(dev->wq);
out_written:
	tloop_written_disable(&dev->written);
out_put_backing:
	fput(dev->backing);
out_free_dev:
	kfree(dev);
out_free_persist:
	tloop_persist_free(persist);
	return ret;
}

/**
 * tloop_dev_begin_remove() - refuse further opens unless the device is busy.
 * @dev: the device.
 *
 * Context: tloop_ctl_mutex held.
 *
 * Return: 0 (the caller must now tloop_dev_destroy() it), or -EBUSY if the
 * device is open, mapped or mounted.
 */
int tloop_dev_begin_remove(struct tloop_device *dev)
{
	int ret = 0;

	lockdep_assert_held(&tloop_ctl_mutex);
	mutex_lock(&dev->lock);
	if (dev->openers || tloop_snap_active(dev))
		ret = -EBUSY;
	else
		dev->removing = true;
	mutex_unlock(&dev->lock);
	return ret;
}

/**
 * tloop_dev_destroy() - unregister the disk and free everything, in the
 * reverse order of tloop_dev_create().
 * @dev: a device that tloop_dev_begin_remove() accepted.
 *
 * Context: tloop_ctl_mutex held, since tloop_dev_begin_remove().
 */
void tloop_dev_destroy(struct tloop_device *dev)
{
	lockdep_assert_held(&tloop_ctl_mutex);
	del_gendisk(dev->disk);
	put_disk(dev->disk);
	blk_mq_free_tag_set(&dev->tag_set);
	destroy_workqueue(dev->wq);
	tloop_written_disable(&dev->written);
	tloop_consumers_remove_all(dev);
	if (dev->persist.file)
		fput(dev->persist.file);
	fput(dev->backing);
	kfree(dev);
}
