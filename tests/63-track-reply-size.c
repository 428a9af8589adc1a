// SPDX-License-Identifier: GPL-2.0
/*
 * 63-track-reply-size: TLOOP_GET_WRITTEN sizes its reply buffer by the pages
 * in the set, not by the caller's capacity, and grows it as the call's own
 * write-back records pages.  Whatever the sizing, the answer must be the one
 * the uapi promises: a large capacity with few pages lists them all; pages
 * that are still dirty when the call starts (not yet in the set, so not
 * counted when the buffer is sized) are all listed by that one call; a
 * capacity exactly the count lists them all; one less leaves exactly the
 * last page for the continuation; a set larger than TLOOP_GET_MAX_BATCH
 * gives full batches; GET+CLEAR with a large capacity clears exactly what it
 * listed.
 * tloop-timeout: 300
 */
#include "tlt.h"

#define DEV_SIZE	(512ULL << 20)
#define BIG_CAP		(TLOOP_GET_MAX_BATCH + 1000U)

static uint64_t *buf;

/* Write whole pages buffered (they stay dirty in the device's page cache). */
static void write_pages(struct tlt_tdev *d, struct tlt_set *want, uint64_t n, uint64_t limit)
{
	uint8_t data[TLT_PAGE];

	while (n) {
		uint64_t p = tlt_rand_below(limit);

		if (want->bit[p])
			continue;
		tlt_page_pattern(data, p, 0x63);
		tlt_pwrite_all(d->fd, data, TLT_PAGE, (off_t)(p * TLT_PAGE));
		want->bit[p] = 1;
		n--;
	}
}

/* One call from @cursor: true if it listed exactly @want's pages in [@cursor, @upto). */
static bool listed_exactly(const struct tlt_set *want, const struct tloop_written *w,
			   uint64_t cursor, uint64_t upto)
{
	uint32_t k = 0;

	for (uint64_t p = cursor; p < upto && p < want->nr; p++) {
		if (!want->bit[p])
			continue;
		if (k >= w->count || buf[k] != p) {
			tlt_diag("entry %u: expected page %" PRIu64 ", got %s%" PRIu64, k, p,
				 k >= w->count ? "nothing, count " : "",
				 k >= w->count ? (uint64_t)w->count : buf[k]);
			return false;
		}
		k++;
	}
	if (k != w->count) {
		tlt_diag("%u entries, expected %u", w->count, k);
		return false;
	}
	return true;
}

/* The page after the @n-th set page of @want (the end if there are fewer). */
static uint64_t after_nth(const struct tlt_set *want, uint64_t n)
{
	for (uint64_t p = 0; p < want->nr; p++)
		if (want->bit[p] && !--n)
			return p + 1;
	return want->nr;
}

int main(void)
{
	struct tloop_track_status st;
	struct tloop_written w;
	struct tlt_set want;
	struct tlt_tdev *d;
	uint64_t before, n, cut;
	int ret;

	tlt_require_tracking();
	tlt_seed(0x63b0f5ULL);
	tlt_plan(13);
	d = tlt_tdev_open("backing.img", DEV_SIZE, 0);
	buf = tlt_alloc(BIG_CAP * sizeof(*buf));
	tlt_set_init(&want, d->nr_pages);
	if (tlt_enable(d->fd, 0))
		tlt_bail("TRACK_ENABLE");

	ret = tlt_get_one(d->fd, 0, 0, 0, buf, BIG_CAP, &w);
	tlt_result(ret == 0 && w.count == 0 && w.next_cursor == TLOOP_CURSOR_END,
		   "empty set, capacity %u: count 0, complete (ret %d count %u)", BIG_CAP, ret,
		   w.count);

	/* A few dirty pages, a large capacity: all in one call. */
	write_pages(d, &want, 5, d->nr_pages);
	ret = tlt_get_one(d->fd, 0, 0, 0, buf, BIG_CAP, &w);
	tlt_result(ret == 0 && w.next_cursor == TLOOP_CURSOR_END &&
		   listed_exactly(&want, &w, 0, d->nr_pages),
		   "5 dirty pages, capacity %u: one call lists exactly them (count %u)", BIG_CAP,
		   w.count);

	/*
	 * Thousands of dirty pages: the set holds only the 5 when the call
	 * sizes its buffer; its write-back records the rest, so the buffer
	 * must grow (or the call must say where to continue).
	 */
	write_pages(d, &want, 3000, d->nr_pages / 4);
	n = tlt_set_count(&want);
	if (tlt_status(d->fd, &st))
		tlt_bail("TRACK_STATUS");
	before = st.written;
	ret = tlt_get_one(d->fd, 0, 0, 0, buf, BIG_CAP, &w);
	tlt_diag("%" PRIu64 " pages in the set before the call, %" PRIu64 " written", before, n);
	tlt_result(ret == 0 && w.next_cursor == TLOOP_CURSOR_END &&
		   listed_exactly(&want, &w, 0, d->nr_pages),
		   "%" PRIu64 " pages, %" PRIu64 " of them dirty: one call lists exactly them "
		   "(count %u)", n, n - before, w.count);

	/* Capacity exactly the count, and one less. */
	ret = tlt_get_one(d->fd, TLOOP_GET_NOSYNC, 0, 0, buf, (uint32_t)n, &w);
	tlt_result(ret == 0 && listed_exactly(&want, &w, 0, d->nr_pages),
		   "capacity == count (%" PRIu64 "): lists all (count %u)", n, w.count);
	if (w.next_cursor != TLOOP_CURSOR_END) {
		uint64_t c = w.next_cursor;

		ret = tlt_get_one(d->fd, TLOOP_GET_NOSYNC, c, 0, buf, (uint32_t)n, &w);
		tlt_result(ret == 0 && w.count == 0 && w.next_cursor == TLOOP_CURSOR_END,
			   "its continuation from %" PRIu64 " is empty and complete (count %u)",
			   c, w.count);
	} else {
		tlt_result(true, "it completed the walk (next_cursor END)");
	}
	ret = tlt_get_one(d->fd, TLOOP_GET_NOSYNC, 0, 0, buf, (uint32_t)(n - 1), &w);
	cut = after_nth(&want, n - 1);
	tlt_result(ret == 0 && w.next_cursor != TLOOP_CURSOR_END && w.next_cursor >= cut &&
		   listed_exactly(&want, &w, 0, cut),
		   "capacity == count - 1: the lowest %" PRIu64 " pages, next_cursor %#" PRIx64
		   " past them", n - 1, (uint64_t)w.next_cursor);
	if (ret == 0 && w.next_cursor != TLOOP_CURSOR_END) {
		uint64_t c = w.next_cursor;

		ret = tlt_get_one(d->fd, TLOOP_GET_NOSYNC, c, 0, buf, BIG_CAP, &w);
		tlt_result(ret == 0 && w.next_cursor == TLOOP_CURSOR_END &&
			   listed_exactly(&want, &w, c, d->nr_pages) && w.count == 1,
			   "the continuation lists exactly the last page (count %u)", w.count);
	} else {
		tlt_result(false, "no continuation to check");
	}

	/* A window whose set is far smaller than the whole set. */
	cut = d->nr_pages / 8;
	ret = tlt_get_one(d->fd, TLOOP_GET_NOSYNC, cut, cut + 64, buf, BIG_CAP, &w);
	tlt_result(ret == 0 && w.next_cursor == TLOOP_CURSOR_END &&
		   listed_exactly(&want, &w, cut, cut + 64),
		   "window [%" PRIu64 ", +64): exactly its pages (count %u)", cut, w.count);

	/* GET+CLEAR with a large capacity clears exactly what it listed. */
	ret = tlt_get_one(d->fd, TLOOP_GET_CLEAR, 0, 0, buf, BIG_CAP, &w);
	tlt_result(ret == 0 && w.next_cursor == TLOOP_CURSOR_END &&
		   listed_exactly(&want, &w, 0, d->nr_pages),
		   "GET+CLEAR, capacity %u: lists all %" PRIu64 " (count %u)", BIG_CAP, n, w.count);
	ret = tlt_status(d->fd, &st);
	tlt_result(ret == 0 && st.written == 0,
		   "and the set is empty afterwards (written %" PRIu64 ")", (uint64_t)st.written);
	tlt_set_reset(&want);

	/*
	 * More pages than TLOOP_GET_MAX_BATCH, set at once by a discard: full
	 * batches, then the rest.
	 */
	{
		uint64_t range[2] = { 0, (uint64_t)(TLOOP_GET_MAX_BATCH + 4321) * TLT_PAGE };
		uint64_t c;

		if (ioctl(d->fd, BLKDISCARD, range) < 0)
			tlt_bail("BLKDISCARD: %s", strerror(errno));
		tlt_set_bytes(&want, range[0], range[1]);
		ret = tlt_get_one(d->fd, 0, 0, 0, buf, BIG_CAP, &w);
		c = w.next_cursor;
		tlt_result(ret == 0 && w.count == TLOOP_GET_MAX_BATCH && c != TLOOP_CURSOR_END &&
			   listed_exactly(&want, &w, 0, after_nth(&want, TLOOP_GET_MAX_BATCH)),
			   "%u set pages, capacity %u: a full batch of %u (count %u)",
			   TLOOP_GET_MAX_BATCH + 4321, BIG_CAP, TLOOP_GET_MAX_BATCH, w.count);
		ret = c == TLOOP_CURSOR_END ? -EPROTO :
		      tlt_get_one(d->fd, TLOOP_GET_CLEAR, c, 0, buf, BIG_CAP, &w);
		tlt_result(ret == 0 && w.next_cursor == TLOOP_CURSOR_END && w.count == 4321 &&
			   listed_exactly(&want, &w, c, d->nr_pages),
			   "its continuation lists the other 4321 (count %u)", w.count);
		tlt_clear_all(d->fd);
		ret = tlt_get_one(d->fd, 0, 0, 0, buf, BIG_CAP, &w);
		tlt_result(ret == 0 && w.count == 0 && w.next_cursor == TLOOP_CURSOR_END,
			   "after CLEAR_ALL, capacity %u: empty and complete (count %u)", BIG_CAP,
			   w.count);
	}

	tlt_set_free(&want);
	free(buf);
	if (tlt_tdev_close(d))
		tlt_diag("removing the device failed");
	tlt_exit();
}
