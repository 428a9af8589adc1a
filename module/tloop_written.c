// SPDX-License-Identifier: GPL-2.0
/*
 * The written set (naming: see tloop_written.h).
 *
 * Layout.  The device is cut into regions of TLOOP_REGION_PAGES pages
 * (128 MiB with 4 KiB pages).  A B+tree keyed by region number (4 KiB
 * blocks; a root leaf block grows from 32 bytes) holds one 16-byte leaf
 * entry per region that was written.  A leaf holds its region's pages as
 * offsets (u16): up to TLOOP_LEAF_INLINE inside the entry, then in a sorted
 * array grown by powers of two up to TLOOP_ARRAY_MAX entries (4 KiB), then in
 * a 4 KiB bitmap.  Clearing shrinks a leaf again (bitmap to array, array to a
 * smaller array or back inline) when it has become much emptier.
 *
 * Memory: nothing at all while nothing is written; then per written region
 * its entry (16 bytes, about 20 with the blocks' slack: a full leaf block
 * first moves an entry into a sibling with room, and splits only when both
 * are full) and at most 4 bytes per written page while the region is
 * sparse, at most one bit per page once it is dense.  Every allocation is
 * small (at most 4 KiB), reserved against @mem_limit before it is made, and
 * made with __GFP_NOWARN.
 *
 * Concurrency.  The index (which blocks exist, where each entry is) changes
 * only under the write side of @lock, taken by a recorder for a region that
 * has no entry yet (then downgraded), and by the calls that replace the
 * tree; everything else holds the read side, under which the index does not
 * change, so an entry found stays where it is until the lock is dropped.  A
 * leaf's contents are changed only under @leaf_lock, so adding a page (at
 * write completion) and removing it (by a consumer) are atomic with respect
 * to each other, as the no-loss argument in doc/design.md needs.
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

/* Leaf capacities (in offsets); TLOOP_LEAF_BITMAP marks a bitmap leaf. */
#define TLOOP_LEAF_INLINE	4
#define TLOOP_ARRAY_MIN		8
#define TLOOP_ARRAY_MAX		(TLOOP_BITMAP_BYTES / sizeof(u16))
#define TLOOP_LEAF_BITMAP	U16_MAX

/*
 * struct tloop_leaf - the written pages of one region, an entry of a leaf
 * block of the index (16 bytes).  Its contents change under the set's
 * @leaf_lock (with @lock held for reading); the entry itself moves only
 * under the write side of @lock.
 * @region_lo: low 32 bits of the region number.
 * @region_hi: high bits of the region number.
 * @shift: 0: inline (@inl); TLOOP_SHIFT_BITMAP: bitmap (@bits); else log2
 *	of the capacity of @arr.
 * @count: offsets in the leaf.
 */
struct tloop_leaf {
	u32 region_lo;
	u8 region_hi;
	u8 shift;
	u16 count;
	union {
		u16 inl[TLOOP_LEAF_INLINE];
		u16 *arr;
		unsigned long *bits;
	};
};

#define TLOOP_SHIFT_BITMAP	U8_MAX

/*
 * The region index: a B+tree keyed by region number.  Leaf blocks (level 0)
 * hold sorted struct tloop_leaf entries, interior blocks sorted slots
 * (@key, @child); child i holds the regions in [key[i], key[i + 1]), child 0
 * everything below key[1].  Every block is 4 KiB except a root leaf block,
 * which grows through the slab sizes from 32 bytes.  Only inserted into
 * (an emptied region keeps its 16-byte entry until the tree is dropped), and
 * only under the write side of the set's lock.
 */
struct tloop_slot {
	u64 key;
	struct tloop_block *child;
};

struct tloop_block {
	u16 nr;
	u16 cap;
	u16 level;
	u16 pad;
	u64 data[];
};

#define TLOOP_BLOCK_BYTES	4096
#define TLOOP_BLOCK_CAP		((TLOOP_BLOCK_BYTES - sizeof(struct tloop_block)) / 16)
#define TLOOP_MAX_DEPTH		8

static_assert(sizeof(struct tloop_leaf) == 16);
static_assert(sizeof(struct tloop_slot) <= 16);

static u32 tloop_leaf_cap(const struct tloop_leaf *leaf)
{
	if (!leaf->shift)
		return TLOOP_LEAF_INLINE;
	if (leaf->shift == TLOOP_SHIFT_BITMAP)
		return TLOOP_LEAF_BITMAP;
	return 1U << leaf->shift;
}

static void tloop_leaf_set_cap(struct tloop_leaf *leaf, u32 cap)
{
	if (cap == TLOOP_LEAF_INLINE)
		leaf->shift = 0;
	else if (cap == TLOOP_LEAF_BITMAP)
		leaf->shift = TLOOP_SHIFT_BITMAP;
	else
		leaf->shift = ilog2(cap);
}

static u64 tloop_leaf_region(const struct tloop_leaf *leaf)
{
	return ((u64)leaf->region_hi << 32) | leaf->region_lo;
}

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
	return !leaf->shift ? leaf->inl : leaf->arr;
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

		spin_lock(&set->leaf_lock);
		if (tloop_leaf_cap(leaf) == TLOOP_LEAF_BITMAP) {
			added = tloop_bitmap_add(leaf->bits, a, b);
			break;
		}
		n = leaf->count;
		arr = tloop_leaf_array(leaf);
		p = tloop_lower_bound(arr, n, a);
		q = tloop_lower_bound(arr, n, b + 1);
		added = (b - a + 1) - (q - p);
		need = n + added;
		if (need <= tloop_leaf_cap(leaf)) {
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
			if (tloop_leaf_cap(leaf) != TLOOP_LEAF_INLINE) {
				old = leaf->arr;
				old_size = tloop_leaf_ext_size(tloop_leaf_cap(leaf));
			}
			leaf->arr = spare;
			tloop_leaf_set_cap(leaf, spare_cap);
			spare = NULL;
			break;
		}
		spin_unlock(&set->leaf_lock);

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
	spin_unlock(&set->leaf_lock);
	if (old)
		tloop_written_release(set, old, old_size);
	if (spare)
		tloop_written_release(set, spare, tloop_leaf_ext_size(spare_cap));
	return added;
}

/* Remove offset @off from @leaf; true if it was there.  Leaf lock held. */
static bool tloop_leaf_clear_one(struct tloop_leaf *leaf, u32 off)
{
	if (tloop_leaf_cap(leaf) == TLOOP_LEAF_BITMAP) {
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

	if (tloop_leaf_cap(leaf) == TLOOP_LEAF_BITMAP) {
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
	unsigned int n = leaf->count, cap = tloop_leaf_cap(leaf), newcap, i = 0;
	u16 tmp[TLOOP_LEAF_INLINE];
	void *old;
	u16 *dst;

	lockdep_assert_held(&set->leaf_lock);
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
	tloop_leaf_set_cap(leaf, newcap);
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

	if (tloop_leaf_cap(leaf) == TLOOP_LEAF_BITMAP) {
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

static struct tloop_leaf *tloop_block_leaves(struct tloop_block *b)
{
	return (struct tloop_leaf *)b->data;
}

static struct tloop_slot *tloop_block_slots(struct tloop_block *b)
{
	return (struct tloop_slot *)b->data;
}

/* Slab bytes of a block of @cap entries. */
static size_t tloop_block_size(unsigned int cap)
{
	return sizeof(struct tloop_block) + cap * 16;
}

/* The child of interior block @b whose range holds @key. */
static unsigned int tloop_child_index(struct tloop_block *b, u64 key)
{
	struct tloop_slot *slots = tloop_block_slots(b);
	unsigned int lo = 1, hi = b->nr;

	while (lo < hi) {
		unsigned int mid = lo + (hi - lo) / 2;

		if (slots[mid].key <= key)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo - 1;
}

/* Index of the first entry of leaf block @b whose region is >= @region. */
static unsigned int tloop_entry_index(struct tloop_block *b, u64 region)
{
	struct tloop_leaf *leaves = tloop_block_leaves(b);
	unsigned int lo = 0, hi = b->nr;

	while (lo < hi) {
		unsigned int mid = lo + (hi - lo) / 2;

		if (tloop_leaf_region(&leaves[mid]) < region)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The leaf of @region, NULL if absent.  @lock held (either side). */
static struct tloop_leaf *tloop_written_find(struct tloop_written_set *set, u64 region)
{
	struct tloop_block *b = set->root;
	unsigned int i;

	lockdep_assert_held(&set->lock);
	if (!b)
		return NULL;
	while (b->level)
		b = tloop_block_slots(b)[tloop_child_index(b, region)].child;
	i = tloop_entry_index(b, region);
	if (i < b->nr && tloop_leaf_region(&tloop_block_leaves(b)[i]) == region)
		return &tloop_block_leaves(b)[i];
	return NULL;
}

/*
 * The first leaf of a region in [*@region, @end); *@region is moved to its
 * region.  Read lock held.
 */
static struct tloop_leaf *tloop_written_next_leaf(struct tloop_written_set *set,
						  u64 *region, u64 end)
{
	u64 r = *region;

	lockdep_assert_held_read(&set->lock);
	while (r < end && set->root) {
		struct tloop_block *b = set->root;
		u64 upper = U64_MAX;
		unsigned int i;

		while (b->level) {
			struct tloop_slot *slots = tloop_block_slots(b);

			i = tloop_child_index(b, r);
			if (i + 1 < b->nr)
				upper = slots[i + 1].key;
			b = slots[i].child;
		}
		i = tloop_entry_index(b, r);
		if (i < b->nr) {
			struct tloop_leaf *leaf = &tloop_block_leaves(b)[i];

			r = tloop_leaf_region(leaf);
			if (r >= end)
				return NULL;
			*region = r;
			return leaf;
		}
		/* Every region in the blocks after this one is >= @upper. */
		r = upper;
	}
	return NULL;
}

/* Open an empty entry for @region at @pos of leaf block @b (room left). */
static struct tloop_leaf *tloop_block_insert(struct tloop_block *b, unsigned int pos, u64 region)
{
	struct tloop_leaf *leaves = tloop_block_leaves(b);

	memmove(leaves + pos + 1, leaves + pos, (b->nr - pos) * sizeof(*leaves));
	memset(&leaves[pos], 0, sizeof(*leaves));
	leaves[pos].region_lo = lower_32_bits(region);
	leaves[pos].region_hi = upper_32_bits(region);
	b->nr++;
	return &leaves[pos];
}

/* Put slot (@key, @child) at @pos of interior block @b (room left). */
static void tloop_slot_insert(struct tloop_block *b, unsigned int pos, u64 key,
			      struct tloop_block *child)
{
	struct tloop_slot *slots = tloop_block_slots(b);

	memmove(slots + pos + 1, slots + pos, (b->nr - pos) * sizeof(*slots));
	slots[pos].key = key;
	slots[pos].child = child;
	b->nr++;
}

static struct tloop_block *tloop_block_alloc(struct tloop_written_set *set, unsigned int cap,
					     unsigned int level)
{
	/* Worker context: may sleep, must not recurse into block I/O. */
	struct tloop_block *b = tloop_written_alloc(set, tloop_block_size(cap), GFP_NOIO);

	if (b) {
		b->nr = 0;
		b->cap = cap;
		b->level = level;
		b->pad = 0;
	}
	return b;
}

/*
 * Insert a full leaf block's new entry by moving one entry into a sibling
 * with room (under the same parent @p, @b being its child @i); NULL if
 * neither sibling has room.
 */
static struct tloop_leaf *tloop_insert_shift(struct tloop_block *p, unsigned int i,
					     struct tloop_block *b, unsigned int pos, u64 region)
{
	struct tloop_slot *slots = tloop_block_slots(p);
	struct tloop_leaf *leaves = tloop_block_leaves(b);
	struct tloop_leaf *leaf;
	struct tloop_block *s;

	if (i + 1 < p->nr && slots[i + 1].child->nr < slots[i + 1].child->cap) {
		s = slots[i + 1].child;
		if (pos == b->nr) {
			leaf = tloop_block_insert(s, 0, region);
		} else {
			tloop_block_insert(s, 0, 0);
			tloop_block_leaves(s)[0] = leaves[b->nr - 1];
			b->nr--;
			leaf = tloop_block_insert(b, pos, region);
		}
		slots[i + 1].key = tloop_leaf_region(&tloop_block_leaves(s)[0]);
		return leaf;
	}
	if (i > 0 && slots[i - 1].child->nr < slots[i - 1].child->cap) {
		s = slots[i - 1].child;
		if (!pos) {
			leaf = tloop_block_insert(s, s->nr, region);
		} else {
			tloop_block_insert(s, s->nr, 0);
			tloop_block_leaves(s)[s->nr - 1] = leaves[0];
			memmove(leaves, leaves + 1, (b->nr - 1) * sizeof(*leaves));
			b->nr--;
			leaf = tloop_block_insert(b, pos - 1, region);
		}
		slots[i].key = tloop_leaf_region(&leaves[0]);
		return leaf;
	}
	return NULL;
}

/*
 * The leaf of @region, inserted (empty) if absent; NULL if the memory it
 * needs cannot be had (nothing changed then).  Write lock held; may sleep.
 */
static struct tloop_leaf *tloop_written_insert(struct tloop_written_set *set, u64 region)
{
	struct tloop_block *path[TLOOP_MAX_DEPTH], *spare[TLOOP_MAX_DEPTH + 1];
	unsigned int idx[TLOOP_MAX_DEPTH], depth = 0, need, nspare = 0, pos, m;
	struct tloop_block *b, *n, *child;
	struct tloop_leaf *leaf;
	bool append;
	int d;
	u64 key;

	lockdep_assert_held_write(&set->lock);
	if (!set->root) {
		set->root = tloop_block_alloc(set, 1, 0);
		if (!set->root)
			return NULL;
	}
	b = set->root;
	while (b->level) {
		if (depth == TLOOP_MAX_DEPTH)
			return NULL;
		idx[depth] = tloop_child_index(b, region);
		path[depth++] = b;
		b = tloop_block_slots(b)[idx[depth - 1]].child;
	}
	pos = tloop_entry_index(b, region);
	if (pos < b->nr && tloop_leaf_region(&tloop_block_leaves(b)[pos]) == region)
		return &tloop_block_leaves(b)[pos];
	if (b->nr < b->cap)
		return tloop_block_insert(b, pos, region);

	if (b->cap < TLOOP_BLOCK_CAP) {
		/* Only a root leaf block is smaller: grow it to the next slab size. */
		n = tloop_block_alloc(set, b->cap * 2 + 1, 0);
		if (!n)
			return NULL;
		memcpy(n->data, b->data, b->nr * sizeof(struct tloop_leaf));
		n->nr = b->nr;
		set->root = n;
		tloop_written_release(set, b, tloop_block_size(b->cap));
		return tloop_block_insert(n, pos, region);
	}
	if (depth) {
		leaf = tloop_insert_shift(path[depth - 1], idx[depth - 1], b, pos, region);
		if (leaf)
			return leaf;
	}

	/* Split: a new leaf block, a new block per full parent, maybe a root. */
	need = 1;
	for (d = depth - 1; d >= 0 && path[d]->nr == path[d]->cap; d--)
		need++;
	if (d < 0)
		need++;
	for (nspare = 0; nspare < need; nspare++) {
		spare[nspare] = tloop_block_alloc(set, TLOOP_BLOCK_CAP, 0);
		if (!spare[nspare]) {
			while (nspare--)
				tloop_written_release(set, spare[nspare],
						      tloop_block_size(TLOOP_BLOCK_CAP));
			return NULL;
		}
	}

	/* Appending past the last block: keep it full (ascending patterns). */
	append = pos == b->nr && (!depth || idx[depth - 1] + 1 == path[depth - 1]->nr);
	m = append ? b->nr : b->nr / 2;
	n = spare[--nspare];
	memcpy(n->data, tloop_block_leaves(b) + m, (b->nr - m) * sizeof(struct tloop_leaf));
	n->nr = b->nr - m;
	b->nr = m;
	if (pos < m || (pos == m && !append))
		leaf = tloop_block_insert(b, pos, region);
	else
		leaf = tloop_block_insert(n, pos - m, region);
	key = tloop_leaf_region(&tloop_block_leaves(n)[0]);
	child = n;

	for (d = depth - 1; d >= 0; d--) {
		struct tloop_block *p = path[d];
		unsigned int at = idx[d] + 1;

		if (p->nr < p->cap) {
			tloop_slot_insert(p, at, key, child);
			child = NULL;
			break;
		}
		n = spare[--nspare];
		n->level = p->level;
		m = p->nr / 2;
		memcpy(n->data, tloop_block_slots(p) + m, (p->nr - m) * sizeof(struct tloop_slot));
		n->nr = p->nr - m;
		p->nr = m;
		if (at <= m)
			tloop_slot_insert(p, at, key, child);
		else
			tloop_slot_insert(n, at - m, key, child);
		key = tloop_block_slots(n)[0].key;
		child = n;
	}
	if (child) {
		/* The root was split: a new root above it. */
		n = spare[--nspare];
		n->level = set->root->level + 1;
		tloop_slot_insert(n, 0, 0, set->root);
		tloop_slot_insert(n, 1, key, child);
		set->root = n;
	}
	while (nspare--)
		tloop_written_release(set, spare[nspare], tloop_block_size(TLOOP_BLOCK_CAP));
	return leaf;
}

/*
 * Free a detached tree.  The set's lock is not held: nobody can reach the
 * tree, and freeing it must not hold up the recorders.
 */
static void tloop_written_free_tree(struct tloop_written_set *set, struct tloop_block *b)
{
	unsigned int i;

	lockdep_assert_not_held(&set->lock);
	if (!b)
		return;
	for (i = 0; i < b->nr; i++) {
		if (b->level) {
			tloop_written_free_tree(set, tloop_block_slots(b)[i].child);
		} else {
			struct tloop_leaf *leaf = &tloop_block_leaves(b)[i];

			if (leaf->shift)
				kfree(leaf->arr);
		}
	}
	kfree(b);
	cond_resched();
}

/*
 * Detach the tree and reset the counters; the caller holds the write lock
 * and frees the returned tree with tloop_written_free_tree() after dropping it.
 */
static struct tloop_block *tloop_written_detach(struct tloop_written_set *set)
{
	struct tloop_block *root = set->root;

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
	init_rwsem(&set->lock);
	spin_lock_init(&set->leaf_lock);
	set->root = NULL;
	set->on = false;
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
	struct tloop_block *root = NULL;

	down_write(&set->lock);
	if (set->on) {
		root = tloop_written_detach(set);
		set->on = false;
		atomic64_inc(&set->generation);
	}
	up_write(&set->lock);
	tloop_written_free_tree(set, root);
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
		struct tloop_leaf *leaf = tloop_written_find(set, region);
		int added = -ENOMEM;

		if (!leaf) {
			/*
			 * A new region changes the index: insert it under the
			 * write lock, then go on under the read lock (a clear
			 * all meanwhile empties the set, which is conservative
			 * for a write that completed before it).
			 */
			up_read(&set->lock);
			down_write(&set->lock);
			if (set->on && !set->overflow)
				leaf = tloop_written_insert(set, region);
			else
				added = 0;
			downgrade_write(&set->lock);
			if (!added)
				goto out;
		}
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
		spin_lock(&set->leaf_lock);
		n += tloop_leaf_list(leaf, page - base, lim, base, buf + n,
				     max - n, &more, next);
		spin_unlock(&set->leaf_lock);
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
			leaf = tloop_written_find(set, region);
		if (!leaf) {
			i++;
			continue;
		}
		/* The pages of one region, in one go (they come sorted). */
		spin_lock(&set->leaf_lock);
		for (; i < count && (pages[i] >> TLOOP_REGION_SHIFT) == region; i++)
			cleared += tloop_leaf_clear_one(leaf, pages[i] & TLOOP_REGION_MASK);
		tloop_leaf_shrink(set, leaf);
		spin_unlock(&set->leaf_lock);
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
		spin_lock(&set->leaf_lock);
		cleared += tloop_leaf_clear_range(leaf, page - base, last);
		tloop_leaf_shrink(set, leaf);
		spin_unlock(&set->leaf_lock);
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
	struct tloop_block *root;

	down_write(&set->lock);
	if (!set->on) {
		up_write(&set->lock);
		return -ENODATA;
	}
	root = tloop_written_detach(set);
	*generation = atomic64_inc_return(&set->generation);
	up_write(&set->lock);
	tloop_written_free_tree(set, root);
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
	struct tloop_block *root;

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
	leaf = tloop_written_find(set, page >> TLOOP_REGION_SHIFT);
	if (!leaf)
		goto out;
	spin_lock(&set->leaf_lock);
	if (clear) {
		ret = tloop_leaf_clear_one(leaf, off);
		if (ret)
			tloop_leaf_shrink(set, leaf);
	} else if (tloop_leaf_cap(leaf) == TLOOP_LEAF_BITMAP) {
		ret = test_bit(off, leaf->bits);
	} else {
		u16 *arr = tloop_leaf_array(leaf);
		unsigned int p = tloop_lower_bound(arr, leaf->count, off);

		ret = p < leaf->count && arr[p] == off;
	}
	spin_unlock(&set->leaf_lock);
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
