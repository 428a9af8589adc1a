// SPDX-License-Identifier: GPL-2.0
/*
 * The written set (naming: see tloop_written.h).
 *
 * Layout.  The device is cut into regions of TLOOP_REGION_PAGES pages
 * (128 MiB with 4 KiB pages).  A radix tree of TLOOP_NODE_SLOTS-pointer
 * nodes, whose height is fixed by the device size (at most 6 levels for
 * TLOOP_MAX_DEV_SIZE; the top node has only as many slots as it needs), leads
 * to one leaf per region that was written.  A leaf holds its region's pages
 * as offsets (u16): up to TLOOP_LEAF_INLINE inside the leaf, then in a sorted
 * array grown by powers of two up to TLOOP_ARRAY_MAX entries (4 KiB), then in
 * a 4 KiB bitmap.  Clearing shrinks a leaf again (bitmap to array, array to a
 * smaller array or back inline) when it has become much emptier.
 *
 * Memory: nothing at all while nothing is written; then per written region
 * one leaf (16 bytes without lock debugging) plus its nodes' share, and at
 * most 4 bytes per written page while the region is sparse, at most one bit
 * per page once it is dense.  Every allocation is small (at most 4 KiB),
 * reserved against @mem_limit before it is made, and made with
 * __GFP_NOWARN.
 *
 * Concurrency.  Readers of the tree hold @lock for reading; nodes and leaves
 * are published with cmpxchg() and only freed after the tree was detached
 * under the write lock, so a pointer read under the read lock stays valid
 * until it is dropped.  A leaf's contents are changed only under its
 * spinlock, so adding a page (at write completion) and removing it (by a
 * consumer) are atomic with respect to each other, as the no-loss argument
 * in doc/design.md needs.
 *
 * Recording happens in the I/O worker, which may sleep; memory that cannot
 * be allocated (or that would pass the memory limit) puts the set in the
 * overflowed state, in which every page counts as written.  A write is
 * never silently dropped.
 */
#include <linux/bitmap.h>
#include <linux/errno.h>
#include <linux/lockdep.h>
#include <linux/log2.h>
#include <linux/minmax.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/string.h>

#include "tloop_written.h"

#define TLOOP_REGION_SHIFT	15
#define TLOOP_REGION_PAGES	BIT(TLOOP_REGION_SHIFT)
#define TLOOP_REGION_MASK	(TLOOP_REGION_PAGES - 1)
#define TLOOP_BITMAP_BYTES	(TLOOP_REGION_PAGES / BITS_PER_BYTE)

#define TLOOP_NODE_SHIFT	6
#define TLOOP_NODE_SLOTS	BIT(TLOOP_NODE_SHIFT)

/* Leaf capacities (in offsets); TLOOP_LEAF_BITMAP marks a bitmap leaf. */
#define TLOOP_LEAF_INLINE	4
#define TLOOP_ARRAY_MIN		8
#define TLOOP_ARRAY_MAX		(TLOOP_BITMAP_BYTES / sizeof(u16))
#define TLOOP_LEAF_BITMAP	U16_MAX

/*
 * struct tloop_leaf - the written pages of one region.
 * @lock: protects everything below.
 * @count: offsets in the leaf.
 * @cap: TLOOP_LEAF_INLINE (@inl), an array capacity (@arr) or
 *	TLOOP_LEAF_BITMAP (@bits).
 */
struct tloop_leaf {
	spinlock_t lock;	/* protects the fields below */
	u16 count;
	u16 cap;
	union {
		u16 inl[TLOOP_LEAF_INLINE];
		u16 *arr;
		unsigned long *bits;
	};
};

/* Reserve @bytes against the limit; never lets @mem_used pass it. */
static bool tloop_written_reserve(struct tloop_written_set *set, size_t bytes)
{
	s64 old = atomic64_read(&set->mem_used);

	do {
		if (set->mem_limit && (u64)old + bytes > set->mem_limit)
			return false;
	} while (!atomic64_try_cmpxchg(&set->mem_used, &old, old + bytes));
	return true;
}

/* Reserve, then allocate @size bytes; NULL (nothing reserved) on failure. */
static void *tloop_written_alloc(struct tloop_written_set *set, size_t size, gfp_t gfp)
{
	size_t bytes = kmalloc_size_roundup(size);
	void *p;

	if (!tloop_written_reserve(set, bytes))
		return NULL;
	p = kmalloc(size, gfp | __GFP_NOWARN);
	if (!p)
		atomic64_sub(bytes, &set->mem_used);
	return p;
}

/* Free what tloop_written_alloc() returned and give its bytes back. */
static void tloop_written_release(struct tloop_written_set *set, void *p, size_t size)
{
	kfree(p);
	atomic64_sub(kmalloc_size_roundup(size), &set->mem_used);
}

/* Bytes of the leaf's outside storage (0 when inline). */
static size_t tloop_leaf_ext_size(unsigned int cap)
{
	if (cap == TLOOP_LEAF_BITMAP)
		return TLOOP_BITMAP_BYTES;
	if (cap == TLOOP_LEAF_INLINE)
		return 0;
	return cap * sizeof(u16);
}

static u16 *tloop_leaf_array(struct tloop_leaf *leaf)
{
	return leaf->cap == TLOOP_LEAF_INLINE ? leaf->inl : leaf->arr;
}

/* Index of the first of @a[0..@n) that is >= @off. */
static unsigned int tloop_lower_bound(const u16 *a, unsigned int n, u32 off)
{
	unsigned int lo = 0, hi = n;

	while (lo < hi) {
		unsigned int mid = lo + (hi - lo) / 2;

		if (a[mid] < off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * Store into @dst the sorted @src[0..@n) with @a..@b merged in, where
 * @src[@p..@q) are the entries already in @a..@b.  @dst may be @src if it
 * has room.
 */
static void tloop_array_merge(u16 *dst, const u16 *src, unsigned int n,
			      unsigned int p, unsigned int q, u32 a, u32 b)
{
	unsigned int len = b - a + 1, i;

	memmove(dst + p + len, src + q, (n - q) * sizeof(*dst));
	if (dst != src)
		memcpy(dst, src, p * sizeof(*dst));
	for (i = 0; i < len; i++)
		dst[p + i] = a + i;
}

/* Set bits @a..@b of a bitmap leaf; return how many were clear. */
static unsigned int tloop_bitmap_add(unsigned long *bits, u32 a, u32 b)
{
	unsigned int added = 0;
	u32 off;

	for (off = a; off <= b; off++)
		if (!__test_and_set_bit(off, bits))
			added++;
	return added;
}

/*
 * Add offsets @a..@b to @leaf.  Return the number of pages that were not
 * in it, or -ENOMEM if the leaf could not grow (nothing added then).  Read
 * lock held (it keeps @leaf alive); takes the leaf lock.
 */
static int tloop_leaf_add(struct tloop_written_set *set, struct tloop_leaf *leaf,
			  u32 a, u32 b)
{
	unsigned int spare_cap = 0, added;
	void *spare = NULL, *old = NULL;
	size_t old_size = 0;

	lockdep_assert_held_read(&set->lock);

	for (;;) {
		unsigned int n, p, q, need;
		u16 *arr;

		spin_lock(&leaf->lock);
		if (leaf->cap == TLOOP_LEAF_BITMAP) {
			added = tloop_bitmap_add(leaf->bits, a, b);
			break;
		}
		n = leaf->count;
		arr = tloop_leaf_array(leaf);
		p = tloop_lower_bound(arr, n, a);
		q = tloop_lower_bound(arr, n, b + 1);
		added = (b - a + 1) - (q - p);
		need = n + added;
		if (need <= leaf->cap) {
			if (added)
				tloop_array_merge(arr, arr, n, p, q, a, b);
			break;
		}
		if (spare && (spare_cap == TLOOP_LEAF_BITMAP || spare_cap >= need)) {
			/* Fill the new storage before @arr's union is overwritten. */
			if (spare_cap == TLOOP_LEAF_BITMAP) {
				unsigned long *bits = spare;
				unsigned int i;

				bitmap_zero(bits, TLOOP_REGION_PAGES);
				for (i = 0; i < n; i++)
					__set_bit(arr[i], bits);
				bitmap_set(bits, a, b - a + 1);
			} else {
				tloop_array_merge(spare, arr, n, p, q, a, b);
			}
			if (leaf->cap != TLOOP_LEAF_INLINE) {
				old = leaf->arr;
				old_size = tloop_leaf_ext_size(leaf->cap);
			}
			leaf->arr = spare;
			leaf->cap = spare_cap;
			spare = NULL;
			break;
		}
		spin_unlock(&leaf->lock);

		/* Grow outside the lock, then look again. */
		if (spare)
			tloop_written_release(set, spare, tloop_leaf_ext_size(spare_cap));
		if (need > TLOOP_ARRAY_MAX)
			spare_cap = TLOOP_LEAF_BITMAP;
		else
			spare_cap = max_t(unsigned int, roundup_pow_of_two(need),
					  TLOOP_ARRAY_MIN);
		/* Worker context: may sleep, must not recurse into block I/O. */
		spare = tloop_written_alloc(set, tloop_leaf_ext_size(spare_cap), GFP_NOIO);
		if (!spare)
			return -ENOMEM;
	}
	leaf->count += added;
	spin_unlock(&leaf->lock);
	if (old)
		tloop_written_release(set, old, old_size);
	if (spare)
		tloop_written_release(set, spare, tloop_leaf_ext_size(spare_cap));
	return added;
}

/* Remove offset @off from @leaf; true if it was there.  Leaf lock held. */
static bool tloop_leaf_clear_one(struct tloop_leaf *leaf, u32 off)
{
	lockdep_assert_held(&leaf->lock);
	if (leaf->cap == TLOOP_LEAF_BITMAP) {
		if (!__test_and_clear_bit(off, leaf->bits))
			return false;
	} else {
		u16 *arr = tloop_leaf_array(leaf);
		unsigned int p = tloop_lower_bound(arr, leaf->count, off);

		if (p == leaf->count || arr[p] != off)
			return false;
		memmove(arr + p, arr + p + 1, (leaf->count - p - 1) * sizeof(*arr));
	}
	leaf->count--;
	return true;
}

/* Remove offsets @a..@b from @leaf; return how many were there.  Leaf lock held. */
static unsigned int tloop_leaf_clear_range(struct tloop_leaf *leaf, u32 a, u32 b)
{
	unsigned int removed = 0;

	lockdep_assert_held(&leaf->lock);
	if (leaf->cap == TLOOP_LEAF_BITMAP) {
		unsigned long bit;

		for (bit = find_next_bit(leaf->bits, b + 1, a); bit <= b;
		     bit = find_next_bit(leaf->bits, b + 1, bit + 1)) {
			__clear_bit(bit, leaf->bits);
			removed++;
		}
	} else {
		u16 *arr = tloop_leaf_array(leaf);
		unsigned int p = tloop_lower_bound(arr, leaf->count, a);
		unsigned int q = tloop_lower_bound(arr, leaf->count, b + 1);

		memmove(arr + p, arr + q, (leaf->count - q) * sizeof(*arr));
		removed = q - p;
	}
	leaf->count -= removed;
	return removed;
}

/*
 * After a clear: move a leaf that became much emptier into smaller storage,
 * so that the memory follows the set.  Best effort (no sleeping: the leaf
 * lock is held); a failed allocation keeps the current storage.
 */
static void tloop_leaf_shrink(struct tloop_written_set *set, struct tloop_leaf *leaf)
{
	unsigned int n = leaf->count, cap = leaf->cap, newcap, i = 0;
	u16 tmp[TLOOP_LEAF_INLINE];
	void *old;
	u16 *dst;

	lockdep_assert_held(&leaf->lock);
	if (cap == TLOOP_LEAF_INLINE)
		return;
	if (n <= TLOOP_LEAF_INLINE)
		newcap = TLOOP_LEAF_INLINE;
	else if (cap == TLOOP_LEAF_BITMAP ? n <= TLOOP_ARRAY_MAX / 2 :
		 cap > TLOOP_ARRAY_MIN && n <= cap / 4)
		newcap = min_t(unsigned int, TLOOP_ARRAY_MAX,
			       max_t(unsigned int, 2 * roundup_pow_of_two(n),
				     TLOOP_ARRAY_MIN));
	else
		return;

	if (newcap == TLOOP_LEAF_INLINE) {
		dst = tmp;
	} else {
		dst = tloop_written_alloc(set, newcap * sizeof(u16), GFP_NOWAIT);
		if (!dst)
			return;
	}
	if (cap == TLOOP_LEAF_BITMAP) {
		unsigned long bit;

		for_each_set_bit(bit, leaf->bits, TLOOP_REGION_PAGES)
			dst[i++] = bit;
	} else {
		memcpy(dst, leaf->arr, n * sizeof(u16));
	}
	old = leaf->arr;
	if (newcap == TLOOP_LEAF_INLINE)
		memcpy(leaf->inl, tmp, n * sizeof(u16));
	else
		leaf->arr = dst;
	leaf->cap = newcap;
	tloop_written_release(set, old, tloop_leaf_ext_size(cap));
}

/*
 * List the offsets of @leaf in [@from, @lim) as pages @base + offset into
 * @buf (room for @room).  Return the number stored; if one more was found,
 * *@more is set and *@next is its page.  Leaf lock held.
 */
static unsigned int tloop_leaf_list(struct tloop_leaf *leaf, u32 from, u32 lim,
				    u64 base, u64 *buf, unsigned int room,
				    bool *more, u64 *next)
{
	unsigned int k = 0;

	lockdep_assert_held(&leaf->lock);
	if (leaf->cap == TLOOP_LEAF_BITMAP) {
		unsigned long bit;

		for (bit = find_next_bit(leaf->bits, lim, from); bit < lim;
		     bit = find_next_bit(leaf->bits, lim, bit + 1)) {
			if (k == room) {
				*more = true;
				*next = base + bit;
				break;
			}
			buf[k++] = base + bit;
		}
	} else {
		u16 *arr = tloop_leaf_array(leaf);
		unsigned int i;

		for (i = tloop_lower_bound(arr, leaf->count, from);
		     i < leaf->count && arr[i] < lim; i++) {
			if (k == room) {
				*more = true;
				*next = base + arr[i];
				break;
			}
			buf[k++] = base + arr[i];
		}
	}
	return k;
}

/* Slots of a node at @level (1 = just above the leaves). */
static unsigned int tloop_node_slots(const struct tloop_written_set *set, unsigned int level)
{
	u64 regions = DIV_ROUND_UP_ULL(set->nr_pages, TLOOP_REGION_PAGES);

	if (level < set->height)
		return TLOOP_NODE_SLOTS;
	return DIV_ROUND_UP_ULL(regions, 1ULL << (TLOOP_NODE_SHIFT * (level - 1)));
}

static size_t tloop_node_size(const struct tloop_written_set *set, unsigned int level)
{
	if (!level)
		return sizeof(struct tloop_leaf);
	return tloop_node_slots(set, level) * sizeof(void *);
}

/*
 * The leaf of @region, created (with the nodes above it) if @create and
 * needed; NULL if absent, or if it cannot be allocated.  Read lock held.
 */
static struct tloop_leaf *tloop_written_leaf(struct tloop_written_set *set, u64 region,
					     bool create)
{
	unsigned int level = set->height;
	void **slot = &set->root;

	lockdep_assert_held_read(&set->lock);
	for (;;) {
		void *p = READ_ONCE(*slot);

		if (!p) {
			size_t size = tloop_node_size(set, level);
			void *old;

			if (!create)
				return NULL;
			/* Worker context: may sleep, must not recurse into block I/O. */
			p = tloop_written_alloc(set, size, GFP_NOIO | __GFP_ZERO);
			if (!p)
				return NULL;
			if (!level) {
				struct tloop_leaf *leaf = p;

				spin_lock_init(&leaf->lock);
				leaf->cap = TLOOP_LEAF_INLINE;
			}
			/* cmpxchg() orders the initialisation before the publication. */
			old = cmpxchg(slot, NULL, p);
			if (old) {
				tloop_written_release(set, p, size);
				p = old;
			}
		}
		if (!level)
			return p;
		level--;
		slot = (void **)p + ((region >> (TLOOP_NODE_SHIFT * level)) &
				     (TLOOP_NODE_SLOTS - 1));
	}
}

/*
 * The first leaf of a region in [*@region, @end); *@region is moved to its
 * region.  Subtrees that are absent are skipped whole.  Read lock held.
 */
static struct tloop_leaf *tloop_written_next_leaf(struct tloop_written_set *set,
						  u64 *region, u64 end)
{
	lockdep_assert_held_read(&set->lock);
	while (*region < end) {
		void *p = READ_ONCE(set->root);
		unsigned int level = set->height;

		if (!p)
			return NULL;
		while (level) {
			unsigned int shift = TLOOP_NODE_SHIFT * (level - 1);
			void *child = READ_ONCE(((void **)p)[(*region >> shift) &
							    (TLOOP_NODE_SLOTS - 1)]);

			if (!child) {
				*region = ((*region >> shift) + 1) << shift;
				break;
			}
			p = child;
			level--;
		}
		if (!level)
			return p;
	}
	return NULL;
}

/*
 * Free a detached subtree at @level.  The set's lock is not held: nobody can
 * reach the subtree, and freeing it must not hold up the recorders.
 */
static void tloop_written_free_tree(struct tloop_written_set *set, void *p, unsigned int level)
{
	unsigned int i, slots;

	lockdep_assert_not_held(&set->lock);
	if (!p)
		return;
	if (!level) {
		struct tloop_leaf *leaf = p;

		if (leaf->cap != TLOOP_LEAF_INLINE)
			kfree(leaf->arr);
		kfree(leaf);
		return;
	}
	slots = tloop_node_slots(set, level);
	for (i = 0; i < slots; i++)
		tloop_written_free_tree(set, ((void **)p)[i], level - 1);
	kfree(p);
	cond_resched();
}

/*
 * Detach the tree and reset the counters; the caller holds the write lock
 * and frees the returned tree with tloop_written_free_tree() after dropping it.
 */
static void *tloop_written_detach(struct tloop_written_set *set)
{
	void *root = set->root;

	lockdep_assert_held_write(&set->lock);
	set->root = NULL;
	atomic64_set(&set->mem_used, 0);
	atomic64_set(&set->nr_set, 0);
	set->overflow = false;
	set->epoch++;
	return root;
}

/**
 * tloop_written_init() - initialise an empty set, tracking off.
 * @set: the set.
 * @nr_pages: number of pages of the device (at least 1).
 */
void tloop_written_init(struct tloop_written_set *set, u64 nr_pages)
{
	u64 regions = DIV_ROUND_UP_ULL(nr_pages, TLOOP_REGION_PAGES);

	init_rwsem(&set->lock);
	set->root = NULL;
	set->on = false;
	set->height = 0;
	while (set->height * TLOOP_NODE_SHIFT < 64 &&
	       (1ULL << (set->height * TLOOP_NODE_SHIFT)) < regions)
		set->height++;
	set->nr_pages = nr_pages;
	set->mem_limit = 0;
	atomic64_set(&set->mem_used, 0);
	atomic64_set(&set->nr_set, 0);
	atomic64_set(&set->generation, 1);
	set->epoch = 0;
	set->overflow = false;
}

/**
 * tloop_written_enable() - turn tracking on with an empty set.
 * @set: the set.
 * @mem_limit: bytes the set may use, 0 for no limit.
 *
 * Nothing is allocated: the set grows with the writes.
 *
 * Return: 0, or -EBUSY if tracking is on.
 */
int tloop_written_enable(struct tloop_written_set *set, u64 mem_limit)
{
	down_write(&set->lock);
	if (set->on) {
		up_write(&set->lock);
		return -EBUSY;
	}
	tloop_written_detach(set);
	set->on = true;
	set->mem_limit = mem_limit;
	atomic64_inc(&set->generation);
	up_write(&set->lock);
	return 0;
}

/**
 * tloop_written_disable() - turn tracking off and drop the set (no-op if off).
 * @set: the set.
 *
 * Context: may sleep; the set is freed after the lock is dropped.
 */
void tloop_written_disable(struct tloop_written_set *set)
{
	void *root = NULL;

	down_write(&set->lock);
	if (set->on) {
		root = tloop_written_detach(set);
		set->on = false;
		atomic64_inc(&set->generation);
	}
	up_write(&set->lock);
	tloop_written_free_tree(set, root, set->height);
}

/**
 * tloop_written_record() - record that a write covering pages @first..@last
 * (inclusive) completed.
 * @set: the set.
 * @first: first page index.
 * @last: last page index.
 *
 * Context: process context, may sleep (the I/O worker).
 */
void tloop_written_record(struct tloop_written_set *set, u64 first, u64 last)
{
	u64 page = first;

	if (last >= set->nr_pages)
		last = set->nr_pages - 1;

	down_read(&set->lock);
	if (!set->on || READ_ONCE(set->overflow))
		goto out;
	while (page <= last) {
		u64 region = page >> TLOOP_REGION_SHIFT;
		u64 base = region << TLOOP_REGION_SHIFT;
		u64 stop = min_t(u64, last, base + TLOOP_REGION_MASK);
		struct tloop_leaf *leaf = tloop_written_leaf(set, region, true);
		int added = -ENOMEM;

		if (leaf)
			added = tloop_leaf_add(set, leaf, page - base, stop - base);
		if (added < 0) {
			WRITE_ONCE(set->overflow, true);
			break;
		}
		atomic64_add(added, &set->nr_set);
		page = stop + 1;
	}
out:
	up_read(&set->lock);
}

/**
 * tloop_written_status() - snapshot the set's state.
 * @set: the set.
 * @st: filled in.
 */
void tloop_written_status(struct tloop_written_set *set, struct tloop_written_status *st)
{
	down_read(&set->lock);
	st->on = set->on;
	st->overflow = st->on && READ_ONCE(set->overflow);
	st->generation = atomic64_read(&set->generation);
	st->written = st->on ? atomic64_read(&set->nr_set) : 0;
	st->mem_used = st->on ? atomic64_read(&set->mem_used) : 0;
	st->mem_limit = st->on ? set->mem_limit : 0;
	up_read(&set->lock);
}

/**
 * tloop_written_collect() - list set pages in [@cursor, @end) without clearing.
 * @set: the set.
 * @cursor: first page to look at.
 * @end: page to stop before (at most the number of pages).
 * @buf: receives up to @max page indices, ascending.
 * @max: capacity of @buf, at least 1.
 * @count: number stored.
 * @next: where to resume, or U64_MAX when [@cursor, @end) is exhausted.
 * @epoch: the tree epoch the pages belong to (for tloop_written_clear_pages()).
 * @overflow: set if the set overflowed (then nothing is listed).
 *
 * Return: 0, or -ENODATA if tracking is off.
 */
int tloop_written_collect(struct tloop_written_set *set, u64 cursor, u64 end, u64 *buf,
			  unsigned int max, unsigned int *count, u64 *next,
			  u64 *epoch, bool *overflow)
{
	u64 end_region = DIV_ROUND_UP_ULL(end, TLOOP_REGION_PAGES);
	unsigned int n = 0;
	u64 page = cursor;
	bool more = false;

	*next = U64_MAX;
	down_read(&set->lock);
	if (!set->on) {
		up_read(&set->lock);
		return -ENODATA;
	}
	*epoch = set->epoch;
	*overflow = READ_ONCE(set->overflow);
	if (*overflow)
		goto out;

	while (page < end && !more) {
		u64 region = page >> TLOOP_REGION_SHIFT;
		struct tloop_leaf *leaf;
		u64 base;
		u32 lim;

		leaf = tloop_written_next_leaf(set, &region, end_region);
		if (!leaf)
			break;
		base = region << TLOOP_REGION_SHIFT;
		page = max(page, base);
		lim = min_t(u64, end - base, TLOOP_REGION_PAGES);
		spin_lock(&leaf->lock);
		n += tloop_leaf_list(leaf, page - base, lim, base, buf + n,
				     max - n, &more, next);
		spin_unlock(&leaf->lock);
		page = base + TLOOP_REGION_PAGES;
		cond_resched();
	}
out:
	up_read(&set->lock);
	*count = n;
	return 0;
}

/**
 * tloop_written_clear_pages() - clear the pages a collect returned.
 * @set: the set.
 * @pages: page indices from tloop_written_collect().
 * @count: number of entries.
 * @epoch: epoch tloop_written_collect() reported.
 * @generation: the new generation.
 *
 * If the tree was replaced since the collect (a clear all, or tracking
 * switched off and on), the pages now belong to writes the caller has not
 * seen: they are left alone.
 *
 * Return: 0, or -ENODATA if tracking is off.
 */
int tloop_written_clear_pages(struct tloop_written_set *set, const u64 *pages,
			      unsigned int count, u64 epoch, u64 *generation)
{
	unsigned int i = 0;
	u64 cleared = 0;

	down_read(&set->lock);
	if (!set->on) {
		up_read(&set->lock);
		return -ENODATA;
	}
	while (set->epoch == epoch && i < count) {
		u64 region = pages[i] >> TLOOP_REGION_SHIFT;
		struct tloop_leaf *leaf = NULL;

		if (pages[i] < set->nr_pages)
			leaf = tloop_written_leaf(set, region, false);
		if (!leaf) {
			i++;
			continue;
		}
		/* The pages of one region, in one go (they come sorted). */
		spin_lock(&leaf->lock);
		for (; i < count && (pages[i] >> TLOOP_REGION_SHIFT) == region; i++)
			cleared += tloop_leaf_clear_one(leaf, pages[i] & TLOOP_REGION_MASK);
		tloop_leaf_shrink(set, leaf);
		spin_unlock(&leaf->lock);
	}
	atomic64_sub(cleared, &set->nr_set);
	*generation = atomic64_inc_return(&set->generation);
	up_read(&set->lock);
	return 0;
}

/**
 * tloop_written_clear_range() - clear pages [@start, @end).
 * @set: the set.
 * @start: first page.
 * @end: page after the range (at most the number of pages).
 * @generation: the new generation.
 *
 * The overflowed state is kept: it covers pages outside the range too.
 *
 * Return: 0, or -ENODATA if tracking is off.
 */
int tloop_written_clear_range(struct tloop_written_set *set, u64 start, u64 end,
			      u64 *generation)
{
	u64 end_region = DIV_ROUND_UP_ULL(end, TLOOP_REGION_PAGES);
	u64 page = start, cleared = 0;

	down_read(&set->lock);
	if (!set->on) {
		up_read(&set->lock);
		return -ENODATA;
	}
	while (page < end) {
		u64 region = page >> TLOOP_REGION_SHIFT;
		struct tloop_leaf *leaf;
		u64 base;
		u32 last;

		leaf = tloop_written_next_leaf(set, &region, end_region);
		if (!leaf)
			break;
		base = region << TLOOP_REGION_SHIFT;
		page = max(page, base);
		last = min_t(u64, end - base, TLOOP_REGION_PAGES) - 1;
		spin_lock(&leaf->lock);
		cleared += tloop_leaf_clear_range(leaf, page - base, last);
		tloop_leaf_shrink(set, leaf);
		spin_unlock(&leaf->lock);
		page = base + TLOOP_REGION_PAGES;
		cond_resched();
	}
	atomic64_sub(cleared, &set->nr_set);
	*generation = atomic64_inc_return(&set->generation);
	up_read(&set->lock);
	return 0;
}

/**
 * tloop_written_clear_all() - empty the set and leave the overflowed state.
 * @set: the set.
 * @generation: the new generation.
 *
 * The old tree is detached under the write lock and freed after it is
 * dropped, so the time the lock is held does not depend on the set's size.
 *
 * Return: 0, or -ENODATA if tracking is off.
 */
int tloop_written_clear_all(struct tloop_written_set *set, u64 *generation)
{
	void *root;

	down_write(&set->lock);
	if (!set->on) {
		up_write(&set->lock);
		return -ENODATA;
	}
	root = tloop_written_detach(set);
	*generation = atomic64_inc_return(&set->generation);
	up_write(&set->lock);
	tloop_written_free_tree(set, root, set->height);
	return 0;
}

/**
 * tloop_written_move() - move the content of @from into @to, atomically:
 * @from is empty afterwards (its generation grows by one, as for a clear),
 * and every page recorded before the move is in @to.
 * @from: a set with tracking on.
 * @to: a set of the same number of pages, tracking on, empty, that nobody
 *	else uses yet (not published).
 * @allow_overflow: move an overflowed set too (@to is then overflowed).
 * @prev_gen: @from's generation before the move.
 * @gen: @from's generation after the move.
 *
 * Return: 0; -ENODATA if @from is off; -EOVERFLOW if @from overflowed and
 * !@allow_overflow (nothing moved then).
 */
int tloop_written_move(struct tloop_written_set *from, struct tloop_written_set *to,
		       bool allow_overflow, u64 *prev_gen, u64 *gen)
{
	u64 nr_set, mem_used;
	bool overflow;
	void *root;

	down_write(&from->lock);
	if (!from->on) {
		up_write(&from->lock);
		return -ENODATA;
	}
	overflow = from->overflow;
	if (overflow && !allow_overflow) {
		up_write(&from->lock);
		return -EOVERFLOW;
	}
	nr_set = atomic64_read(&from->nr_set);
	mem_used = atomic64_read(&from->mem_used);
	*prev_gen = atomic64_read(&from->generation);
	root = tloop_written_detach(from);
	*gen = atomic64_inc_return(&from->generation);
	up_write(&from->lock);

	/* @to is private to the caller: its lock only orders the stores. */
	down_write(&to->lock);
	root = xchg(&to->root, root);
	atomic64_set(&to->nr_set, nr_set);
	atomic64_set(&to->mem_used, mem_used);
	to->overflow = overflow;
	to->epoch++;
	up_write(&to->lock);
	WARN_ON_ONCE(root);
	return 0;
}

/**
 * tloop_written_test() - whether @page is in the set.
 * @set: the set.
 * @page: page index (below the number of pages).
 * @clear: also remove it.
 *
 * Return: true if it was in the set (an overflowed set counts every page;
 * it is not cleared then).
 */
bool tloop_written_test(struct tloop_written_set *set, u64 page, bool clear)
{
	struct tloop_leaf *leaf;
	bool ret = false;
	u32 off = page & TLOOP_REGION_MASK;

	down_read(&set->lock);
	if (!set->on)
		goto out;
	if (READ_ONCE(set->overflow)) {
		ret = true;
		goto out;
	}
	leaf = tloop_written_leaf(set, page >> TLOOP_REGION_SHIFT, false);
	if (!leaf)
		goto out;
	spin_lock(&leaf->lock);
	if (clear) {
		ret = tloop_leaf_clear_one(leaf, off);
		if (ret)
			tloop_leaf_shrink(set, leaf);
	} else if (leaf->cap == TLOOP_LEAF_BITMAP) {
		ret = test_bit(off, leaf->bits);
	} else {
		u16 *arr = tloop_leaf_array(leaf);
		unsigned int p = tloop_lower_bound(arr, leaf->count, off);

		ret = p < leaf->count && arr[p] == off;
	}
	spin_unlock(&leaf->lock);
	if (ret && clear)
		atomic64_dec(&set->nr_set);
out:
	up_read(&set->lock);
	return ret;
}

/**
 * tloop_written_set_overflow() - put the set in the overflowed state (every
 * page counts as written), if tracking is on.
 * @set: the set.
 */
void tloop_written_set_overflow(struct tloop_written_set *set)
{
	down_read(&set->lock);
	if (set->on)
		WRITE_ONCE(set->overflow, true);
	up_read(&set->lock);
}
