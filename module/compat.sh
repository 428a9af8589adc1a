#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# compat.sh SRCTREE [OBJTREE] - print the -D flags that describe the block
# layer API of the kernel headers being built against.  These are feature
# tests on the headers themselves, not version numbers: distribution kernels
# backport API changes, so LINUX_VERSION_CODE says little.  tloop_compat.h
# turns the flags into one set of helpers.

src=${1:?usage: compat.sh SRCTREE [OBJTREE]}
obj=${2:-$1}

# has FILE PATTERN: true if the extended regex matches in include/FILE.
has() {
	for tree in "$obj" "$src"; do
		if [ -f "$tree/include/$1" ]; then
			grep -Eq "$2" "$tree/include/$1" && return 0
		fi
	done
	return 1
}

# has_decl FILE PATTERN: like has, on the file with its lines joined (a declaration that
# spans lines), runs of blanks squeezed to one space.
has_decl() {
	for tree in "$obj" "$src"; do
		if [ -f "$tree/include/$1" ]; then
			tr '\n\t' '  ' < "$tree/include/$1" | tr -s ' ' | grep -Eq "$2" && return 0
		fi
	done
	return 1
}

flags=""
add() { flags="$flags -D$1"; }

# blk_mq_alloc_disk() takes the queue limits (6.9+).
has linux/blk-mq.h 'define blk_mq_alloc_disk\(set, *lim, *queuedata\)' &&
	add TLOOP_HAVE_ALLOC_DISK_LIMITS
# Queue features live in queue_limits (6.11+): BLK_FEAT_WRITE_CACHE etc.
has linux/blkdev.h 'define BLK_FEAT_WRITE_CACHE' && add TLOOP_HAVE_BLK_FEAT
# open() gets the gendisk and a blk_mode_t (6.5+).
has linux/blkdev.h 'int \(\*open\) *\(struct gendisk \*' && add TLOOP_HAVE_OPEN_GENDISK
# release() lost its mode argument (6.5+).
has linux/blkdev.h 'void \(\*release\) *\(struct gendisk \*[a-z]*\);' &&
	add TLOOP_HAVE_RELEASE_NOMODE
# The block mode type (6.5+), in linux/blkdev.h, then in linux/types.h (7.3+).
{ has linux/blkdev.h 'typedef .* blk_mode_t;' || has linux/types.h 'typedef .* blk_mode_t;'; } &&
	add TLOOP_HAVE_BLK_MODE_T
# The tag set flag asking for bio merges (gone in 6.14: merging is the default).
has linux/blk-mq.h '\<BLK_MQ_F_SHOULD_MERGE\>' && add TLOOP_HAVE_MQ_F_SHOULD_MERGE
# The bytes done in the current bvec: bvec_iter.bi_bvec_done, renamed bi_offset (7.3).
has linux/bvec.h '^[[:space:]]*unsigned int[[:space:]]+bi_offset;' && add TLOOP_HAVE_BI_OFFSET
# blk_mq_ops.init_request() takes the NUMA node as an int (7.2), no longer unsigned.
init_req='\(\*init_request\) ?\(struct blk_mq_tag_set \*set, ?struct request \*'
has_decl linux/blk-mq.h "$init_req, ?unsigned int, ?int\\)" && add TLOOP_HAVE_INIT_REQUEST_INT_NODE
# Page caches may hold large folios, with an order range per mapping (6.11+); block
# devices use it from 6.15 (tloop_io.c keeps the device's page cache in order-0 folios).
has linux/pagemap.h 'define AS_FOLIO_ORDER_MASK' && add TLOOP_HAVE_FOLIO_ORDER_RANGE
# struct folio_batch moved from linux/pagevec.h to linux/folio_batch.h (7.x).
has linux/folio_batch.h 'struct folio_batch' && add TLOOP_HAVE_FOLIO_BATCH_H
# blk_mq_freeze_queue() returns the memalloc flags that unfreeze restores (6.15+).
has linux/blk-mq.h 'blk_mq_unfreeze_queue\(struct request_queue \*q, *unsigned int memflags\)' &&
	add TLOOP_HAVE_FREEZE_MEMFLAGS

# The block device's page cache is bd_mapping (6.10+), not bd_inode->i_mapping.
has linux/blk_types.h 'struct address_space[[:space:]]+\*bd_mapping;' && add TLOOP_HAVE_BD_MAPPING

echo "$flags"
