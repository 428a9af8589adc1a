// SPDX-License-Identifier: GPL-2.0
/*
 * The I/O path.
 *
 * queue_rq() only hands each request to the device's workqueue; the worker
 * serves it from the backing file with synchronous kiocbs (buffered, or
 * direct when the device's file was opened with O_DIRECT), one bio at a
 * time so no allocation is needed.  Flush and FUA become fsync/fdatasync,
 * discard a punched hole, write-zeroes a zeroed range.
 *
 * Tracking: a request that may have changed data (write, discard,
 * write-zeroes) is recorded in the written set when it *completes*, after
 * its data reached the backing file and before the request is ended.  A
 * consumer that clears a page after that sees the data; a write that
 * completes after the clear sets the page again.  It is recorded even if
 * it failed: part of it may have landed.
 */
#include <linux/blk-mq.h>
#include <linux/blkdev.h>
#include <linux/buffer_head.h>
#include <linux/falloc.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/lockdep.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/pagemap.h>
#include <linux/sched/mm.h>
#include <linux/uio.h>

#include "tloop_internal.h"

/* Read or write one bio's data at @pos; short reads past EOF read zeroes. */
static int tloop_rw_bio(struct tloop_device *dev, struct bio *bio, loff_t pos,
			bool write)
{
	struct file *file = dev->backing;
	struct bvec_iter it;
	struct bio_vec bv;
	struct iov_iter iter;
	struct kiocb kiocb;
	unsigned int nr = 0;
	ssize_t ret;

	bio_for_each_bvec(bv, bio, it)
		nr++;
	iov_iter_bvec(&iter, write ? ITER_SOURCE : ITER_DEST,
		      __bvec_iter_bvec(bio->bi_io_vec, bio->bi_iter), nr,
		      bio->bi_iter.bi_size);
	iter.iov_offset = tloop_bvec_iter_offset(&bio->bi_iter);

	while (iov_iter_count(&iter)) {
		init_sync_kiocb(&kiocb, file);
		kiocb.ki_pos = pos;
		if (write) {
			file_start_write(file);
			ret = file->f_op->write_iter(&kiocb, &iter);
			file_end_write(file);
		} else {
			ret = file->f_op->read_iter(&kiocb, &iter);
		}
		if (ret < 0)
			return ret;
		if (ret == 0) {
			if (write)
				return -EIO;
			/* The backing file shrank under us: read zeroes. */
			iov_iter_zero(iov_iter_count(&iter), &iter);
			break;
		}
		pos += ret;
	}
	return 0;
}

static int tloop_rw(struct tloop_device *dev, struct request *rq, bool write)
{
	loff_t pos = (loff_t)blk_rq_pos(rq) << SECTOR_SHIFT;
	struct bio *bio;
	int ret;

	__rq_for_each_bio(bio, rq) {
		ret = tloop_rw_bio(dev, bio, pos, write);
		if (ret)
			return ret;
		pos += bio->bi_iter.bi_size;
	}
	if (write && (rq->cmd_flags & REQ_FUA))
		return vfs_fsync_range(dev->backing,
				       (loff_t)blk_rq_pos(rq) << SECTOR_SHIFT,
				       pos - 1, 1);
	return 0;
}

static int tloop_fallocate(struct tloop_device *dev, struct request *rq, int mode)
{
	loff_t pos = (loff_t)blk_rq_pos(rq) << SECTOR_SHIFT;

	/* -EOPNOTSUPP lets the block layer fall back to writing zeroes. */
	return vfs_fallocate(dev->backing, mode | FALLOC_FL_KEEP_SIZE, pos,
			     blk_rq_bytes(rq));
}

/*
 * Zero a range: keep the blocks allocated when asked (REQ_NOUNMAP), but a
 * file system without FALLOC_FL_ZERO_RANGE (tmpfs) still reads back zeroes
 * from a punched hole, which beats failing every request into the block
 * layer's slower fallback.
 */
static int tloop_write_zeroes(struct tloop_device *dev, struct request *rq)
{
	int ret = -EOPNOTSUPP;

	if (rq->cmd_flags & REQ_NOUNMAP)
		ret = tloop_fallocate(dev, rq, FALLOC_FL_ZERO_RANGE);
	if (ret == -EOPNOTSUPP)
		ret = tloop_fallocate(dev, rq, FALLOC_FL_PUNCH_HOLE);
	return ret;
}

static int tloop_serve(struct tloop_device *dev, struct request *rq)
{
	switch (req_op(rq)) {
	case REQ_OP_READ:
		return tloop_rw(dev, rq, false);
	case REQ_OP_WRITE:
		return tloop_rw(dev, rq, true);
	case REQ_OP_FLUSH:
		return vfs_fsync(dev->backing, 0);
	case REQ_OP_DISCARD:
		return tloop_fallocate(dev, rq, FALLOC_FL_PUNCH_HOLE);
	case REQ_OP_WRITE_ZEROES:
		return tloop_write_zeroes(dev, rq);
	default:
		return -EOPNOTSUPP;
	}
}

static bool tloop_op_writes(enum req_op op)
{
	return op == REQ_OP_WRITE || op == REQ_OP_DISCARD ||
	       op == REQ_OP_WRITE_ZEROES;
}

static void tloop_work(struct work_struct *work)
{
	struct tloop_cmd *cmd = container_of(work, struct tloop_cmd, work);
	struct request *rq = blk_mq_rq_from_pdu(cmd);
	struct tloop_device *dev = cmd->dev;
	unsigned int noio;
	int ret;

	/* Allocations below must not recurse into block I/O (ours). */
	noio = memalloc_noio_save();
	if (tloop_op_writes(req_op(rq)) && blk_rq_bytes(rq)) {
		u64 start = (u64)blk_rq_pos(rq) << SECTOR_SHIFT;

		/* A snapshot's pages first keep their content as of its instant. */
		tloop_snap_before_write(dev, start >> PAGE_SHIFT,
					(start + blk_rq_bytes(rq) - 1) >> PAGE_SHIFT);
	}
	ret = tloop_serve(dev, rq);
	if (tloop_op_writes(req_op(rq)) && blk_rq_bytes(rq)) {
		u64 start = (u64)blk_rq_pos(rq) << SECTOR_SHIFT;

		tloop_written_record(&dev->written, start >> PAGE_SHIFT,
				     (start + blk_rq_bytes(rq) - 1) >> PAGE_SHIFT);
	}
	memalloc_noio_restore(noio);

	blk_mq_end_request(rq, errno_to_blk_status(ret));
}

static blk_status_t tloop_queue_rq(struct blk_mq_hw_ctx *hctx,
				   const struct blk_mq_queue_data *bd)
{
	struct request *rq = bd->rq;
	struct tloop_cmd *cmd = blk_mq_rq_to_pdu(rq);
	struct tloop_device *dev = cmd->dev;

	if (op_is_write(req_op(rq)) && (dev->flags & TLOOP_FLAG_READ_ONLY))
		return BLK_STS_IOERR;

	blk_mq_start_request(rq);
	queue_work(dev->wq, &cmd->work);
	return BLK_STS_OK;
}

static int tloop_init_request(struct blk_mq_tag_set *set, struct request *rq,
			      unsigned int hctx_idx, tloop_numa_node_t numa_node)
{
	struct tloop_cmd *cmd = blk_mq_rq_to_pdu(rq);

	cmd->dev = set->driver_data;
	INIT_WORK(&cmd->work, tloop_work);
	return 0;
}

const struct blk_mq_ops tloop_mq_ops = {
	.queue_rq = tloop_queue_rq,
	.init_request = tloop_init_request,
};

/*
 * Exactness with large folios.
 *
 * A block device's page cache may use large folios (from 6.15, the order
 * range is set at each first open and each block-size change).  A store into
 * a large folio dirties all of it and write-back sends all of it, so the
 * written set would hold every page of the folio.  While tracking is on,
 * tloop therefore keeps an open of its own on the whole disk: the page cache
 * then never goes through a "first open" again, which would reset the order
 * range; the range is capped to order 0 right after that open, and large
 * folios already cached are evicted once they are clean.  Each query checks
 * again (a block-size change, or a partition's first open, resets a range)
 * after its write-back.  Nothing dirty is ever dropped: only clean, unlocked
 * folios are evicted (invalidate_mapping_pages()), after their user mappings
 * were zapped (a dirty PTE dirties its folio, which then stays).
 *
 * The hold is not an opener: removal and module unload ignore it (they
 * release it before tearing the disk down), and when the last other opener
 * closes the disk, tloop writes back and drops the page cache as the kernel
 * does at a last close (tloop_pcache_last_close()).
 */
#ifdef TLOOP_HAVE_FOLIO_ORDER_RANGE
/*
 * Cap @mapping to order-0 folios; false if it already is, or if its blocks
 * are larger than a page (the minimum order cannot be lowered).  The flags
 * word also holds bits set atomically elsewhere (AS_EIO...): cmpxchg.
 */
static bool tloop_pcache_cap(struct address_space *mapping)
{
	unsigned long old, new;

	if (!mapping_max_folio_order(mapping) || mapping_min_folio_order(mapping))
		return false;
	old = READ_ONCE(mapping->flags);
	do {
		new = old & ~AS_FOLIO_ORDER_MASK;
	} while (!try_cmpxchg(&mapping->flags, &old, new));
	return true;
}

/*
 * Evict the large folios of @mapping that are clean; true if some large
 * folio is still cached (dirty, under write-back, locked or mapped again).
 */
static bool tloop_pcache_drop_large(struct address_space *mapping)
{
	struct folio_batch fbatch;
	pgoff_t index = 0, first = 0, nr = 0;
	bool found, large = false;
	unsigned int i;

	folio_batch_init(&fbatch);
	while (filemap_get_folios(mapping, &index, (pgoff_t)-1, &fbatch)) {
		found = false;
		for (i = 0; i < folio_batch_count(&fbatch) && !found; i++) {
			struct folio *folio = fbatch.folios[i];

			if (folio_test_large(folio)) {
				first = folio->index;
				nr = folio_nr_pages(folio);
				found = true;
			}
		}
		folio_batch_release(&fbatch);
		if (found) {
			unmap_mapping_range(mapping, (loff_t)first << PAGE_SHIFT,
					    (loff_t)nr << PAGE_SHIFT, 0);
			invalidate_mapping_pages(mapping, first, first + nr - 1);
			/* Whatever stayed (dirty, locked, mapped again) is seen below. */
			index = first + nr;
			large = true;
		}
		cond_resched();
	}
	if (!large)
		return false;
	index = 0;
	large = false;
	while (!large && filemap_get_folios(mapping, &index, (pgoff_t)-1, &fbatch)) {
		for (i = 0; i < folio_batch_count(&fbatch); i++)
			large |= folio_test_large(fbatch.folios[i]);
		folio_batch_release(&fbatch);
		cond_resched();
	}
	return large;
}

/**
 * tloop_pcache_init() - initialize @dev's page cache hold (none yet).
 * @dev: a new device, not yet published.
 */
void tloop_pcache_init(struct tloop_device *dev)
{
	mutex_init(&dev->pcache.lock);
}

/**
 * tloop_pcache_hold() - tracking turned on: open the whole disk, keep it open
 * and cap its page cache to order-0 folios, on kernels whose block device
 * page cache uses large folios (nothing is kept otherwise).
 * @dev: the device; not being removed (its caller holds it open, or it is
 *	being added under the control mutex).
 *
 * On failure the set stays correct, only coarser (whole folios): a warning
 * says so.
 */
void tloop_pcache_hold(struct tloop_device *dev)
{
	struct address_space *mapping = dev->disk->part0->bd_mapping;
	struct file *file;

	mutex_lock(&dev->pcache.lock);
	if (dev->pcache.file)
		goto out;
	file = bdev_file_open_by_dev(disk_devt(dev->disk), BLK_OPEN_READ, NULL, NULL);
	if (IS_ERR(file)) {
		pr_warn("tloop%d: cannot hold the page cache to order-0 folios (%ld): written sets may hold whole folios\n",
			dev->index, PTR_ERR(file));
		goto out;
	}
	/* Opened: the range is the one of this kernel's first open. */
	if (!mapping_max_folio_order(mapping)) {
		__fput_sync(file);
		goto out;
	}
	mutex_lock(&dev->lock);
	dev->openers--;
	mutex_unlock(&dev->lock);
	module_put(THIS_MODULE);
	WRITE_ONCE(dev->pcache.file, file);
	tloop_pcache_cap(mapping);
	WRITE_ONCE(dev->pcache.large, tloop_pcache_drop_large(mapping));
out:
	mutex_unlock(&dev->pcache.lock);
}

/**
 * tloop_pcache_release() - drop the hold of tloop_pcache_hold(), if any.
 * @dev: the device (tracking turned off, or the device is being removed:
 *	then the disk is still registered).
 */
void tloop_pcache_release(struct tloop_device *dev)
{
	struct file *file;

	mutex_lock(&dev->pcache.lock);
	file = dev->pcache.file;
	WRITE_ONCE(dev->pcache.file, NULL);
	if (file) {
		/* Counted again, as the release callback will uncount it. */
		mutex_lock(&dev->lock);
		dev->openers++;
		mutex_unlock(&dev->lock);
		__module_get(THIS_MODULE);
		__fput_sync(file);
	}
	mutex_unlock(&dev->pcache.lock);
}

/* Cap @mapping again if its range was reset; evict large folios if @scan or capped. */
static bool tloop_pcache_check(struct address_space *mapping, bool scan)
{
	if (tloop_pcache_cap(mapping) || scan)
		return tloop_pcache_drop_large(mapping);
	return false;
}

/**
 * tloop_pcache_check_all() - after a query's write-back: cap the page cache
 * of the disk and of each partition (each has its own) again where its order
 * range was reset (a block-size change, a partition's first open), and evict
 * the large folios that are now clean.
 * @dev: the device.
 *
 * Runs without the hold's lock (partitions are walked under open_mutex, which
 * hold and release take inside it): capping and evicting are safe to repeat
 * or to race with a release.
 */
void tloop_pcache_check_all(struct tloop_device *dev)
{
	struct gendisk *disk = dev->disk;
	bool scan = READ_ONCE(dev->pcache.large), large;
	struct block_device *part;
	unsigned long idx;

	lockdep_assert_not_held(&dev->pcache.lock);
	if (!READ_ONCE(dev->pcache.file))
		return;
	if (!(dev->flags & TLOOP_FLAG_PARTSCAN)) {
		large = tloop_pcache_check(disk->part0->bd_mapping, scan);
	} else {
		/* Partitions are added and deleted under open_mutex. */
		large = false;
		mutex_lock(&disk->open_mutex);
		xa_for_each(&disk->part_tbl, idx, part)
			large |= tloop_pcache_check(part->bd_mapping, scan);
		mutex_unlock(&disk->open_mutex);
	}
	if (large != scan)
		WRITE_ONCE(dev->pcache.large, large);
}

/**
 * tloop_pcache_last_close() - a release of the disk: if no opener is left but
 * the hold, do what the kernel does at a last close and the hold prevents:
 * write back the page cache, then drop it (a later open reads the backing
 * file again).  Users and tests rely on a closed writer's data being written.
 * @dev: the device.
 *
 * Context: from tloop_release(), under the disk's open_mutex, so no open or
 * close races.
 */
void tloop_pcache_last_close(struct tloop_device *dev)
{
	struct gendisk *disk = dev->disk;
	bool last;

	lockdep_assert_held(&disk->open_mutex);
	if (!READ_ONCE(dev->pcache.file))
		return;
	mutex_lock(&dev->lock);
	last = !dev->openers;
	mutex_unlock(&dev->lock);
	if (!last)
		return;
	sync_blockdev(disk->part0);
	invalidate_bh_lrus();
	truncate_inode_pages(disk->part0->bd_mapping, 0);
}
#else
void tloop_pcache_last_close(struct tloop_device *dev)
{
}

void tloop_pcache_init(struct tloop_device *dev)
{
}

void tloop_pcache_hold(struct tloop_device *dev)
{
}

void tloop_pcache_release(struct tloop_device *dev)
{
}

void tloop_pcache_check_all(struct tloop_device *dev)
{
}
#endif
