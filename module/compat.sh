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
# The block mode type (6.5+).
has linux/blkdev.h 'typedef .* blk_mode_t;' && add TLOOP_HAVE_BLK_MODE_T

# The block device's page cache is bd_mapping (6.10+), not bd_inode->i_mapping.
has linux/blk_types.h 'struct address_space[[:space:]]+\*bd_mapping;' && add TLOOP_HAVE_BD_MAPPING

echo "$flags"
