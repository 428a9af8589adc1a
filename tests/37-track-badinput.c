// SPDX-License-Identifier: GPL-2.0
/*
 * 37-track-badinput: every bad input to the tracking ioctls gets its exact
 * error and changes nothing: cursor past the end, capacity 0, a NULL or
 * unmapped page array (-EFAULT, nothing cleared), a NULL argument, struct
 * sizes 0 / too large with non-zero tail, unknown flags, non-zero reserved
 * fields, bad clear ranges, unknown commands.
 */
#include "tlt.h"

#include <stddef.h>

#define DEV_SIZE (4UL << 20)

static struct tlt_tdev *d;
static struct tlt_set want;

/* A GET_WRITTEN argument with defaults; the caller spoils one field. */
static struct tloop_written w;
static uint64_t pages[64];

static void w_init(void)
{
	memset(&w, 0, sizeof(w));
	w.size = sizeof(w);
	w.pages = (uint64_t)(uintptr_t)pages;
	w.capacity = 64;
}

static int get(void)
{
	return ioctl(d->fd, TLOOP_GET_WRITTEN, &w);
}

static void still_there(const char *name)
{
	tlt_check_get(d->fd, TLOOP_GET_NOSYNC, 64, &want, name);
}

int main(void)
{
	struct tloop_track_enable en;
	struct tloop_track_status st;
	struct tloop_clear c;
	char big[512];
	void *hole;
	int ret;

	tlt_require_tracking();
	tlt_plan(48);
	d = tlt_tdev_open("backing.img", DEV_SIZE, 0);
	tlt_set_init(&want, d->nr_pages);
	if (tlt_enable(d->fd, 0))
		tlt_bail("TRACK_ENABLE");
	for (uint64_t p = 0; p < d->nr_pages; p += 37) {
		tlt_pwrite_all(d->fd, "x", 1, (off_t)(p * TLT_PAGE + 9));
		want.bit[p] = 1;
	}
	tlt_check_get(d->fd, 0, 64, &want, "setup: the written set is known");

	/* GET_WRITTEN. */
	w_init();
	w.cursor = d->nr_pages + 1;
	tlt_expect_errno(get(), EINVAL, "GET: cursor past the page count is EINVAL");
	w_init();
	w.cursor = ~0ULL;
	tlt_expect_errno(get(), EINVAL, "GET: cursor ~0 is EINVAL");
	w_init();
	w.cursor = d->nr_pages;
	ret = get();
	tlt_result(ret == 0 && w.count == 0 && w.next_cursor == TLOOP_CURSOR_END,
		   "GET: cursor == page count is empty and complete");
	w_init();
	w.capacity = 0;
	tlt_expect_errno(get(), EINVAL, "GET: capacity 0 is EINVAL");
	w_init();
	w.pages = 0;
	w.flags = TLOOP_GET_CLEAR;
	tlt_expect_errno(get(), EFAULT, "GET+CLEAR: NULL page array is EFAULT");
	still_there("... and nothing was cleared");

	hole = mmap(NULL, 2 * TLT_PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (hole == MAP_FAILED)
		tlt_bail("mmap PROT_NONE");
	w_init();
	w.pages = (uint64_t)(uintptr_t)hole;
	w.flags = TLOOP_GET_CLEAR;
	tlt_expect_errno(get(), EFAULT, "GET+CLEAR: unmapped (PROT_NONE) array is EFAULT");
	still_there("... and nothing was cleared");
	/* An array whose tail is unmapped: the first entries fit, the rest fault. */
	{
		uint64_t *edge = mmap(NULL, 2 * TLT_PAGE, PROT_READ | PROT_WRITE,
				      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (edge == MAP_FAILED || mprotect((char *)edge + TLT_PAGE, TLT_PAGE, PROT_NONE))
			tlt_bail("mmap edge");
		w_init();
		w.pages = (uint64_t)(uintptr_t)(edge + TLT_PAGE / 8 - 2);
		w.capacity = 64;
		w.flags = TLOOP_GET_CLEAR;
		tlt_expect_errno(get(), EFAULT, "GET+CLEAR: array running into an unmapped page is "
				 "EFAULT");
		still_there("... and nothing was cleared");
		munmap(edge, 2 * TLT_PAGE);
	}
	munmap(hole, 2 * TLT_PAGE);
	tlt_expect_errno(ioctl(d->fd, TLOOP_GET_WRITTEN, NULL), EFAULT,
			 "GET: NULL argument is EFAULT");
	w_init();
	w.flags = 1U << 7;
	tlt_expect_errno(get(), EINVAL, "GET: unknown flag is EINVAL");
	w_init();
	w.flags = TLOOP_GET_CLEAR | (1U << 31);
	tlt_expect_errno(get(), EINVAL, "GET+CLEAR: unknown flag is EINVAL");
	still_there("... and nothing was cleared");
	w_init();
	w.consumer = 1;
	tlt_expect_errno(get(), ENOENT, "GET: a consumer id the device does not have is ENOENT");
	w_init();
	w.reserved[1] = 1;
	tlt_expect_errno(get(), EINVAL, "GET: reserved[1] != 0 is EINVAL");
	w_init();
	w.size = 0;
	tlt_expect_errno(get(), EINVAL, "GET: size 0 is EINVAL");
	{
		/* A newer caller: larger struct, non-zero tail → E2BIG; zero tail → ok. */
		memset(big, 0, sizeof(big));
		w_init();
		memcpy(big, &w, sizeof(w));
		((struct tloop_written *)big)->size = sizeof(big);
		big[sizeof(w) + 10] = 1;
		tlt_expect_errno(ioctl(d->fd, TLOOP_GET_WRITTEN, big), E2BIG,
				 "GET: larger size with a non-zero tail is E2BIG");
		big[sizeof(w) + 10] = 0;
		ret = ioctl(d->fd, TLOOP_GET_WRITTEN, big);
		tlt_result(ret == 0 && ((struct tloop_written *)big)->count > 0,
			   "GET: larger size with a zero tail works");
	}
	/* A size below version 1's (without @end, or one byte short) is EINVAL. */
	w_init();
	w.size = offsetof(struct tloop_written, end);
	tlt_expect_errno(get(), EINVAL, "GET: a struct smaller than version 1 is EINVAL");
	w_init();
	w.size = sizeof(w) - 1;
	tlt_expect_errno(get(), EINVAL, "GET: size one byte short is EINVAL");
	{
		/* Sizes above 4096 are E2BIG even with a zero tail. */
		char *huge = calloc(1, 8192);

		w_init();
		w.size = 4097;
		memcpy(huge, &w, sizeof(w));
		tlt_expect_errno(ioctl(d->fd, TLOOP_GET_WRITTEN, huge), E2BIG,
				 "GET: size above 4096 is E2BIG");
		free(huge);
	}
	memset(big, 0, sizeof(big));
	w_init();
	w.size = sizeof(w) + 8;
	memcpy(big, &w, sizeof(w));
	ret = ioctl(d->fd, TLOOP_GET_WRITTEN, big);
	tlt_result(ret == 0 && ((struct tloop_written *)big)->count > 0,
		   "GET: size 8 bytes larger, zero tail, works");
	w_init();
	w.end = d->nr_pages + 1;
	tlt_expect_errno(get(), EINVAL, "GET: end past the page count is EINVAL");
	w_init();
	w.cursor = 10;
	w.end = 5;
	tlt_expect_errno(get(), EINVAL, "GET: end below cursor is EINVAL");
	w_init();
	w.cursor = 37;
	w.end = 38;
	ret = get();
	tlt_result(ret == 0 && w.count == 1 && pages[0] == 37,
		   "GET: [37, 38) returns exactly page 37 (count %u)", w.count);

	/* CLEAR_WRITTEN. */
	memset(&c, 0, sizeof(c));
	c.size = sizeof(c);
	c.start = 5;
	c.end = 5;
	tlt_expect_errno(ioctl(d->fd, TLOOP_CLEAR_WRITTEN, &c), EINVAL,
			 "CLEAR: empty range is EINVAL");
	c.start = 0;
	c.end = d->nr_pages + 1;
	tlt_expect_errno(ioctl(d->fd, TLOOP_CLEAR_WRITTEN, &c), EINVAL,
			 "CLEAR: end past the page count is EINVAL");
	c.start = 10;
	c.end = 3;
	tlt_expect_errno(ioctl(d->fd, TLOOP_CLEAR_WRITTEN, &c), EINVAL,
			 "CLEAR: start > end is EINVAL");
	c.start = 0;
	c.end = 1;
	c.flags = 1U << 5;
	tlt_expect_errno(ioctl(d->fd, TLOOP_CLEAR_WRITTEN, &c), EINVAL,
			 "CLEAR: unknown flag is EINVAL");
	c.flags = TLOOP_CLEAR_ALL;
	c.reserved1 = 1;
	tlt_expect_errno(ioctl(d->fd, TLOOP_CLEAR_WRITTEN, &c), EINVAL,
			 "CLEAR: reserved != 0 is EINVAL");
	c.reserved1 = 0;
	c.reserved0 = 1;
	tlt_expect_errno(ioctl(d->fd, TLOOP_CLEAR_WRITTEN, &c), EINVAL,
			 "CLEAR: reserved0 != 0 is EINVAL");
	c.reserved0 = 0;
	c.consumer = 7;
	c.end = 0;	/* a valid CLEAR_ALL but for the consumer */
	tlt_expect_errno(ioctl(d->fd, TLOOP_CLEAR_WRITTEN, &c), ENOENT,
			 "CLEAR: a consumer id the device does not have is ENOENT");
	c.consumer = 0;
	c.end = 1;
	c.size = 0;
	tlt_expect_errno(ioctl(d->fd, TLOOP_CLEAR_WRITTEN, &c), EINVAL, "CLEAR: size 0 is EINVAL");
	c.size = sizeof(c);
	c.start = 1;
	c.end = 2;
	tlt_expect_errno(ioctl(d->fd, TLOOP_CLEAR_WRITTEN, &c), EINVAL,
			 "CLEAR_ALL with a non-zero range is EINVAL");
	tlt_expect_errno(ioctl(d->fd, TLOOP_CLEAR_WRITTEN, NULL), EFAULT,
			 "CLEAR: NULL argument is EFAULT");
	still_there("after every bad CLEAR nothing was cleared");

	/* TRACK_ENABLE / STATUS. */
	memset(&en, 0, sizeof(en));
	en.size = sizeof(en);
	tlt_expect_errno(ioctl(d->fd, TLOOP_TRACK_ENABLE, &en), EBUSY, "ENABLE while on is EBUSY");
	still_there("... and the set is untouched");
	tlt_disable(d->fd);
	en.flags = 1;
	tlt_expect_errno(ioctl(d->fd, TLOOP_TRACK_ENABLE, &en), EINVAL,
			 "ENABLE: unknown flag is EINVAL");
	en.flags = 0;
	en.reserved[1] = 1;
	tlt_expect_errno(ioctl(d->fd, TLOOP_TRACK_ENABLE, &en), EINVAL,
			 "ENABLE: reserved != 0 is EINVAL");
	en.reserved[1] = 0;
	en.size = 0;
	tlt_expect_errno(ioctl(d->fd, TLOOP_TRACK_ENABLE, &en), EINVAL, "ENABLE: size 0 is EINVAL");
	ret = tlt_status(d->fd, &st);
	tlt_result(ret == 0 && !(st.flags & TLOOP_TRACK_ON), "after the bad ENABLEs tracking is off");
	memset(&st, 0, sizeof(st));
	st.size = 0;
	tlt_expect_errno(ioctl(d->fd, TLOOP_TRACK_STATUS, &st), EINVAL, "STATUS: size 0 is EINVAL");
	memset(&st, 0, sizeof(st));
	st.size = sizeof(st);
	st.reserved[0] = 1;
	tlt_expect_errno(ioctl(d->fd, TLOOP_TRACK_STATUS, &st), EINVAL,
			 "STATUS: reserved != 0 is EINVAL");

	tlt_expect_errno(ioctl(d->fd, _IOWR(TLOOP_IOC_MAGIC, 0x1f, struct tloop_written), &w),
			 ENOTTY, "unknown command is ENOTTY");
	tlt_expect_errno(ioctl(d->fd, _IO(TLOOP_IOC_MAGIC, 0x14), &w), ENOTTY,
			 "GET_WRITTEN number with the wrong direction is ENOTTY");

	if (tlt_tdev_close(d))
		tlt_diag("removing the device failed");
	tlt_set_free(&want);
	tlt_exit();
}
