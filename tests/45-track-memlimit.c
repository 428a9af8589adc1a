// SPDX-License-Identifier: GPL-2.0
/*
 * 45-track-memlimit: mem_limit holds under concurrent writers.  Four
 * writer processes discard random pages of a 1 GiB device (each discard is
 * a recorded write, and costs no memory in the tmpfs backing file) while
 * the parent polls TLOOP_TRACK_STATUS as fast as it can: mem_used must never
 * be seen above mem_limit.  Rounds alternate between a small load (200
 * pages: must fit, and then the set must be exactly the written pages) and
 * a large one (up to 32000 pages: more than any structure can hold in the
 * limit, ~17.5 KB of information, so it must overflow), each followed by
 * CLEAR_ALL, which must give every byte back.
 *
 * tloop-timeout: 300
 */
#include "tlt.h"

#include <sys/ioctl.h>
#include <linux/fs.h>

#define DEV_SIZE	(1ULL << 30)
#define LIMIT		12000
#define WRITERS		4
#define SMALL		50	/* pages per writer */
#define LARGE		8000	/* pages per writer, at most */

/* Shared with the writers: the ground truth, one byte per page. */
static uint8_t *truth;
static volatile int *stop;

static void writer(const char *node, uint64_t nr_pages, unsigned int pages, uint64_t seed)
{
	int fd = open(node, O_RDWR | O_CLOEXEC);
	struct tloop_track_status st;

	if (fd < 0)
		_exit(2);
	for (unsigned int i = 0; i < pages && !*stop; i++) {
		uint64_t p = tlt_rand_r(&seed) % nr_pages;
		uint64_t range[2] = { p * TLT_PAGE, TLT_PAGE };

		if (ioctl(fd, BLKDISCARD, range) < 0)
			_exit(3);
		/* Recorded before the request completed: now it is in the set. */
		truth[p] = 1;
		if (i % 64 == 63 && tlt_status(fd, &st) == 0 && (st.flags & TLOOP_TRACK_OVERFLOW))
			break;
	}
	close(fd);
	_exit(0);
}

int main(void)
{
	unsigned long rounds = 4 * tlt_scale();
	uint64_t samples = 0, max_seen = 0, seed0, above = 0;
	unsigned long small_exact = 0, large_over = 0, cleared_ok = 0, writers_ok = 0;
	struct tloop_track_status st;
	struct tlt_set want;
	struct tlt_tdev *d;
	int ret;

	if (!(tlt_require_tracking() & TLOOP_FEAT_MEM_LIMIT))
		tlt_skip_all("module does not report TLOOP_FEAT_MEM_LIMIT");
	seed0 = tlt_seed(0x42);
	tlt_plan(7);
	truth = mmap(NULL, DEV_SIZE / TLT_PAGE, PROT_READ | PROT_WRITE,
		     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	stop = mmap(NULL, sizeof(*stop), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (truth == MAP_FAILED || stop == MAP_FAILED)
		tlt_bail("mmap");
	d = tlt_tdev_open("backing.img", DEV_SIZE, 0);
	tlt_set_init(&want, d->nr_pages);
	ret = tlt_enable(d->fd, LIMIT);
	ret |= tlt_status(d->fd, &st);
	tlt_result(ret == 0 && st.mem_limit == LIMIT && st.mem_used <= LIMIT,
		   "enable with mem_limit %d (mem_used %" PRIu64 ")", LIMIT, (uint64_t)st.mem_used);

	for (unsigned long r = 0; r < 2 * rounds; r++) {
		bool large = r % 2;
		pid_t pids[WRITERS];
		int running = WRITERS;

		memset(truth, 0, d->nr_pages);
		*stop = 0;
		for (int w = 0; w < WRITERS; w++) {
			pids[w] = fork();
			if (pids[w] < 0)
				tlt_bail("fork");
			if (!pids[w])
				writer(d->node, d->nr_pages, large ? LARGE : SMALL,
				       seed0 + r * WRITERS + w);
		}
		/* Poll while the writers run. */
		while (running) {
			if (tlt_status(d->fd, &st))
				tlt_bail("STATUS");
			samples++;
			if (st.mem_used > max_seen)
				max_seen = st.mem_used;
			if (st.mem_used > st.mem_limit) {
				if (!above)
					tlt_diag("round %lu: mem_used %" PRIu64 " > mem_limit %" PRIu64,
						 r, (uint64_t)st.mem_used, (uint64_t)st.mem_limit);
				above++;
			}
			for (int w = 0; w < WRITERS; w++) {
				int status;

				if (pids[w] > 0 && waitpid(pids[w], &status, WNOHANG) == pids[w]) {
					pids[w] = 0;
					running--;
					if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
						writers_ok++;
				}
			}
		}
		if (tlt_status(d->fd, &st))
			tlt_bail("STATUS");
		if (st.mem_used > st.mem_limit)
			above++;
		if (!large) {
			/* Must fit: then the set is exactly what was written. */
			tlt_set_reset(&want);
			for (uint64_t p = 0; p < d->nr_pages; p++)
				want.bit[p] = truth[p];
			if (st.flags & TLOOP_TRACK_OVERFLOW) {
				tlt_diag("round %lu: %" PRIu64 " pages overflowed %d bytes", r,
					 tlt_set_count(&want), LIMIT);
			} else {
				struct tlt_pages got = { 0 };
				char what[64];

				snprintf(what, sizeof(what), "round %lu", r);
				if (st.written != tlt_set_count(&want))
					tlt_diag("%s: status.written %" PRIu64 ", %" PRIu64
						 " pages written", what, (uint64_t)st.written,
						 tlt_set_count(&want));
				else if (tlt_get_all(d->fd, 0, 256, d->nr_pages, &got) == 0 &&
					 !(got.status & TLOOP_TRACK_OVERFLOW) &&
					 tlt_set_diff(&want, &got, what, NULL, NULL))
					small_exact++;
				tlt_pages_free(&got);
			}
		} else if (st.flags & TLOOP_TRACK_OVERFLOW) {
			large_over++;
		} else {
			tlt_diag("round %lu: %" PRIu64 " pages written, not overflowed, mem_used %"
				 PRIu64, r, (uint64_t)st.written, (uint64_t)st.mem_used);
		}
		tlt_clear_all(d->fd);
		if (tlt_status(d->fd, &st) == 0 && st.mem_used == 0 && st.written == 0 &&
		    !(st.flags & TLOOP_TRACK_OVERFLOW))
			cleared_ok++;
	}
	tlt_diag("%" PRIu64 " status samples, largest mem_used seen %" PRIu64 " (limit %d)",
		 samples, max_seen, LIMIT);
	tlt_result(writers_ok == 2 * rounds * WRITERS, "every writer ran to its end (%lu of %lu)",
		   writers_ok, 2 * rounds * WRITERS);
	tlt_result(above == 0 && samples > 0,
		   "mem_used never above mem_limit: %" PRIu64 " of %" PRIu64 " samples above",
		   above, samples);
	tlt_result(max_seen > LIMIT / 2, "the limit was approached (largest mem_used %" PRIu64 ")",
		   max_seen);
	tlt_result(small_exact == rounds, "small rounds fit and are exact: %lu of %lu", small_exact,
		   rounds);
	tlt_result(large_over == rounds, "large rounds overflow: %lu of %lu", large_over, rounds);
	tlt_result(cleared_ok == 2 * rounds, "CLEAR_ALL gives every byte back: %lu of %lu",
		   cleared_ok, 2 * rounds);
	tlt_set_free(&want);
	if (tlt_tdev_close(d))
		tlt_diag("removing the device failed");
	tlt_exit();
}
