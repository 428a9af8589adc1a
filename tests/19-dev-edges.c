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
 *    promises "the device refuses writes"; loop's outcome is printed);
 *  - a backing fd opened with O_APPEND: writes land in place (loop's
 *    outcome is printed);
 *  - direct I/O to a file on a disk with 4096-byte sectors (scsi_debug):
 *    512-byte device blocks are refused by tloop (loop falls back to
 *    buffered I/O), 4096-byte blocks serve correct data.
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

#define APPEND_RESULTS(kind) ((kind) == TLT_LOOP ? 2 : 3)

/*
 * A backing fd opened with O_APPEND: device writes must land in place, not
 * at the end of the file (tloop reopens the file with its own flags).
 */
static void append_case(enum tlt_kind kind)
{
	const char *k = tlt_kind_name(kind);
	unsigned char want[8192], got[8192];
	struct tlt_dev d;
	struct stat st;
	int fd, bfd, ret, ok;

	if (tlt_make_file("app.img", 1 << 20, 6))
		tlt_bail("create app.img");
	bfd = open("app.img", O_RDWR | O_APPEND | O_CLOEXEC);
	ret = bfd < 0 ? -errno : tlt_attach_fd(&d, kind, bfd, 0, 0, 0);
	if (bfd >= 0)
		close(bfd);
	if (!tlt_result(!ret, "%s O_APPEND: attach from an O_APPEND fd", k)) {
		tlt_diag("attach: %s", tlt_errname(-ret));
		return;
	}
	tlt_pattern(want, sizeof(want), 0, 6);
	memset(want + 4096, 0x5E, 4096);
	fd = open(d.path, O_RDWR | O_CLOEXEC);
	ok = fd >= 0 && !tlt_pwrite_full(fd, want + 4096, 4096, 4096) && !fsync(fd);
	if (fd >= 0)
		close(fd);
	ret = tlt_detach(&d);
	if (!tlt_result(!ret && ok, "%s O_APPEND: write, fsync and detach", k))
		tlt_diag("detach: %s", tlt_errname(-ret));
	bfd = open("app.img", O_RDONLY | O_CLOEXEC);
	ok = bfd >= 0 && !fstat(bfd, &st) && st.st_size == 1 << 20 &&
	     !tlt_pread_full(bfd, got, sizeof(got), 0) && !memcmp(want, got, sizeof(got));
	if (bfd >= 0)
		close(bfd);
	if (kind == TLT_LOOP)
		tlt_diag("loop (reference only): the write %s (file size %jd)",
			 ok ? "landed in place" : "did NOT land in place", (intmax_t)st.st_size);
	else if (!tlt_result(ok, "%s O_APPEND: the write landed in place, the file did not grow", k))
		tlt_diag("file size %jd (want %d)", (intmax_t)st.st_size, 1 << 20);
	unlink("app.img");
}

/* Find the scsi_debug disk's node ("/dev/sdX"); waits for the scan. */
static int find_scsi_debug(char *path, size_t len)
{
	char model[64], attr[128];
	int tries, i;

	for (tries = 0; tries < 100; tries++) {
		for (i = 0; i < 26; i++) {
			snprintf(attr, sizeof(attr), "/sys/block/sd%c/device/model", 'a' + i);
			if (!tlt_sysfs_read(attr, model, sizeof(model)) &&
			    strstr(model, "scsi_debug")) {
				snprintf(path, len, "/dev/sd%c", 'a' + i);
				if (!access(path, F_OK))
					return 0;
			}
		}
		usleep(100000);
	}
	return -1;
}

#define DIO_RESULTS 4

/*
 * Direct I/O to a backing file on a disk with 4096-byte sectors: a device
 * with 512-byte blocks cannot pass its requests through O_DIRECT, so it
 * must either refuse to be created (tloop: EINVAL) or fall back to buffered
 * I/O (loop); a 4096-byte-block device must serve data correctly.
 */
static void dio_case(enum tlt_kind kind, int have_4k)
{
	const char *k = tlt_kind_name(kind);
	unsigned char *buf = tlt_alloc(65536), *want = tlt_alloc(65536);
	struct tlt_dev d;
	int fd, ret, ok;

	if (!have_4k) {
		for (ret = 0; ret < DIO_RESULTS; ret++)
			tlt_skip("direct I/O on 4K sectors", "scsi_debug unavailable");
		goto out;
	}
	if (tlt_make_file(MNT "/dio.img", 8 << 20, 8))
		tlt_bail("create " MNT "/dio.img");

	ret = tlt_attach(&d, kind, MNT "/dio.img", TLOOP_FLAG_DIRECT_IO, 512, 0);
	if (kind == TLT_TLOOP) {
		if (!tlt_result(ret == -EINVAL,
				"%s dio 4K: 512-byte blocks with direct I/O -> EINVAL", k))
			tlt_diag("attach: %s", ret ? tlt_errname(-ret) : "success");
		if (!ret)
			tlt_detach(&d);
	} else {
		/* The stock driver falls back to buffered I/O: it must still be right. */
		ok = !ret;
		fd = ok ? open(d.path, O_RDONLY | O_CLOEXEC) : -1;
		tlt_pattern(want, 512, 1536, 8);
		ok = fd >= 0 && !tlt_pread_full(fd, buf, 512, 1536) &&
		     tlt_compare("512 at 1536", want, buf, 512, 1536);
		if (fd >= 0)
			close(fd);
		if (!ret)
			tlt_detach(&d);
		if (!tlt_result(ok, "%s dio 4K: 512-byte blocks with direct I/O read correctly", k))
			tlt_diag("attach: %s", tlt_errname(-ret));
	}

	ret = tlt_attach(&d, kind, MNT "/dio.img", TLOOP_FLAG_DIRECT_IO, 4096, 0);
	if (!tlt_result(!ret, "%s dio 4K: 4096-byte blocks with direct I/O attach", k)) {
		tlt_diag("attach: %s", tlt_errname(-ret));
		tlt_result(0, "%s dio 4K: data (not reached)", k);
		tlt_result(0, "%s dio 4K: detach (not reached)", k);
		goto out;
	}
	fd = open(d.path, O_RDWR | O_DIRECT | O_CLOEXEC);
	tlt_pattern(want, 65536, 40960, 9);
	ok = fd >= 0 && !tlt_pwrite_full(fd, want, 65536, 40960) &&
	     !tlt_pread_full(fd, buf, 65536, 40960) && !memcmp(buf, want, 65536);
	if (fd >= 0)
		close(fd);
	{
		int bfd = open(MNT "/dio.img", O_RDONLY | O_CLOEXEC);

		ok = ok && bfd >= 0 && !tlt_pread_full(bfd, buf, 65536, 40960) &&
		     tlt_compare("dio.img", want, buf, 65536, 40960);
		if (bfd >= 0)
			close(bfd);
	}
	tlt_result(ok, "%s dio 4K: O_DIRECT write and read, the backing file has the data", k);
	ret = tlt_detach(&d);
	if (!tlt_result(!ret, "%s dio 4K: detach", k))
		tlt_diag("detach: %s", tlt_errname(-ret));
out:
	unlink(MNT "/dio.img");
	free(buf);
	free(want);
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
	int k, have_ext4 = !tlt_need_ext4(), have_4k;
	char sd[32];

	signal(SIGALRM, on_alarm);
	if (mkdir(MNT, 0700))
		tlt_bail("mkdir " MNT);
	tlt_plan(2 * (STACK_RESULTS + TRUNC_RESULTS + DIO_RESULTS) + RO_RESULTS(TLT_LOOP) +
		 RO_RESULTS(TLT_TLOOP) + APPEND_RESULTS(TLT_LOOP) + APPEND_RESULTS(TLT_TLOOP));
	for (k = TLT_LOOP; k >= TLT_TLOOP; k--) {
		int before = tlt_results();

		if (have_ext4)
			stack_case((enum tlt_kind)k);
		while (tlt_results() < before + STACK_RESULTS) {
			if (have_ext4)
				tlt_result(0, "%s stacked: (not reached)", tlt_kind_name(k));
			else
				tlt_skip("stacked", "ext4 module unavailable");
		}
		before = tlt_results();
		truncate_case((enum tlt_kind)k);
		while (tlt_results() < before + TRUNC_RESULTS)
			tlt_result(0, "%s truncated: (not reached)", tlt_kind_name(k));
		before = tlt_results();
		roset_case((enum tlt_kind)k);
		while (tlt_results() < before + RO_RESULTS(k))
			tlt_result(0, "%s BLKROSET: (not reached)", tlt_kind_name(k));
		before = tlt_results();
		append_case((enum tlt_kind)k);
		while (tlt_results() < before + APPEND_RESULTS(k))
			tlt_result(0, "%s O_APPEND: (not reached)", tlt_kind_name(k));
	}

	/* ext4 on a scsi_debug disk with 4096-byte logical sectors. */
	have_4k = have_ext4 && !tlt_modprobe("sd_mod") &&
		  !tlt_modprobe("scsi_debug sector_size=4096 dev_size_mb=48") &&
		  !find_scsi_debug(sd, sizeof(sd)) &&
		  !tlt_run(TLT_MKE2FS " -q -F -t ext4 %s", sd) && !mount(sd, MNT, "ext4", 0, NULL);
	for (k = TLT_LOOP; k >= TLT_TLOOP; k--) {
		int before = tlt_results();

		dio_case((enum tlt_kind)k, have_4k);
		while (tlt_results() < before + DIO_RESULTS)
			tlt_result(0, "%s dio 4K: (not reached)", tlt_kind_name(k));
	}
	if (have_4k && umount(MNT))
		tlt_diag("umount %s: %s", sd, strerror(errno));
	tlt_run("rmmod scsi_debug 2>/dev/null || true");
	tlt_exit();
}
