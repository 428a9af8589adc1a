// SPDX-License-Identifier: GPL-2.0
/*
 * 48-track-persist: written sets that survive removal and module reload
 * (TLOOP_FLAG_PERSIST, uapi DOC: persistence).  An empty sidecar restores
 * nothing ("new"); after a clean removal the next add restores every set
 * exactly (the default one and two named consumers, checked against a
 * ground-truth page set), with the same attach id, consumer ids, names,
 * generations and memory limits ("trusted"), also after rmmod + modprobe.
 * The backing file written through another path, truncated, extended,
 * replaced or touched while detached: "changed", every consumer overflowed,
 * a new attach id.  A sidecar still marked in use (a crash): "unclean",
 * overflowed.  A sidecar with a bad magic, a flipped body byte, cut short
 * or of random bytes, or naming a body before its header or past its end:
 * "corrupt", no named consumer restored, and the next clean removal makes
 * it valid again.  A version-1 sidecar (earlier modules) is restored as
 * trusted as the version 2 it was made from.  Bad descriptors give a clear errno,
 * a busy device is not removed and its sidecar is left alone.
 *
 * tloop-timeout: 600
 */
#include "tlt.h"

#define DEV_SIZE (8UL << 20)
#define NPAGES (DEV_SIZE / TLT_PAGE)
#define BATCH 512
#define BK "bk.img"
#define SC "bk.sets"

static int ctl;
static int cur = -1;		/* the device index, or -1 */
static int cfd = -1;		/* its node, read-write */
static struct tlt_set truth[3];	/* default, "a", "b" */
static uint32_t ids[3];		/* 0, a's, b's */
static const char *const names[3] = { TLOOP_CONSUMER_DEFAULT, "a", "b" };

static int add_persist(const char *backing, int pfd, unsigned int flags, uint32_t *status)
{
	struct tloop_add add = { .size = sizeof(add), .index = -1, .block_size = 512 };
	int bfd = open(backing, O_RDWR | O_CLOEXEC);
	int ret;

	if (bfd < 0)
		tlt_bail("open %s", backing);
	add.flags = flags;
	add.backing_fd = bfd;
	add.persist_fd = pfd;
	ret = ioctl(ctl, TLOOP_CTL_ADD, &add);
	ret = ret < 0 ? -errno : add.index;
	close(bfd);
	if (status)
		*status = add.persist_status;
	return ret;
}

/* attach() - add BK with sidecar SC; open the node; the status. */
static uint32_t attach(void)
{
	int pfd = open(SC, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	uint32_t st = 99;
	char node[64];

	if (pfd < 0)
		tlt_bail("open " SC);
	cur = add_persist(BK, pfd, TLOOP_FLAG_TRACK | TLOOP_FLAG_PERSIST, &st);
	close(pfd);
	if (cur < 0) {
		errno = -cur;
		tlt_bail("persistent add");
	}
	cfd = open(tlt_dev_path(node, sizeof(node), cur), O_RDWR | O_CLOEXEC);
	if (cfd < 0)
		tlt_bail("open %s", node);
	return st;
}

static int detach(void)
{
	int ret;

	close(cfd);
	cfd = -1;
	ret = tlt_remove(ctl, cur);
	if (!ret)
		cur = -1;
	return ret;
}

static void sysfs_word(const char *attr, char *buf, size_t len)
{
	char p[96];

	snprintf(p, sizeof(p), "/sys/block/tloop%d/tloop/%s", cur, attr);
	if (tlt_sysfs_read(p, buf, len))
		snprintf(buf, len, "(unreadable)");
	buf[strcspn(buf, "\n")] = 0;
}

static uint64_t attach_id(void)
{
	char buf[64];

	sysfs_word("attach_id", buf, sizeof(buf));
	return strtoull(buf, NULL, 16);
}

/* Random writes, recorded in every set of truth[]. */
static void write_random(unsigned int n)
{
	static uint8_t buf[4 * 4096];

	for (unsigned int i = 0; i < n; i++) {
		uint64_t p = tlt_rand_below(NPAGES - 4), run = 1 + tlt_rand_below(4);
		size_t len = run * TLT_PAGE;

		tlt_pattern(buf, len, p * TLT_PAGE, (uint32_t)tlt_rand());
		tlt_pwrite_all(cfd, buf, len, (off_t)(p * TLT_PAGE));
		for (int t = 0; t < 3; t++)
			tlt_set_bytes(&truth[t], p * TLT_PAGE, len);
	}
	if (fsync(cfd))
		tlt_bail("fsync");
}

/* Consumer @k reports exactly truth[k], not overflowed. */
static bool exact(int k)
{
	struct tlt_pages got = { 0 };
	int ret = tlt_cget_all(cfd, ids[k], 0, BATCH, NPAGES, &got);
	bool ok = !ret && tlt_set_diff(&truth[k], &got, names[k], NULL, NULL) &&
		  !(got.status & TLOOP_TRACK_OVERFLOW);

	if (ret)
		tlt_diag("%s: GET_WRITTEN: %s", names[k], tlt_errname(-ret));
	tlt_pages_free(&got);
	return ok;
}

/* The consumer list, by name: 0 if found. */
static int find(const char *name, struct tloop_consumer_info *out)
{
	struct tloop_consumer_info ci[TLOOP_MAX_CONSUMERS + 1];
	uint32_t count = 0;
	int total = tlt_consumer_list(cfd, ci, TLOOP_MAX_CONSUMERS + 1, &count);

	for (uint32_t i = 0; total > 0 && i < count; i++)
		if (!strcmp(ci[i].name, name)) {
			*out = ci[i];
			return 0;
		}
	return -ENOENT;
}

static int nr_consumers(void)
{
	struct tloop_consumer_info ci[TLOOP_MAX_CONSUMERS + 1];
	uint32_t count = 0;

	return tlt_consumer_list(cfd, ci, TLOOP_MAX_CONSUMERS + 1, &count);
}

/* Every consumer of the list is overflowed, the named ones kept with their ids. */
static bool all_overflowed(void)
{
	bool ok = nr_consumers() == 3;

	for (int k = 0; k < 3 && ok; k++) {
		struct tloop_consumer_info ci;

		ok = !find(names[k], &ci) && ci.id == ids[k] &&
		     (ci.status & TLOOP_TRACK_OVERFLOW);
		if (!ok)
			tlt_diag("consumer %s: missing, other id or not overflowed", names[k]);
	}
	return ok;
}

/* After an untrusted restore: truth is "everything" until a full copy; reset. */
static void reset_truth(void)
{
	for (int k = 0; k < 3; k++) {
		tlt_cclear(cfd, ids[k], TLOOP_CLEAR_ALL, 0, 0, NULL);
		tlt_set_reset(&truth[k]);
	}
}

static void status_is(uint32_t got, uint32_t want, const char *word, const char *name)
{
	char buf[64];

	sysfs_word("persist", buf, sizeof(buf));
	if (got != want || strcmp(buf, word))
		tlt_diag("%s: status %u (sysfs \"%s\"), want %u (\"%s\")", name, got, buf, want,
			 word);
	tlt_result(got == want && !strcmp(buf, word), "%s: status %s", name, word);
}

/*
 * The sidecar's header, as the kernel writes it (module/tloop_persist.c):
 * 112 bytes, little-endian; these offsets, and its checksum: the kernel's
 * crc32_le() (reflected 0xedb88320, seed ~0, no final inversion) of the
 * header with its own checksum field zero.
 */
#define PH_LEN		112
#define PH_VERSION	8
#define PH_LENGTH	16
#define PH_HCRC		24
#define PH_BODY		108

static uint32_t crc32_le(uint32_t crc, const uint8_t *p, size_t n)
{
	while (n--) {
		crc ^= *p++;
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0xedb88320U & (0U - (crc & 1)));
	}
	return crc;
}

static uint32_t ph_crc(const uint8_t *h)
{
	uint8_t c[PH_LEN];

	memcpy(c, h, PH_LEN);
	memset(c + PH_HCRC, 0, 4);
	return crc32_le(~0U, c, PH_LEN);
}

static uint32_t le32(const uint8_t *p)
{
	return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t le64(const uint8_t *p)
{
	return le32(p) | (uint64_t)le32(p + 4) << 32;
}

static void put_le64(uint8_t *p, uint64_t v)
{
	put_le32(p, (uint32_t)v);
	put_le32(p + 4, (uint32_t)(v >> 32));
}

/*
 * rewrite_sidecar() - read SC (a version-2 sidecar: its checksum is checked
 * first), and write it back as version 1 (@v1: the body right after the
 * header, the file exactly that long), or as version 2 with its body block
 * set to @body, checksum recomputed either way.
 */
static void rewrite_sidecar(bool v1, uint32_t body)
{
	static uint8_t f[1 << 20];
	int fd = open(SC, O_RDWR | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : pread(fd, f, sizeof(f), 0);
	uint64_t off, end;

	if (n < PH_LEN || le32(f + PH_VERSION) != 2 || le32(f + PH_HCRC) != ph_crc(f))
		tlt_bail("%s: not a version-2 sidecar with a good checksum (%zd bytes)", SC, n);
	off = (uint64_t)le32(f + PH_BODY) * 4096;
	end = le64(f + PH_LENGTH);
	if (off < PH_LEN || off > end || end > (uint64_t)n)
		tlt_bail("%s: body [%llu, %llu) of %zd bytes", SC, (unsigned long long)off,
			 (unsigned long long)end, n);
	if (v1) {
		memmove(f + PH_LEN, f + off, end - off);
		end = PH_LEN + end - off;
		put_le32(f + PH_VERSION, 1);
		put_le32(f + PH_BODY, 0);
		put_le64(f + PH_LENGTH, end);
	} else {
		put_le32(f + PH_BODY, body);
	}
	put_le32(f + PH_HCRC, ph_crc(f));
	if (pwrite(fd, f, end, 0) != (ssize_t)end || (v1 && ftruncate(fd, (off_t)end)) || fsync(fd))
		tlt_bail("rewrite %s", SC);
	close(fd);
}

/* The changes made to the backing file while detached. */
static int mod_write(void)
{
	uint8_t page[4096];
	int fd = open(BK, O_WRONLY);
	int ret;

	tlt_pattern(page, sizeof(page), 5 * 4096, (uint32_t)tlt_rand());
	ret = fd < 0 || pwrite(fd, page, sizeof(page), 5 * 4096) != sizeof(page);
	if (fd >= 0)
		close(fd);
	return ret;
}

static int mod_touch(void)
{
	return utimensat(AT_FDCWD, BK, NULL, 0);
}

static int mod_extend(void)
{
	return truncate(BK, DEV_SIZE + (1 << 20));
}

static int mod_truncate(void)
{
	return truncate(BK, DEV_SIZE);
}

static int mod_replace(void)
{
	return tlt_run("cp " BK " new.img && mv new.img " BK);
}

/* A clean cycle ends with a trusted state; then the backing file is changed by @how. */
static void changed_case(const char *what, int (*how)(void))
{
	uint64_t old_id;
	uint32_t st;

	st = attach();
	if (st != TLOOP_PERSIST_TRUSTED && st != TLOOP_PERSIST_CHANGED)
		tlt_diag("%s: setup attach status %u", what, st);
	reset_truth();
	write_random(20);
	old_id = attach_id();
	if (detach())
		tlt_bail("remove");
	if (how())
		tlt_bail("%s", what);
	st = attach();
	status_is(st, TLOOP_PERSIST_CHANGED, "changed", what);
	tlt_result(all_overflowed() && attach_id() != old_id,
		   "%s: every consumer overflowed, a new attach id", what);
}

int main(void)
{
	struct tloop_version v = { .size = sizeof(v) };
	struct tloop_consumer_info ci[3], c2;
	uint64_t gens[3], old_id;
	uint32_t st;
	bool ok;
	int pfd, ret;

	tlt_plan(57);
	ctl = tlt_ctl_open();
	if (ioctl(ctl, TLOOP_CTL_VERSION, &v))
		tlt_bail("CTL_VERSION");
	tlt_result(!!(v.features & TLOOP_FEAT_PERSIST), "TLOOP_FEAT_PERSIST reported");
	tlt_rand_seed(tlt_seed(48));
	for (int k = 0; k < 3; k++)
		tlt_set_init(&truth[k], NPAGES);
	if (tlt_make_file(BK, DEV_SIZE, 7))
		tlt_bail("make " BK);
	unlink(SC);

	/* Bad arguments first. */
	ret = add_persist(BK, -1, TLOOP_FLAG_TRACK | TLOOP_FLAG_PERSIST, NULL);
	tlt_result(ret == -EBADF, "sidecar fd -1 -> EBADF (got %d)", ret);
	pfd = open("/dev/null", O_RDWR);
	ret = add_persist(BK, pfd, TLOOP_FLAG_TRACK | TLOOP_FLAG_PERSIST, NULL);
	tlt_result(ret == -EINVAL, "sidecar not a regular file -> EINVAL (got %d)", ret);
	close(pfd);
	pfd = open(SC, O_RDONLY | O_CREAT, 0600);
	ret = add_persist(BK, pfd, TLOOP_FLAG_TRACK | TLOOP_FLAG_PERSIST, NULL);
	tlt_result(ret == -EBADF, "sidecar open read-only -> EBADF (got %d)", ret);
	close(pfd);
	pfd = open(SC, O_WRONLY);
	ret = add_persist(BK, pfd, TLOOP_FLAG_TRACK | TLOOP_FLAG_PERSIST, NULL);
	tlt_result(ret == -EBADF, "sidecar open write-only -> EBADF (got %d)", ret);
	close(pfd);
	pfd = open(BK, O_RDWR);
	ret = add_persist(BK, pfd, TLOOP_FLAG_TRACK | TLOOP_FLAG_PERSIST, NULL);
	tlt_result(ret == -EINVAL, "the backing file as sidecar -> EINVAL (got %d)", ret);
	close(pfd);
	pfd = open(SC, O_RDWR);
	ret = add_persist(BK, pfd, TLOOP_FLAG_PERSIST, NULL);
	tlt_result(ret == -EINVAL, "TLOOP_FLAG_PERSIST without TLOOP_FLAG_TRACK -> EINVAL (got %d)",
		   ret);
	ret = add_persist(BK, pfd, TLOOP_FLAG_TRACK, NULL);
	tlt_result(ret == -EINVAL, "persist_fd without TLOOP_FLAG_PERSIST -> EINVAL (got %d)", ret);
	close(pfd);
	tlt_result(tlt_file_size(SC) == 0, "no failed add wrote the sidecar");

	/* New, then a clean removal and an exact, trusted restore. */
	st = attach();
	status_is(st, TLOOP_PERSIST_NEW, "new", "empty sidecar");
	ids[1] = (uint32_t)tlt_consumer_add(cfd, "a", 0);
	ids[2] = (uint32_t)tlt_consumer_add(cfd, "b", 1 << 20);
	write_random(60);
	/* b and the default consumer consume part of their sets: the sets differ. */
	if (tlt_cclear(cfd, ids[2], 0, 0, NPAGES / 2, NULL))
		tlt_bail("clear b");
	memset(truth[2].bit, 0, NPAGES / 2);
	write_random(10);
	if (tlt_cclear(cfd, 0, 0, NPAGES / 4, NPAGES, NULL))
		tlt_bail("clear default");
	memset(truth[0].bit + NPAGES / 4, 0, NPAGES - NPAGES / 4);
	ok = exact(0) && exact(1) && exact(2);
	tlt_result(ok, "three different sets before the removal");
	for (int k = 0; k < 3; k++) {
		if (find(names[k], &ci[k]))
			tlt_bail("consumer %s missing", names[k]);
		gens[k] = ci[k].generation;
	}
	old_id = attach_id();
	tlt_result(detach() == 0, "clean removal");
	tlt_result(tlt_file_size(SC) > 0, "the sidecar was written");

	st = attach();
	status_is(st, TLOOP_PERSIST_TRUSTED, "trusted", "after a clean removal");
	tlt_result(attach_id() == old_id, "the attach id is restored");
	ok = nr_consumers() == 3;
	for (int k = 0; k < 3 && ok; k++)
		ok = !find(names[k], &c2) && c2.id == ids[k] && c2.generation == gens[k] &&
		     c2.mem_limit == ci[k].mem_limit && !(c2.status & TLOOP_TRACK_OVERFLOW);
	tlt_result(ok, "consumer ids, names, generations and memory limits are restored");
	tlt_result(exact(0) && exact(1) && exact(2), "every set is restored exactly");
	write_random(15);
	tlt_result(exact(0) && exact(1) && exact(2), "writes after the restore are recorded");

	/* Module reload. */
	close(cfd);
	cfd = -1;
	close(ctl);
	ret = tlt_run("rmmod tloop && modprobe tloop");
	tlt_result(ret == 0, "rmmod + modprobe with a persistent device attached");
	cur = -1;
	ctl = tlt_ctl_open();
	st = attach();
	status_is(st, TLOOP_PERSIST_TRUSTED, "trusted", "after rmmod");
	tlt_result(attach_id() == old_id && exact(0) && exact(1) && exact(2),
		   "after rmmod: same attach id, every set exact");

	/* A version-1 sidecar, as earlier modules wrote it: read the same. */
	if (detach())
		tlt_bail("remove");
	rewrite_sidecar(true, 0);
	st = attach();
	status_is(st, TLOOP_PERSIST_TRUSTED, "trusted", "a version-1 sidecar");
	tlt_result(attach_id() == old_id && exact(0) && exact(1) && exact(2),
		   "version 1: same attach id, every set exact");

	/* Busy: not removed, sidecar left alone. */
	{
		char before[4096], after[4096];
		int sfd = open(SC, O_RDONLY);
		ssize_t nb = pread(sfd, before, sizeof(before), 0), na;

		ret = tlt_remove(ctl, cur);
		tlt_result(ret == -EBUSY, "removal while open -> EBUSY (got %d)", ret);
		na = pread(sfd, after, sizeof(after), 0);
		tlt_result(nb > 0 && na == nb && !memcmp(before, after, (size_t)nb),
			   "a busy removal leaves the sidecar alone");
		close(sfd);
		tlt_result(exact(0) && exact(1) && exact(2), "the busy device still tracks");
	}

	/* Another device cannot use the same sidecar. */
	if (tlt_make_file("bk2.img", DEV_SIZE, 9))
		tlt_bail("make bk2.img");
	pfd = open(SC, O_RDWR);
	ret = add_persist("bk2.img", pfd, TLOOP_FLAG_TRACK | TLOOP_FLAG_PERSIST, NULL);
	tlt_result(ret == -EBUSY, "a sidecar in use by another device -> EBUSY (got %d)", ret);
	close(pfd);
	if (detach())
		tlt_bail("remove");

	/* Identity changes while detached. */
	changed_case("written through another path", mod_write);
	/* The reverse: a changed restore, a clean removal, then trusted again. */
	if (detach())
		tlt_bail("remove");
	st = attach();
	status_is(st, TLOOP_PERSIST_TRUSTED, "trusted", "clean removal after a changed restore");
	if (detach())
		tlt_bail("remove");
	changed_case("touched", mod_touch);
	if (detach())
		tlt_bail("remove");
	changed_case("extended", mod_extend);
	if (detach())
		tlt_bail("remove");
	changed_case("truncated", mod_truncate);
	if (detach())
		tlt_bail("remove");
	changed_case("replaced", mod_replace);
	if (detach())
		tlt_bail("remove");

	/* Unclean: the sidecar as it is while attached (marked in use). */
	st = attach();
	status_is(st, TLOOP_PERSIST_TRUSTED, "trusted", "before the unclean case");
	old_id = attach_id();
	if (tlt_run("cp " SC " inuse.sets"))
		tlt_bail("cp");
	if (detach())
		tlt_bail("remove");
	if (tlt_run("cp inuse.sets " SC))
		tlt_bail("cp");
	st = attach();
	status_is(st, TLOOP_PERSIST_UNCLEAN, "unclean", "sidecar still marked in use");
	tlt_result(all_overflowed() && attach_id() != old_id,
		   "unclean: every consumer overflowed, a new attach id");
	if (detach())
		tlt_bail("remove");

	/* Corrupt sidecars. */
	{
		static const struct {
			const char *what, *how;
		} bad[] = {
			{ "bad magic", "printf X | dd of=" SC " bs=1 seek=0 conv=notrunc 2>/dev/null" },
			/* The body starts at the block named at byte 108 of the header. */
			{ "flipped body byte",
			  "o=$(($(od -An -tu4 -j108 -N4 " SC ") * 4096 + 38)) && [ $o -gt 4096 ] && "
			  "printf Z | dd of=" SC " bs=1 seek=$o conv=notrunc 2>/dev/null" },
			{ "cut short", "dd if=" SC " of=cut.sets bs=1 count=$(($(stat -c %s " SC
			  ") - 8)) 2>/dev/null && mv cut.sets " SC },
			{ "random bytes", "head -c 300 /dev/urandom > " SC },
		};

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			st = attach();
			if (st != TLOOP_PERSIST_TRUSTED && st != TLOOP_PERSIST_CORRUPT)
				tlt_diag("%s: setup status %u", bad[i].what, st);
			if (nr_consumers() == 1) {	/* after a corrupt one: consumers again */
				ids[1] = (uint32_t)tlt_consumer_add(cfd, "a", 0);
				ids[2] = (uint32_t)tlt_consumer_add(cfd, "b", 1 << 20);
			}
			old_id = attach_id();
			if (detach())
				tlt_bail("remove");
			if (tlt_run("%s", bad[i].how))
				tlt_bail("%s", bad[i].how);
			st = attach();
			status_is(st, TLOOP_PERSIST_CORRUPT, "corrupt", bad[i].what);
			tlt_result(nr_consumers() == 1 && attach_id() != old_id,
				   "%s: no named consumer restored, a new attach id", bad[i].what);
			if (detach())
				tlt_bail("remove");
		}
	}
	/* Version 2 with a good checksum but a body block of 0, or past the end. */
	for (int k = 0; k < 2; k++) {
		const char *what = k ? "body block past the end" : "body block 0";

		st = attach();
		if (nr_consumers() == 1) {
			ids[1] = (uint32_t)tlt_consumer_add(cfd, "a", 0);
			ids[2] = (uint32_t)tlt_consumer_add(cfd, "b", 1 << 20);
		}
		old_id = attach_id();
		if (detach())
			tlt_bail("remove");
		rewrite_sidecar(false, k ? 1U << 20 : 0);
		st = attach();
		status_is(st, TLOOP_PERSIST_CORRUPT, "corrupt", what);
		tlt_result(nr_consumers() == 1 && attach_id() != old_id,
			   "%s: no named consumer restored, a new attach id", what);
		if (detach())
			tlt_bail("remove");
	}
	/* The next clean removal makes the sidecar valid again. */
	st = attach();
	status_is(st, TLOOP_PERSIST_TRUSTED, "trusted", "sidecar rewritten after a corrupt one");
	/* Saved with tracking off: nothing to vouch for. */
	old_id = attach_id();
	if (tlt_disable(cfd) || detach())
		tlt_bail("track off, remove");
	st = attach();
	status_is(st, TLOOP_PERSIST_NEW, "new", "saved with tracking off");
	tlt_result(attach_id() != old_id && nr_consumers() == 1,
		   "saved with tracking off: a new attach id, only the default consumer");
	tlt_result(detach() == 0, "final removal");
	close(ctl);
	tlt_exit();
}
