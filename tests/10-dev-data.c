// SPDX-License-Identifier: GPL-2.0
/*
 * 10-dev-data: the data path of a tloop device, checked against an in-memory
 * model and against the backing file, with the same checks run on the stock
 * loop driver in the same boot as a reference.
 *
 * For each driver, block size (512, 4096) and size limit (none, odd):
 * attach a backing file of odd size, check size and block size, read the
 * initial content, write patterns at odd offsets and sizes with pwrite,
 * busybox dd and O_DIRECT, check the end of the device (short write, ENOSPC,
 * EOF), fsync, then compare the backing file with the model (the bytes past
 * the device's end must be untouched), detach and compare again from disk.
 * Then read-only devices: writes through write(2) and a shared mapping must
 * not reach the backing file, and tloop must refuse them the way loop does.
 *
 * tloop-timeout: 120
 */
#include "tlt.h"

#define FILE_SIZE	((off_t)(2 << 20) + 4096 + 1536 + 7)
#define ODD_LIMIT	((uint64_t)(1 << 20) + 3 * 512 + 100)
#define SEED0		0x1234u

struct span {
	off_t off;	/* negative: from the device's end */
	size_t len;
};

/* Buffered writes at odd places, including the very first and last bytes. */
static const struct span spans[] = {
	{ 0, 1 }, { 1, 1 }, { 511, 3 }, { 4095, 4098 }, { 12345, 70001 },
	{ 300000, 1 }, { 65536, 4096 }, { -777, 777 }, { -1, 1 },
};

static const char *backing = "backing.img";

#define DATA_RESULTS 15

static int data_case(enum tlt_kind kind, unsigned int bs, uint64_t limit)
{
	char name[96], what[160];
	struct tlt_dev d;
	int64_t dev_size, want_size, raw_size;
	unsigned char *model, *buf, *file;
	int fd, dfd, ret, ok, sector = 0;
	uint32_t seed = 100;
	int before = tlt_results();
	size_t i;

	snprintf(name, sizeof(name), "%s bs=%u limit=%" PRIu64, tlt_kind_name(kind), bs, limit);
	if (tlt_make_file(backing, FILE_SIZE, SEED0))
		tlt_bail("create %s", backing);
	raw_size = (limit && (off_t)limit < FILE_SIZE) ? (int64_t)limit : FILE_SIZE;
	want_size = raw_size - raw_size % bs;

	ret = tlt_attach(&d, kind, backing, 0, bs, limit);
	if (!tlt_result(ret == 0, "%s: attach", name)) {
		tlt_diag("attach: %s", tlt_errname(-ret));
		return 0;
	}
	model = tlt_alloc(FILE_SIZE);
	buf = tlt_alloc(FILE_SIZE);
	file = tlt_alloc(FILE_SIZE);
	tlt_pattern(model, FILE_SIZE, 0, SEED0);

	fd = open(d.path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		tlt_bail("open %s", d.path);
	dev_size = tlt_dev_size(fd);
	ioctl(fd, BLKSSZGET, &sector);
	if (kind == TLT_LOOP && dev_size != want_size && dev_size == raw_size - raw_size % 512) {
		/*
		 * The stock loop driver rounds the size to 512 bytes, not to its
		 * block size, and fails I/O to the partial last block: it cannot
		 * serve as the reference for this case.
		 */
		char why[128];

		snprintf(why, sizeof(why), "stock loop sizes the device %" PRId64
			 " (512-byte rounding), not a multiple of %u", dev_size, bs);
		close(fd);
		tlt_detach(&d);
		while (tlt_results() < before + DATA_RESULTS)
			tlt_skip(name, why);
		goto out;
	}
	ok = dev_size == want_size && sector == (int)bs;
	if (!ok)
		tlt_diag("size %" PRId64 " (want %" PRId64 "), block size %d (want %u)", dev_size,
			 want_size, sector, bs);
	tlt_result(ok, "%s: device size and logical block size", name);
	if (dev_size < 0 || dev_size > want_size)
		dev_size = want_size;

	ret = tlt_pread_full(fd, buf, (size_t)dev_size, 0);
	tlt_result(!ret && tlt_compare("initial read", model, buf, (size_t)dev_size, 0),
		   "%s: reads return the backing file's content", name);

	/* pwrite at odd offsets and sizes through the device's page cache. */
	ok = 1;
	for (i = 0; i < sizeof(spans) / sizeof(spans[0]); i++) {
		off_t off = spans[i].off < 0 ? dev_size + spans[i].off : spans[i].off;

		tlt_pattern(model + off, spans[i].len, (uint64_t)off, ++seed);
		ret = tlt_pwrite_full(fd, model + off, spans[i].len, off);
		if (ret) {
			tlt_diag("pwrite %zu at %jd: %s", spans[i].len, (intmax_t)off,
				 tlt_errname(-ret));
			ok = 0;
		}
	}
	tlt_result(ok, "%s: pwrite at odd offsets and sizes", name);

	/* busybox dd with an odd block size: 3 blocks of 3001 bytes at 7 * 3001. */
	{
		unsigned char src[3 * 3001];
		int sfd = open("dd.src", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

		tlt_pattern(src, sizeof(src), 7 * 3001, ++seed);
		if (sfd < 0 || tlt_pwrite_full(sfd, src, sizeof(src), 0))
			tlt_bail("write dd.src");
		close(sfd);
		memcpy(model + 7 * 3001, src, sizeof(src));
		ret = tlt_run("dd if=dd.src of=%s bs=3001 seek=7 count=3 conv=notrunc", d.path);
		tlt_result(ret == 0, "%s: dd bs=3001 seek=7 count=3", name);
	}

	/* O_DIRECT: block-aligned, bypassing the device's page cache. */
	dfd = open(d.path, O_RDWR | O_DIRECT | O_CLOEXEC);
	if (dfd < 0)
		tlt_bail("open %s O_DIRECT", d.path);
	{
		off_t off = 5 * (off_t)bs + 65536;
		size_t len = 9 * bs;

		/* Write through the buffered fd first so the page cache must be updated. */
		if (fsync(fd))
			tlt_diag("fsync before O_DIRECT: %s", strerror(errno));
		tlt_pattern(buf, len, (uint64_t)off, ++seed);
		memcpy(model + off, buf, len);
		ret = tlt_pwrite_full(dfd, buf, len, off);
		tlt_result(!ret, "%s: O_DIRECT write of %zu bytes at %jd", name, len, (intmax_t)off);
		memset(buf, 0, len);
		ret = tlt_pread_full(dfd, buf, len, off);
		tlt_result(!ret && tlt_compare("O_DIRECT read", model + off, buf, len, (uint64_t)off),
			   "%s: O_DIRECT read returns it", name);
	}
	close(dfd);

	/* The end of the device. */
	{
		ssize_t n;

		memset(buf, 0xEE, 300);
		n = pwrite(fd, buf, 300, dev_size - 100);
		ok = n == 100;
		if (n > 0)
			memset(model + dev_size - 100, 0xEE, (size_t)n);
		if (!ok)
			tlt_diag("pwrite across the end: expected 100, got %zd (%s)", n,
				 n < 0 ? tlt_errname(errno) : "-");
		tlt_result(ok, "%s: a write across the end is short", name);
		n = pwrite(fd, buf, 1, dev_size);
		snprintf(what, sizeof(what), "%s: a write at the end fails with ENOSPC", name);
		tlt_expect_errno(n, ENOSPC, what);
		n = pread(fd, buf, 10, dev_size);
		if (!tlt_result(n == 0, "%s: read at the end returns 0", name))
			tlt_diag("read at the end returned %zd", n);
	}

	/* Read the whole device back through its page cache. */
	ret = tlt_pread_full(fd, buf, (size_t)dev_size, 0);
	tlt_result(!ret && tlt_compare("device", model, buf, (size_t)dev_size, 0),
		   "%s: device content matches the model", name);

	tlt_result(fsync(fd) == 0, "%s: fsync of the device", name);
	close(fd);

	/* The backing file, seen through its own page cache. */
	fd = open(backing, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || tlt_pread_full(fd, file, FILE_SIZE, 0))
		tlt_bail("read %s", backing);
	close(fd);
	tlt_result(tlt_compare("backing file", model, file, FILE_SIZE, 0),
		   "%s: backing file matches the model (tail past the end untouched)", name);

	ret = tlt_detach(&d);
	if (!tlt_result(ret == 0, "%s: detach", name))
		tlt_diag("detach: %s", tlt_errname(-ret));

	tlt_drop_caches();
	fd = open(backing, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || tlt_pread_full(fd, file, FILE_SIZE, 0))
		tlt_bail("read %s", backing);
	close(fd);
	tlt_result(tlt_compare("backing file after detach", model, file, FILE_SIZE, 0),
		   "%s: backing file matches after detach and drop_caches", name);
out:
	free(model);
	free(buf);
	free(file);
	return 1;
}

/* What a read-only device did with one attempt to write. */
struct ro_outcome {
	int rdwr_open;	/* 0 or errno of open(O_RDWR) */
	int write_err;	/* errno of write(2), 0 if it succeeded */
	int mmap_err;	/* errno of mmap(PROT_WRITE, MAP_SHARED), 0 if mapped */
	int changed;	/* the backing file changed */
};

static int ro_case(enum tlt_kind kind, int rdwr_backing_fd, struct ro_outcome *out)
{
	char name[64];
	struct tlt_dev d;
	unsigned char *want, *got;
	size_t size = 1 << 20;
	int fd, bfd, ret, ro = -1;
	ssize_t n;
	void *map;

	snprintf(name, sizeof(name), "%s read-only (backing fd %s)", tlt_kind_name(kind),
		 rdwr_backing_fd ? "O_RDWR" : "O_RDONLY");
	memset(out, 0, sizeof(*out));
	if (tlt_make_file(backing, (off_t)size, SEED0))
		tlt_bail("create %s", backing);
	bfd = open(backing, (rdwr_backing_fd ? O_RDWR : O_RDONLY) | O_CLOEXEC);
	if (bfd < 0)
		tlt_bail("open %s", backing);
	ret = tlt_attach_fd(&d, kind, bfd, TLOOP_FLAG_READ_ONLY, 0, 0);
	close(bfd);
	if (!tlt_result(ret == 0, "%s: attach", name)) {
		tlt_diag("attach: %s", tlt_errname(-ret));
		return 0;
	}
	fd = open(d.path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		tlt_bail("open %s", d.path);
	ioctl(fd, BLKROGET, &ro);
	if (!tlt_result(ro == 1, "%s: BLKROGET reports read-only", name))
		tlt_diag("BLKROGET: %d", ro);
	close(fd);

	fd = open(d.path, O_RDWR | O_CLOEXEC);
	out->rdwr_open = fd < 0 ? errno : 0;
	if (fd >= 0) {
		memset(want = tlt_alloc(4096), 0x5A, 4096);
		n = pwrite(fd, want, 4096, 8192);
		out->write_err = n < 0 ? errno : 0;
		if (fsync(fd) < 0 && !out->write_err)
			out->write_err = errno;
		map = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		out->mmap_err = map == MAP_FAILED ? errno : 0;
		if (map != MAP_FAILED) {
			memset(map, 0xA5, 4096);
			ret = msync(map, 4096, MS_SYNC);
			tlt_diag("%s: store through a shared mapping, msync -> %s", name,
				 ret < 0 ? tlt_errname(errno) : "0");
			munmap(map, 4096);
		}
		free(want);
		close(fd);
	}
	tlt_diag("%s: open(O_RDWR) %s, write %s, mmap(MAP_SHARED, PROT_WRITE) %s", name,
		 out->rdwr_open ? tlt_errname(out->rdwr_open) : "ok",
		 out->rdwr_open ? "-" : out->write_err ? tlt_errname(out->write_err) : "ok",
		 out->rdwr_open ? "-" : out->mmap_err ? tlt_errname(out->mmap_err) : "ok");
	tlt_result(out->rdwr_open || out->write_err == EPERM,
		   "%s: write(2) fails with EPERM", name);

	ret = tlt_detach(&d);
	if (!tlt_result(ret == 0, "%s: detach", name))
		tlt_diag("detach: %s", tlt_errname(-ret));
	tlt_drop_caches();
	want = tlt_alloc(size);
	got = tlt_alloc(size);
	tlt_pattern(want, size, 0, SEED0);
	bfd = open(backing, O_RDONLY | O_CLOEXEC);
	if (bfd < 0 || tlt_pread_full(bfd, got, size, 0))
		tlt_bail("read %s", backing);
	close(bfd);
	out->changed = !tlt_compare("backing file", want, got, size, 0);
	tlt_result(!out->changed, "%s: backing file unchanged", name);
	free(want);
	free(got);
	return 1;
}

#define RO_RESULTS 5

int main(void)
{
	static const unsigned int sizes[] = { 512, 4096 };
	static const uint64_t limits[] = { 0, ODD_LIMIT };
	struct ro_outcome ref[2], tl[2];
	int have_loop = tlt_loop_control();
	int k, b, l, r;

	if (have_loop >= 0)
		close(have_loop);
	else
		tlt_diag("stock loop driver unavailable: reference runs skipped");

	tlt_plan(2 * (4 * DATA_RESULTS + 2 * RO_RESULTS) + 2);
	for (k = TLT_LOOP; k >= TLT_TLOOP; k--) {
		for (b = 0; b < 2; b++) {
			for (l = 0; l < 2; l++) {
				int before = tlt_results();

				if (k == TLT_LOOP && have_loop < 0) {
					while (tlt_results() < before + DATA_RESULTS)
						tlt_skip("loop reference", "loop module missing");
					continue;
				}
				data_case((enum tlt_kind)k, sizes[b], limits[l]);
				while (tlt_results() < before + DATA_RESULTS)
					tlt_result(0, "%s: (not reached)", tlt_kind_name(k));
			}
		}
	}
	for (k = TLT_LOOP; k >= TLT_TLOOP; k--) {
		for (r = 0; r < 2; r++) {
			int before = tlt_results();
			struct ro_outcome *o = k == TLT_LOOP ? &ref[r] : &tl[r];

			if (k == TLT_LOOP && have_loop < 0) {
				memset(o, 0, sizeof(*o));
				while (tlt_results() < before + RO_RESULTS)
					tlt_skip("loop reference", "loop module missing");
				continue;
			}
			ro_case((enum tlt_kind)k, r, o);
			while (tlt_results() < before + RO_RESULTS)
				tlt_result(0, "%s read-only: (not reached)", tlt_kind_name(k));
		}
	}
	for (r = 0; r < 2; r++) {
		const char *name = r ? "O_RDWR" : "O_RDONLY";

		if (have_loop < 0) {
			tlt_skip("read-only outcome equals loop's", "loop module missing");
			continue;
		}
		if (!tlt_result(ref[r].rdwr_open == tl[r].rdwr_open &&
				ref[r].write_err == tl[r].write_err &&
				ref[r].mmap_err == tl[r].mmap_err &&
				ref[r].changed == tl[r].changed,
				"read-only device (backing fd %s) refuses writes like loop", name))
			tlt_diag("loop: open %d write %d mmap %d changed %d; tloop: open %d write %d mmap %d changed %d",
				 ref[r].rdwr_open, ref[r].write_err, ref[r].mmap_err, ref[r].changed,
				 tl[r].rdwr_open, tl[r].write_err, tl[r].mmap_err, tl[r].changed);
	}
	tlt_exit();
}
