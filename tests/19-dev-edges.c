// SPDX-License-Identifier: GPL-2.0
/*
 * 19-dev-edges: situations a loop-style driver must survive, each also run
 * on the stock loop driver as a reference.
 *  - stacking: a device whose backing file lives on ext4 on another device
 *    of the same driver; writes through the upper one, fsync, verify
 *    (a driver with one shared worker would deadlock here);
 *  - the backing file is truncated under an attached device: reads do not
 *    hang or crash, and the device can still be detached;
 *  - BLKROSET 0 on a device created read-only from a read-write fd: the
 *    backing file must not change whatever the block layer allows (tloop
 *    promises "the device refuses writes"; loop's outcome is printed).
 *
 * tloop-timeout: 120
 */
#include "tlt.h"

#include <time.h>

#define MNT	"mnt"

#define STACK_RESULTS 5

static void stack_case(enum tlt_kind kind)
{
	const char *k = tlt_kind_name(kind);
	size_t len = 8 << 20;
	unsigned char *buf = tlt_alloc(len), *got = tlt_alloc(len);
	struct tlt_dev lower, upper;
	int fd, ret, ok;

	if (tlt_make_file("lower.img", 48 << 20, 0))
		tlt_bail("create lower.img");
	ret = tlt_attach(&lower, kind, "lower.img", 0, 0, 0);
	if (!tlt_result(!ret, "%s stacked: attach the lower device", k)) {
		tlt_diag("attach: %s", tlt_errname(-ret));
		goto out;
	}
	if (tlt_run(TLT_MKE2FS " -q -F -t ext4 %s", lower.path) ||
	    mount(lower.path, MNT, "ext4", 0, NULL)) {
		tlt_result(0, "%s stacked: ext4 on the lower device", k);
		goto detach_lower;
	}
	tlt_result(1, "%s stacked: ext4 on the lower device", k);
	if (tlt_make_file(MNT "/upper.img", 16 << 20, 0))
		tlt_bail("create " MNT "/upper.img");
	ret = tlt_attach(&upper, kind, MNT "/upper.img", 0, 0, 0);
	if (!tlt_result(!ret, "%s stacked: attach a device backed by a file on it", k)) {
		tlt_diag("attach: %s", tlt_errname(-ret));
		goto umount;
	}
	alarm(90);
	fd = open(upper.path, O_RDWR | O_CLOEXEC);
	tlt_pattern(buf, len, 4096, 5);
	ok = fd >= 0 && !tlt_pwrite_full(fd, buf, len, 4096) && !fsync(fd);
	if (fd >= 0)
		close(fd);
	tlt_drop_caches();
	fd = open(MNT "/upper.img", O_RDONLY | O_CLOEXEC);
	ok = ok && fd >= 0 && !tlt_pread_full(fd, got, len, 4096) &&
	     tlt_compare("upper.img", buf, got, len, 4096);
	if (fd >= 0)
		close(fd);
	alarm(0);
	tlt_result(ok, "%s stacked: 8 MiB written through the upper device reach its file", k);
	ret = tlt_detach(&upper);
	if (!tlt_result(!ret, "%s stacked: detach the upper device", k))
		tlt_diag("detach: %s", tlt_errname(-ret));
umount:
	if (umount(MNT))
		tlt_diag("umount: %s", strerror(errno));
detach_lower:
	ret = tlt_detach(&lower);
	if (ret)
		tlt_diag("detach %s: %s", lower.path, tlt_errname(-ret));
out:
	unlink("lower.img");
	free(buf);
	free(got);
}

#define TRUNC_RESULTS 3

static void truncate_case(enum tlt_kind kind)
{
	const char *k = tlt_kind_name(kind);
	unsigned char buf[65536];
	struct tlt_dev d;
	ssize_t n;
	int fd, ret, err = 0;

	if (tlt_make_file("trunc.img", 4 << 20, 3))
		tlt_bail("create trunc.img");
	ret = tlt_attach(&d, kind, "trunc.img", 0, 0, 0);
	if (!tlt_result(!ret, "%s truncated: attach", k)) {
		tlt_diag("attach: %s", tlt_errname(-ret));
		return;
	}
	if (truncate("trunc.img", 1 << 20))
		tlt_bail("truncate trunc.img");
	alarm(60);
	fd = open(d.path, O_RDONLY | O_DIRECT | O_CLOEXEC);
	{
		unsigned char *dbuf = tlt_alloc(sizeof(buf));

		n = fd < 0 ? -1 : pread(fd, dbuf, sizeof(buf), 2 << 20);
		err = errno;
		tlt_diag("%s: O_DIRECT read past the truncated end: %zd (%s)", k, n,
			 n < 0 ? tlt_errname(err) : "ok");
		if (n > 0)
			memcpy(buf, dbuf, (size_t)n);
		free(dbuf);
	}
	if (fd >= 0)
		close(fd);
	alarm(0);
	tlt_result(fd >= 0 && (n >= 0 || err == EIO),
		   "%s truncated: a read past the file's new end returns data or EIO", k);
	ret = tlt_detach(&d);
	if (!tlt_result(!ret, "%s truncated: detach", k))
		tlt_diag("detach: %s", tlt_errname(-ret));
	unlink("trunc.img");
}

/* The unchanged-file check is tloop's promise only. */
#define RO_RESULTS(kind) ((kind) == TLT_LOOP ? 2 : 3)

static int roset_changed[2];

static void roset_case(enum tlt_kind kind)
{
	const char *k = tlt_kind_name(kind);
	unsigned char want[4096], got[4096];
	struct tlt_dev d;
	int fd, bfd, ret, zero = 0, werr = 0;
	ssize_t n;

	if (tlt_make_file("ro.img", 1 << 20, 4))
		tlt_bail("create ro.img");
	bfd = open("ro.img", O_RDWR | O_CLOEXEC);
	ret = bfd < 0 ? -errno : tlt_attach_fd(&d, kind, bfd, TLOOP_FLAG_READ_ONLY, 0, 0);
	if (bfd >= 0)
		close(bfd);
	if (!tlt_result(!ret, "%s BLKROSET: attach read-only from an O_RDWR fd", k)) {
		tlt_diag("attach: %s", tlt_errname(-ret));
		return;
	}
	fd = open(d.path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		tlt_bail("open %s", d.path);
	ret = ioctl(fd, BLKROSET, &zero);
	memset(got, 0x3C, sizeof(got));
	n = pwrite(fd, got, sizeof(got), 0);
	werr = n < 0 ? errno : 0;
	if (n >= 0 && fsync(fd))
		werr = errno;
	tlt_diag("%s: BLKROSET 0 %s, then write %s", k, ret ? tlt_errname(errno) : "ok",
		 werr ? tlt_errname(werr) : "ok");
	close(fd);
	ret = tlt_detach(&d);
	if (!tlt_result(!ret, "%s BLKROSET: detach", k))
		tlt_diag("detach: %s", tlt_errname(-ret));
	tlt_drop_caches();
	tlt_pattern(want, sizeof(want), 0, 4);
	bfd = open("ro.img", O_RDONLY | O_CLOEXEC);
	roset_changed[kind] = bfd < 0 || tlt_pread_full(bfd, got, sizeof(got), 0) ||
			      memcmp(want, got, sizeof(got));
	if (bfd >= 0)
		close(bfd);
	if (kind == TLT_LOOP) {
		tlt_diag("loop (reference only): the backing file %s after BLKROSET 0 and a write",
			 roset_changed[kind] ? "changed" : "is unchanged");
	} else {
		tlt_result(!roset_changed[kind],
			   "tloop BLKROSET: a read-only device never writes its backing file");
	}
	unlink("ro.img");
}

static void on_alarm(int sig)
{
	(void)sig;
	printf("# an operation did not return in time (hang)\n");
	fflush(stdout);
	_exit(1);
}

int main(void)
{
	int k, have_ext4 = !tlt_need_ext4();

	signal(SIGALRM, on_alarm);
	if (mkdir(MNT, 0700))
		tlt_bail("mkdir " MNT);
	tlt_plan(2 * (STACK_RESULTS + TRUNC_RESULTS) + RO_RESULTS(TLT_LOOP) +
		 RO_RESULTS(TLT_TLOOP));
	for (k = TLT_LOOP; k >= TLT_TLOOP; k--) {
		int before = tlt_n;

		if (have_ext4)
			stack_case((enum tlt_kind)k);
		while (tlt_n < before + STACK_RESULTS) {
			if (have_ext4)
				tlt_result(0, "%s stacked: (not reached)", tlt_kind_name(k));
			else
				tlt_skip("stacked", "ext4 module unavailable");
		}
		before = tlt_n;
		truncate_case((enum tlt_kind)k);
		while (tlt_n < before + TRUNC_RESULTS)
			tlt_result(0, "%s truncated: (not reached)", tlt_kind_name(k));
		before = tlt_n;
		roset_case((enum tlt_kind)k);
		while (tlt_n < before + RO_RESULTS(k))
			tlt_result(0, "%s BLKROSET: (not reached)", tlt_kind_name(k));
	}
	tlt_exit();
}
