// SPDX-License-Identifier: GPL-2.0
/*
 * 58-tool-crash-replay: a power cut at every flush point of a refresh.
 * area2 lives on ext4 on dm-log-writes, which records every write that
 * reached area2's disk, in completion order, with the flushes between them
 * (the approach of CrashMonkey/xfstests' replay-log).  After one `tloop sync`
 * the log is replayed onto a copy of the disk as it was before the sync, and
 * the disk is checked as it would be found after a power cut at each point:
 * every prefix that ends at a flush, FUA or mark, the empty and the whole
 * log, plus random other prefixes (a disk that wrote in order but lost
 * what followed); prefixes that add no write to the last one checked are
 * the same disk and checked once.  Each such disk is mounted (ext4 replays its journal) and
 * must satisfy the rule of doc/design.md: no baseline, or a baseline naming
 * the old generation with area2 exactly as before the sync, or one naming
 * the new generation with area2 equal to area1.
 * Scenarios: an incremental refresh of scattered pages; --resize of an area2
 * that shrank; --create next to a stale baseline.  Control: the incremental
 * one with --unsafe-no-fsync (the order before issue 12) must show a crash
 * point with a baseline that vouches for a stale area2.
 * Not modelled: writes reordered between flushes (only in-order prefixes).
 * tloop-timeout: 1200
 */
#include "tlt.h"

#include <sys/mount.h>

#define A_SIZE		(8UL << 20)	/* area1 */
#define FS_SIZE		(32UL << 20)	/* area2's filesystem */
#define LOG_SIZE	(96UL << 20)
#define LW		"tlt58lw"
#define MAX_CHECKS	80

#define LOG_MAGIC	0x6a736677736872ULL
#define LOG_FLUSH	(1U << 0)
#define LOG_FUA		(1U << 1)
#define LOG_DISCARD	(1U << 2)
#define LOG_MARK	(1U << 3)

struct log_super {
	uint64_t magic, version, nr_entries;
	uint32_t sectorsize;
} __attribute__((packed));

struct log_entry {
	uint64_t sector, nr_sectors, flags, data_len;
};

struct entry {
	uint64_t sector, nr_sectors, flags, data_off;
};

static char node[64], ldata[32];
static uint8_t *old_a2, *new_a2, *base, *logbuf;
static int64_t old_size;
static uint64_t gen_old, gen_new;
static bool had_old;
static uint32_t ver = 1;
static uint64_t seed;

static uint64_t rnd(void)
{
	seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
	return seed >> 33;
}

/* loop_attach() - a loop device over @file into @dev. */
static int loop_attach(const char *file, char *dev, size_t len)
{
	char out[64] = "";
	FILE *p = popen("losetup -f", "r");

	if (!p || !fgets(out, sizeof(out), p)) {
		if (p)
			pclose(p);
		return -1;
	}
	pclose(p);
	out[strcspn(out, "\n")] = '\0';
	snprintf(dev, len, "%s", out);
	return tlt_run("losetup %s %s", dev, file) ? -1 : 0;
}

/* mkfile() - @path, empty and then @size bytes long (sparse). */
static int mkfile(const char *path, uint64_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	int ret;

	if (fd < 0)
		return -1;
	ret = ftruncate(fd, (off_t)size);
	close(fd);
	return ret;
}

/* read_all() - @path into @buf (at most @len); the size read, or -1 if absent. */
static int64_t read_all(const char *path, uint8_t *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t n = 0;
	ssize_t r;

	if (fd < 0)
		return -1;
	while (n < len && (r = pread(fd, buf + n, len - n, (off_t)n)) > 0)
		n += (size_t)r;
	close(fd);
	return (int64_t)n;
}

static int write_all(const char *path, const uint8_t *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	int ret;

	if (fd < 0)
		return -1;
	ret = tlt_pwrite_full(fd, buf, len, 0);
	close(fd);
	return ret;
}

/* sidecar_gen() - the generation in @path; false if absent or unreadable. */
static bool sidecar_gen(const char *path, uint64_t *gen)
{
	char text[512];
	const char *g;

	tlt_slurp(path, text, sizeof(text));
	g = strstr(text, "\ngeneration ");
	return g && sscanf(g + 12, "%" SCNu64, gen) == 1;
}

/* scatter() - the next version of 64 random pages of area1. */
static void scatter(void)
{
	uint8_t buf[TLT_PAGE];
	int fd = open(node, O_RDWR | O_CLOEXEC);

	if (fd < 0)
		tlt_bail("open %s", node);
	ver++;
	for (int i = 0; i < 64; i++) {
		uint64_t p = rnd() % (A_SIZE / TLT_PAGE);

		tlt_page_pattern(buf, p, ver);
		if (pwrite(fd, buf, TLT_PAGE, (off_t)(p * TLT_PAGE)) != (ssize_t)TLT_PAGE)
			tlt_bail("pwrite %s", node);
	}
	if (fsync(fd))
		tlt_bail("fsync %s", node);
	close(fd);
}

/* What one replay found. */
struct verdict {
	int checks, mount_failed, none, old, new_, bad;
};

/* check_disk() - mount the disk image @img and apply the rule. */
static void check_disk(const uint8_t *img, size_t at, struct verdict *v)
{
	static uint8_t *got;
	char dev[32];
	uint64_t g;
	int64_t n;
	bool ok = true;

	v->checks++;
	if (write_all("chk.img", img, FS_SIZE) || loop_attach("chk.img", dev, sizeof(dev)))
		tlt_bail("chk.img");
	if (mount(dev, "chk", "ext4", 0, NULL)) {
		tlt_diag("prefix of %zu entries: mount: %s", at, strerror(errno));
		v->mount_failed++;
		tlt_run("losetup -d %s", dev);
		return;
	}
	if (!got)
		got = tlt_alloc(A_SIZE + TLT_PAGE);
	n = read_all("chk/area2.img", got, A_SIZE + TLT_PAGE);
	if (!sidecar_gen("chk/area2.img.tloop", &g)) {
		v->none++;
	} else if (had_old && g == gen_old) {
		v->old++;
		ok = n == old_size && (n <= 0 || !memcmp(got, old_a2, (size_t)n));
		if (!ok)
			tlt_diag("prefix of %zu entries: the old baseline (generation %" PRIu64
				 ") with an area2 changed since (%lld bytes)", at, g, (long long)n);
	} else if (g == gen_new) {
		v->new_++;
		ok = n == (int64_t)A_SIZE && !memcmp(got, new_a2, A_SIZE);
		if (!ok) {
			size_t pages = 0;

			for (size_t off = 0; n == (int64_t)A_SIZE && off < A_SIZE; off += TLT_PAGE)
				pages += !!memcmp(got + off, new_a2 + off, TLT_PAGE);
			tlt_diag("prefix of %zu entries: the new baseline (generation %" PRIu64
				 "), but area2 (%lld bytes) differs from area1 in %zu pages", at, g,
				 (long long)n, pages);
		}
	} else {
		ok = false;
		tlt_diag("prefix of %zu entries: a baseline of generation %" PRIu64
			 " (expected %" PRIu64 " or %" PRIu64 ")", at, g, gen_old, gen_new);
	}
	v->bad += !ok;
	if (umount("chk"))
		tlt_diag("umount chk: %s", strerror(errno));
	tlt_run("losetup -d %s", dev);
}

/*
 * scenario() - record one `tloop sync @opts` into area2 on dm-log-writes
 * after @prep ran on area2's mounted filesystem, then replay.
 */
static void scenario(const char *name, const char *opts, void (*prep)(void), bool control)
{
	char llog[32], table[256];
	struct tlt_json *j;
	struct log_super sb;
	struct entry *e = NULL;
	struct verdict v = { 0 };
	uint64_t ne = 0, nflush = 0, off;
	uint8_t *cur;
	size_t want[MAX_CHECKS], nwant = 0, *cand, ncand = 0;
	double t0 = tlt_now();

	/* Before: area2 as it is, its baseline, the disk. */
	if (mount(ldata, "mnt", "ext4", 0, NULL))
		tlt_bail("mount %s: %s", ldata, strerror(errno));
	if (prep)
		prep();
	scatter();
	old_size = read_all("mnt/area2.img", old_a2, A_SIZE + TLT_PAGE);
	had_old = sidecar_gen("mnt/area2.img.tloop", &gen_old);
	if (umount("mnt"))
		tlt_bail("umount mnt");
	if (read_all("data.img", base, FS_SIZE) != (int64_t)FS_SIZE)
		tlt_bail("read data.img");

	/* Record. */
	if (mkfile("log.img", LOG_SIZE) ||
	    loop_attach("log.img", llog, sizeof(llog)))
		tlt_bail("log.img");
	snprintf(table, sizeof(table), "0 %lu log-writes %s %s", FS_SIZE / 512, ldata, llog);
	if (tlt_run("dmsetup create " LW " --table '%s' && dmsetup mknodes " LW, table) ||
	    mount("/dev/mapper/" LW, "mnt", "ext4", 0, NULL))
		tlt_bail("dm-log-writes");
	/* The control: periodic write-back held off, only the tool's own calls flush area2. */
	if (control)
		tlt_run("cat /proc/sys/vm/dirty_writeback_centisecs > wb.txt && "
			"echo 0 > /proc/sys/vm/dirty_writeback_centisecs");
	j = tlt_sync_json(node, "mnt/area2.img", opts);
	gen_new = j ? tlt_ju64(j, "generation", 0) : 0;
	tlt_jfree(j);
	tlt_run("dmsetup message " LW " 0 mark synced");
	if (umount("mnt") || (control && tlt_run("cat wb.txt > /proc/sys/vm/dirty_writeback_centisecs")) || tlt_run("dmsetup remove " LW) || tlt_run("losetup -d %s", llog))
		tlt_bail("tear down dm-log-writes");
	if (read_all(node, new_a2, A_SIZE) != (int64_t)A_SIZE)
		tlt_bail("read %s", node);
	tlt_result(j != NULL && gen_new, "%s: tloop sync %s into area2 on dm-log-writes", name,
		   opts);

	/* Parse the log. */
	if (read_all("log.img", logbuf, LOG_SIZE) != (int64_t)LOG_SIZE)
		tlt_bail("read log.img");
	memcpy(&sb, logbuf, sizeof(sb));
	if (sb.magic == LOG_MAGIC && sb.sectorsize >= 512 && sb.sectorsize <= 4096) {
		e = calloc(sb.nr_entries + 1, sizeof(*e));
		off = sb.sectorsize;
		for (ne = 0; e && ne < sb.nr_entries; ne++) {
			struct log_entry le;

			if (off + sb.sectorsize > LOG_SIZE)
				break;
			memcpy(&le, logbuf + off, sizeof(le));
			e[ne].sector = le.sector;
			e[ne].nr_sectors = le.nr_sectors;
			e[ne].flags = le.flags;
			off += sb.sectorsize;
			e[ne].data_off = off;
			if (!(le.flags & (LOG_DISCARD | LOG_MARK)))
				off += le.nr_sectors * sb.sectorsize;
			if ((le.sector + le.nr_sectors) * sb.sectorsize > FS_SIZE)
				break;
			nflush += !!(le.flags & (LOG_FLUSH | LOG_FUA));
		}
	}
	if (!tlt_result(e && ne == sb.nr_entries && ne > 0,
			"%s: the log holds %" PRIu64 " entries, %" PRIu64 " flush/FUA", name, ne,
			nflush)) {
		tlt_diag("magic %" PRIx64 ", %" PRIu64 " entries, sector size %u; parsed %" PRIu64,
			 sb.magic, sb.nr_entries, sb.sectorsize, ne);
		tlt_result(0, "%s: crash points checked", name);
		free(e);
		return;
	}

	/*
	 * Crash points: prefixes [0, i) that end right before or after a flush,
	 * after a FUA write or a mark, the empty and the whole log (evenly
	 * thinned if there are too many), and random ones.
	 */
	cand = calloc(ne + 1, sizeof(*cand));
	if (!cand)
		tlt_bail("calloc");
	cand[ncand++] = 0;
	for (uint64_t i = 1; i <= ne; i++)
		if ((e[i - 1].flags & (LOG_FLUSH | LOG_FUA | LOG_MARK)) ||
		    (i < ne && (e[i].flags & LOG_FLUSH)) || i == ne)
			cand[ncand++] = i;
	for (size_t k = 0; k < ncand && nwant < MAX_CHECKS - 9; k++)
		want[nwant++] = cand[ncand <= MAX_CHECKS - 9 ? k :
				     k * ncand / (MAX_CHECKS - 9)];
	want[nwant++] = ne;
	for (int k = 0; k < 8; k++)
		want[nwant++] = (size_t)(rnd() % (ne + 1));
	tlt_diag("%s: %zu flush-bounded crash points of %" PRIu64 " entries; checking %zu", name,
		 ncand, ne, nwant);
	free(cand);
	cur = tlt_alloc(FS_SIZE);
	memcpy(cur, base, FS_SIZE);
	/* A prefix that adds no write to the last one checked is the same disk: skipped. */
	for (size_t i = 0, fresh = 1; i <= ne; i++) {
		for (size_t k = 0; k < nwant && fresh; k++)
			if (want[k] == i) {
				check_disk(cur, i, &v);
				fresh = 0;
			}
		if (i == ne)
			break;
		if (!(e[i].flags & (LOG_DISCARD | LOG_MARK)) && e[i].nr_sectors) {
			memcpy(cur + e[i].sector * sb.sectorsize, logbuf + e[i].data_off,
			       e[i].nr_sectors * sb.sectorsize);
			fresh = 1;
		}
	}
	free(cur);
	free(e);
	tlt_diag("%s: %d distinct crash points in %.1f s: %d without baseline, %d with the old one, "
		 "%d with the new one; %d unmountable, %d wrong", name, v.checks,
		 tlt_now() - t0, v.none, v.old, v.new_, v.mount_failed, v.bad);
	if (control) {
		tlt_result(v.bad > 0, "%s: some crash point has a baseline vouching for a stale "
			   "area2 (%d of %d)", name, v.bad, v.checks);
	} else {
		tlt_result(!v.bad && !v.mount_failed,
			   "%s: at every crash point: no baseline, or the baseline it names",
			   name);
	}
	/* Leave area2 exact for the next scenario. */
	if (mount(ldata, "mnt", "ext4", 0, NULL))
		tlt_bail("mount %s", ldata);
	if (control)
		tlt_run("tloop sync --full %s mnt/area2.img > /dev/null", node);
	if (umount("mnt"))
		tlt_bail("umount mnt");
}

static void shrink(void)
{
	if (truncate("mnt/area2.img", A_SIZE / 2))
		tlt_bail("truncate");
}

static void delete_area2(void)
{
	if (unlink("mnt/area2.img"))
		tlt_bail("unlink");
}

static void cleanup(void)
{
	umount("mnt");
	umount("chk");
	tlt_run("dmsetup remove " LW " 2>/dev/null; true");
	if (ldata[0])
		tlt_run("losetup -d %s", ldata);
}

int main(void)
{
	struct tlt_tool_run r;
	int fd;

	tlt_plan(12);
	if (tlt_modprobe("dm-log-writes") || tlt_modprobe("loop") || tlt_modprobe("ext4"))
		tlt_bail("modprobe dm-log-writes/loop/ext4");
	fd = open("/dev/urandom", O_RDONLY);
	if (fd < 0 || read(fd, &seed, sizeof(seed)) != sizeof(seed))
		tlt_bail("urandom");
	close(fd);
	tlt_diag("seed %" PRIu64, seed);
	old_a2 = tlt_alloc(A_SIZE + TLT_PAGE);
	new_a2 = tlt_alloc(A_SIZE);
	base = tlt_alloc(FS_SIZE);
	logbuf = tlt_alloc(LOG_SIZE);
	atexit(cleanup);

	tlt_tool_attach("a.img", A_SIZE, "--track", node, sizeof(node));
	if (mkfile("data.img", FS_SIZE) || loop_attach("data.img", ldata, sizeof(ldata)) ||
	    tlt_run(TLT_MKE2FS " -q -F -t ext4 %s", ldata) || mkdir("mnt", 0755) ||
	    mkdir("chk", 0755) || mount(ldata, "mnt", "ext4", 0, NULL))
		tlt_bail("area2's filesystem");
	scatter();
	if (tlt_tool(&r, "sync --create %s mnt/area2.img", node)) {
		tlt_tool_show("tloop sync", &r);
		tlt_bail("first sync");
	}
	if (umount("mnt"))
		tlt_bail("umount");

	scenario("incremental", "", NULL, false);
	scenario("--resize", "--resize", shrink, false);
	scenario("--create", "--create", delete_area2, false);
	scenario("control: incremental with --unsafe-no-fsync", "--unsafe-no-fsync", NULL, true);
	tlt_exit();
}
