// SPDX-License-Identifier: GPL-2.0
/*
 * Module entry points, the device registry and the control
 * node /dev/tloop-control (add, remove, find a free index, version).
 *
 * tloop_ctl_mutex serialises every add and remove, and covers the whole of
 * a device's registration and teardown, so an index is never reused while
 * the disk that had it is still being deleted.  It is never held across an
 * access to user memory: an argument page that faults slowly (userfaultfd,
 * FUSE) must stall only its own caller.  An add therefore first reserves its
 * index (the registry holds TLOOP_RESERVED there), writes its reply without
 * the mutex, and only then creates the device.
 */
#include <linux/capability.h>
#include <linux/compat.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/idr.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/reboot.h>

#include "tloop_internal.h"

static DEFINE_IDR(tloop_idr);
/* Serialises every add and remove (see above); tloop_dev.c asserts it. */
DEFINE_MUTEX(tloop_ctl_mutex);
static int tloop_major;

/* Registry entry of an index reserved by an add that is still running. */
static char tloop_reserved_slot;
#define TLOOP_RESERVED	((void *)&tloop_reserved_slot)

static int tloop_ctl_version(struct tloop_version __user *uarg)
{
	struct tloop_version v;
	int ret;

	ret = tloop_uarg_in(&v, sizeof(v), uarg);
	if (ret)
		return ret;
	/* Only @reserved is input; the output fields may hold anything. */
	if (memchr_inv(v.reserved, 0, sizeof(v.reserved)))
		return -EINVAL;
	v.abi_version = TLOOP_ABI_VERSION;
	v.features = TLOOP_FEAT_TRACKING | TLOOP_FEAT_DIRECT_IO |
		     TLOOP_FEAT_PARTSCAN | TLOOP_FEAT_MEM_LIMIT |
		     TLOOP_FEAT_WALK_SYNC | TLOOP_FEAT_WB_ERROR |
		     TLOOP_FEAT_SNAPSHOT | TLOOP_FEAT_CONSUMERS |
		     TLOOP_FEAT_PERSIST;
	v.max_devices = TLOOP_MAX_DEVICES;
	return tloop_uarg_out(uarg, &v, sizeof(v));
}

/* Whether another device uses the sidecar @l.  Context: tloop_ctl_mutex held. */
static bool tloop_sidecar_busy(struct tloop_persist_load *l)
{
	struct tloop_device *dev;
	int index;

	idr_for_each_entry(&tloop_idr, dev, index)
		if (dev != TLOOP_RESERVED && dev->persist.file &&
		    file_inode(dev->persist.file) == file_inode(l->file))
			return true;
	return false;
}

static int tloop_ctl_add(struct tloop_add __user *uarg)
{
	struct tloop_persist_load *persist = NULL;
	struct tloop_device *dev;
	unsigned int block_size;
	struct tloop_add add;
	struct file *file;
	int index, ret;
	u64 dev_size;

	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;
	ret = tloop_uarg_in(&add, sizeof(add), uarg);
	if (ret)
		return ret;
	if ((add.flags & ~TLOOP_ADD_FLAGS) || add.reserved0 || add.persist_status ||
	    memchr_inv(add.reserved, 0, sizeof(add.reserved)))
		return -EINVAL;
	/* Persistence keeps written sets: tracking must be on. */
	if ((add.flags & TLOOP_FLAG_PERSIST) ? !(add.flags & TLOOP_FLAG_TRACK) :
	    add.persist_fd)
		return -EINVAL;
	if (add.block_size && add.block_size != 512 && add.block_size != 4096)
		return -EINVAL;
	if (add.index < -1 || (add.index >= 0 && add.index >= TLOOP_MAX_DEVICES))
		return -EINVAL;

	file = fget(add.backing_fd);
	if (!file)
		return -EBADF;

	/*
	 * Read the sidecar now, with nothing reserved: its outcome goes into
	 * the reply.  Nothing is written to it until the reply was written.
	 */
	if (add.flags & TLOOP_FLAG_PERSIST) {
		ret = tloop_dev_geometry(&add, file, &dev_size, &block_size);
		if (!ret)
			ret = tloop_persist_load(add.persist_fd, file, dev_size,
						 block_size, &persist);
		if (ret)
			goto out_put;
		add.persist_status = persist->status;
	}

	mutex_lock(&tloop_ctl_mutex);
	if (add.index == -1)
		index = idr_alloc(&tloop_idr, TLOOP_RESERVED, 0, TLOOP_MAX_DEVICES,
				  GFP_KERNEL);
	else
		index = idr_alloc(&tloop_idr, TLOOP_RESERVED, add.index, add.index + 1,
				  GFP_KERNEL);
	mutex_unlock(&tloop_ctl_mutex);
	if (index < 0) {
		ret = (index == -ENOSPC && add.index != -1) ? -EEXIST : index;
		goto out_put;
	}

	/* Tell the caller its index first: a reply that cannot be written
	 * must not leave a device nobody knows about.  The index stays
	 * reserved meanwhile, and the mutex is not held.
	 */
	add.index = index;
	ret = tloop_uarg_out(uarg, &add, sizeof(add));

	mutex_lock(&tloop_ctl_mutex);
	/* Marked in use (fsynced) before the device can be written. */
	if (!ret && persist)
		ret = tloop_sidecar_busy(persist) ? -EBUSY :
		      tloop_persist_mark(persist, dev_size, block_size);
	if (!ret) {
		ret = tloop_dev_create(&add, file, persist, tloop_major, &dev);
		persist = NULL;
	}
	if (ret) {
		idr_remove(&tloop_idr, index);
	} else {
		tloop_pcache_init(dev);
		if (add.flags & TLOOP_FLAG_TRACK)
			tloop_pcache_hold(dev);
		idr_replace(&tloop_idr, dev, index);
	}
	mutex_unlock(&tloop_ctl_mutex);
out_put:
	tloop_persist_free(persist);
	fput(file);
	return ret ? ret : index;
}

static int tloop_ctl_remove(struct tloop_remove __user *uarg)
{
	struct tloop_device *dev;
	struct tloop_remove rm;
	int ret;

	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;
	ret = tloop_uarg_in(&rm, sizeof(rm), uarg);
	if (ret)
		return ret;
	if (rm.flags || rm.reserved)
		return -EINVAL;
	if (rm.index >= TLOOP_MAX_DEVICES)
		return -ENXIO;

	mutex_lock(&tloop_ctl_mutex);
	dev = idr_find(&tloop_idr, rm.index);
	if (!dev || dev == TLOOP_RESERVED) {
		ret = -ENXIO;
		goto out_unlock;
	}
	ret = tloop_dev_begin_remove(dev);
	if (ret)
		goto out_unlock;
	tloop_persist_save(dev);
	tloop_pcache_release(dev);
	tloop_dev_destroy(dev);
	idr_remove(&tloop_idr, rm.index);
out_unlock:
	mutex_unlock(&tloop_ctl_mutex);
	return ret;
}

static int tloop_ctl_get_free(void)
{
	int index;

	mutex_lock(&tloop_ctl_mutex);
	/* A reserved index (an add in progress) is not free. */
	for (index = 0; index < TLOOP_MAX_DEVICES; index++)
		if (!idr_find(&tloop_idr, index))
			break;
	mutex_unlock(&tloop_ctl_mutex);
	return index < TLOOP_MAX_DEVICES ? index : -ENOSPC;
}

static long tloop_ctl_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	void __user *uarg = (void __user *)arg;

	if (tloop_cmd_is(cmd, TLOOP_CTL_VERSION))
		return tloop_ctl_version(uarg);
	if (tloop_cmd_is(cmd, TLOOP_CTL_ADD))
		return tloop_ctl_add(uarg);
	if (tloop_cmd_is(cmd, TLOOP_CTL_REMOVE))
		return tloop_ctl_remove(uarg);
	if (tloop_cmd_is(cmd, TLOOP_CTL_GET_FREE))
		return tloop_ctl_get_free();
	return -ENOTTY;
}

static const struct file_operations tloop_ctl_fops = {
	.owner = THIS_MODULE,
	.open = nonseekable_open,
	.unlocked_ioctl = tloop_ctl_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.llseek = noop_llseek,
};

static struct miscdevice tloop_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "tloop-control",
	.fops = &tloop_ctl_fops,
	.mode = 0600,
};

/*
 * At reboot, halt or power-off, save the sets of every device with a
 * sidecar that nobody has open, refusing further opens (the device stays
 * registered until the machine goes down).  A device still open is not
 * saved: its sidecar stays marked in use and the next add will not trust it.
 */
static int tloop_reboot(struct notifier_block *nb, unsigned long action, void *data)
{
	struct tloop_device *dev;
	int index;

	mutex_lock(&tloop_ctl_mutex);
	idr_for_each_entry(&tloop_idr, dev, index) {
		if (!dev || dev == TLOOP_RESERVED || !dev->persist.file ||
		    dev->persist.saved)
			continue;
		if (tloop_dev_begin_remove(dev))
			pr_warn("tloop%d: open at shutdown: sets not saved\n", index);
		else
			tloop_persist_save(dev);
	}
	mutex_unlock(&tloop_ctl_mutex);
	return NOTIFY_DONE;
}

static struct notifier_block tloop_reboot_nb = {
	.notifier_call = tloop_reboot,
};

static int __init tloop_init(void)
{
	int ret;

	tloop_major = register_blkdev(0, "tloop");
	if (tloop_major < 0)
		return tloop_major;

	ret = misc_register(&tloop_misc);
	if (ret) {
		unregister_blkdev(tloop_major, "tloop");
		return ret;
	}
	ret = register_reboot_notifier(&tloop_reboot_nb);
	if (ret) {
		misc_deregister(&tloop_misc);
		unregister_blkdev(tloop_major, "tloop");
		return ret;
	}
	return 0;
}

static void __exit tloop_exit(void)
{
	struct tloop_device *dev;
	int index;

	/* No ioctl can run now; no device is open (each open pins us). */
	unregister_reboot_notifier(&tloop_reboot_nb);
	misc_deregister(&tloop_misc);

	mutex_lock(&tloop_ctl_mutex);
	idr_for_each_entry(&tloop_idr, dev, index) {
		if (dev && dev != TLOOP_RESERVED &&
		    !WARN_ON_ONCE(tloop_dev_begin_remove(dev))) {
			tloop_persist_save(dev);
			tloop_pcache_release(dev);
			tloop_dev_destroy(dev);
		}
	}
	idr_destroy(&tloop_idr);
	mutex_unlock(&tloop_ctl_mutex);

	unregister_blkdev(tloop_major, "tloop");
}

module_init(tloop_init);
module_exit(tloop_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("tloop: file-backed block devices that track page writes");
/* TLOOP_VERSION comes from the VERSION file, through Kbuild. */
MODULE_VERSION(TLOOP_VERSION);
