// SPDX-License-Identifier: GPL-2.0
/*
 * 51-tool-json: the --json output of list, status, written (pages, ranges,
 * --clear) and sync, parsed by program and checked member by member
 * against the kernel's own answers (TLOOP_GET_INFO, TLOOP_TRACK_STATUS),
 * stat(2) of the backing file, and the pages the test wrote (a seeded
 * random set).  Also checks every documented member is present with its
 * documented type, so the schema in tloop(8) stays true.
 * tloop-timeout: 120
 */
#include "tlt.h"

#include <sys/sysmacros.h>

#define A_PAGES 2048UL		/* 8 MiB */

static unsigned char want[A_PAGES];

struct member {
	const char *key;
	enum tlt_jtype type;
};

static const struct member dev_members[] = {
	{ "device", TLT_JSTR }, { "index", TLT_JNUM }, { "backing_file", TLT_JSTR },
	{ "size", TLT_JNUM }, { "block_size", TLT_JNUM }, { "size_limit", TLT_JNUM },
	{ "read_only", TLT_JBOOL }, { "direct_io", TLT_JBOOL }, { "partscan", TLT_JBOOL },
	{ "attach_id", TLT_JSTR }, { "tracking", TLT_JBOOL }, { "overflow", TLT_JBOOL },
	{ "written_pages", TLT_JNUM }, { "page_size", TLT_JNUM }, { "generation", TLT_JNUM },
	{ NULL, 0 },
};

static const struct member status_members[] = {
	{ "backing_dev", TLT_JSTR }, { "backing_ino", TLT_JNUM }, { "nr_pages", TLT_JNUM },
	{ "mem_used", TLT_JNUM }, { "mem_limit", TLT_JNUM }, { NULL, 0 },
};

static const struct member written_members[] = {
	{ "device", TLT_JSTR }, { "page_size", TLT_JNUM }, { "cleared", TLT_JBOOL },
	{ "count", TLT_JNUM }, { "generation", TLT_JNUM }, { "overflow", TLT_JBOOL }, { NULL, 0 },
};

static const struct member sync_members[] = {
	{ "device", TLT_JSTR }, { "area2", TLT_JSTR }, { "mode", TLT_JSTR }, { "reason", TLT_JSTR },
	{ "pages", TLT_JNUM }, { "bytes", TLT_JNUM }, { "runs", TLT_JNUM }, { "calls", TLT_JNUM },
	{ "device_size", TLT_JNUM }, { "page_size", TLT_JNUM }, { "generation", TLT_JNUM },
	{ "baseline", TLT_JBOOL }, { "direct_io", TLT_JBOOL }, { "fsync", TLT_JBOOL },
	{ "seconds", TLT_JNUM }, { NULL, 0 },
};

/* has_members() - every member of @m is in @o with its type. */
static bool has_members(const struct tlt_json *o, const struct member *m, const char *what)
{
	bool ok = o && o->type == TLT_JOBJ;

	for (; ok && m->key; m++) {
		struct tlt_json *v = tlt_jget(o, m->key);

		if (!v || v->type != m->type) {
			tlt_diag("%s: member '%s' %s", what, m->key,
				 v ? "has the wrong type" : "is missing");
			ok = false;
		}
	}
	return ok;
}

/* dev_matches() - a list/status entry against the kernel's answers for @node. */
static bool dev_matches(const struct tlt_json *e, const char *node, const char *backing,
			bool full)
{
	struct tloop_info info = { .size = sizeof(info) };
	struct tloop_track_status ts = { .size = sizeof(ts) };
	char path[4096], id[20], real[4096];
	int fd = open(node, O_RDONLY | O_CLOEXEC);
	bool ok = true, on;

	if (fd < 0)
		tlt_bail("open %s", node);
	info.path = (uintptr_t)path;
	info.path_size = sizeof(path);
	if (ioctl(fd, TLOOP_GET_INFO, &info) || ioctl(fd, TLOOP_TRACK_STATUS, &ts))
		tlt_bail("GET_INFO/TRACK_STATUS on %s", node);
	close(fd);
	if (!realpath(backing, real))
		tlt_bail("realpath %s", backing);
	on = ts.flags & TLOOP_TRACK_ON;
	snprintf(id, sizeof(id), "%016" PRIx64, (uint64_t)info.attach_id);

#define EXPECT(cond, ...) do { if (!(cond)) { tlt_diag(__VA_ARGS__); ok = false; } } while (0)
	EXPECT(!strcmp(tlt_jstr(e, "device"), node), "device %s, expected %s",
	       tlt_jstr(e, "device"), node);
	EXPECT(tlt_ju64(e, "index", ~0ULL) == info.index, "index");
	EXPECT(!strcmp(tlt_jstr(e, "backing_file"), real), "backing_file '%s', expected '%s'",
	       tlt_jstr(e, "backing_file"), real);
	EXPECT(tlt_ju64(e, "size", 0) == info.dev_size, "size %" PRIu64 ", kernel %llu",
	       tlt_ju64(e, "size", 0), (unsigned long long)info.dev_size);
	EXPECT(tlt_ju64(e, "block_size", 0) == info.block_size, "block_size");
	EXPECT(tlt_ju64(e, "size_limit", 1) == info.size_limit, "size_limit");
	EXPECT(tlt_jbool(e, "read_only") == !!(info.flags & TLOOP_FLAG_READ_ONLY), "read_only");
	EXPECT(tlt_jbool(e, "direct_io") == !!(info.flags & TLOOP_FLAG_DIRECT_IO), "direct_io");
	EXPECT(tlt_jbool(e, "partscan") == !!(info.flags & TLOOP_FLAG_PARTSCAN), "partscan");
	EXPECT(!strcmp(tlt_jstr(e, "attach_id"), id), "attach_id %s, kernel %s",
	       tlt_jstr(e, "attach_id"), id);
	EXPECT(tlt_jbool(e, "tracking") == on, "tracking");
	EXPECT(tlt_jbool(e, "overflow") == !!(ts.flags & TLOOP_TRACK_OVERFLOW), "overflow");
	EXPECT(tlt_ju64(e, "written_pages", ~0ULL) == (on ? ts.written : 0),
	       "written_pages %" PRIu64 ", kernel %llu", tlt_ju64(e, "written_pages", 0),
	       (unsigned long long)ts.written);
	EXPECT(tlt_ju64(e, "page_size", 0) == ts.page_size, "page_size");
	EXPECT(tlt_ju64(e, "generation", ~0ULL) == ts.generation, "generation");
	if (full) {
		struct stat st;
		char bdev[32];

		if (stat(backing, &st))
			tlt_bail("stat %s", backing);
		snprintf(bdev, sizeof(bdev), "%u:%u", major(st.st_dev), minor(st.st_dev));
		EXPECT(!strcmp(tlt_jstr(e, "backing_dev"), bdev), "backing_dev %s, stat says %s",
		       tlt_jstr(e, "backing_dev"), bdev);
		EXPECT(tlt_ju64(e, "backing_ino", 0) == st.st_ino, "backing_ino");
		EXPECT(tlt_ju64(e, "nr_pages", 0) == ts.nr_pages, "nr_pages");
		EXPECT(tlt_ju64(e, "mem_used", ~0ULL) == ts.mem_used, "mem_used");
		EXPECT(tlt_ju64(e, "mem_limit", ~0ULL) == ts.mem_limit, "mem_limit");
	}
#undef EXPECT
	return ok;
}

static struct tlt_json *run_json(const char *what, struct tlt_tool_run *r, const char *fmt,
				 const char *node)
{
	struct tlt_json *j;

	tlt_tool(r, fmt, node);
	j = r->status == 0 ? tlt_jparse(r->out) : NULL;
	if (!j)
		tlt_tool_show(what, r);
	return j;
}

/* pages_match() - a "pages" array against want[]. */
static bool pages_match(const struct tlt_json *arr)
{
	struct tlt_json *m = arr ? arr->child : NULL;
	bool ok = arr && arr->type == TLT_JARR;

	for (uint64_t p = 0; ok && p < A_PAGES; p++) {
		if (!want[p])
			continue;
		if (!m || m->type != TLT_JNUM || m->u != p) {
			tlt_diag("expected page %" PRIu64 ", got %s %" PRIu64, p,
				 m ? "" : "(end)", m ? m->u : 0);
			ok = false;
		}
		m = m ? m->next : NULL;
	}
	if (ok && m) {
		tlt_diag("extra page %" PRIu64, m->u);
		ok = false;
	}
	return ok;
}

/* ranges_match() - a "ranges" array: maximal runs covering exactly want[]. */
static bool ranges_match(const struct tlt_json *arr)
{
	static unsigned char got[A_PAGES];
	uint64_t prev_end = 0;
	bool ok = arr && arr->type == TLT_JARR, first = true;

	memset(got, 0, sizeof(got));
	for (struct tlt_json *m = arr ? arr->child : NULL; ok && m; m = m->next) {
		uint64_t s = tlt_ju64(m, "start", ~0ULL), c = tlt_ju64(m, "count", 0);

		if (!c || s >= A_PAGES || c > A_PAGES - s || (!first && s <= prev_end)) {
			tlt_diag("range %" PRIu64 "+%" PRIu64 " is empty, out of order, adjacent "
				 "or outside the device", s, c);
			ok = false;
			break;
		}
		for (uint64_t p = s; p < s + c; p++)
			got[p] = 1;
		prev_end = s + c;
		first = false;
	}
	for (uint64_t p = 0; ok && p < A_PAGES; p++)
		if (got[p] != want[p]) {
			tlt_diag("page %" PRIu64 ": in ranges %d, written %d", p, got[p], want[p]);
			ok = false;
		}
	return ok;
}

int main(void)
{
	unsigned int seed = 5151;
	struct tloop_track_status ts = { .size = sizeof(ts) };
	char a[64], b[64];
	struct tlt_json *j, *e, *devs;
	uint8_t page[TLT_PAGE];
	struct tlt_tool_run r;
	uint64_t nr = 0, gen0;
	bool found_a = false, found_b = false, ok;
	int fd;

	tlt_plan(14);
	tlt_tool_attach("a.img", A_PAGES * TLT_PAGE, "--track", a, sizeof(a));
	tlt_tool_attach("b.img", 8 << 20, "--read-only --block-size 4096 --size 4M", b, sizeof(b));

	srand(seed);
	for (int i = 0; i < 40; i++)
		want[rand() % A_PAGES] = 1;
	for (int p = 100; p < 110; p++)
		want[p] = 1;
	want[A_PAGES - 1] = 1;
	fd = open(a, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		tlt_bail("open %s", a);
	for (uint64_t p = 0; p < A_PAGES; p++) {
		if (!want[p])
			continue;
		tlt_page_pattern(page, p, 1);
		if (pwrite(fd, page, TLT_PAGE, (off_t)(p * TLT_PAGE)) != (ssize_t)TLT_PAGE)
			tlt_bail("pwrite %s", a);
		nr++;
	}
	close(fd);
	tlt_diag("seed %u: %" PRIu64 " pages written to %s", seed, nr, a);

	/* written first: its implicit writeback makes the status counts final. */
	j = run_json("tloop written --json", &r, "written --json %s", a);
	tlt_result(has_members(j, written_members, "written") && pages_match(tlt_jget(j, "pages")) &&
		   tlt_ju64(j, "count", 0) == nr && tlt_jbool(j, "cleared") == 0 &&
		   tlt_jbool(j, "overflow") == 0 && tlt_ju64(j, "page_size", 0) == TLT_PAGE &&
		   !strcmp(tlt_jstr(j, "device"), a),
		   "written --json: exactly the written pages, count, flags");
	tlt_jfree(j);

	j = run_json("tloop list --json", &r, "list --json", NULL);
	devs = tlt_jget(j, "devices");
	ok = devs && devs->type == TLT_JARR;
	for (e = devs ? devs->child : NULL; ok && e; e = e->next) {
		const char *d = tlt_jstr(e, "device");

		ok = has_members(e, dev_members, "list entry");
		if (ok && !strcmp(d, a)) {
			found_a = true;
			ok = dev_matches(e, a, "a.img", false);
		} else if (ok && !strcmp(d, b)) {
			found_b = true;
			ok = dev_matches(e, b, "b.img", false);
		}
	}
	tlt_result(ok && found_a && found_b, "list --json: both devices, every member as the kernel says");
	tlt_jfree(j);

	j = run_json("tloop status --json", &r, "status --json %s", a);
	tlt_result(has_members(j, dev_members, "status") &&
		   has_members(j, status_members, "status") && dev_matches(j, a, "a.img", true) &&
		   tlt_ju64(j, "written_pages", 0) == nr,
		   "status --json of the tracking device");
	tlt_jfree(j);

	j = run_json("tloop status --json", &r, "status --json %s", b);
	tlt_result(j && dev_matches(j, b, "b.img", true) && tlt_jbool(j, "read_only") == 1 &&
		   tlt_ju64(j, "size", 0) == 4 << 20 && tlt_ju64(j, "block_size", 0) == 4096 &&
		   tlt_jbool(j, "tracking") == 0,
		   "status --json of the read-only 4M device with 4K blocks");
	tlt_jfree(j);

	j = run_json("tloop written --ranges --json", &r, "written --ranges --json %s", a);
	tlt_result(has_members(j, written_members, "written --ranges") &&
		   ranges_match(tlt_jget(j, "ranges")) && tlt_ju64(j, "count", 0) == nr,
		   "written --ranges --json: maximal runs covering exactly the written pages");
	tlt_jfree(j);

	fd = open(a, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || ioctl(fd, TLOOP_TRACK_STATUS, &ts))
		tlt_bail("status");
	gen0 = ts.generation;
	j = run_json("tloop written --clear --json", &r, "written --clear --json %s", a);
	tlt_result(j && pages_match(tlt_jget(j, "pages")) && tlt_jbool(j, "cleared") == 1 &&
		   tlt_ju64(j, "generation", 0) > gen0,
		   "written --clear --json: the same pages, cleared, a newer generation");
	tlt_jfree(j);
	if (ioctl(fd, TLOOP_TRACK_STATUS, &ts))
		tlt_bail("status");
	tlt_result(ts.written == 0, "the kernel's set is empty after written --clear (%llu left)",
		   (unsigned long long)ts.written);

	j = run_json("tloop written --json", &r, "written --json %s", a);
	e = tlt_jget(j, "pages");
	tlt_result(e && e->type == TLT_JARR && tlt_jlen(e) == 0 && tlt_ju64(j, "count", 1) == 0,
		   "written --json of an empty set: an empty array");
	tlt_jfree(j);

	j = tlt_sync_json(a, "area2.img", "--create --fsync");
	tlt_result(has_members(j, sync_members, "sync"), "sync --json has every documented member");
	if (ioctl(fd, TLOOP_TRACK_STATUS, &ts))
		tlt_bail("status");
	tlt_result(j && !strcmp(tlt_jstr(j, "mode"), "full") &&
		   !strcmp(tlt_jstr(j, "reason"), "new-area2") &&
		   tlt_ju64(j, "pages", 0) == A_PAGES &&
		   tlt_ju64(j, "bytes", 0) == A_PAGES * TLT_PAGE &&
		   tlt_ju64(j, "device_size", 0) == A_PAGES * TLT_PAGE &&
		   tlt_ju64(j, "page_size", 0) == TLT_PAGE && tlt_jbool(j, "baseline") == 1 &&
		   tlt_jbool(j, "fsync") == 1 && !strcmp(tlt_jstr(j, "area2"), "area2.img") &&
		   tlt_ju64(j, "generation", 0) == ts.generation,
		   "sync --json: a full copy of the new area2, baseline at the current generation");
	tlt_jfree(j);
	tlt_result(tlt_cmp_files(a, "area2.img", A_PAGES * TLT_PAGE) < 0, "area2 equals the device");

	/* A second sync: incremental, nothing to copy, one call. */
	j = tlt_sync_json(a, "area2.img", "");
	tlt_result(j && !strcmp(tlt_jstr(j, "mode"), "incremental") &&
		   !strcmp(tlt_jstr(j, "reason"), "incremental") && tlt_ju64(j, "pages", 1) == 0 &&
		   tlt_ju64(j, "bytes", 1) == 0 && tlt_ju64(j, "calls", 0) >= 1,
		   "sync --json with nothing written: incremental, 0 pages");
	tlt_jfree(j);

	/* Human list: one line per device, no JSON. */
	tlt_tool(&r, "list");
	tlt_result(r.status == 0 && strstr(r.out, a) && strstr(r.out, b) && !strchr(r.out, '{'),
		   "list without --json is a table");

	tlt_tool(&r, "list --json");
	tlt_result(r.status == 0 && r.out[strlen(r.out) - 1] == '\n' && r.err[0] == '\0',
		   "JSON ends with a newline, nothing on stderr");
	close(fd);
	tlt_exit();
}
