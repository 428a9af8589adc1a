// SPDX-License-Identifier: GPL-2.0
/*
 * persist-bench: save and restore time of persistent written sets (make
 * bench-persist).  A 1 GiB device attached with TLOOP_FLAG_PERSIST and one
 * named consumer beside the default one (two sets) gets a written set that
 * is dense (every page), alternating (every second page: the most extents
 * a set can have) or sparse (1% of the pages, at random).  The save is the
 * TLOOP_CTL_REMOVE (the backing file was fsynced just before, so what is
 * timed is the sets' walk, the sidecar's write and its fsync); the restore is
 * the TLOOP_CTL_ADD that reads the sidecar back, checks it and rewrites it
 * marked in use.  Each is repeated and the median reported, in ms per GiB
 * of device, with the sidecar's size.  A result is "not ok" only when the
 * restore was not trusted or lost pages.  The backing file and the sidecar
 * live in the VM's tmpfs: the numbers are CPU cost, not storage latency.
 *
 * tloop-timeout: 1200
 */
#include "tlt.h"

#define GIB (1ULL << 30)
#define REPS 5

static int ctl;

static int add(uint32_t *status)
{
	struct tloop_add a = { .size = sizeof(a), .index = -1, .block_size = 512,
			       .flags = TLOOP_FLAG_TRACK | TLOOP_FLAG_PERSIST };
	int bfd = open("p.img", O_RDWR), pfd = open("p.sets", O_RDWR | O_CREAT, 0600);
	int ret;

	if (bfd < 0 || pfd < 0)
		tlt_bail("open");
	a.backing_fd = bfd;
	a.persist_fd = pfd;
	ret = ioctl(ctl, TLOOP_CTL_ADD, &a);
	ret = ret < 0 ? -errno : a.index;
	close(bfd);
	close(pfd);
	*status = a.persist_status;
	return ret;
}

int main(void)
{
	static const char *const kinds[] = { "dense (every page)",
					     "alternating (every 2nd page)",
					     "sparse (1% of the pages)" };
	size_t page = TLT_PAGE;
	uint64_t npages = GIB / page;
	uint8_t *buf = tlt_alloc(1 << 20);

	tlt_plan(3);
	ctl = tlt_ctl_open();
	tlt_rand_seed(tlt_seed(66));
	memset(buf, 0x5a, 1 << 20);
	for (int k = 0; k < 3; k++) {
		double save[REPS], restore[REPS];
		uint64_t want = 0, got = 0;
		int64_t saved_size = 0;
		struct tloop_track_status st;
		uint32_t status;
		char node[64];
		bool ok = true;
		int idx, fd, bfd;

		unlink("p.img");
		unlink("p.sets");
		if (tlt_make_file("p.img", GIB, 0))
			tlt_bail("make p.img");
		idx = add(&status);
		if (idx < 0)
			tlt_bail("add");
		/* O_DIRECT: the data is not cached twice (device and tmpfs). */
		fd = open(tlt_dev_path(node, sizeof(node), idx), O_RDWR | O_DIRECT);
		if (fd < 0 || tlt_consumer_add(fd, "b", 0) < 0)
			tlt_bail("open or consumer add");
		if (k == 0) {
			for (uint64_t off = 0; off < GIB; off += 1 << 20)
				tlt_pwrite_all(fd, buf, 1 << 20, (off_t)off);
			want = npages;
		} else if (k == 1) {
			for (uint64_t p = 0; p < npages; p += 2)
				tlt_pwrite_all(fd, buf, page, (off_t)(p * page));
			want = npages / 2;
		} else {
			uint8_t *seen = calloc(npages, 1);

			for (uint64_t i = 0; i < npages / 100; i++) {
				uint64_t p = tlt_rand_below(npages);

				want += !seen[p];
				seen[p] = 1;
				tlt_pwrite_all(fd, buf, page, (off_t)(p * page));
			}
			free(seen);
		}
		if (fsync(fd))
			tlt_bail("fsync");
		close(fd);
		for (int r = 0; r < REPS; r++) {
			double t0;

			bfd = open("p.img", O_RDWR);
			if (bfd < 0 || fsync(bfd))
				tlt_bail("fsync p.img");
			close(bfd);
			t0 = tlt_now();
			if (tlt_remove(ctl, idx))
				tlt_bail("remove");
			save[r] = tlt_now() - t0;
			/* Its size as saved (an add rewrites it without the pages). */
			saved_size = tlt_file_size("p.sets");
			t0 = tlt_now();
			idx = add(&status);
			restore[r] = tlt_now() - t0;
			if (idx < 0)
				tlt_bail("add");
			fd = open(tlt_dev_path(node, sizeof(node), idx), O_RDONLY);
			if (fd < 0 || tlt_cstatus(fd, 0, &st))
				tlt_bail("status");
			got = st.written;
			close(fd);
			if (status != TLOOP_PERSIST_TRUSTED || got != want)
				ok = false;
		}
		tlt_diag("bench: %s, %" PRIu64 " pages x 2 sets, sidecar %" PRId64
			 " bytes: save %.1f ms/GiB, restore %.1f ms/GiB (median of %d)",
			 kinds[k], want, saved_size, tlt_median(save, REPS) * 1000,
			 tlt_median(restore, REPS) * 1000, REPS);
		if (!ok)
			tlt_diag("restore status %u, %" PRIu64 " pages, want trusted and %" PRIu64,
				 status, got, want);
		tlt_result(ok, "%s: every restore trusted and complete", kinds[k]);
		if (tlt_remove(ctl, idx))
			tlt_bail("remove");
	}
	unlink("p.img");
	unlink("p.sets");
	tlt_exit();
}
