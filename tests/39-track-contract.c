// SPDX-License-Identifier: GPL-2.0
/*
 * 39-track-contract: the seams of the ioctl contract (issues 10 and 11).
 *
 *  1. One rule for every command: TLOOP_CTL_VERSION checks only @reserved
 *     (output fields may hold anything on input), sizes up to 4096 work and
 *     4097 is E2BIG; TLOOP_CTL_GET_FREE and TLOOP_TRACK_DISABLE are matched
 *     without their size bits.
 *  2. TLOOP_CTL_ADD does not hold up other control commands while its reply
 *     page faults: the reply page is write-protected with userfaultfd, and
 *     another thread's ADD and GET_FREE must complete while the first ADD
 *     waits in the fault.
 *  3. backing_dev/backing_ino are what stat(2) reports, on overlayfs too
 *     (lower and upper on different filesystems, xino=off: stat reports the
 *     upper file's device, the overlay inode's superblock is another).
 *  4. TRACK_ENABLE writes back first: a store made while tracking was off,
 *     still dirty, is not reported; a store after it is.
 *  5. The generation grows by exactly one per clearing call and per switch,
 *     and not on a plain query.
 *  6. A query writes back only what it examines: a dirty page far past the
 *     first batch is not written back by it, a continued walk reports it, a
 *     page stored behind the cursor during a walk is reported by the next.
 *  7. GET+CLEAR whose reply cannot be written (another thread flips the
 *     argument page read-only) loses no page: the union of the successful
 *     answers holds every page written.
 *  8. A failed write-back (backing file on a full tmpfs) fails the query with
 *     its error once; the page stays in the set and the next query lists it.
 *
 * tloop-timeout: 240
 */
#include "tlt.h"

#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/mount.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>

#define MIB (1UL << 20)

/* ---- 1. one rule for every command -------------------------------------- */

static void one_rule(void)
{
	int ctl = tlt_ctl_open(), free_idx, ret;
	struct tloop_version *v = calloc(1, 8192);
	struct tlt_tdev *d;
	struct tloop_track_status st;

	if (!v)
		tlt_bail("calloc");
	v->size = sizeof(*v);
	v->abi_version = 77;
	v->features = ~0ULL;
	v->max_devices = 5;
	ret = ioctl(ctl, TLOOP_CTL_VERSION, v);
	if (!tlt_result(ret == 0 && v->abi_version == TLOOP_ABI_VERSION && v->max_devices > 5 &&
			(v->features & TLOOP_FEAT_TRACKING) && !(v->features >> 32),
			"VERSION: non-zero output fields on input are accepted and overwritten"))
		tlt_diag("VERSION returned %d (%s), abi %u, max_devices %u, features %#llx", ret,
			 ret ? tlt_errname(errno) : "ok", v->abi_version, v->max_devices,
			 (unsigned long long)v->features);
	memset(v, 0, 8192);
	v->size = 4096;
	ret = ioctl(ctl, TLOOP_CTL_VERSION, v);
	tlt_result(ret == 0 && v->abi_version == TLOOP_ABI_VERSION,
		   "VERSION: size 4096 with a zero tail works (%s)", ret ? tlt_errname(errno) : "ok");
	memset(v, 0, 8192);
	v->size = 4097;
	tlt_expect_errno(ioctl(ctl, TLOOP_CTL_VERSION, v), E2BIG, "VERSION: size 4097 is E2BIG");
	memset(v, 0, 8192);
	v->size = sizeof(*v);
	v->reserved[4] = 1;
	tlt_expect_errno(ioctl(ctl, TLOOP_CTL_VERSION, v), EINVAL,
			 "VERSION: reserved != 0 is EINVAL");
	free(v);

	free_idx = ioctl(ctl, TLOOP_CTL_GET_FREE);
	ret = ioctl(ctl, _IOC(_IOC_NONE, TLOOP_IOC_MAGIC, 0x03, 8));
	tlt_result(free_idx >= 0 && ret == free_idx,
		   "GET_FREE with size bits set answers like GET_FREE (%d, %d%s%s)", free_idx, ret,
		   ret < 0 ? " " : "", ret < 0 ? tlt_errname(errno) : "");

	d = tlt_tdev_open("rule.img", 1 * MIB, 0);
	if (tlt_enable(d->fd, 0))
		tlt_bail("TRACK_ENABLE");
	ret = ioctl(d->fd, _IOC(_IOC_NONE, TLOOP_IOC_MAGIC, 0x12, 16));
	tlt_result(ret == 0 && !tlt_status(d->fd, &st) && !(st.flags & TLOOP_TRACK_ON),
		   "TRACK_DISABLE with size bits set turns tracking off (%s)",
		   ret ? tlt_errname(errno) : "ok");
	tlt_tdev_close(d);
	close(ctl);
}

/* ---- 2. ADD does not hold the control mutex across its reply ------------- */

struct add_call {
	int ctl;
	void *arg;
	int ret, err;
	atomic_int done;
};

static void *add_thread(void *p)
{
	struct add_call *c = p;

	c->ret = ioctl(c->ctl, TLOOP_CTL_ADD, c->arg);
	c->err = errno;
	atomic_store(&c->done, 1);
	return NULL;
}

static void *free_thread(void *p)
{
	struct add_call *c = p;

	c->ret = ioctl(c->ctl, TLOOP_CTL_GET_FREE);
	c->err = errno;
	atomic_store(&c->done, 1);
	return NULL;
}

static bool wait_done(atomic_int *done, int ms)
{
	for (int i = 0; i < ms / 10 && !atomic_load(done); i++)
		usleep(10000);
	return atomic_load(done);
}

static void add_reply_fault(void)
{
	struct add_call slow = { 0 }, other = { 0 }, getfree = { 0 };
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = { 0 };
	struct uffdio_writeprotect wp = { 0 };
	struct tloop_add other_add = { .size = sizeof(other_add), .index = -1 };
	struct tloop_add *add;
	struct pollfd pfd;
	struct uffd_msg msg;
	pthread_t t1, t2, t3;
	int uffd, fd1, fd2, ctl = tlt_ctl_open();
	bool blocked = false, other_ok, free_ok;
	char *page;

	uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (uffd < 0 || ioctl(uffd, UFFDIO_API, &api) ||
	    !(api.features & UFFD_FEATURE_PAGEFAULT_FLAG_WP)) {
		tlt_skip("ADD with a faulting reply page does not hold up other control commands",
			 "userfaultfd write-protect unavailable");
		tlt_skip("... and the faulting ADD completes", "userfaultfd unavailable");
		if (uffd >= 0)
			close(uffd);
		close(ctl);
		return;
	}
	page = mmap(NULL, TLT_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (page == MAP_FAILED)
		tlt_bail("mmap");
	fd1 = open("uffd1.img", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	fd2 = open("uffd2.img", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd1 < 0 || fd2 < 0 || ftruncate(fd1, MIB) || ftruncate(fd2, MIB))
		tlt_bail("backing files");
	add = (struct tloop_add *)page;
	memset(add, 0, sizeof(*add));
	add->size = sizeof(*add);
	add->index = -1;
	add->backing_fd = fd1;
	other_add.backing_fd = fd2;

	reg.range.start = (uintptr_t)page;
	reg.range.len = TLT_PAGE;
	reg.mode = UFFDIO_REGISTER_MODE_WP;
	wp.range = reg.range;
	wp.mode = UFFDIO_WRITEPROTECT_MODE_WP;
	if (ioctl(uffd, UFFDIO_REGISTER, &reg) || ioctl(uffd, UFFDIO_WRITEPROTECT, &wp))
		tlt_bail("userfaultfd register/write-protect");

	slow.ctl = ctl;
	slow.arg = add;
	if (pthread_create(&t1, NULL, add_thread, &slow))
		tlt_bail("pthread_create");
	pfd.fd = uffd;
	pfd.events = POLLIN;
	if (poll(&pfd, 1, 10000) == 1 && read(uffd, &msg, sizeof(msg)) == sizeof(msg) &&
	    msg.event == UFFD_EVENT_PAGEFAULT && (msg.arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WP))
		blocked = true;
	if (!blocked)
		tlt_diag("the ADD did not fault on its reply page (done %d, ret %d %s)",
			 atomic_load(&slow.done), slow.ret, tlt_errname(slow.err));

	/* The first ADD now waits inside copy_to_user of its reply. */
	other.ctl = ctl;
	other.arg = &other_add;
	getfree.ctl = ctl;
	if (pthread_create(&t2, NULL, add_thread, &other) ||
	    pthread_create(&t3, NULL, free_thread, &getfree))
		tlt_bail("pthread_create");
	other_ok = wait_done(&other.done, 5000);
	free_ok = wait_done(&getfree.done, 2000);
	tlt_result(blocked && other_ok && free_ok && other.ret >= 0 && getfree.ret >= 0,
		   "ADD and GET_FREE complete while another ADD waits in a fault on its reply "
		   "(add: %s %d, get_free: %s %d)", other_ok ? "done" : "blocked", other.ret,
		   free_ok ? "done" : "blocked", getfree.ret);

	wp.mode = 0;	/* resolve: write-enable and wake */
	if (ioctl(uffd, UFFDIO_WRITEPROTECT, &wp))
		tlt_bail("UFFDIO_WRITEPROTECT off");
	pthread_join(t1, NULL);
	pthread_join(t2, NULL);
	pthread_join(t3, NULL);
	tlt_result(slow.ret >= 0 && slow.ret == add->index && slow.ret != other.ret &&
		   (other.ret < 0 || getfree.ret != slow.ret),
		   "the faulting ADD completes with its own index (%d, reply %d, other %d, "
		   "free %d)", slow.ret, add->index, other.ret, getfree.ret);
	if (slow.ret >= 0)
		tlt_remove(ctl, slow.ret);
	if (other.ret >= 0)
		tlt_remove(ctl, other.ret);
	close(fd1);
	close(fd2);
	close(uffd);
	munmap(page, TLT_PAGE);
	close(ctl);
}

/* ---- 3. backing_dev/backing_ino as stat(2) reports them ------------------ */

static void stat_identity(void)
{
	const char *name = "GET_INFO on an overlayfs backing file: backing_dev/ino as stat(2)";
	struct tloop_info info = { .size = sizeof(info) };
	struct stat st;
	int ctl, idx, fd, ret;
	char node[64];

	if (tlt_modprobe("overlay") && access("/sys/module/overlay", F_OK)) {
		tlt_skip(name, "overlay module missing");
		return;
	}
	if (mkdir("lower", 0755) || mkdir("upper", 0755) || mkdir("work", 0755) ||
	    mkdir("merged", 0755))
		tlt_bail("mkdir");
	if (mount("tmpfs", "lower", "tmpfs", 0, "size=4m"))
		tlt_bail("mount tmpfs lower");
	if (mount("overlay", "merged", "overlay", 0,
		  "lowerdir=lower,upperdir=upper,workdir=work,xino=off")) {
		tlt_diag("mount overlay: %s", strerror(errno));
		umount("lower");
		tlt_result(0, "%s", name);
		return;
	}
	ctl = tlt_ctl_open();
	idx = tlt_add(ctl, "merged/back.img", (off_t)MIB, 0, 512);
	if (idx < 0 || stat("merged/back.img", &st)) {
		tlt_diag("attach merged/back.img: %s", tlt_errname(-idx));
		tlt_result(0, "%s", name);
	} else {
		tlt_dev_path(node, sizeof(node), idx);
		fd = open(node, O_RDONLY | O_CLOEXEC);
		ret = fd < 0 ? -1 : ioctl(fd, TLOOP_GET_INFO, &info);
		if (!tlt_result(ret == 0 && info.backing_dev == (uint64_t)st.st_dev &&
				info.backing_ino == (uint64_t)st.st_ino, "%s", name))
			tlt_diag("GET_INFO %d: dev %u:%u ino %llu; stat: dev %u:%u ino %llu", ret,
				 major(info.backing_dev), minor(info.backing_dev),
				 (unsigned long long)info.backing_ino, major(st.st_dev),
				 minor(st.st_dev), (unsigned long long)st.st_ino);
		if (fd >= 0)
			close(fd);
		ret = tlt_remove(ctl, idx);
		if (ret)
			tlt_diag("remove: %s", tlt_errname(-ret));
	}
	close(ctl);
	if (umount("merged") || umount("lower"))
		tlt_diag("umount: %s", strerror(errno));
}

/* ---- 4. ENABLE writes back first ------------------------------------------ */

static void enable_exact(void)
{
	struct tlt_tdev *d = tlt_tdev_open("enable.img", 1 * MIB, 0);
	volatile uint8_t *map = tlt_map(d->fd, 1 * MIB, 0);
	struct tlt_set want;

	tlt_set_init(&want, d->nr_pages);
	map[3 * TLT_PAGE + 5] = 0x33;		/* tracking off: not to be reported */
	if (tlt_enable(d->fd, 0))
		tlt_bail("TRACK_ENABLE");
	tlt_check_get(d->fd, 0, 64, &want,
		      "ENABLE: a store made while tracking was off, still dirty, is not reported");
	map[7 * TLT_PAGE + 1] = 0x77;
	want.bit[7] = 1;
	tlt_check_get(d->fd, TLOOP_GET_CLEAR, 64, &want,
		      "ENABLE: a store made after it is reported");
	tlt_unmap((void *)map, 1 * MIB);
	tlt_set_free(&want);
	tlt_tdev_close(d);
}

/* ---- 5. the generation rule ----------------------------------------------- */

static uint64_t gen_now(int fd)
{
	struct tloop_track_status st;

	if (tlt_status(fd, &st))
		tlt_bail("TRACK_STATUS");
	return st.generation;
}

static void generation_rule(void)
{
	struct tlt_tdev *d = tlt_tdev_open("gen.img", 1 * MIB, 0);
	struct tloop_written w;
	uint64_t buf[4], g, cursor = 0;
	bool ok = true;
	int steps = 0;

#define GEN_STEP(expr, delta, what) do {					\
		uint64_t before_ = gen_now(d->fd), after_;			\
		if (expr)							\
			tlt_bail("%s", what);					\
		after_ = gen_now(d->fd);					\
		steps++;							\
		if (after_ != before_ + (delta)) {				\
			tlt_diag("%s: generation %" PRIu64 " -> %" PRIu64	\
				 ", want +%d", what, before_, after_, (delta));	\
			ok = false;						\
		}								\
	} while (0)

	GEN_STEP(tlt_enable(d->fd, 0), 1, "enable");
	GEN_STEP(tlt_get_one(d->fd, TLOOP_GET_CLEAR, 0, 0, buf, 4, &w), 1, "empty GET+CLEAR");
	for (int p = 0; p < 3; p++)
		tlt_pwrite_all(d->fd, "g", 1, (off_t)(p * 9 * TLT_PAGE));
	GEN_STEP(tlt_get_one(d->fd, 0, 0, 0, buf, 4, &w), 0, "GET without CLEAR");
	GEN_STEP(tlt_status(d->fd, &(struct tloop_track_status){ 0 }), 0, "STATUS");
	/* A walk of three GET+CLEAR calls of one page each: +1 per call. */
	g = gen_now(d->fd);
	do {
		if (tlt_get_one(d->fd, TLOOP_GET_CLEAR, cursor, 0, buf, 1, &w))
			tlt_bail("GET+CLEAR walk");
		steps++;
		if (w.generation != ++g) {
			tlt_diag("GET+CLEAR walk: generation %" PRIu64 ", want %" PRIu64,
				 (uint64_t)w.generation, g);
			ok = false;
			g = w.generation;
		}
		cursor = w.next_cursor;
	} while (cursor != TLOOP_CURSOR_END);
	GEN_STEP(tlt_clear(d->fd, 0, 0, 8, NULL), 1, "CLEAR range");
	GEN_STEP(tlt_clear(d->fd, TLOOP_CLEAR_ALL, 0, 0, NULL), 1, "CLEAR_ALL");
	GEN_STEP(tlt_disable(d->fd), 1, "disable");
	GEN_STEP(tlt_disable(d->fd), 0, "disable while off");
	GEN_STEP(tlt_enable(d->fd, 0), 1, "enable again");
#undef GEN_STEP
	tlt_result(ok, "generation: +1 per clearing call and per switch, 0 otherwise (%d steps)",
		   steps);
	tlt_tdev_close(d);
}

/* ---- 6. a query writes back what it examines ------------------------------ */

static bool listed(const uint64_t *buf, unsigned int n, uint64_t page)
{
	for (unsigned int i = 0; i < n; i++)
		if (buf[i] == page)
			return true;
	return false;
}

static void walk_sync(void)
{
	const uint64_t size = 64 * MIB, far = 16000;
	struct tlt_tdev *d = tlt_tdev_open("walk.img", size, 0);
	volatile uint8_t *map = tlt_map(d->fd, size, 0);
	struct tloop_written w;
	struct tlt_pages got = { 0 };
	uint64_t buf[64], first[1];
	bool have_far = false, have_1 = false;
	int ret;

	if (tlt_enable(d->fd, 0))
		tlt_bail("TRACK_ENABLE");
	map[0] = 1;
	map[1 * TLT_PAGE] = 1;
	map[far * TLT_PAGE] = 1;
	ret = tlt_get_one(d->fd, TLOOP_GET_CLEAR, 0, 0, first, 1, &w);
	tlt_result(!ret && w.count == 1 && first[0] == 0 && w.next_cursor == 1,
		   "walk: the first call (capacity 1) lists page 0, next_cursor 1 (%s, count %u, "
		   "next %" PRIu64 ")", ret ? tlt_errname(-ret) : "ok", w.count,
		   (uint64_t)w.next_cursor);
	/* Behind the cursor now: this walk must not report it, the next must. */
	map[0] = 2;
	ret = tlt_get_one(d->fd, TLOOP_GET_NOSYNC, 1, 0, buf, 64, &w);
	tlt_result(!ret && listed(buf, w.count, 1) && !listed(buf, w.count, far),
		   "walk: the first call wrote back its own step (page 1 recorded) but not page "
		   "%" PRIu64 " far past it (%u pages listed)", far, w.count);
	ret = tlt_get_one(d->fd, TLOOP_GET_CLEAR, 1, 0, buf, 64, &w);
	if (!ret) {
		have_1 = listed(buf, w.count, 1);
		have_far = listed(buf, w.count, far);
	}
	tlt_result(!ret && have_1 && have_far && w.count == 2 &&
		   w.next_cursor == TLOOP_CURSOR_END,
		   "walk: the continued walk reports pages 1 and %" PRIu64 " (%s, count %u)", far,
		   ret ? tlt_errname(-ret) : "ok", w.count);
	ret = tlt_get_all(d->fd, TLOOP_GET_CLEAR, 64, d->nr_pages, &got);
	tlt_result(!ret && got.n == 1 && got.v[0] == 0,
		   "walk: a store behind the cursor during a walk is reported by the next walk "
		   "(%zu pages, first %" PRIu64 ")", got.n, got.n ? got.v[0] : 0);
	tlt_pages_free(&got);
	tlt_unmap((void *)map, size);
	tlt_tdev_close(d);
}

/* ---- 7. GET+CLEAR loses nothing when its reply cannot be written ---------- */

struct flipper {
	void *addr;
	atomic_int stop;
	unsigned long flips;
};

static void *flip_thread(void *p)
{
	struct flipper *f = p;

	while (!atomic_load(&f->stop)) {
		mprotect(f->addr, TLT_PAGE, PROT_READ);
		for (volatile int i = 0; i < 200; i++)
			;
		mprotect(f->addr, TLT_PAGE, PROT_READ | PROT_WRITE);
		for (volatile int i = 0; i < 200; i++)
			;
		f->flips++;
	}
	return NULL;
}

static void clear_lossless(void)
{
	const uint64_t size = 16 * MIB;
	const unsigned int per_round = 48;
	struct tlt_tdev *d = tlt_tdev_open("lossless.img", size, 0);
	unsigned int rounds = 150 * (unsigned int)tlt_scale();
	unsigned long calls = 0, faults = 0, missing = 0, written = 0;
	struct tloop_written *view_a, *view_b;
	struct tlt_set want, got;
	struct flipper f = { 0 };
	uint64_t *pages = calloc(4096, sizeof(*pages));
	char *data = tlt_alloc(TLT_PAGE);
	pthread_t t;
	int mfd;

	if (!pages)
		tlt_bail("calloc");
	tlt_seed(0x39c1ea7);
	tlt_set_init(&want, d->nr_pages);
	tlt_set_init(&got, d->nr_pages);
	mfd = memfd_create("tloop-arg", MFD_CLOEXEC);
	if (mfd < 0 || ftruncate(mfd, TLT_PAGE))
		tlt_bail("memfd");
	/* Two views of one page: the kernel writes A (flipped), we use B. */
	view_a = mmap(NULL, TLT_PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	view_b = mmap(NULL, TLT_PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	if (view_a == MAP_FAILED || view_b == MAP_FAILED)
		tlt_bail("mmap memfd");
	if (tlt_enable(d->fd, 0))
		tlt_bail("TRACK_ENABLE");
	memset(data, 0x5c, TLT_PAGE);
	f.addr = view_a;
	if (pthread_create(&t, NULL, flip_thread, &f))
		tlt_bail("pthread_create");
	for (unsigned int r = 0; r < rounds; r++) {
		uint64_t cursor = 0;
		int tries = 0;

		tlt_set_reset(&want);
		tlt_set_reset(&got);
		for (unsigned int i = 0; i < per_round; i++) {
			uint64_t p = tlt_rand_below(d->nr_pages);

			tlt_pwrite_all(d->fd, data, TLT_PAGE, (off_t)(p * TLT_PAGE));
			want.bit[p] = 1;
		}
		for (;;) {
			int ret;

			memset(view_b, 0, sizeof(*view_b));
			view_b->size = sizeof(*view_b);
			view_b->flags = TLOOP_GET_CLEAR;
			view_b->cursor = cursor;
			view_b->pages = (uintptr_t)pages;
			view_b->capacity = 4096;
			ret = ioctl(d->fd, TLOOP_GET_WRITTEN, view_a);
			calls++;
			if (ret < 0 && errno == EFAULT) {
				faults++;
				if (++tries > 100000)
					tlt_bail("GET+CLEAR keeps failing with EFAULT");
				continue;
			}
			if (ret < 0)
				tlt_bail("GET+CLEAR");
			for (uint32_t i = 0; i < view_b->count; i++)
				if (pages[i] < got.nr)
					got.bit[pages[i]] = 1;
			if (view_b->next_cursor == TLOOP_CURSOR_END)
				break;
			cursor = view_b->next_cursor;
		}
		for (uint64_t p = 0; p < want.nr; p++) {
			written += want.bit[p];
			missing += want.bit[p] && !got.bit[p];
		}
	}
	atomic_store(&f.stop, 1);
	pthread_join(t, NULL);
	tlt_diag("%u rounds, %lu pages written, %lu GET+CLEAR calls, %lu failed with EFAULT, "
		 "%lu protection flips", rounds, written, calls, faults, f.flips);
	tlt_result(missing == 0, "GET+CLEAR with an argument flipped read-only by another thread "
		   "loses no page (%lu of %lu missing)", missing, written);
	munmap(view_a, TLT_PAGE);
	munmap(view_b, TLT_PAGE);
	close(mfd);
	free(pages);
	tlt_set_free(&want);
	tlt_set_free(&got);
	tlt_tdev_close(d);
}

/* ---- 8. a failed write-back is reported ------------------------------------ */

static void wb_error(void)
{
	const uint64_t size = 4 * MIB, page = 5;
	struct tloop_written w;
	uint64_t buf[64];
	char *data = tlt_alloc(TLT_PAGE), node[64];
	int ctl, idx, fd, filler, ret, err;

	if (mkdir("small", 0755) || mount("tmpfs", "small", "tmpfs", 0, "size=1m"))
		tlt_bail("mount a 1 MiB tmpfs");
	ctl = tlt_ctl_open();
	idx = tlt_add(ctl, "small/back.img", (off_t)size, 0, 512);	/* sparse */
	if (idx < 0) {
		errno = -idx;
		tlt_bail("attach small/back.img");
	}
	tlt_dev_path(node, sizeof(node), idx);
	fd = -1;
	for (int tries = 0; tries < 100 && fd < 0; tries++) {
		fd = open(node, O_RDWR | O_CLOEXEC);
		if (fd < 0)
			usleep(20000);
	}
	if (fd < 0)
		tlt_bail("open %s", node);
	/* Fill the tmpfs, so that the backing file's holes cannot be filled. */
	filler = open("small/filler", O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	memset(data, 0xf1, TLT_PAGE);
	while (filler >= 0 && write(filler, data, TLT_PAGE) > 0)
		;
	if (tlt_enable(fd, 0))
		tlt_bail("TRACK_ENABLE");
	tlt_pwrite_all(fd, data, TLT_PAGE, (off_t)(page * TLT_PAGE));	/* page cache */
	ret = tlt_get_one(fd, 0, 0, 0, buf, 64, &w);
	err = -ret;
	tlt_result(ret < 0 && (err == ENOSPC || err == EIO),
		   "a query whose write-back failed fails with its error (%s)",
		   ret ? tlt_errname(err) : "no error");
	ret = tlt_get_one(fd, TLOOP_GET_CLEAR, 0, 0, buf, 64, &w);
	tlt_result(!ret && w.count == 1 && buf[0] == page,
		   "the error is reported once; the page stays in the set (%s, count %u)",
		   ret ? tlt_errname(-ret) : "ok", ret ? 0 : w.count);
	close(fd);
	ret = tlt_remove(ctl, idx);
	if (ret)
		tlt_diag("remove: %s", tlt_errname(-ret));
	close(ctl);
	if (filler >= 0)
		close(filler);
	if (umount("small"))
		tlt_diag("umount small: %s", strerror(errno));
}

int main(void)
{
	tlt_require_tracking();
	tlt_plan(6 + 2 + 1 + 2 + 1 + 4 + 1 + 2);
	one_rule();
	add_reply_fault();
	stat_identity();
	enable_exact();
	generation_rule();
	walk_sync();
	clear_lossless();
	wb_error();
	tlt_exit();
}
