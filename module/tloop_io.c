// SPDX-License-Identifier: GPL-2.0
/*
 * tloop_io.c - the I/O path.
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
#include <linux/falloc.h>
#include <linux/fs.h>
#include <linux/sched/mm.h>
#include <linux/uio.h>

#include "tloop.h"

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
	ret = tloop_serve(dev, rq);
	if (tloop_op_writes(req_op(rq)) && blk_rq_bytes(rq)) {
		u64 start = (u64)blk_rq_pos(rq) << SECTOR_SHIFT;

		tloop_wset_record(&dev->wset, start >> PAGE_SHIFT,
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
