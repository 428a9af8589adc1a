// SPDX-License-Identifier: GPL-2.0
/*
 * 47-track-snap: point-in-time snapshots (TLOOP_SNAP_*), one case at a time.
 *
 * Ground truth: the test writes known pages before the instant P and
 * overwrites some of them (O_DIRECT writes of whole and partial pages,
 * discard) after it; the snapshot must return exactly the pages written
 * before P, each with the device's content read just before P, and the
 * live set must hold exactly the pages written after P.  Then the failure
 * paths: the preserved-page limit (visible failure, nothing lost), a
 * consumer killed mid-read (its pages go back), removal refused while a
 * snapshot is active, tracking switched off, bad input, TLOOP_SNAP_ALL,
 * an overflowed set.
 */
#include "tlt.h"

#include <linux/fs.h>
#include <signal.h>
#include <sys/wait.h>

#define DEV_SIZE (16ULL << 20)

static struct tlt_tdev *d;
static int dfd;			/* O_DIRECT on the device */
static uint64_t nr;
static uint8_t *expect;		/* the device read just before P */
static uint8_t *view;		/* what the snapshot returned */

/* -errno as an ioctl's -1 with errno, for tlt_expect_errno(). */
static long sys(int ret)
{
	if (ret >= 0)
		return ret;
	errno = -ret;
	return -1;
}

static int snap_create(unsigned int flags, uint64_t limit, struct tloop_snap_create *c)
{
	memset(c, 0, sizeof(*c));
	c->size = sizeof(*c);
	c->flags = flags;
	c->mem_limit = limit;
	return ioctl(d->fd, TLOOP_SNAP_CREATE, c) < 0 ? -errno : (int)c->fd;
}

static int snap_status(int sfd, struct tloop_snap_status *st)
{
	memset(st, 0, sizeof(*st));
	st->size = sizeof(*st);
	return ioctl(sfd, TLOOP_SNAP_STATUS, st) < 0 ? -errno : 0;
}

static int snap_end(int sfd, unsigned int flags)
{
	struct tloop_snap_end e = { .size = sizeof(e), .flags = flags };

	return ioctl(sfd, TLOOP_SNAP_END, &e) < 0 ? -errno : 0;
}

/* One TLOOP_SNAP_READ; fills @r. */
static int snap_read_one(int sfd, uint64_t cursor, uint32_t cap, uint64_t *pages, void *data,
			 struct tloop_snap_read *r)
{
	memset(r, 0, sizeof(*r));
	r->size = sizeof(*r);
	r->cursor = cursor;
	r->pages = (uintptr_t)pages;
	r->data = (uintptr_t)data;
	r->capacity = cap;
	return ioctl(sfd, TLOOP_SNAP_READ, r) < 0 ? -errno : 0;
}

/* Read every pending page with batches of @cap into view[], listing them in @got. */
static int snap_read_all(int sfd, uint32_t cap, struct tlt_pages *got)
{
	uint64_t *pages = calloc(cap, sizeof(*pages)), cursor = 0;
	uint8_t *data = tlt_alloc((size_t)cap * TLT_PAGE);
	struct tloop_snap_read r;
	int ret = 0;

	while (cursor != TLOOP_CURSOR_END) {
		ret = snap_read_one(sfd, cursor, cap, pages, data, &r);
		if (ret)
			break;
		if (r.count > cap || (r.next_cursor != TLOOP_CURSOR_END && r.next_cursor <= cursor)) {
			tlt_diag("READ broke the protocol: count %u cap %u next %llu cursor %llu",
				 r.count, cap, (unsigned long long)r.next_cursor,
				 (unsigned long long)cursor);
			ret = -EPROTO;
			break;
		}
		for (uint32_t i = 0; i < r.count; i++) {
			if (pages[i] >= nr || pages[i] < cursor || (i && pages[i] <= pages[i - 1])) {
				tlt_diag("READ returned page %llu out of order",
					 (unsigned long long)pages[i]);
				ret = -EPROTO;
				goto out;
			}
			memcpy(view + pages[i] * TLT_PAGE, data + (size_t)i * TLT_PAGE, TLT_PAGE);
			tlt_pages_push(got, pages[i]);
		}
		cursor = r.next_cursor;
	}
out:
	free(pages);
	free(data);
	return ret;
}

/* Every page of @want has view == expect. */
static bool view_matches(const struct tlt_set *want)
{
	uint64_t bad = 0;

	for (uint64_t p = 0; p < nr; p++) {
		if (!want->bit[p])
			continue;
		if (memcmp(view + p * TLT_PAGE, expect + p * TLT_PAGE, TLT_PAGE)) {
			if (bad++ < 4)
				tlt_compare("snapshot page", expect + p * TLT_PAGE,
					    view + p * TLT_PAGE, TLT_PAGE, p * TLT_PAGE);
		}
	}
	if (bad)
		tlt_diag("%llu pages differ from the content as of P", (unsigned long long)bad);
	return !bad;
}

static void write_page(uint64_t p, uint32_t ver)
{
	uint8_t *buf = tlt_alloc(TLT_PAGE);

	tlt_page_pattern(buf, p, ver);
	tlt_pwrite_all(dfd, buf, TLT_PAGE, (off_t)(p * TLT_PAGE));
	free(buf);
}

/* Write @n distinct random pages (version @ver), marking them in @s. */
static void write_random(struct tlt_set *s, uint64_t n, uint32_t ver)
{
	while (n) {
		uint64_t p = tlt_rand_below(nr);

		if (s->bit[p])
			continue;
		write_page(p, ver);
		s->bit[p] = 1;
		n--;
	}
}

static void read_expect(void)
{
	tlt_pread_all(dfd, expect, DEV_SIZE, 0);
}

/* The live set (GET without clearing) equals @want. */
static int live_is(const struct tlt_set *want, const char *name)
{
	return tlt_check_get(d->fd, 0, 4096, want, name);
}

static void reset_live(void)
{
	tlt_clear_all(d->fd);
}

static void case_basic(void)
{
	struct tlt_set before, after, all;
	struct tloop_snap_create c;
	struct tloop_snap_status st;
	struct tlt_pages got = { 0 };
	uint64_t overlap = 0, partial = (uint64_t)-1, disc = (uint64_t)-1;
	uint8_t *buf = tlt_alloc(TLT_PAGE);
	struct tloop_snap_read r;
	int sfd, ret;

	tlt_set_init(&before, nr);
	tlt_set_init(&after, nr);
	tlt_set_init(&all, nr);
	reset_live();
	write_random(&before, 300, 1);
	read_expect();
	sfd = snap_create(0, 0, &c);
	tlt_result(sfd >= 0 && sfd == c.fd && c.pending == 300 &&
		   c.generation == c.prev_generation + 1,
		   "create: fd %d (reply %d), pending %llu of 300, generation %llu -> %llu", sfd,
		   c.fd, (unsigned long long)c.pending, (unsigned long long)c.prev_generation,
		   (unsigned long long)c.generation);
	if (sfd < 0)
		tlt_bail("TLOOP_SNAP_CREATE: %s", tlt_errname(-sfd));
	tlt_result(fcntl(sfd, F_GETFD) == FD_CLOEXEC, "the snapshot fd is close-on-exec");
	{
		struct tloop_snap_create c2;

		tlt_expect_errno(sys(snap_create(0, 0, &c2)), EBUSY, "a second snapshot is EBUSY");
	}

	/* After P: whole pages (some pending), a partial write, a discard. */
	write_random(&after, 200, 2);
	for (uint64_t p = 0; p < nr; p++) {
		overlap += before.bit[p] && after.bit[p];
		if (before.bit[p] && !after.bit[p] && partial == (uint64_t)-1)
			partial = p;
		else if (before.bit[p] && !after.bit[p] && disc == (uint64_t)-1)
			disc = p;
	}
	memset(buf, 0x5a, 512);
	tlt_pwrite_all(dfd, buf, 512, (off_t)(partial * TLT_PAGE + 1024));
	after.bit[partial] = 1;
	{
		uint64_t range[2] = { disc * TLT_PAGE, TLT_PAGE };

		ret = ioctl(d->fd, BLKDISCARD, range);
		tlt_result(!ret, "discard of a pending page after P");
		after.bit[disc] = 1;
	}
	snap_status(sfd, &st);
	tlt_result(st.preserved == overlap + 2 && st.preserved_total == overlap + 2 &&
		   st.mem_used == st.preserved * TLT_PAGE && !st.flags && !st.error &&
		   st.pending == 300 && st.done == 0 && st.generation == c.generation,
		   "status: %llu pages preserved (want %llu: written after P and pending), pending %llu, flags %#x",
		   (unsigned long long)st.preserved, (unsigned long long)overlap + 2,
		   (unsigned long long)st.pending, st.flags);

	ret = snap_read_all(sfd, 7, &got);
	tlt_result(!ret, "read every pending page in batches of 7 (%s)", tlt_errname(-ret));
	tlt_result(tlt_set_diff(&before, &got, "snapshot pages", NULL, NULL),
		   "the snapshot returns exactly the pages written before P (%zu)", got.n);
	tlt_result(view_matches(&before), "every page has its content as of P");
	snap_status(sfd, &st);
	tlt_result(st.pending == 0 && st.done == 300 && st.preserved == 0 && st.mem_used == 0 &&
		   st.mem_peak == (overlap + 2) * TLT_PAGE,
		   "status after the read: pending %llu, done %llu, preserved %llu, peak %llu",
		   (unsigned long long)st.pending, (unsigned long long)st.done,
		   (unsigned long long)st.preserved, (unsigned long long)st.mem_peak);
	ret = snap_read_one(sfd, 0, 4, (uint64_t[4]){ 0 }, buf, &r);
	tlt_result(!ret && r.count == 0 && r.next_cursor == TLOOP_CURSOR_END,
		   "a read after the last page returns nothing");
	live_is(&after, "the live set holds exactly the writes after P");
	tlt_result(snap_end(sfd, TLOOP_SNAP_END_COPIED) == 0, "END with COPIED");
	tlt_expect_errno(sys(snap_end(sfd, 0)), ESTALE, "a second END is ESTALE");
	tlt_expect_errno(sys(snap_read_one(sfd, 0, 1, (uint64_t[1]){ 0 }, buf, &r)), ESTALE,
			 "READ after END is ESTALE");
	snap_status(sfd, &st);
	tlt_result(st.flags == TLOOP_SNAP_ENDED, "status says ended (%#x)", st.flags);
	live_is(&after, "END with COPIED leaves the live set as it was");
	close(sfd);
	live_is(&after, "closing after END changes nothing");

	/* END without COPIED: every page of the snapshot goes back. */
	reset_live();
	tlt_set_reset(&before);
	write_random(&before, 40, 3);
	sfd = snap_create(0, 0, &c);
	if (sfd < 0)
		tlt_bail("TLOOP_SNAP_CREATE: %s", tlt_errname(-sfd));
	tlt_pages_free(&got);
	snap_read_one(sfd, 0, 10, (uint64_t[10]){ 0 }, tlt_alloc(10 * TLT_PAGE), &r);
	tlt_result(r.count == 10 && r.next_cursor != TLOOP_CURSOR_END,
		   "a batch of 10 of 40 leaves a cursor");
	tlt_result(snap_end(sfd, 0) == 0, "END without COPIED");
	close(sfd);
	live_is(&before, "END without COPIED puts every page (read or not) back");
	free(buf);
	tlt_set_free(&before);
	tlt_set_free(&after);
	tlt_set_free(&all);
	tlt_pages_free(&got);
}

static void case_limit(void)
{
	struct tlt_set before, want;
	struct tloop_snap_create c;
	struct tloop_snap_status st;
	struct tloop_snap_read r;
	uint64_t n = 0;
	int sfd;

	tlt_set_init(&before, nr);
	tlt_set_init(&want, nr);
	reset_live();
	write_random(&before, 50, 4);
	sfd = snap_create(0, 4 * TLT_PAGE, &c);
	if (sfd < 0)
		tlt_bail("TLOOP_SNAP_CREATE: %s", tlt_errname(-sfd));
	memcpy(want.bit, before.bit, nr);
	for (uint64_t p = 0; p < nr && n < 10; p++) {
		if (before.bit[p]) {
			write_page(p, 5);
			n++;
		}
	}
	snap_status(sfd, &st);
	tlt_result((st.flags & TLOOP_SNAP_FAILED) && st.error == -ENOSPC && st.preserved == 0 &&
		   st.mem_used == 0 && st.mem_peak == 4 * TLT_PAGE && st.preserved_total == 4,
		   "limit of 4 pages, 10 overwritten: failed with ENOSPC (flags %#x, error %d, peak %llu, total %llu)",
		   st.flags, st.error, (unsigned long long)st.mem_peak,
		   (unsigned long long)st.preserved_total);
	tlt_expect_errno(sys(snap_read_one(sfd, 0, 1, (uint64_t[1]){ 0 }, tlt_alloc(TLT_PAGE), &r)),
			 ESTALE, "READ of a failed snapshot is ESTALE");
	tlt_expect_errno(sys(snap_end(sfd, TLOOP_SNAP_END_COPIED)), ESTALE,
			 "END with COPIED of a failed snapshot is ESTALE");
	close(sfd);
	live_is(&want, "nothing lost: every page of P is back in the live set");

	/* The next snapshot recovers. */
	reset_live();
	tlt_set_reset(&before);
	write_random(&before, 20, 6);
	read_expect();
	sfd = snap_create(0, 64 * TLT_PAGE, &c);
	{
		struct tlt_pages got = { 0 };
		int ret = sfd < 0 ? sfd : snap_read_all(sfd, 64, &got);

		tlt_result(!ret && tlt_set_diff(&before, &got, "pages", NULL, NULL) &&
			   view_matches(&before), "the next snapshot works");
		tlt_pages_free(&got);
	}
	if (sfd >= 0)
		close(sfd);
	tlt_set_free(&before);
	tlt_set_free(&want);
}

static void case_killed(void)
{
	struct tlt_set before;
	pid_t pid;
	int status;

	tlt_set_init(&before, nr);
	reset_live();
	write_random(&before, 100, 7);
	pid = fork();
	if (pid == 0) {
		struct tloop_snap_create c;
		struct tloop_snap_read r;
		int sfd = snap_create(0, 0, &c);

		if (sfd < 0)
			_exit(2);
		snap_read_one(sfd, 0, 30, (uint64_t[30]){ 0 }, tlt_alloc(30 * TLT_PAGE), &r);
		write_page(0, 8);
		raise(SIGKILL);
		_exit(3);
	}
	waitpid(pid, &status, 0);
	tlt_result(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
		   "the consumer was killed mid-read (status %#x)", status);
	before.bit[0] = 1;
	live_is(&before, "its pages (read or not) and the write after P are in the live set");
	tlt_set_free(&before);
}

static void case_remove(void)
{
	struct tloop_snap_create c;
	int ctl = tlt_ctl_open(), sfd, ret;

	sfd = snap_create(0, 0, &c);
	if (sfd < 0)
		tlt_bail("TLOOP_SNAP_CREATE: %s", tlt_errname(-sfd));
	close(d->fd);
	close(dfd);
	ret = tlt_remove(ctl, d->index);
	tlt_result(ret == -EBUSY, "removal while a snapshot is active is EBUSY (%s)",
		   tlt_errname(-ret));
	close(sfd);
	d->fd = open(d->node, O_RDWR);
	dfd = open(d->node, O_RDWR | O_DIRECT);
	if (d->fd < 0 || dfd < 0)
		tlt_bail("reopen %s", d->node);
	close(ctl);
}

static void case_tracking_off(void)
{
	struct tloop_snap_create c;
	struct tloop_snap_status st;
	struct tloop_snap_read r;
	struct tlt_set none;
	int sfd;

	tlt_set_init(&none, nr);
	write_random(&none, 10, 9);
	sfd = snap_create(0, 0, &c);
	if (sfd < 0)
		tlt_bail("TLOOP_SNAP_CREATE: %s", tlt_errname(-sfd));
	tlt_result(tlt_disable(d->fd) == 0, "tracking switched off during a snapshot");
	snap_status(sfd, &st);
	tlt_result((st.flags & TLOOP_SNAP_FAILED) && st.error == -ENODATA,
		   "the snapshot failed with ENODATA (flags %#x, error %d)", st.flags, st.error);
	tlt_expect_errno(sys(snap_read_one(sfd, 0, 1, (uint64_t[1]){ 0 }, tlt_alloc(TLT_PAGE), &r)),
			 ESTALE, "READ is ESTALE");
	tlt_expect_errno(sys(snap_create(0, 0, &c)), EBUSY, "the failed snapshot is still there");
	close(sfd);
	tlt_expect_errno(sys(snap_create(0, 0, &c)), ENODATA, "no snapshot while tracking is off");
	if (tlt_enable(d->fd, 0))
		tlt_bail("TRACK_ENABLE");
	tlt_set_reset(&none);
	live_is(&none, "tracking on again: an empty set");
	tlt_set_free(&none);
}

static void case_badinput(void)
{
	struct tloop_snap_create c;
	struct tloop_snap_read r;
	struct tloop_snap_end e = { .size = sizeof(e), .flags = 2 };
	uint64_t pages[1];
	int sfd;

	memset(&c, 0, sizeof(c));
	c.size = sizeof(c);
	c.flags = 1U << 5;
	tlt_expect_errno(ioctl(d->fd, TLOOP_SNAP_CREATE, &c), EINVAL, "create: unknown flag");
	c.flags = 0;
	c.reserved[1] = 1;
	tlt_expect_errno(ioctl(d->fd, TLOOP_SNAP_CREATE, &c), EINVAL, "create: reserved field");
	c.reserved[1] = 0;
	c.size = 8;
	tlt_expect_errno(ioctl(d->fd, TLOOP_SNAP_CREATE, &c), EINVAL, "create: short size");
	tlt_expect_errno(ioctl(d->fd, TLOOP_SNAP_CREATE, NULL), EFAULT, "create: NULL argument");
	sfd = snap_create(0, 0, &c);
	if (sfd < 0)
		tlt_bail("TLOOP_SNAP_CREATE: %s", tlt_errname(-sfd));
	tlt_expect_errno(sys(snap_read_one(sfd, 0, 0, pages, pages, &r)), EINVAL, "read: capacity 0");
	tlt_expect_errno(sys(snap_read_one(sfd, nr + 1, 1, pages, pages, &r)), EINVAL,
			 "read: cursor past the end");
	tlt_expect_errno(sys(snap_read_one(sfd, 0, 1, NULL, pages, &r)), EFAULT, "read: NULL pages");
	tlt_expect_errno(ioctl(sfd, TLOOP_SNAP_END, &e), EINVAL, "end: unknown flag");
	tlt_expect_errno(ioctl(sfd, TLOOP_GET_WRITTEN, &r), ENOTTY,
			 "a device command on the snapshot fd is ENOTTY");
	tlt_expect_errno(ioctl(d->fd, TLOOP_SNAP_READ, &r), ENOTTY,
			 "a snapshot command on the device is ENOTTY");
	close(sfd);
}

static void case_all_and_overflow(void)
{
	struct tloop_snap_create c;
	struct tlt_pages got = { 0 };
	struct tlt_set every, none;
	int sfd, ret;

	tlt_set_init(&every, nr);
	tlt_set_init(&none, nr);
	memset(every.bit, 1, nr);
	write_random(&none, 30, 10);
	read_expect();
	sfd = snap_create(TLOOP_SNAP_ALL, 0, &c);
	tlt_result(sfd >= 0 && c.pending == nr, "TLOOP_SNAP_ALL: every page pending (%llu of %llu)",
		   (unsigned long long)c.pending, (unsigned long long)nr);
	if (sfd < 0)
		tlt_bail("TLOOP_SNAP_CREATE ALL");
	tlt_set_reset(&none);
	write_random(&none, 50, 11);
	ret = snap_read_all(sfd, 256, &got);
	tlt_result(!ret && got.n == nr && view_matches(&every),
		   "ALL: the whole device as of P (%zu pages)", got.n);
	snap_end(sfd, TLOOP_SNAP_END_COPIED);
	close(sfd);
	live_is(&none, "ALL: the live set holds the writes after P");

	/* An overflowed set: nothing is known, only ALL works, and it leaves the overflow. */
	tlt_disable(d->fd);
	if (tlt_enable(d->fd, 1))
		tlt_bail("TRACK_ENABLE with a tiny limit");
	tlt_set_reset(&none);
	write_random(&none, 20, 12);
	tlt_expect_errno(sys(snap_create(0, 0, &c)), EOVERFLOW, "an overflowed set: EOVERFLOW");
	sfd = snap_create(TLOOP_SNAP_ALL, 0, &c);
	tlt_result(sfd >= 0, "an overflowed set: ALL works");
	if (sfd >= 0)
		close(sfd);
	{
		struct tloop_track_status ts;

		tlt_status(d->fd, &ts);
		/* The ALL pages went back at close: the tiny set overflows again. */
		tlt_result(ts.flags & TLOOP_TRACK_OVERFLOW,
			   "closing it puts every page back (the tiny set overflows: %#x)", ts.flags);
	}
	tlt_disable(d->fd);
	if (tlt_enable(d->fd, 0))
		tlt_bail("TRACK_ENABLE");
	tlt_set_free(&every);
	tlt_set_free(&none);
	tlt_pages_free(&got);
}

int main(void)
{
	uint64_t feat = tlt_require_tracking();

	if (!(feat & TLOOP_FEAT_SNAPSHOT))
		tlt_skip_all("the module has no TLOOP_FEAT_SNAPSHOT");
	tlt_seed(0x47a9e11ULL);
	tlt_plan(50);
	d = tlt_tdev_open("backing.img", DEV_SIZE, 0);
	nr = d->nr_pages;
	dfd = open(d->node, O_RDWR | O_DIRECT);
	if (dfd < 0)
		tlt_bail("open %s O_DIRECT", d->node);
	expect = tlt_alloc(DEV_SIZE);
	view = tlt_alloc(DEV_SIZE);
	if (tlt_enable(d->fd, 0))
		tlt_bail("TRACK_ENABLE");

	case_basic();
	case_limit();
	case_killed();
	case_remove();
	case_tracking_off();
	case_badinput();
	case_all_and_overflow();

	close(dfd);
	tlt_tdev_close(d);
	tlt_exit();
}
