/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The one place where kernel API differences are absorbed.
 *
 * The TLOOP_HAVE_* macros come from compat.sh, which tests the headers the
 * module is built against (see Kbuild).  Debian backports blur version
 * numbers, so nothing here compares LINUX_VERSION_CODE.
 */
#ifndef TLOOP_COMPAT_H
#define TLOOP_COMPAT_H

#include <linux/blk-mq.h>
#include <linux/blkdev.h>
#include <linux/fs.h>
#include <linux/sched/mm.h>
#ifdef TLOOP_HAVE_FOLIO_BATCH_H
#include <linux/folio_batch.h>
#else
#include <linux/pagevec.h>
#endif

/**
 * struct tloop_queue_conf - queue settings of a tloop disk, version neutral.
 * @block_size: logical (and physical) block size in bytes.
 * @max_sectors: largest request in 512-byte sectors.
 * @discard: advertise discard and write-zeroes (the backing file has
 *	fallocate).
 */
struct tloop_queue_conf {
	unsigned int block_size;
	unsigned int max_sectors;
	bool discard;
};

#ifdef TLOOP_HAVE_ALLOC_DISK_LIMITS
static inline struct gendisk *tloop_compat_alloc_disk(struct blk_mq_tag_set *set,
						      const struct tloop_queue_conf *c,
						      void *data)
{
	struct queue_limits lim = {
		.logical_block_size = c->block_size,
		.physical_block_size = c->block_size,
		.io_min = c->block_size,
		.max_hw_sectors = c->max_sectors,
	};
	struct gendisk *disk;

	if (c->discard) {
		lim.discard_granularity = c->block_size;
		lim.max_hw_discard_sectors = UINT_MAX >> SECTOR_SHIFT;
		lim.max_write_zeroes_sectors = UINT_MAX >> SECTOR_SHIFT;
	}
#ifdef TLOOP_HAVE_BLK_FEAT
	/* Not rotational: that is the default once features exist. */
	lim.features = BLK_FEAT_WRITE_CACHE | BLK_FEAT_FUA;
#endif
	disk = blk_mq_alloc_disk(set, &lim, data);
#ifndef TLOOP_HAVE_BLK_FEAT
	if (!IS_ERR(disk)) {
		blk_queue_write_cache(disk->queue, true, true);
		blk_queue_flag_set(QUEUE_FLAG_NONROT, disk->queue);
	}
#endif
	return disk;
}
#else
static inline struct gendisk *tloop_compat_alloc_disk(struct blk_mq_tag_set *set,
						      const struct tloop_queue_conf *c,
						      void *data)
{
	struct gendisk *disk = blk_mq_alloc_disk(set, data);
	struct request_queue *q;

	if (IS_ERR(disk))
		return disk;
	q = disk->queue;
	blk_queue_logical_block_size(q, c->block_size);
	blk_queue_physical_block_size(q, c->block_size);
	blk_queue_io_min(q, c->block_size);
	blk_queue_max_hw_sectors(q, c->max_sectors);
	if (c->discard) {
		q->limits.discard_granularity = c->block_size;
		blk_queue_max_discard_sectors(q, UINT_MAX >> SECTOR_SHIFT);
		blk_queue_max_write_zeroes_sectors(q, UINT_MAX >> SECTOR_SHIFT);
	}
	blk_queue_write_cache(q, true, true);
	blk_queue_flag_set(QUEUE_FLAG_NONROT, q);
	return disk;
}
#endif

/* Tag set flags: merging bios is the default once BLK_MQ_F_SHOULD_MERGE is gone. */
#ifdef TLOOP_HAVE_MQ_F_SHOULD_MERGE
#define TLOOP_TAG_SET_FLAGS	BLK_MQ_F_SHOULD_MERGE
#else
#define TLOOP_TAG_SET_FLAGS	0
#endif

/* The type of blk_mq_ops.init_request()'s NUMA node argument. */
#ifdef TLOOP_HAVE_INIT_REQUEST_INT_NODE
#define tloop_numa_node_t int
#else
#define tloop_numa_node_t unsigned int
#endif

/**
 * tloop_bvec_iter_offset() - bytes of the current bvec already done.
 * @iter: the bio's iterator.
 *
 * Return: bvec_iter.bi_bvec_done, named bi_offset since 7.3.
 */
static inline unsigned int tloop_bvec_iter_offset(const struct bvec_iter *iter)
{
#ifdef TLOOP_HAVE_BI_OFFSET
	return iter->bi_offset;
#else
	return iter->bi_bvec_done;
#endif
}

/*
 * block_device_operations: open() gets the gendisk and a blk_mode_t, and
 * release() lost its mode argument (6.5+, TLOOP_HAVE_OPEN_GENDISK and
 * TLOOP_HAVE_RELEASE_NOMODE: tloop_dev.c has both prototypes of each);
 * ioctl() gets the open mode as a blk_mode_t instead of an fmode_t.
 */
#ifdef TLOOP_HAVE_BLK_MODE_T
#define tloop_blk_mode_t	blk_mode_t
#define TLOOP_MODE_WRITE	BLK_OPEN_WRITE
#else
#define tloop_blk_mode_t	fmode_t
#define TLOOP_MODE_WRITE	FMODE_WRITE
#endif

/* The page cache of @bdev. */
static inline struct address_space *tloop_bdev_mapping(struct block_device *bdev)
{
#ifdef TLOOP_HAVE_BD_MAPPING
	return bdev->bd_mapping;
#else
	return bdev->bd_inode->i_mapping;
#endif
}

/*
 * Freeze a queue with I/O from reclaim off until it is unfrozen: since 6.15
 * blk_mq_freeze_queue() does that itself and returns the flags to restore.
 */
#ifdef TLOOP_HAVE_FREEZE_MEMFLAGS
static inline unsigned int tloop_freeze_queue(struct request_queue *q)
{
	return blk_mq_freeze_queue(q);
}

static inline void tloop_unfreeze_queue(struct request_queue *q, unsigned int memflags)
{
	blk_mq_unfreeze_queue(q, memflags);
}
#else
static inline unsigned int tloop_freeze_queue(struct request_queue *q)
{
	unsigned int memflags = memalloc_noio_save();

	blk_mq_freeze_queue(q);
	return memflags;
}

static inline void tloop_unfreeze_queue(struct request_queue *q, unsigned int memflags)
{
	blk_mq_unfreeze_queue(q);
	memalloc_noio_restore(memflags);
}
#endif

#endif /* TLOOP_COMPAT_H */
