// SPDX-License-Identifier: GPL-2.0
/*
 * 15-dev-fio: fio data verification (crc32c checksums in every block,
 * verify_fatal=1) on a device.  One fio run writes three disjoint regions
 * one after the other: random 16 KiB writes with the mmap engine, random
 * 4-128 KiB O_DIRECT writes and random 512 B-64 KiB buffered writes with the
 * psync engine; the psync jobs read back and verify their data at once.
 * The device is detached, the caches dropped, the file attached again and a
 * second fio run (verify_only, psync) verifies all three regions, including
 * the mmap-written one, so the data is proven to live in the backing file;
 * finally one flipped byte in the backing file must fail the verification
 * (control).  Everything also runs
 * on the stock loop driver as a reference.
 *
 * fio 3.33's mmap engine reads zeros in its own verify phase on the stock
 * loop driver (not on brd), which is why the mmap region is verified by the
 * separate psync run.  fio starts slowly under TCG: few runs, several jobs.
 *
 * Under TCG this takes under a minute on Debian's kernels and about 4
 * minutes on the KASAN/lockdep debug kernel.
 *
 * tloop-timeout: 480
 */
#include "tlt.h"

#include <time.h>

/* Region sizes in MiB, times TLOOP_SCALE: mmap, O_DIRECT, buffered. */
#define MMAP_MB		1
#define DIRECT_MB	2
#define BUFFERED_MB	2

/* The buffered region alone, verify_only: the corruption control. */
static int fio_buffered_only(const char *dev)
{
	int s = tlt_scale();

	return tlt_run("fio --filename=%s --rw=randwrite --verify=crc32c --verify_fatal=1 "
		       "--randseed=4242 --verify_only=1 --name=buffered --offset=%dM --size=%dM "
		       "--ioengine=psync --direct=0 --bsrange=512-64k",
		       dev, (MMAP_MB + DIRECT_MB) * s, BUFFERED_MB * s);
}

static int fio(const char *dev, int verify_only)
{
	int s = tlt_scale();
	int m = MMAP_MB * s, d = DIRECT_MB * s, b = BUFFERED_MB * s, ret;
	time_t t0 = time(NULL);

	ret = tlt_run("fio --filename=%s --rw=randwrite --verify=crc32c --verify_fatal=1 "
		       "--randseed=4242 --stonewall %s "
		       "--name=mmap --offset=0 --size=%dM --bs=16k %s "
		       "--name=direct --offset=%dM --size=%dM --ioengine=psync --direct=1 "
		       "--bsrange=4k-128k "
		       "--name=buffered --offset=%dM --size=%dM --ioengine=psync --direct=0 "
		       "--bsrange=512-64k",
		       dev, verify_only ? "--verify_only=1" : "--do_verify=1",
		       m, verify_only ? "--ioengine=psync" : "--ioengine=mmap --do_verify=0",
		       m, d, m + d, b);
	tlt_diag("fio %s on %s: exit %d, %ld s", verify_only ? "verify_only" : "write+verify",
		 dev, ret, (long)(time(NULL) - t0));
	return ret;
}

#define RESULTS 6

static void kind_case(enum tlt_kind kind)
{
	int size_mb = (MMAP_MB + DIRECT_MB + BUFFERED_MB) * tlt_scale();
	const char *k = tlt_kind_name(kind);
	struct tlt_dev d;
	int ret;

	if (tlt_make_file("fio.img", (off_t)size_mb << 20, 0))
		tlt_bail("create fio.img");
	ret = tlt_attach(&d, kind, "fio.img", 0, 0, 0);
	if (!tlt_result(!ret, "%s: attach", k)) {
		tlt_diag("attach: %s", tlt_errname(-ret));
		return;
	}
	tlt_result(!fio(d.path, 0), "%s: fio mmap, psync O_DIRECT and buffered writes, verified", k);
	ret = tlt_detach(&d);
	if (!tlt_result(!ret, "%s: detach", k))
		tlt_diag("detach: %s", tlt_errname(-ret));
	tlt_drop_caches();
	ret = tlt_attach(&d, kind, "fio.img", 0, 0, 0);
	if (!tlt_result(!ret, "%s: attach again", k)) {
		tlt_diag("attach: %s", tlt_errname(-ret));
		return;
	}
	tlt_result(!fio(d.path, 1), "%s: fio verify_only (psync) of all three regions after re-attach",
		   k);
	ret = tlt_detach(&d);
	if (ret)
		tlt_diag("detach: %s", tlt_errname(-ret));

	/* Control: one flipped byte in the buffered region must fail the verification. */
	{
		int fd = open("fio.img", O_RDWR | O_CLOEXEC);
		off_t off = ((off_t)size_mb << 20) - (1 << 20) + 100;
		unsigned char c;

		if (fd < 0 || pread(fd, &c, 1, off) != 1)
			tlt_bail("read fio.img");
		c ^= 0x10;
		if (pwrite(fd, &c, 1, off) != 1 || fsync(fd))
			tlt_bail("write fio.img");
		close(fd);
	}
	ret = tlt_attach(&d, kind, "fio.img", 0, 0, 0);
	if (ret)
		tlt_bail("attach for the control: %s", tlt_errname(-ret));
	tlt_diag("%s: the next fio run must fail", k);
	tlt_result(fio_buffered_only(d.path) > 0,
		   "%s: fio verify_only detects a corrupted byte (control)", k);
	ret = tlt_detach(&d);
	if (ret)
		tlt_diag("detach: %s", tlt_errname(-ret));
	unlink("fio.img");
}

int main(void)
{
	int k;

	if (tlt_run("fio --version"))
		tlt_skip_all("fio is not installed");
	tlt_plan(2 * RESULTS);
	for (k = TLT_LOOP; k >= TLT_TLOOP; k--) {
		int before = tlt_results();

		kind_case((enum tlt_kind)k);
		while (tlt_results() < before + RESULTS)
			tlt_result(0, "%s: (not reached)", tlt_kind_name(k));
	}
	tlt_exit();
}
