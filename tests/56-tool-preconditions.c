// SPDX-License-Identifier: GPL-2.0
/*
 * 56-tool-preconditions: `tloop sync` checks everything that can refuse
 * before it changes anything, and changes things in the crash-safe order.
 *  - A consumer without the right to clear the written set (device open
 *    read-only, no CAP_SYS_ADMIN: a non-root user with a 0644 node) is
 *    refused with a clear message, and the baseline, area2 and the written
 *    set are exactly as before (its generation too).  With write access to
 *    the node the same user refreshes incrementally (the check is not
 *    stricter than the kernel).
 *  - An area2 whose directory is not writable (its baseline could not be
 *    replaced), and an area2 that is not writable: refused, nothing changed.
 *  - A wrong-size area2 without --resize: refused, baseline kept, set kept.
 *  - --resize with a baseline present: the baseline is deleted before area2
 *    is truncated; --create with a stale baseline left next to a deleted
 *    area2: the baseline is deleted before area2 is created; in every
 *    refresh the new baseline is created after the last change to area2
 *    (the order seen through inotify on the directory).
 *    (Skipped, with the reason, on a kernel without CONFIG_INOTIFY_USER: the
 *    debug kernel; 58-tool-crash-replay checks the same order there.)
 *  - area2 is flushed by default ("fsync": true), --unsafe-no-fsync says
 *    false, --fsync is still accepted.
 * tloop-timeout: 180
 */
#include "tlt.h"

#include <sys/inotify.h>

#define NR_PAGES 1024UL		/* 4 MiB */
#define SIZE (NR_PAGES * TLT_PAGE)
#define UID 1000
#define NO_INOTIFY "inotify is not built into this kernel (CONFIG_INOTIFY_USER)"

static uint32_t ver = 1;
static char node[64];

/* store() - write the next pattern version into @n pages from @p. */
static void store(uint64_t p, uint64_t n)
{
	tlt_store(node, p, n, 1, ++ver);
}

/* What must not change when a refresh is refused. */
struct snap {
	ino_t side_ino;
	char side[256];
	uint64_t gen, written;
	uint8_t *area2;
	off_t area2_size;
};

static void read_file(const char *path, uint8_t *buf, size_t len, off_t *size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	*size = -1;
	if (fd < 0)
		return;
	n = pread(fd, buf, len, 0);
	*size = n < 0 ? -1 : (off_t)n;
	close(fd);
}

static void track(uint64_t *gen, uint64_t *written)
{
	struct tloop_track_status st;
	int fd = open(node, O_RDONLY | O_CLOEXEC);

	memset(&st, 0, sizeof(st));
	st.size = sizeof(st);
	if (fd < 0 || ioctl(fd, TLOOP_TRACK_STATUS, &st) < 0)
		tlt_bail("TLOOP_TRACK_STATUS %s", node);
	close(fd);
	*gen = st.generation;
	*written = st.written;
}

static void take(struct snap *s, const char *area2)
{
	char side[128];
	struct stat st;

	snprintf(side, sizeof(side), "%s.tloop", area2);
	s->side_ino = stat(side, &st) ? 0 : st.st_ino;
	tlt_slurp(side, s->side, sizeof(s->side));
	if (!s->area2)
		s->area2 = tlt_alloc(SIZE + TLT_PAGE);
	read_file(area2, s->area2, SIZE + TLT_PAGE, &s->area2_size);
	track(&s->gen, &s->written);
}

/* same() - nothing of @a changed in @b (diagnostics for what did). */
static bool same(const struct snap *a, const struct snap *b)
{
	bool ok = true;

	if (!a->side_ino || a->side_ino != b->side_ino || strcmp(a->side, b->side)) {
		tlt_diag("the baseline changed (inode %lu -> %lu)", (unsigned long)a->side_ino,
			 (unsigned long)b->side_ino);
		ok = false;
	}
	if (a->area2_size != b->area2_size ||
	    (a->area2_size > 0 && memcmp(a->area2, b->area2, (size_t)a->area2_size))) {
		tlt_diag("area2 changed (size %lld -> %lld)", (long long)a->area2_size,
			 (long long)b->area2_size);
		ok = false;
	}
	if (a->gen != b->gen || a->written != b->written) {
		tlt_diag("the written set changed: generation %" PRIu64 " -> %" PRIu64
			 ", %" PRIu64 " -> %" PRIu64 " pages", a->gen, b->gen, a->written,
			 b->written);
		ok = false;
	}
	return ok;
}

static bool refused(const struct tlt_tool_run *r, const char *pat)
{
	if (r->status == 1 && strstr(r->err, pat))
		return true;
	tlt_diag("expected status 1 and a message with '%s'", pat);
	tlt_tool_show("tloop sync", r);
	return false;
}

/* ---- the order of changes, through inotify ---------------------------- */

#define MAX_EV 4096
static struct {
	uint32_t mask;
	char name[64];
} ev[MAX_EV];
static int nev;

static void events(int in)
{
	char buf[65536] __attribute__((aligned(8)));
	ssize_t len;

	nev = 0;
	while (in >= 0 && (len = read(in, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + len;) {
			struct inotify_event *e = (struct inotify_event *)p;

			if (nev < MAX_EV) {
				ev[nev].mask = e->mask;
				snprintf(ev[nev].name, sizeof(ev[nev].name), "%s",
					 e->len ? e->name : "");
				nev++;
			}
			p += sizeof(*e) + e->len;
		}
	}
}

/* first()/last() - index of the first/last event @mask on @name (prefix if @prefix). */
static int find(uint32_t mask, const char *name, bool prefix, bool last)
{
	int found = -1;

	for (int i = 0; i < nev; i++) {
		bool match = prefix ? !strncmp(ev[i].name, name, strlen(name)) :
				      !strcmp(ev[i].name, name);

		if ((ev[i].mask & mask) && match) {
			found = i;
			if (!last)
				break;
		}
	}
	return found;
}

static void show_events(void)
{
	for (int i = 0; i < nev && i < 12; i++)
		tlt_diag("  event %d: %s%s%s %s", i, ev[i].mask & IN_DELETE ? "DELETE" : "",
			 ev[i].mask & IN_MODIFY ? "MODIFY" : "", ev[i].mask & IN_CREATE ? "CREATE" : "",
			 ev[i].name);
}

/*
 * order_result() - report an order check: a skip without inotify, else the
 * result (with the events seen when it failed).
 */
static void order_result(int in, bool ok, const char *name, const char *msg)
{
	if (in < 0) {
		tlt_skip(name, NO_INOTIFY);
		return;
	}
	if (!ok)
		show_events();
	tlt_result(ok, "%s", msg);
}

/*
 * rewrite_order() - of a refresh that rewrote area2 in place: the baseline
 * deleted first, area2 written, the new baseline created after its last write.
 */
static bool rewrite_order(char *msg, size_t len, const char *what)
{
	int del = find(IN_DELETE, "area2.img.tloop", false, false);
	int mod = find(IN_MODIFY, "area2.img", false, false);
	int lastmod = find(IN_MODIFY, "area2.img", false, true);
	int cre = find(IN_CREATE, "area2.img.tloop", true, false);

	snprintf(msg, len, "%s: baseline deleted (event %d) before area2 is written (%d..%d); "
		 "new baseline created (%d) after the last write", what, del, mod, lastmod, cre);
	return del >= 0 && mod > del && cre > lastmod;
}

int main(void)
{
	struct snap s0 = { 0 }, s1 = { 0 };
	struct tlt_json *j;
	struct tlt_tool_run r;
	int in, wd, del, cre;
	char msg[256];
	bool ok;

	tlt_plan(15);
	tlt_tool_attach("a.img", SIZE, "--track", node, sizeof(node));
	if (mkdir("u", 0755) || chown("u", UID, UID))
		tlt_bail("mkdir u");
	store(0, NR_PAGES);
	if (tlt_tool(&r, "sync --create %s u/area2.img", node)) {
		tlt_tool_show("tloop sync", &r);
		tlt_bail("first sync");
	}
	if (chown("u/area2.img", UID, UID) || chown("u/area2.img.tloop", UID, UID))
		tlt_bail("chown");
	store(10, 5);

	/* 1. No right to clear. */
	if (chmod(node, 0644))
		tlt_bail("chmod %s", node);
	take(&s0, "u/area2.img");
	tlt_tool_as(UID, &r, "sync %s u/area2.img", node);
	tlt_result(refused(&r, "no right to clear the written set"),
		   "a user who may only read the device is refused: no right to clear the set");
	take(&s1, "u/area2.img");
	tlt_result(same(&s0, &s1), "... and the baseline, area2 and the written set are unchanged");

	if (chmod(node, 0666))
		tlt_bail("chmod %s", node);
	ok = tlt_tool_as(UID, &r, "sync --json %s u/area2.img", node) == 0 &&
	     strstr(r.out, "\"mode\": \"incremental\"") &&
	     tlt_cmp_files(node, "u/area2.img", SIZE) < 0;
	if (!ok)
		tlt_tool_show("tloop sync as uid 1000", &r);
	tlt_result(ok, "with write access to the device the same user refreshes incrementally, exactly");

	/* 2. area2's directory not writable; area2 not writable. */
	store(20, 3);
	if (chmod("u", 0555))
		tlt_bail("chmod u");
	take(&s0, "u/area2.img");
	tlt_tool_as(UID, &r, "sync %s u/area2.img", node);
	tlt_result(refused(&r, "cannot create or remove files next to u/area2.img"),
		   "area2's directory not writable: refused before anything changes");
	take(&s1, "u/area2.img");
	tlt_result(same(&s0, &s1), "... baseline, area2 and written set unchanged");
	if (chmod("u", 0755) || chmod("u/area2.img", 0444))
		tlt_bail("chmod");
	tlt_tool_as(UID, &r, "sync %s u/area2.img", node);
	take(&s1, "u/area2.img");
	tlt_result(refused(&r, "open u/area2.img: Permission denied") && same(&s0, &s1),
		   "area2 not writable: refused, nothing changed");
	if (chmod("u/area2.img", 0644) || chmod(node, 0660))
		tlt_bail("chmod");

	/* 3. Wrong size without --resize. */
	if (truncate("u/area2.img", SIZE / 2))
		tlt_bail("truncate");
	take(&s0, "u/area2.img");
	tlt_tool(&r, "sync %s u/area2.img", node);
	take(&s1, "u/area2.img");
	tlt_result(refused(&r, "(use --resize)") && same(&s0, &s1),
		   "wrong-size area2 without --resize: refused; baseline, area2, set unchanged");

	/* 4. --resize: the baseline goes before the truncation. */
	in = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	wd = in < 0 ? -1 : inotify_add_watch(in, "u", IN_DELETE | IN_MODIFY | IN_CREATE |
					     IN_MOVED_TO);
	/* The debug kernel is built without CONFIG_INOTIFY_USER: those checks are skipped. */
	if (wd < 0 && !(in < 0 && errno == ENOSYS))
		tlt_bail("inotify");
	j = tlt_sync_json(node, "u/area2.img", "--resize");
	ok = j && !strcmp(tlt_jstr(j, "reason"), "new-area2") &&
	     tlt_file_size("u/area2.img") == (int64_t)SIZE &&
	     tlt_cmp_files(node, "u/area2.img", SIZE) < 0;
	tlt_result(ok, "--resize: full copy (new-area2), area2 equals the device");
	tlt_jfree(j);
	events(in);
	ok = rewrite_order(msg, sizeof(msg), "--resize");
	order_result(in, ok, "--resize: order of the changes", msg);

	/* 5. --create next to a stale baseline. */
	store(30, 2);
	if (unlink("u/area2.img"))
		tlt_bail("unlink");
	events(in);
	j = tlt_sync_json(node, "u/area2.img", "--create");
	ok = j && !strcmp(tlt_jstr(j, "reason"), "new-area2") &&
	     tlt_cmp_files(node, "u/area2.img", SIZE) < 0;
	tlt_result(ok, "--create with a stale baseline: full copy, area2 equals the device");
	tlt_jfree(j);
	events(in);
	del = find(IN_DELETE, "area2.img.tloop", false, false);
	cre = find(IN_CREATE, "area2.img", false, false);
	snprintf(msg, sizeof(msg), "--create: the stale baseline is deleted (event %d) before "
		 "area2 is created (%d)", del, cre);
	order_result(in, del >= 0 && cre > del, "--create: order of the changes", msg);

	/* 6. An incremental refresh: the baseline only after area2's last write. */
	store(40, 8);
	events(in);
	j = tlt_sync_json(node, "u/area2.img", "");
	ok = j && !strcmp(tlt_jstr(j, "mode"), "incremental") && tlt_jbool(j, "fsync") == 1 &&
	     tlt_cmp_files(node, "u/area2.img", SIZE) < 0;
	tlt_result(ok, "default refresh: incremental, \"fsync\": true, area2 equals the device");
	tlt_jfree(j);
	events(in);
	ok = rewrite_order(msg, sizeof(msg), "incremental");
	order_result(in, ok, "incremental: order of the changes", msg);
	if (in >= 0)
		close(in);

	/* 7. The opt-out and the old flag. */
	store(50, 1);
	j = tlt_sync_json(node, "u/area2.img", "--unsafe-no-fsync");
	ok = j && tlt_jbool(j, "fsync") == 0 && tlt_cmp_files(node, "u/area2.img", SIZE) < 0;
	tlt_result(ok, "--unsafe-no-fsync: \"fsync\": false, area2 equals the device");
	tlt_jfree(j);
	store(51, 1);
	j = tlt_sync_json(node, "u/area2.img", "--fsync");
	ok = j && tlt_jbool(j, "fsync") == 1 && !strcmp(tlt_jstr(j, "mode"), "incremental") &&
	     tlt_cmp_files(node, "u/area2.img", SIZE) < 0;
	tlt_result(ok, "--fsync (now the default) is still accepted");
	tlt_jfree(j);
	free(s0.area2);
	free(s1.area2);
	tlt_exit();
}
