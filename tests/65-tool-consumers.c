// SPDX-License-Identifier: GPL-2.0
/*
 * 65-tool-consumers: named consumers through the tool.  `tloop consumer
 * list|add|remove` (with --json) and the errors of bad names, duplicates,
 * unknown consumers and the default one; `tloop written/clear --consumer`
 * read and clear only that consumer's set.  Then the scenario: two
 * consumers refresh two area2 copies on different schedules (one every
 * round, the other every third) while a writer process keeps writing random
 * pages; the first refresh of each is full, every later one incremental
 * (--full-at 101: no automatic full copy), and after the writer stops each
 * copy equals the device byte for byte.  The default consumer's copy, made
 * before and after, stays incremental too (the named consumers' clears do
 * not touch its set).  Each area2's baseline names its consumer: a refresh
 * with another consumer, or with one removed and added again under the same
 * name, is a full copy.
 * tloop-timeout: 600
 */
#include "tlt.h"

#include <stdatomic.h>
#include <sys/wait.h>

#define NR_PAGES 8192UL		/* 32 MiB */
#define ROUNDS 9

static char node[64];
static struct tlt_tool_run r;

static bool tool_ok(const char *what, int status)
{
	if (status != 0)
		tlt_tool_show(what, &r);
	return status == 0;
}

/* tool_fails() - the run failed with status 1 and its message holds @needle. */
static bool tool_fails(const char *needle)
{
	bool ok = r.status == 1 && strstr(r.err, needle);

	if (!ok) {
		tlt_diag("expected status 1 and a message with '%s'", needle);
		tlt_tool_show("tloop", &r);
	}
	return ok;
}

/* consumer_names() - "name,name,..." of `tloop consumer list --json`. */
static bool consumer_names(char *buf, size_t len)
{
	struct tlt_json *j, *a, *e;
	size_t n = 0;

	buf[0] = '\0';
	if (tlt_tool(&r, "consumer list --json %s", node) != 0)
		return false;
	j = tlt_jparse(r.out);
	a = j ? tlt_jget(j, "consumers") : NULL;
	for (e = a ? a->child : NULL; e; e = e->next)
		n += (size_t)snprintf(buf + n, len - n, "%s%s", n ? "," : "", tlt_jstr(e, "name"));
	tlt_jfree(j);
	return a != NULL;
}

/* written_count() - pages `tloop written --json --consumer @name` reports, or -1. */
static int64_t written_count(const char *name)
{
	struct tlt_json *j;
	int64_t n = -1;

	if (tlt_tool(&r, "written --json --consumer %s %s", name, node) != 0) {
		tlt_tool_show("tloop written", &r);
		return -1;
	}
	j = tlt_jparse(r.out);
	if (j && !strcmp(tlt_jstr(j, "consumer"), name))
		n = (int64_t)tlt_ju64(j, "count", 0);
	tlt_jfree(j);
	return n;
}

static void cli(void)
{
	char names[256];
	struct tlt_json *j;
	int64_t id;

	tlt_result(consumer_names(names, sizeof(names)) && !strcmp(names, "default"),
		   "consumer list: only the default consumer (%s)", names);
	id = -1;
	if (tool_ok("consumer add", tlt_tool(&r, "consumer add --json %s backup", node))) {
		j = tlt_jparse(r.out);
		id = j ? (int64_t)tlt_ju64(j, "id", 0) : -1;
		tlt_jfree(j);
	}
	tlt_result(id > 0 && tool_ok("consumer add", tlt_tool(&r, "consumer add %s mirror", node)),
		   "consumer add backup (id %" PRId64 "), mirror", id);
	tlt_result(consumer_names(names, sizeof(names)) &&
		   !strcmp(names, "default,backup,mirror"), "consumer list: %s", names);

	tlt_tool(&r, "consumer add %s bad/name", node);
	tlt_result(tool_fails("not a valid consumer name"), "a bad name is refused, and said so");
	tlt_tool(&r, "consumer add %s backup", node);
	tlt_result(tool_fails("exists"), "a duplicate name is refused");
	tlt_tool(&r, "consumer remove %s default", node);
	tlt_result(tool_fails("cannot be removed"), "the default consumer cannot be removed");
	tlt_tool(&r, "consumer remove %s nosuch", node);
	tlt_result(tool_fails("no consumer named"), "removing an unknown consumer fails");
	tlt_tool(&r, "written --consumer nosuch %s", node);
	tlt_result(tool_fails("no consumer named 'nosuch'"), "written --consumer nosuch fails");

	/* Each consumer's set: writes land in all, clears only in one. */
	tlt_store(node, 10, 20, 1, 1);
	tlt_result(written_count("backup") == 20 && written_count("mirror") == 20,
		   "20 pages written: both consumers report them");
	tlt_result(tool_ok("clear", tlt_tool(&r, "clear --json --consumer backup %s", node)) &&
		   written_count("backup") == 0 && written_count("mirror") == 20,
		   "clear --consumer backup empties only backup's set");
	tlt_result(tool_ok("written", tlt_tool(&r, "written --clear --consumer mirror %s", node)) &&
		   written_count("mirror") == 0 && written_count("default") >= 20,
		   "written --clear --consumer mirror leaves the default consumer's set");
	if (tool_ok("status", tlt_tool(&r, "status --json %s", node))) {
		j = tlt_jparse(r.out);
		tlt_result(j && tlt_jlen(tlt_jget(j, "consumers")) == 3,
			   "status --json lists the 3 consumers");
		tlt_jfree(j);
	} else {
		tlt_result(0, "status --json lists the 3 consumers");
	}
}

/* sync_mode() - one `tloop sync --consumer`; "full:reason" / "incremental", NULL on failure. */
static const char *sync_mode(const char *consumer, const char *area2, char *buf, size_t len)
{
	char opts[96];
	struct tlt_json *j;

	snprintf(opts, sizeof(opts), "--create --full-at 101%s%s", consumer ? " --consumer " : "",
		 consumer ? consumer : "");
	j = tlt_sync_json(node, area2, opts);
	if (!j)
		return NULL;
	if (strcmp(tlt_jstr(j, "consumer"), consumer ? consumer : "default"))
		tlt_diag("sync reported consumer '%s'", tlt_jstr(j, "consumer"));
	snprintf(buf, len, "%s%s%s", tlt_jstr(j, "mode"),
		 strcmp(tlt_jstr(j, "mode"), "full") ? "" : ":", strcmp(tlt_jstr(j, "mode"),
		 "full") ? "" : tlt_jstr(j, "reason"));
	tlt_jfree(j);
	return buf;
}

static void writer(atomic_int *stop)
{
	uint64_t state = 0x65c0ffee, n = 0;
	uint8_t buf[TLT_PAGE];
	int fd = open(node, O_RDWR | O_CLOEXEC);

	if (fd < 0)
		_exit(2);
	while (!atomic_load(stop)) {
		uint64_t p = tlt_rand_r(&state) % NR_PAGES;

		tlt_page_pattern(buf, p, (uint32_t)++n);
		if (pwrite(fd, buf, TLT_PAGE, (off_t)(p * TLT_PAGE)) != (ssize_t)TLT_PAGE)
			_exit(3);
		if (n % 64 == 0)
			usleep(2000);
	}
	close(fd);
	_exit(0);
}

static void scenario(void)
{
	const char *a_backup = "area2-backup.img", *a_mirror = "area2-mirror.img";
	const char *a_default = "area2-default.img";
	int full_after_first = 0, failures = 0, n_mirror = 0, n_backup = 0;
	char m[64], side[256];
	atomic_int *stop = mmap(NULL, sizeof(*stop), PROT_READ | PROT_WRITE,
				MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	const char *s;
	pid_t pid;
	bool ok;

	if (stop == MAP_FAILED)
		tlt_bail("mmap");
	s = sync_mode(NULL, a_default, m, sizeof(m));
	tlt_result(s && !strcmp(s, "full:new-area2"), "default consumer's first sync: %s",
		   s ? s : "failed");
	atomic_store(stop, 0);
	pid = fork();
	if (pid < 0)
		tlt_bail("fork");
	if (!pid)
		writer(stop);
	for (int round = 0; round < ROUNDS; round++) {
		s = sync_mode("mirror", a_mirror, m, sizeof(m));
		failures += !s;
		if (s && n_mirror++ && strcmp(s, "incremental")) {
			tlt_diag("round %d: mirror %s", round, s);
			full_after_first++;
		}
		if (round % 3 == 0) {
			s = sync_mode("backup", a_backup, m, sizeof(m));
			failures += !s;
			if (s && n_backup++ && strcmp(s, "incremental")) {
				tlt_diag("round %d: backup %s", round, s);
				full_after_first++;
			}
		}
		usleep(100000);
	}
	atomic_store(stop, 1);
	tlt_result(tlt_wait_ok(pid), "the writer ran during the refreshes");
	/* The last refresh of each, after the writer stopped. */
	s = sync_mode("mirror", a_mirror, m, sizeof(m));
	full_after_first += s && strcmp(s, "incremental");
	failures += !s;
	s = sync_mode("backup", a_backup, m, sizeof(m));
	full_after_first += s && strcmp(s, "incremental");
	failures += !s;
	tlt_result(!failures && !full_after_first,
		   "%d mirror and %d backup refreshes: no full copy after the first of each"
		   " (%d full, %d failed)", n_mirror + 1, n_backup + 1, full_after_first, failures);
	tlt_result(tlt_cmp_files(node, a_mirror, NR_PAGES * TLT_PAGE) < 0,
		   "mirror's area2 == device");
	tlt_result(tlt_cmp_files(node, a_backup, NR_PAGES * TLT_PAGE) < 0,
		   "backup's area2 == device");
	s = sync_mode(NULL, a_default, m, sizeof(m));
	tlt_result(s && !strcmp(s, "incremental") &&
		   tlt_cmp_files(node, a_default, NR_PAGES * TLT_PAGE) < 0,
		   "the default consumer's second sync is incremental and exact (%s)",
		   s ? s : "failed");

	tlt_slurp("area2-backup.img.tloop", side, sizeof(side));
	tlt_result(strstr(side, "\nconsumer backup\nconsumer_id ") != NULL,
		   "backup's baseline names its consumer");

	/* A baseline of another consumer, or of a consumer added again: full. */
	s = sync_mode("mirror", a_backup, m, sizeof(m));
	ok = s && !strcmp(s, "full:other-consumer");
	tlt_result(ok, "backup's area2 refreshed with consumer mirror: %s", s ? s : "failed");
	tool_ok("consumer remove", tlt_tool(&r, "consumer remove %s mirror", node));
	tool_ok("consumer add", tlt_tool(&r, "consumer add %s mirror", node));
	s = sync_mode("mirror", a_mirror, m, sizeof(m));
	ok = s && !strcmp(s, "full:other-consumer") &&
	     tlt_cmp_files(node, a_mirror, NR_PAGES * TLT_PAGE) < 0;
	tlt_result(ok, "mirror removed and added again: the next refresh is full (%s) and exact",
		   s ? s : "failed");
	s = sync_mode("mirror", a_mirror, m, sizeof(m));
	tlt_result(s && !strcmp(s, "incremental"), "... then incremental again (%s)",
		   s ? s : "failed");
	unlink(a_backup);
	unlink(a_mirror);
	unlink(a_default);
	unlink("area2-backup.img.tloop");
	unlink("area2-mirror.img.tloop");
	unlink("area2-default.img.tloop");
}

int main(void)
{
	tlt_require_tracking();
	tlt_plan(22);
	tlt_tool_attach("backing.img", NR_PAGES * TLT_PAGE, "--track", node, sizeof(node));
	cli();
	scenario();
	tlt_exit();
}
