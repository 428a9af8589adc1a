// SPDX-License-Identifier: GPL-2.0
/*
 * 47-track-snap-race: point-in-time refreshes while writers keep writing.
 * tloop-timeout: 300
 *
 * Writers of every kind write random pages without a pause: a thread with
 * O_DIRECT pwrite, a thread with buffered pwrite, a thread storing through
 * a MAP_SHARED mapping, and a process with O_DIRECT writes of whole pages
 * and of 512-byte pieces; each owns its own pages (page % 4), so the
 * device's content at any pause is well defined.  An "accounts" thread moves
 * amounts between 32 counters that live on different pages (their sum is
 * constant), msync()ing after each transfer under a lock: its consistent
 * points.
 *
 * Each round pauses everyone at P (the mmap writer msyncs first), reads the
 * whole device as the expected state, takes a snapshot, resumes everyone at
 * once, and applies the snapshot's pages to an in-memory area2 while the
 * writers go on.  area2 must equal the expected state byte for byte after
 * every round (which also proves that no write was lost: a page missing
 * from one round stays stale), and the counters in area2 must sum to the
 * constant.  The first round is a TLOOP_SNAP_ALL (the whole device).
 *
 * The same rounds with a plain get-and-clear (pages read from the device
 * after the writers resumed) must tear: area2 differs from the state at P
 * in some round -- the test would catch a snapshot that is not one.
 */
#include "tlt.h"

#include <pthread.h>
#include <sys/mman.h>
#include <sys/wait.h>

#define DEV_SIZE	(8ULL << 20)
#define NW		4

struct ctl {
	int pause;		/* writers must pause */
	int paused[NW];		/* writer i is paused */
	int stop;
	uint64_t writes[NW];
};

static struct tlt_tdev *d;
static uint64_t nr;
static struct ctl *ctl;		/* shared with the writer process */
static uint8_t *map;
static pthread_mutex_t acc_lock = PTHREAD_MUTEX_INITIALIZER;
static int acc_stop;

static uint64_t pick(uint64_t *rs, int id)
{
	uint64_t p;

	do {
		p = TLT_ACC_PAGES + tlt_rand_r(rs) % (nr - TLT_ACC_PAGES);
	} while (p % NW != (uint64_t)id);
	return p;
}

/* Wait here while a pause is asked for; @sync first makes the writer's stores durable. */
static void pause_point(int id, void (*sync)(void))
{
	if (!__atomic_load_n(&ctl->pause, __ATOMIC_ACQUIRE))
		return;
	if (sync)
		sync();
	__atomic_store_n(&ctl->paused[id], 1, __ATOMIC_RELEASE);
	while (__atomic_load_n(&ctl->pause, __ATOMIC_ACQUIRE))
		usleep(50);
	__atomic_store_n(&ctl->paused[id], 0, __ATOMIC_RELEASE);
}

static void msync_all(void)
{
	if (msync(map, DEV_SIZE, MS_SYNC))
		tlt_bail("msync");
}

static void writer(int id)
{
	uint64_t rs = 0x5eed0000ULL + (uint64_t)id, ver = 1;
	uint8_t *buf = tlt_alloc(TLT_PAGE);
	int fd = -1;

	if (id == 0 || id == 3)
		fd = open(d->node, O_RDWR | O_DIRECT);
	else if (id == 1)
		fd = open(d->node, O_RDWR);
	if (id != 2 && fd < 0)
		tlt_bail("writer %d: open", id);
	while (!__atomic_load_n(&ctl->stop, __ATOMIC_ACQUIRE)) {
		uint64_t p = pick(&rs, id);

		pause_point(id, id == 2 ? msync_all : NULL);
		tlt_page_pattern(buf, p, (uint32_t)(ver++ * NW + id));
		if (id == 2) {
			memcpy(map + p * TLT_PAGE, buf, TLT_PAGE);
		} else if (id == 3 && (ver & 1)) {
			size_t piece = 512 * (tlt_rand_r(&rs) % (TLT_PAGE / 512));

			tlt_pwrite_all(fd, buf + piece, 512, (off_t)(p * TLT_PAGE + piece));
		} else {
			tlt_pwrite_all(fd, buf, TLT_PAGE, (off_t)(p * TLT_PAGE));
		}
		__atomic_add_fetch(&ctl->writes[id], 1, __ATOMIC_RELAXED);
		/* Heavy, but leave the emulated CPUs to the refresh too. */
		if (!(ver % 8))
			usleep(1000);
	}
	free(buf);
	if (fd >= 0)
		close(fd);
}

static void *writer_thread(void *arg)
{
	writer((int)(intptr_t)arg);
	return NULL;
}

static void *accounts_thread(void *arg)
{
	uint64_t rs = 0xacc0ULL;

	(void)arg;
	while (!__atomic_load_n(&acc_stop, __ATOMIC_ACQUIRE)) {
		tlt_acc_move(map, &acc_lock, &rs);
		usleep(200);
	}
	return NULL;
}

/* Stop the world at P: the accounts at a consistent point, every writer paused. */
static void pause_all(void)
{
	pthread_mutex_lock(&acc_lock);
	__atomic_store_n(&ctl->pause, 1, __ATOMIC_RELEASE);
	for (int i = 0; i < NW; i++)
		while (!__atomic_load_n(&ctl->paused[i], __ATOMIC_ACQUIRE))
			usleep(50);
}

static void resume_all(void)
{
	__atomic_store_n(&ctl->pause, 0, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&acc_lock);
}

static uint64_t differ(const uint8_t *a, const uint8_t *b, uint64_t *first)
{
	uint64_t n = 0;

	*first = UINT64_MAX;
	for (uint64_t p = 0; p < nr; p++) {
		if (memcmp(a + p * TLT_PAGE, b + p * TLT_PAGE, TLT_PAGE)) {
			if (!n)
				*first = p;
			n++;
		}
	}
	return n;
}

/* Apply every page of snapshot @sfd to @area2; returns pages or -errno. */
static long snap_apply(int sfd, uint8_t *area2)
{
	const uint32_t cap = 64;
	uint64_t pages[64], cursor = 0;
	uint8_t *data = tlt_alloc((size_t)cap * TLT_PAGE);
	long n = 0;

	while (cursor != TLOOP_CURSOR_END) {
		struct tloop_snap_read r = {
			.size = sizeof(r), .cursor = cursor, .pages = (uintptr_t)pages,
			.data = (uintptr_t)data, .capacity = cap,
		};

		if (ioctl(sfd, TLOOP_SNAP_READ, &r) < 0) {
			n = -errno;
			break;
		}
		for (uint32_t i = 0; i < r.count; i++)
			memcpy(area2 + pages[i] * TLT_PAGE, data + (size_t)i * TLT_PAGE, TLT_PAGE);
		n += r.count;
		cursor = r.next_cursor;
	}
	free(data);
	return n;
}

int main(void)
{
	uint64_t feat = tlt_require_tracking();
	int rounds = 5 * tlt_scale(), plain_rounds = 3, torn = 0, bad_sum_plain = 0;
	uint64_t preserved = 0, copied = 0;
	pthread_t th[NW], at;
	uint8_t *expect, *area2;
	int rfd, ok_all = 1, ok_sum = 1;
	pid_t pid;

	if (!(feat & TLOOP_FEAT_SNAPSHOT))
		tlt_skip_all("the module has no TLOOP_FEAT_SNAPSHOT");
	tlt_seed(0x47ace5ULL);
	tlt_plan(rounds + 5);
	d = tlt_tdev_open("backing.img", DEV_SIZE, 0);
	nr = d->nr_pages;
	ctl = mmap(NULL, sizeof(*ctl), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (ctl == MAP_FAILED)
		tlt_bail("mmap");
	memset(ctl, 0, sizeof(*ctl));
	map = tlt_map(d->fd, DEV_SIZE, 0);
	tlt_acc_init(map);
	msync_all();
	rfd = open(d->node, O_RDONLY | O_DIRECT);
	if (rfd < 0)
		tlt_bail("open O_DIRECT");
	expect = tlt_alloc(DEV_SIZE);
	area2 = tlt_alloc(DEV_SIZE);
	if (tlt_enable(d->fd, 0))
		tlt_bail("TRACK_ENABLE");

	pid = fork();
	if (pid == 0) {
		writer(3);
		_exit(0);
	}
	for (int i = 0; i < 3; i++)
		pthread_create(&th[i], NULL, writer_thread, (void *)(intptr_t)i);
	pthread_create(&at, NULL, accounts_thread, NULL);

	for (int r = 0; r < rounds; r++) {
		struct tloop_snap_create c = {
			.size = sizeof(c), .flags = r ? 0 : TLOOP_SNAP_ALL, .mem_limit = 0,
		};
		struct tloop_snap_status st = { .size = sizeof(st) };
		uint64_t first, nd;
		double t0 = tlt_now();
		long got;
		int sfd;

		usleep(30000);
		pause_all();
		tlt_pread_all(rfd, expect, DEV_SIZE, 0);
		sfd = ioctl(d->fd, TLOOP_SNAP_CREATE, &c);
		resume_all();
		if (sfd < 0)
			tlt_bail("TLOOP_SNAP_CREATE");
		got = snap_apply(sfd, area2);
		ioctl(sfd, TLOOP_SNAP_STATUS, &st);
		if (ioctl(sfd, TLOOP_SNAP_END, &(struct tloop_snap_end){ .size = sizeof(struct tloop_snap_end),
							 .flags = TLOOP_SNAP_END_COPIED }) < 0)
			got = -errno;
		close(sfd);
		nd = differ(expect, area2, &first);
		preserved += st.preserved_total;
		copied += got > 0 ? got : 0;
		ok_all &= got >= 0 && !nd;
		ok_sum &= tlt_acc_sum(area2) == TLT_ACC_TOTAL;
		if (nd)
			tlt_compare("area2 vs P", expect + first * TLT_PAGE, area2 + first * TLT_PAGE,
				    TLT_PAGE, first * TLT_PAGE);
		tlt_result(got >= 0 && !nd,
			   "round %d%s (%.1f s): %ld pages (%llu pending at P), %llu preserved; area2 == P (%llu pages differ), sum %llu",
			   r, r ? "" : " (ALL)", tlt_now() - t0, got, (unsigned long long)c.pending,
			   (unsigned long long)st.preserved_total, (unsigned long long)nd,
			   (unsigned long long)tlt_acc_sum(area2));
	}
	tlt_result(ok_sum, "the counters in area2 always sum to %llu",
		   (unsigned long long)TLT_ACC_TOTAL);
	tlt_result(preserved > 0, "copy-before-write was exercised: %llu of %llu pages preserved",
		   (unsigned long long)preserved, (unsigned long long)copied);

	/* The same rounds with a plain get-and-clear: a torn copy. */
	/* Until the first torn round (slow on a debug kernel: pages are read one by one). */
	for (int r = 0; r < plain_rounds && !torn; r++) {
		struct tlt_pages got = { 0 };
		uint64_t first;

		usleep(30000);
		pause_all();
		tlt_pread_all(rfd, expect, DEV_SIZE, 0);
		tlt_get_all_or_bail(d->fd, TLOOP_GET_CLEAR, 65536, nr, &got);
		resume_all();
		for (size_t i = 0; i < got.n; i++)
			tlt_pread_all(rfd, area2 + got.v[i] * TLT_PAGE, TLT_PAGE,
				      (off_t)(got.v[i] * TLT_PAGE));
		torn += differ(expect, area2, &first) > 0;
		bad_sum_plain += tlt_acc_sum(area2) != TLT_ACC_TOTAL;
		tlt_diag("plain round %d: %zu pages, torn %d", r, got.n, torn);
		tlt_pages_free(&got);
	}
	tlt_result(torn > 0, "a plain refresh under the same writers is torn (sum wrong: %d)",
		   bad_sum_plain);

	__atomic_store_n(&ctl->stop, 1, __ATOMIC_RELEASE);
	__atomic_store_n(&acc_stop, 1, __ATOMIC_RELEASE);
	for (int i = 0; i < 3; i++)
		pthread_join(th[i], NULL);
	pthread_join(at, NULL);
	{
		int status;

		waitpid(pid, &status, 0);
		tlt_result(WIFEXITED(status) && !WEXITSTATUS(status), "the writer process ran (%llu writes)",
			   (unsigned long long)ctl->writes[3]);
	}
	tlt_result(ctl->writes[0] && ctl->writes[1] && ctl->writes[2],
		   "every writer wrote: %llu direct, %llu buffered, %llu mmap",
		   (unsigned long long)ctl->writes[0], (unsigned long long)ctl->writes[1],
		   (unsigned long long)ctl->writes[2]);
	(void)ok_all;
	tlt_unmap(map, DEV_SIZE);
	close(rfd);
	tlt_tdev_close(d);
	tlt_exit();
}
