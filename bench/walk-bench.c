// SPDX-License-Identifier: GPL-2.0
/*
 * walk-bench: a get-and-clear consumer against concurrent mmap writers
 * (issue 10, item 1), run inside one VM boot (make bench-walk).
 *
 * A 64 MiB tloop device (backing file in the VM's tmpfs) is mapped shared by
 * 1, 2 and 6 writer threads that store to random pages without pause.  The
 * consumer walks the written set with TLOOP_GET_CLEAR in batches of 64 pages
 * (without TLOOP_GET_NOSYNC, as libtloop does) and copies every returned page
 * to a second file with O_DIRECT reads, round after round, for
 * TLOOP_BENCH_SECONDS (default 10) per writer count.  Reported per count:
 * consumer rounds per second, GET_WRITTEN latency (median, p90, max), pages
 * copied per round, and the writers' stores per second.
 *
 * The device's page cache is read in before each run, so the writers measure
 * stores, not first-touch reads.
 *
 * TLOOP_BENCH_WBT=<usec> sets the device's writeback throttling latency
 * target (/sys/block/tloopN/queue/wbt_lat_usec; 0 turns blk-wbt off) before
 * the runs; the value in force is printed either way.
 *
 * TLOOP_BENCH_STACKS=1 also samples the consumer's kernel stack
 * (/proc/self/task/TID/stack) every 2 ms while it is inside GET_WRITTEN and
 * prints the most frequent places it waits: the evidence behind the 6.1 /
 * 6.12 comparison in doc/design.md.
 *
 * Nothing is asserted: a result is "not ok" only when a measurement could
 * not be made.  Lines starting with "# bench:" carry the numbers.
 *
 * tloop-timeout: 600
 */
#include "tlt.h"

#include <pthread.h>
#include <stdatomic.h>
#include <sys/syscall.h>

/* Also builds against a header from before issue 10, to measure the old module. */
#ifndef TLOOP_FEAT_WALK_SYNC
#define TLOOP_FEAT_WALK_SYNC (1ULL << 4)
#endif

#define MIB (1UL << 20)
#define DEV_SIZE (64 * MIB)
#define BATCH 64
#define MAX_CALLS (1U << 20)
#define NSIG_MAX 64

struct writer {
	pthread_t t;
	volatile uint8_t *map;
	uint64_t nr_pages;
	uint64_t seed;
	unsigned long stores;
};

static atomic_int stop_writers;

static atomic_int writer_tid;

static void *writer_fn(void *p)
{
	struct writer *w = p;
	uint64_t s = w->seed;

	if (w->seed == 0x5eed)	/* the first writer's stack is sampled */
		atomic_store(&writer_tid, (int)syscall(SYS_gettid));

	while (!atomic_load_explicit(&stop_writers, memory_order_relaxed)) {
		uint64_t page = tlt_rand_r(&s) % w->nr_pages;

		w->map[page * TLT_PAGE + (s & 4095)]++;
		w->stores++;
	}
	return NULL;
}

/* ---- kernel stack sampling of the consumer --------------------------------- */

static atomic_int in_get, stop_sampler;
static pid_t consumer_tid;
struct sigtab {
	struct {
		char sig[160];
		unsigned long n;
	} e[NSIG_MAX];
	unsigned long samples;
};
/* [0]: the consumer inside GET_WRITTEN, [1]: the first writer in the kernel. */
static struct sigtab tabs[2];
static pthread_mutex_t sig_lock = PTHREAD_MUTEX_INITIALIZER;
static bool stacks;

static bool boring(const char *fn)
{
	static const char *const skip[] = { "__schedule", "schedule", "io_schedule",
		"schedule_timeout", "schedule_preempt_disabled", "__cond_resched",
		"preempt_schedule", "io_schedule_timeout", "bit_wait_io", "__wait_on_bit",
		"out_of_line_wait_on_bit", "folio_wait_bit_common", "wait_for_completion",
		"__wait_for_common", "do_wait_for_common", "rwsem_down_read_slowpath",
		"rwsem_down_write_slowpath", "__mutex_lock", "mutex_lock", NULL };

	for (int i = 0; skip[i]; i++)
		if (!strcmp(fn, skip[i]))
			return false;
	return true;
}

/* One sample: the first three frames below the scheduler, "a < b < c". */
static void sample_once(struct sigtab *tab, int tid, bool skip_empty)
{
	char path[64], line[256], sig[160] = "", wait[64] = "";
	int frames = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/task/%d/stack", tid);
	f = fopen(path, "r");
	if (!f)
		return;
	while (frames < 3 && fgets(line, sizeof(line), f)) {
		char *fn = strchr(line, ']'), *plus;

		if (!fn)
			continue;
		fn += 2;
		plus = strpbrk(fn, "+\n");
		if (plus)
			*plus = '\0';
		if (!*fn)
			continue;
		if (!boring(fn)) {
			if (!frames && !*wait)
				snprintf(wait, sizeof(wait), "%s", fn);
			continue;
		}
		snprintf(sig + strlen(sig), sizeof(sig) - strlen(sig), "%s%s", frames ? " < " : "",
			 fn);
		frames++;
	}
	fclose(f);
	if (!frames && skip_empty && !*wait)
		return;		/* in user space */
	if (!frames)
		snprintf(sig, sizeof(sig), "(running)");
	if (*wait)
		snprintf(sig + strlen(sig), sizeof(sig) - strlen(sig), " [%s]", wait);
	tab->samples++;
	for (int i = 0; i < NSIG_MAX; i++) {
		if (!tab->e[i].n) {
			snprintf(tab->e[i].sig, sizeof(tab->e[i].sig), "%s", sig);
			tab->e[i].n = 1;
			return;
		}
		if (!strcmp(tab->e[i].sig, sig)) {
			tab->e[i].n++;
			return;
		}
	}
}

static void *sampler_fn(void *p)
{
	(void)p;
	while (!atomic_load(&stop_sampler)) {
		pthread_mutex_lock(&sig_lock);
		if (atomic_load(&in_get))
			sample_once(&tabs[0], (int)consumer_tid, false);
		if (atomic_load(&writer_tid))
			sample_once(&tabs[1], atomic_load(&writer_tid), true);
		pthread_mutex_unlock(&sig_lock);
		usleep(2000);
	}
	return NULL;
}

static int cmp_sig(const void *a, const void *b)
{
	const unsigned long x = ((const typeof(tabs[0].e[0]) *)a)->n;
	const unsigned long y = ((const typeof(tabs[0].e[0]) *)b)->n;

	return x < y ? 1 : x > y ? -1 : 0;
}

/* Print and reset the most frequent stacks of the last run. */
static void print_stacks(const char *mode, unsigned int nwriters)
{
	static const char *const who[] = { "the consumer inside GET_WRITTEN",
					   "the first writer in the kernel" };

	pthread_mutex_lock(&sig_lock);
	for (int t = 0; t < 2; t++) {
		struct sigtab *tab = &tabs[t];

		qsort(tab->e, NSIG_MAX, sizeof(tab->e[0]), cmp_sig);
		tlt_diag("bench: %s writers=%u: %lu kernel stack samples of %s", mode, nwriters,
			 tab->samples, who[t]);
		for (int i = 0; i < 6 && tab->e[i].n; i++)
			tlt_diag("bench:   %5.1f%% %s", 100.0 * tab->e[i].n / tab->samples,
				 tab->e[i].sig);
		memset(tab, 0, sizeof(*tab));
	}
	pthread_mutex_unlock(&sig_lock);
}

/* ---- one measurement --------------------------------------------------------- */

static bool run(struct tlt_tdev *d, int rfd, int afd, unsigned int nwriters, double seconds,
		const char *mode)
{
	struct writer w[8];
	volatile uint8_t *map = tlt_map(d->fd, DEV_SIZE, 0);
	static double lat[MAX_CALLS];
	uint64_t pages[BATCH], copied = 0;
	unsigned long rounds = 0, calls = 0, stores = 0, overflows = 0;
	void *buf;
	double t0, t, partial = 0;
	bool ok = true;

	if (posix_memalign(&buf, 4096, TLT_PAGE))
		tlt_bail("posix_memalign");
	/*
	 * Warm the device's page cache first: a cold page costs the writer a
	 * synchronous read through the device, and a run would measure how fast
	 * one thread faults the device in instead of the consumer.
	 */
	for (uint64_t p = 0; p < d->nr_pages; p++)
		(void)map[p * TLT_PAGE];
	tlt_clear_all(d->fd);
	atomic_store(&stop_writers, 0);
	for (unsigned int i = 0; i < nwriters; i++) {
		w[i] = (struct writer){ .map = map, .nr_pages = d->nr_pages, .seed = 0x5eed + i };
		if (pthread_create(&w[i].t, NULL, writer_fn, &w[i]))
			tlt_bail("pthread_create");
	}
	usleep(200000);	/* let the writers dirty the device */
	t0 = tlt_now();
	for (t = t0; t - t0 < seconds && ok; t = tlt_now()) {
		uint64_t cursor = 0;

		for (;;) {
			struct tloop_written wr;
			double c0 = tlt_now(), c1;
			int ret;

			atomic_store(&in_get, 1);
			ret = tlt_get_one(d->fd, TLOOP_GET_CLEAR, cursor, 0, pages, BATCH, &wr);
			atomic_store(&in_get, 0);
			c1 = tlt_now();
			if (ret) {
				tlt_diag("GET+CLEAR: %s", tlt_errname(-ret));
				ok = false;
				break;
			}
			if (calls < MAX_CALLS)
				lat[calls] = c1 - c0;
			calls++;
			if (wr.status & TLOOP_TRACK_OVERFLOW) {
				/* Not expected without a memory limit: say so, start over. */
				overflows++;
				tlt_clear_all(d->fd);
				break;
			}
			for (uint32_t i = 0; i < wr.count; i++) {
				off_t off = (off_t)(pages[i] * TLT_PAGE);

				if (pread(rfd, buf, TLT_PAGE, off) != (ssize_t)TLT_PAGE ||
				    pwrite(afd, buf, TLT_PAGE, off) != (ssize_t)TLT_PAGE) {
					tlt_diag("copy page %" PRIu64 ": %s", pages[i], strerror(errno));
					ok = false;
					break;
				}
			}
			copied += wr.count;
			if (wr.next_cursor == TLOOP_CURSOR_END) {
				rounds++;
				break;
			}
			cursor = wr.next_cursor;
			if (tlt_now() - t0 >= seconds) {
				/* An unfinished round counts as the part it walked. */
				partial = (double)cursor / (double)d->nr_pages;
				break;
			}
		}
	}
	t = tlt_now() - t0;
	atomic_store(&stop_writers, 1);
	atomic_store(&writer_tid, 0);
	for (unsigned int i = 0; i < nwriters; i++) {
		pthread_join(w[i].t, NULL);
		stores += w[i].stores;
	}
	tlt_unmap((void *)map, DEV_SIZE);
	free(buf);
	if (calls) {
		size_t n = calls < MAX_CALLS ? calls : MAX_CALLS;

		tlt_sort_doubles(lat, n);
		tlt_diag("bench: %s writers=%u rounds=%.2f in %.1f s: %.2f rounds/s, %.1f calls/s "
			 "(%lu calls of up to %u pages), GET latency median %.3f ms p90 %.3f ms "
			 "max %.1f ms, %.0f pages copied/s, %.2f M stores/s", mode, nwriters,
			 rounds + partial, t, (rounds + partial) / t, calls / t, calls, BATCH,
			 lat[n / 2] * 1e3, lat[n * 9 / 10] * 1e3, lat[n - 1] * 1e3,
			 (double)copied / t, stores / t / 1e6);
	}
	if (overflows)
		tlt_diag("bench: %s writers=%u: the set overflowed %lu times", mode, nwriters,
			 overflows);
	if (stacks)
		print_stacks(mode, nwriters);
	return tlt_result(ok && calls > 0, "%s: consumer against %u mmap writer thread%s", mode,
			  nwriters, nwriters == 1 ? "" : "s");
}

int main(void)
{
	static const unsigned int counts[] = { 1, 2, 6 };
	double seconds = (double)tlt_env_ul("TLOOP_BENCH_SECONDS", 10);
	struct tloop_version v = { .size = sizeof(v) };
	pthread_t sampler;
	struct tlt_tdev *d;
	const char *mode;
	int rfd, afd, ctl;

	stacks = tlt_env_ul("TLOOP_BENCH_STACKS", 0);
	tlt_require_tracking();
	ctl = tlt_ctl_open();
	if (ioctl(ctl, TLOOP_CTL_VERSION, &v))
		tlt_bail("VERSION");
	close(ctl);
	mode = (v.features & TLOOP_FEAT_WALK_SYNC) ? "walk-sync" : "sync-per-call";
	tlt_plan(3);
	d = tlt_tdev_open("walk.img", DEV_SIZE, 0);
	if (tlt_enable(d->fd, 0))
		tlt_bail("TRACK_ENABLE");
	rfd = open(d->node, O_RDONLY | O_DIRECT | O_CLOEXEC);
	afd = open("area2.img", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (rfd < 0 || afd < 0 || ftruncate(afd, DEV_SIZE))
		tlt_bail("open");
	{
		/* Writeback throttling (blk-wbt) of the device: report, optionally set. */
		char path[128], val[32] = "?";
		const char *set = getenv("TLOOP_BENCH_WBT");

		snprintf(path, sizeof(path), "/sys/block/tloop%d/queue/wbt_lat_usec", d->index);
		if (set && *set) {
			FILE *f = fopen(path, "w");

			if (!f || fprintf(f, "%s\n", set) < 0 || fclose(f))
				tlt_diag("bench: cannot set %s to %s", path, set);
		}
		if (tlt_sysfs_read(path, val, sizeof(val)))
			snprintf(val, sizeof(val), "?");
		val[strcspn(val, "\n")] = '\0';
		tlt_diag("bench: wbt_lat_usec of the device: %s", val);
	}
	consumer_tid = (pid_t)syscall(SYS_gettid);
	if (stacks && pthread_create(&sampler, NULL, sampler_fn, NULL))
		tlt_bail("pthread_create");
	tlt_diag("bench: module %s (features %#llx), %lu MiB device, batch %u, %.0f s per run",
		 mode, (unsigned long long)v.features, DEV_SIZE / MIB, BATCH, seconds);
	for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++)
		run(d, rfd, afd, counts[i], seconds, mode);
	if (stacks) {
		atomic_store(&stop_sampler, 1);
		pthread_join(sampler, NULL);
	}
	close(rfd);
	close(afd);
	tlt_tdev_close(d);
	tlt_exit();
}
