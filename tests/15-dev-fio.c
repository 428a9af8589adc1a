// SPDX-License-Identifier: GPL-2.0
/*
 * 15-dev-fio: fio data verification (crc32c checksums in every block,
 * verify_fatal=1) on a device: random writes of mixed block sizes with the
 * psync engine (buffered and O_DIRECT) and the mmap engine, each followed by
 * fio's read-back verification; then the device is detached, the caches
 * dropped, the backing file attached again and the psync data verified once
 * more (verify_only), so the data is proven to live in the backing file.
 * Every job also runs on the stock loop driver as a reference.
 *
 * tloop-timeout: 180
 */
#include "tlt.h"

struct job {
	const char *name;
	const char *opts;
	int size_mb;	/* times TLOOP_SCALE */
};

static const struct job jobs[] = {
	{ "psync buffered", "--ioengine=psync --direct=0 --bsrange=512-64k", 4 },
	{ "psync O_DIRECT", "--ioengine=psync --direct=1 --bsrange=4k-128k", 4 },
	/*
	 * fio 3.33's mmap engine reads zeros in its own verify phase on the
	 * stock loop driver (not on brd), so mmap-written data is verified by
	 * a separate psync verify_only run; the in-job verify is compared
	 * with loop's outcome below.
	 */
	{ "mmap", "--ioengine=mmap --bs=16k", 2 },
};
#define NJOBS	(sizeof(jobs) / sizeof(jobs[0]))

static int fio(const char *dev, const struct job *job, const char *extra)
{
	const char *opts = job->opts;
	int size_mb = job->size_mb * tlt_scale();

	return tlt_run("fio --name=verify --filename=%s %s --rw=randwrite --size=%dM "
		       "--verify=crc32c --verify_fatal=1 --do_verify=1 --randseed=4242 "
		       "--norandommap=0 --group_reporting=1 %s",
		       dev, opts, size_mb, extra);
}

#define RESULTS (NJOBS + 6)

static int mmap_injob[2];

static void kind_case(enum tlt_kind kind)
{
	int size_mb = jobs[0].size_mb * tlt_scale();

	const char *k = tlt_kind_name(kind);
	struct tlt_dev d;
	size_t j;
	int ret;

	if (tlt_make_file("fio.img", (off_t)size_mb << 20, 0))
		tlt_bail("create fio.img");
	ret = tlt_attach(&d, kind, "fio.img", 0, 0, 0);
	if (!tlt_result(!ret, "%s: attach", k)) {
		tlt_diag("attach: %s", tlt_errname(-ret));
		return;
	}
	/* mmap-written data, verified by a second fio process with psync. */
	ret = fio(d.path, &jobs[2], "--do_verify=0 --randseed=77");
	tlt_result(!ret, "%s: fio mmap randwrite", k);
	{
		struct job check = { "psync check", "--ioengine=psync --bs=16k", jobs[2].size_mb };

		tlt_result(!ret && !fio(d.path, &check, "--verify_only=1 --randseed=77"),
			   "%s: fio psync verify_only of the mmap-written data", k);
	}
	tlt_diag("%s: fio mmap with its own verify phase (compared with loop at the end)", k);
	mmap_injob[kind] = fio(d.path, &jobs[2], "");
	/* The buffered psync job runs last so its data is what verify_only re-reads. */
	for (j = 2; j-- > 0;)
		tlt_result(!fio(d.path, &jobs[j], ""), "%s: fio %s verify", k,
			   jobs[j].name);
	ret = tlt_detach(&d);
	if (!tlt_result(!ret, "%s: detach", k))
		tlt_diag("detach: %s", tlt_errname(-ret));
	tlt_drop_caches();
	ret = tlt_attach(&d, kind, "fio.img", 0, 0, 0);
	if (!tlt_result(!ret, "%s: attach again", k)) {
		tlt_diag("attach: %s", tlt_errname(-ret));
		return;
	}
	tlt_result(!fio(d.path, &jobs[0], "--verify_only=1"),
		   "%s: fio psync verify_only after re-attach", k);
	ret = tlt_detach(&d);
	if (ret)
		tlt_diag("detach: %s", tlt_errname(-ret));

	/* Control: one flipped byte in the backing file must fail the verification. */
	{
		int fd = open("fio.img", O_RDWR | O_CLOEXEC);
		off_t off = ((off_t)size_mb << 19) + 100;
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
	tlt_result(fio(d.path, &jobs[0], "--verify_only=1") > 0,
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
	tlt_plan(2 * (int)RESULTS + 1);
	for (k = TLT_LOOP; k >= TLT_TLOOP; k--) {
		int before = tlt_n;

		kind_case((enum tlt_kind)k);
		while (tlt_n < before + (int)RESULTS)
			tlt_result(0, "%s: (not reached)", tlt_kind_name(k));
	}
	if (!tlt_result(mmap_injob[TLT_TLOOP] == mmap_injob[TLT_LOOP],
			"fio mmap in-job verify: tloop's outcome equals loop's"))
		tlt_diag("loop: fio exit %d, tloop: fio exit %d", mmap_injob[TLT_LOOP],
			 mmap_injob[TLT_TLOOP]);
	tlt_exit();
}
