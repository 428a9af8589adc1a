// SPDX-License-Identifier: GPL-2.0
/*
 * dev.c - tloop devices through the control node, one interface over tloop and
 * the stock loop driver (every data check of the device tests also runs on
 * /dev/loopN as a reference in the same boot), patterns, files and sysfs.
 */
#include "tlt.h"

size_t tlt_page_size(void)
{
	static size_t page;

	if (!page) {
		long v = sysconf(_SC_PAGESIZE);

		if (v <= 0)
			tlt_bail("sysconf(_SC_PAGESIZE)");
		page = (size_t)v;
	}
	return page;
}

int tlt_ctl_open(void)
{
	int fd = open(TLOOP_CONTROL_NODE, O_RDWR | O_CLOEXEC);

	if (fd < 0)
		tlt_bail("open %s", TLOOP_CONTROL_NODE);
	return fd;
}

int tlt_add(int ctl, const char *path, off_t size, unsigned int flags,
	    unsigned int block_size)
{
	struct tloop_add add = { .size = sizeof(add), .index = -1 };
	int fd, ret, err;

	fd = open(path, ((flags & TLOOP_FLAG_READ_ONLY) ? O_RDONLY : O_RDWR) | O_CREAT |
		  O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (size && ftruncate(fd, size) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	add.flags = flags;
	add.backing_fd = fd;
	add.block_size = block_size;
	ret = ioctl(ctl, TLOOP_CTL_ADD, &add);
	err = errno;
	close(fd);
	return ret < 0 ? -err : add.index;
}

int tlt_remove(int ctl, int index)
{
	struct tloop_remove rm = { .size = sizeof(rm), .index = (__u32)index };

	return ioctl(ctl, TLOOP_CTL_REMOVE, &rm) < 0 ? -errno : 0;
}

const char *tlt_dev_path(char *buf, size_t len, int index)
{
	snprintf(buf, len, TLOOP_DEVICE_PREFIX "%d", index);
	return buf;
}
const char *tlt_kind_name(enum tlt_kind kind)
{
	return kind == TLT_TLOOP ? "tloop" : "loop";
}
void tlt_pattern(void *buf, size_t len, uint64_t off, uint32_t seed)
{
	unsigned char *p = buf;
	size_t i;

	for (i = 0; i < len; i++) {
		uint64_t x = (off + i) / 8 * 0x9E3779B97F4A7C15ULL + seed * 0xC2B2AE3DULL;

		x ^= x >> 29;
		p[i] = (unsigned char)(x >> (8 * ((off + i) % 8)));
	}
}

int tlt_compare(const char *what, const void *want, const void *got, size_t len,
		uint64_t off)
{
	const unsigned char *w = want, *g = got;
	size_t i, bad = 0, first = 0;

	for (i = 0; i < len; i++) {
		if (w[i] != g[i]) {
			if (!bad++)
				first = i;
		}
	}
	if (!bad)
		return 1;
	tlt_diag("%s: %zu of %zu bytes differ; first at offset %" PRIu64
		 ": expected 0x%02x, got 0x%02x", what, bad, len, off + first, w[first], g[first]);
	return 0;
}

int tlt_pread_full(int fd, void *buf, size_t len, off_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, (char *)buf + done, len - done, off + (off_t)done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		done += (size_t)n;
	}
	return 0;
}

int tlt_pwrite_full(int fd, const void *buf, size_t len, off_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pwrite(fd, (const char *)buf + done, len - done, off + (off_t)done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ENOSPC;
		done += (size_t)n;
	}
	return 0;
}

void tlt_pread_all(int fd, void *buf, size_t len, off_t off)
{
	int ret = tlt_pread_full(fd, buf, len, off);

	if (ret) {
		errno = -ret;
		tlt_bail("pread %zu bytes at %lld", len, (long long)off);
	}
}

void tlt_pwrite_all(int fd, const void *buf, size_t len, off_t off)
{
	int ret = tlt_pwrite_full(fd, buf, len, off);

	if (ret) {
		errno = -ret;
		tlt_bail("pwrite %zu bytes at %lld", len, (long long)off);
	}
}

void *tlt_alloc(size_t len)
{
	void *p = NULL;

	if (posix_memalign(&p, TLT_PAGE, len ? len : 1))
		tlt_bail("posix_memalign %zu", len);
	memset(p, 0, len);
	return p;
}

int tlt_make_file(const char *path, off_t size, uint32_t seed)
{
	size_t chunk = 1 << 20;
	char *buf;
	off_t off;
	int fd, ret = 0;

	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, size) < 0) {
		ret = -errno;
		goto out;
	}
	if (!seed)
		goto out;
	buf = tlt_alloc(chunk);
	for (off = 0; off < size && !ret; off += (off_t)chunk) {
		size_t n = (size_t)(size - off) < chunk ? (size_t)(size - off) : chunk;

		tlt_pattern(buf, n, (uint64_t)off, seed);
		ret = tlt_pwrite_full(fd, buf, n, off);
	}
	free(buf);
	if (!ret && fsync(fd) < 0)
		ret = -errno;
out:
	close(fd);
	return ret;
}

int tlt_open_file(const char *path, off_t size, int flags)
{
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);

	if (fd < 0 || ftruncate(fd, size) < 0)
		tlt_bail("create %s", path);
	close(fd);
	fd = open(path, flags | O_CLOEXEC);
	if (fd < 0)
		tlt_bail("open %s", path);
	return fd;
}

void tlt_drop_caches(void)
{
	int fd;

	sync();
	fd = open("/proc/sys/vm/drop_caches", O_WRONLY | O_CLOEXEC);
	if (fd >= 0) {
		if (write(fd, "3", 1) < 0)
			tlt_diag("drop_caches: %s", strerror(errno));
		close(fd);
	}
}

int tlt_loop_control(void)
{
	int fd = open("/dev/loop-control", O_RDWR | O_CLOEXEC);

	if (fd < 0 && errno == ENOENT && !tlt_modprobe("loop"))
		fd = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

int tlt_attach_fd(struct tlt_dev *d, enum tlt_kind kind, int backing_fd,
		  unsigned int flags, unsigned int block_size, uint64_t size_limit)
{
	int ctl, ret, dfd, err;

	memset(d, 0, sizeof(*d));
	d->kind = kind;
	d->index = -1;
	if (kind == TLT_TLOOP) {
		struct tloop_add add = {
			.size = sizeof(add), .flags = flags, .backing_fd = backing_fd,
			.index = -1, .block_size = block_size, .size_limit = size_limit,
		};

		ctl = open(TLOOP_CONTROL_NODE, O_RDWR | O_CLOEXEC);
		if (ctl < 0)
			return -errno;
		ret = ioctl(ctl, TLOOP_CTL_ADD, &add);
		err = errno;
		close(ctl);
		if (ret < 0)
			return -err;
		d->index = add.index;
		if (ret != add.index)
			tlt_diag("TLOOP_CTL_ADD returned %d but index %d", ret, add.index);
		snprintf(d->path, sizeof(d->path), TLOOP_DEVICE_PREFIX "%d", d->index);
		return 0;
	} else {
		struct loop_config cfg = { .fd = (__u32)backing_fd, .block_size = block_size };

		cfg.info.lo_sizelimit = size_limit;
		cfg.info.lo_flags = ((flags & TLOOP_FLAG_READ_ONLY) ? LO_FLAGS_READ_ONLY : 0) |
				    ((flags & TLOOP_FLAG_DIRECT_IO) ? LO_FLAGS_DIRECT_IO : 0) |
				    ((flags & TLOOP_FLAG_PARTSCAN) ? LO_FLAGS_PARTSCAN : 0);
		ctl = tlt_loop_control();
		if (ctl < 0)
			return ctl;
		ret = ioctl(ctl, LOOP_CTL_GET_FREE);
		err = errno;
		close(ctl);
		if (ret < 0)
			return -err;
		d->index = ret;
		snprintf(d->path, sizeof(d->path), "/dev/loop%d", d->index);
		dfd = open(d->path, O_RDWR | O_CLOEXEC);
		if (dfd < 0)
			return -errno;
		ret = ioctl(dfd, LOOP_CONFIGURE, &cfg);
		err = errno;
		close(dfd);
		return ret < 0 ? -err : 0;
	}
}

int tlt_attach(struct tlt_dev *d, enum tlt_kind kind, const char *path,
	       unsigned int flags, unsigned int block_size, uint64_t size_limit)
{
	int fd = open(path, ((flags & TLOOP_FLAG_READ_ONLY) ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	int ret;

	if (fd < 0)
		return -errno;
	ret = tlt_attach_fd(d, kind, fd, flags, block_size, size_limit);
	close(fd);
	return ret;
}

int tlt_detach(struct tlt_dev *d)
{
	int ctl, fd, ret = 0;

	if (d->index < 0)
		return 0;
	if (d->kind == TLT_TLOOP) {
		ctl = open(TLOOP_CONTROL_NODE, O_RDWR | O_CLOEXEC);
		if (ctl < 0)
			return -errno;
		ret = tlt_remove(ctl, d->index);
		close(ctl);
	} else {
		fd = open(d->path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return -errno;
		if (ioctl(fd, LOOP_CLR_FD) < 0)
			ret = -errno;
		close(fd);
		ctl = tlt_loop_control();
		if (ctl >= 0) {
			ioctl(ctl, LOOP_CTL_REMOVE, d->index);
			close(ctl);
		}
	}
	if (!ret)
		d->index = -1;
	return ret;
}

int64_t tlt_dev_size(int fd)
{
	uint64_t size;

	return ioctl(fd, BLKGETSIZE64, &size) < 0 ? -1 : (int64_t)size;
}

int tlt_sysfs_read(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}
int tlt_need_ext4(void)
{
	char line[64];
	FILE *f;
	int found = 0;

	tlt_modprobe("crc32c_generic");
	tlt_modprobe("crc32c");
	tlt_modprobe("ext4");
	/* Built in, or loaded just now: the kernel lists it either way. */
	f = fopen("/proc/filesystems", "r");
	while (f && !found && fgets(line, sizeof(line), f))
		found = !strcmp(line, "\text4\n");
	if (f)
		fclose(f);
	return found ? 0 : -1;
}

void tlt_slurp(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t n = 0;
	ssize_t r;

	buf[0] = '\0';
	if (fd < 0)
		return;
	while (n + 1 < len && (r = read(fd, buf + n, len - 1 - n)) > 0)
		n += (size_t)r;
	buf[n] = '\0';
	close(fd);
}

void tlt_page_pattern(uint8_t *buf, uint64_t page, uint32_t ver)
{
	for (size_t i = 0; i < TLT_PAGE; i += 16) {
		uint64_t a = page ^ ((uint64_t)ver << 40), b = i ^ 0x746c6f6f70ULL;

		memcpy(buf + i, &a, 8);
		memcpy(buf + i + 8, &b, 8);
	}
}

int64_t tlt_cmp_files(const char *a, const char *b, uint64_t size)
{
	static uint8_t ba[1 << 20], bb[1 << 20];
	int fa = open(a, O_RDONLY | O_CLOEXEC), fb = open(b, O_RDONLY | O_CLOEXEC);
	uint64_t off = 0;
	int64_t diff = -1;

	if (fa < 0 || fb < 0)
		tlt_bail("open %s or %s", a, b);
	while (off < size && diff < 0) {
		size_t n = size - off < sizeof(ba) ? (size_t)(size - off) : sizeof(ba);

		if (pread(fa, ba, n, (off_t)off) != (ssize_t)n ||
		    pread(fb, bb, n, (off_t)off) != (ssize_t)n)
			tlt_bail("read %zu bytes at %" PRIu64 " of %s / %s", n, off, a, b);
		if (memcmp(ba, bb, n))
			for (size_t i = 0; i < n; i++)
				if (ba[i] != bb[i]) {
					diff = (int64_t)(off + i);
					tlt_diag("%s and %s differ at byte %" PRId64
						 " (page %" PRId64 "): 0x%02x vs 0x%02x", a, b, diff,
						 diff / (int64_t)TLT_PAGE, ba[i], bb[i]);
					break;
				}
		off += n;
	}
	close(fa);
	close(fb);
	return diff;
}

int64_t tlt_file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) < 0 ? -1 : (int64_t)st.st_size;
}
