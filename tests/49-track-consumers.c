// SPDX-License-Identifier: GPL-2.0
/*
 * 49-track-consumers: named consumers (TLOOP_CONSUMER_*).  Adding needs
 * tracking on; the list starts with the default consumer; bad names are
 * EINVAL, a duplicate EEXIST, the 17th named consumer ENOSPC; ids are never
 * reused and a removed consumer's id is ENOENT everywhere.  Every write lands
 * in every set; reading, clearing and the generation of one consumer leave
 * the others alone (checked against a ground-truth page set in random
 * rounds); a consumer's memory limit overflows only its own set.  A thread
 * refreshing one consumer while other consumers are added and removed (and
 * while another thread queries a consumer being removed) never fails and
 * loses no write.  Turning tracking off removes every named consumer.
 *
 * tloop-timeout: 600
 */
#include "tlt.h"

#include <pthread.h>
#include <stdatomic.h>

#define DEV_SIZE (8UL << 20)
#define NPAGES (DEV_SIZE / TLT_PAGE)
#define BATCH 512
#define ROUNDS 12

static struct tlt_tdev *d;

/* check_cget() - consumer @id reports exactly @want (no clearing); diagnostics if not. */
static bool check_cget(uint32_t id, const struct tlt_set *want, const char *name)
{
	struct tlt_pages got = { 0 };
	int ret = tlt_cget_all(d->fd, id, 0, BATCH, NPAGES, &got);
	bool ok = !ret && tlt_set_diff(want, &got, name, NULL, NULL) &&
		  !(got.status & TLOOP_TRACK_OVERFLOW);

	if (ret)
		tlt_diag("%s: GET_WRITTEN: %s", name, tlt_errname(-ret));
	tlt_pages_free(&got);
	return ok;
}

/* write_random() - @n random page runs written with pwrite, marked in every set of @truth. */
static void write_random(unsigned int n, struct tlt_set **truth, unsigned int nt)
{
	static uint8_t buf[8 * 4096];

	for (unsigned int i = 0; i < n; i++) {
		uint64_t p = tlt_rand_below(NPAGES), run = 1 + tlt_rand_below(8);
		uint64_t off = p * TLT_PAGE + tlt_rand_below(TLT_PAGE), len;

		if (p + run > NPAGES)
			run = NPAGES - p;
		len = run * TLT_PAGE - (off - p * TLT_PAGE);
		len = 1 + tlt_rand_below(len);
		tlt_pattern(buf, len, off, (uint32_t)i);
		tlt_pwrite_all(d->fd, buf, len, (off_t)off);
		for (unsigned int t = 0; t < nt; t++)
			tlt_set_bytes(truth[t], off, len);
	}
}

static bool valid_list(uint32_t want_total, const char *const *names, const uint32_t *ids)
{
	struct tloop_consumer_info ci[TLOOP_MAX_CONSUMERS + 1];
	uint32_t count = 0;
	int total = tlt_consumer_list(d->fd, ci, TLOOP_MAX_CONSUMERS + 1, &count);
	bool ok = total == (int)want_total && count == want_total;

	if (!ok)
		tlt_diag("LIST: total %d count %u, want %u", total, count, want_total);
	for (uint32_t i = 0; ok && i < count; i++) {
		const char *want = i ? names[i - 1] : TLOOP_CONSUMER_DEFAULT;
		uint32_t want_id = i ? ids[i - 1] : 0;

		if (strcmp(ci[i].name, want) || ci[i].id != want_id ||
		    !(ci[i].status & TLOOP_TRACK_ON)) {
			tlt_diag("LIST entry %u: \"%.32s\" id %u status %#x, want \"%s\" id %u", i,
				 ci[i].name, ci[i].id, ci[i].status, want, want_id);
			ok = false;
		}
	}
	return ok;
}

static void names_and_limit(void)
{
	static const char *const bad[] = {
		"", ".a", "-a", "_a", "a b", "a/b", "a\n", "\xc3\xa9t\xc3\xa9", "a:b",
		"abcdefghijklmnopqrstuvwxyz012345",	/* 32 bytes: no room for the NUL */
	};
	char names[TLOOP_MAX_CONSUMERS][TLOOP_CONSUMER_NAME_MAX];
	const char *np[TLOOP_MAX_CONSUMERS];
	uint32_t ids[TLOOP_MAX_CONSUMERS];
	struct tloop_consumer_add a;
	bool ok = true;
	int64_t id;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ok = tlt_expect_errno(tlt_consumer_add(d->fd, bad[i], 0) < 0 ? -1 : 0, EINVAL,
				      "ADD of a bad name is EINVAL") && ok;
	/* Bytes after the NUL must be zero. */
	memset(&a, 0, sizeof(a));
	a.size = sizeof(a);
	strcpy(a.name, "ok");
	a.name[5] = 'x';
	tlt_expect_errno(ioctl(d->fd, TLOOP_CONSUMER_ADD, &a), EINVAL,
			 "ADD: a name with junk after its NUL is EINVAL");
	a.name[5] = 0;
	a.flags = 1;
	tlt_expect_errno(ioctl(d->fd, TLOOP_CONSUMER_ADD, &a), EINVAL, "ADD: a flag is EINVAL");
	a.flags = 0;
	a.reserved[1] = 1;
	tlt_expect_errno(ioctl(d->fd, TLOOP_CONSUMER_ADD, &a), EINVAL,
			 "ADD: reserved != 0 is EINVAL");
	tlt_expect_errno(tlt_consumer_add(d->fd, TLOOP_CONSUMER_DEFAULT, 0) < 0 ? -1 : 0, EEXIST,
			 "ADD of \"default\" is EEXIST");
	tlt_expect_errno(tlt_consumer_remove(d->fd, TLOOP_CONSUMER_DEFAULT) < 0 ? -1 : 0, EINVAL,
			 "REMOVE of \"default\" is EINVAL");
	tlt_expect_errno(tlt_consumer_remove(d->fd, "nobody") < 0 ? -1 : 0, ENOENT,
			 "REMOVE of an unknown name is ENOENT");
	tlt_result(valid_list(1, NULL, NULL), "after the bad ADDs only the default consumer is listed");

	/* Up to the limit, with names at the edges of the rules. */
	for (int i = 0; i < TLOOP_MAX_CONSUMERS; i++) {
		if (i == 0)
			snprintf(names[i], sizeof(names[i]), "%s", "a123456789b123456789c123456789d");
		else
			snprintf(names[i], sizeof(names[i]), "%c%d.x_y-z", i % 2 ? 'Q' : '7', i);
		np[i] = names[i];
		id = tlt_consumer_add(d->fd, names[i], 0);
		if (id <= 0) {
			tlt_diag("ADD \"%s\": %s", names[i], id ? tlt_errname((int)-id) : "id 0");
			ok = false;
			break;
		}
		ids[i] = (uint32_t)id;
		for (int j = 0; j < i; j++)
			ok = ok && ids[j] != ids[i];
	}
	tlt_result(ok, "%d named consumers added (31-byte name, digits, . _ -), distinct ids",
		   TLOOP_MAX_CONSUMERS);
	tlt_result(valid_list(TLOOP_MAX_CONSUMERS + 1, np, ids),
		   "LIST: default first, then every named consumer in order, with its id");
	{
		struct tloop_consumer_info ci[4];
		uint32_t count = 99;
		int total = tlt_consumer_list(d->fd, ci, 4, &count);

		tlt_result(total == TLOOP_MAX_CONSUMERS + 1 && count == 4,
			   "LIST with room for 4: count 4, total %d (%d)", TLOOP_MAX_CONSUMERS + 1,
			   total);
		total = tlt_consumer_list(d->fd, NULL, 0, &count);
		tlt_result(total == TLOOP_MAX_CONSUMERS + 1 && count == 0,
			   "LIST with capacity 0 reports only the total (%d)", total);
	}
	tlt_expect_errno(tlt_consumer_add(d->fd, "one-too-many", 0) < 0 ? -1 : 0, ENOSPC,
			 "ADD past TLOOP_MAX_CONSUMERS is ENOSPC");
	tlt_expect_errno(tlt_consumer_add(d->fd, names[3], 0) < 0 ? -1 : 0, EEXIST,
			 "ADD of an existing name is EEXIST");

	/* Remove them all; a name added again gets a new id, the old one is gone. */
	ok = true;
	for (int i = 0; i < TLOOP_MAX_CONSUMERS; i++)
		ok = !tlt_consumer_remove(d->fd, names[i]) && ok;
	tlt_result(ok && valid_list(1, NULL, NULL), "every named consumer removed");
	id = tlt_consumer_add(d->fd, names[0], 0);
	ok = id > 0;
	for (int i = 0; ok && i < TLOOP_MAX_CONSUMERS; i++)
		ok = (uint32_t)id != ids[i];
	tlt_result(ok, "a name added again gets an id never used before (%" PRId64 ")", id);
	{
		struct tloop_track_status st;
		struct tloop_written w;
		uint64_t page;

		tlt_expect_errno(tlt_cstatus(d->fd, ids[0], &st) ? -1 : 0, ENOENT,
				 "STATUS of a removed consumer's id is ENOENT");
		tlt_expect_errno(tlt_cget_one(d->fd, ids[0], TLOOP_GET_CLEAR, 0, 0, &page, 1, &w) ?
				 -1 : 0, ENOENT, "GET of a removed consumer's id is ENOENT");
		tlt_expect_errno(tlt_cclear(d->fd, ids[0], TLOOP_CLEAR_ALL, 0, 0, NULL) ? -1 : 0,
				 ENOENT, "CLEAR of a removed consumer's id is ENOENT");
	}
	tlt_consumer_remove(d->fd, names[0]);
}

/* independence() - random rounds: each consumer reports exactly the writes since its own clears. */
static void independence(void)
{
	struct tlt_set s_def, s_a, s_b;
	struct tlt_set *all[] = { &s_def, &s_a, &s_b };
	uint64_t gen_a, gen_b, g;
	struct tloop_track_status st;
	int64_t ia, ib;
	bool gen_ok = true, ok = true;

	ia = tlt_consumer_add(d->fd, "alpha", 0);
	ib = tlt_consumer_add(d->fd, "beta", 0);
	if (ia <= 0 || ib <= 0)
		tlt_bail("ADD alpha/beta");
	tlt_clear_all(d->fd);
	tlt_set_init(&s_def, NPAGES);
	tlt_set_init(&s_a, NPAGES);
	tlt_set_init(&s_b, NPAGES);
	if (tlt_cstatus(d->fd, (uint32_t)ia, &st) || st.written)
		tlt_bail("a new consumer's set is not empty");
	gen_a = st.generation;
	tlt_cstatus(d->fd, (uint32_t)ib, &st);
	gen_b = st.generation;

	for (int r = 0; r < ROUNDS; r++) {
		struct tlt_pages got = { 0 };
		char what[80];
		int who = (int)tlt_rand_below(3);

		write_random(20 + (unsigned int)tlt_rand_below(200), all, 3);
		snprintf(what, sizeof(what), "round %d: alpha", r);
		ok = check_cget((uint32_t)ia, &s_a, what) && ok;
		snprintf(what, sizeof(what), "round %d: beta", r);
		ok = check_cget((uint32_t)ib, &s_b, what) && ok;
		snprintf(what, sizeof(what), "round %d: default", r);
		ok = check_cget(0, &s_def, what) && ok;
		/* One of them consumes: GET+CLEAR walk, a range clear or a clear all. */
		if (who == 0) {
			if (tlt_cget_all(d->fd, (uint32_t)ia, TLOOP_GET_CLEAR, BATCH, NPAGES, &got))
				tlt_bail("GET+CLEAR alpha");
			tlt_set_reset(&s_a);
			gen_ok = gen_ok && got.generation == gen_a + got.calls;
			gen_a += got.calls;
		} else if (who == 1) {
			uint64_t a = tlt_rand_below(NPAGES), b = a + 1 + tlt_rand_below(NPAGES - a);

			if (tlt_cclear(d->fd, (uint32_t)ib, 0, a, b, &g))
				tlt_bail("CLEAR range beta");
			memset(s_b.bit + a, 0, b - a);
			gen_ok = gen_ok && g == ++gen_b;
		} else {
			tlt_clear_all(d->fd);
			tlt_set_reset(&s_def);
		}
		tlt_pages_free(&got);
		tlt_cstatus(d->fd, (uint32_t)ia, &st);
		gen_ok = gen_ok && st.generation == gen_a;
		tlt_cstatus(d->fd, (uint32_t)ib, &st);
		gen_ok = gen_ok && st.generation == gen_b && st.written == tlt_set_count(&s_b);
	}
	tlt_result(ok, "%d rounds: every write in every set; each consumer's clears only its own",
		   ROUNDS);
	tlt_result(gen_ok, "each consumer's generation grows only with its own clears");
	tlt_consumer_remove(d->fd, "alpha");
	tlt_consumer_remove(d->fd, "beta");
	tlt_set_free(&s_def);
	tlt_set_free(&s_a);
	tlt_set_free(&s_b);
}

static void mem_limit(void)
{
	struct tloop_track_status st;
	struct tlt_set s;
	struct tlt_set *all[] = { &s };
	int64_t small = tlt_consumer_add(d->fd, "small", 1), big = tlt_consumer_add(d->fd, "big", 0);
	bool ok;

	tlt_set_init(&s, NPAGES);
	if (small <= 0 || big <= 0)
		tlt_bail("ADD small/big");
	write_random(50, all, 1);
	tlt_result(check_cget((uint32_t)big, &s, "big"),
		   "the consumer without a limit reports every write");
	tlt_cstatus(d->fd, (uint32_t)small, &st);
	ok = (st.flags & TLOOP_TRACK_OVERFLOW) && st.mem_limit == 1 && st.mem_used <= 1;
	tlt_result(ok, "a consumer with a 1-byte limit overflows (flags %#x, used %" PRIu64 ")",
		   st.flags, (uint64_t)st.mem_used);
	tlt_status(d->fd, &st);
	tlt_cstatus(d->fd, (uint32_t)big, &st);
	tlt_result(!(st.flags & TLOOP_TRACK_OVERFLOW) && st.mem_used > 0,
		   "... the others do not (%" PRIu64 " bytes used)", (uint64_t)st.mem_used);
	tlt_cclear(d->fd, (uint32_t)small, TLOOP_CLEAR_ALL, 0, 0, NULL);
	tlt_cstatus(d->fd, (uint32_t)small, &st);
	tlt_result(!(st.flags & TLOOP_TRACK_OVERFLOW) && !st.written,
		   "CLEAR_ALL on that consumer leaves the overflowed state");
	tlt_consumer_remove(d->fd, "small");
	tlt_consumer_remove(d->fd, "big");
	tlt_set_free(&s);
}

/* The churn test: one consumer refreshes while the others come and go. */
static atomic_int stop_all;
static atomic_uint churn_victim;
static atomic_long refresher_errors, victim_bad, victim_calls;
static uint8_t *harvested;

static void *refresher(void *arg)
{
	uint32_t id = (uint32_t)(uintptr_t)arg;
	uint64_t *buf = malloc(BATCH * sizeof(*buf));

	while (!atomic_load(&stop_all)) {
		uint64_t cursor = 0;

		for (;;) {
			struct tloop_written w;

			if (tlt_cget_one(d->fd, id, TLOOP_GET_CLEAR, cursor, 0, buf, BATCH, &w) ||
			    (w.status & TLOOP_TRACK_OVERFLOW)) {
				atomic_fetch_add(&refresher_errors, 1);
				break;
			}
			for (uint32_t i = 0; i < w.count; i++)
				harvested[buf[i]] = 1;
			if (w.next_cursor == TLOOP_CURSOR_END)
				break;
			cursor = w.next_cursor;
		}
	}
	free(buf);
	return NULL;
}

static void *victim_querier(void *arg)
{
	uint64_t buf[64];

	(void)arg;
	while (!atomic_load(&stop_all)) {
		struct tloop_written w;
		int ret = tlt_cget_one(d->fd, atomic_load(&churn_victim), TLOOP_GET_CLEAR, 0, 0, buf,
				       64, &w);

		atomic_fetch_add(&victim_calls, 1);
		if (ret && ret != -ENOENT)
			atomic_fetch_add(&victim_bad, 1);
	}
	return NULL;
}

static void churn(void)
{
	struct tlt_set s;
	struct tlt_set *all[] = { &s };
	pthread_t rt, vt;
	int64_t keeper = tlt_consumer_add(d->fd, "keeper", 0), id;
	unsigned int cycles = 0, add_fail = 0;
	double t_end;
	uint64_t lost = 0;

	harvested = calloc(NPAGES, 1);
	tlt_set_init(&s, NPAGES);
	if (keeper <= 0 || !harvested)
		tlt_bail("ADD keeper");
	id = tlt_consumer_add(d->fd, "victim", 0);
	atomic_store(&churn_victim, (uint32_t)id);
	if (pthread_create(&rt, NULL, refresher, (void *)(uintptr_t)keeper) ||
	    pthread_create(&vt, NULL, victim_querier, NULL))
		tlt_bail("pthread_create");
	t_end = tlt_now() + 3.0 * tlt_scale();
	while (tlt_now() < t_end) {
		char name[32];

		write_random(10, all, 1);
		/* Remove the victim under the querier's feet, and a few others. */
		if (tlt_consumer_remove(d->fd, "victim"))
			add_fail++;
		snprintf(name, sizeof(name), "extra%u", cycles % 5);
		tlt_consumer_add(d->fd, name, 0);
		if (cycles % 3 == 0)
			tlt_consumer_remove(d->fd, name);
		id = tlt_consumer_add(d->fd, "victim", 0);
		if (id <= 0)
			add_fail++;
		else
			atomic_store(&churn_victim, (uint32_t)id);
		cycles++;
	}
	atomic_store(&stop_all, 1);
	pthread_join(rt, NULL);
	pthread_join(vt, NULL);
	/* The last round, after the writers stopped. */
	atomic_store(&stop_all, 0);
	{
		struct tlt_pages got = { 0 };

		if (tlt_cget_all(d->fd, (uint32_t)keeper, TLOOP_GET_CLEAR, BATCH, NPAGES, &got))
			tlt_bail("last GET+CLEAR keeper");
		for (size_t i = 0; i < got.n; i++)
			harvested[got.v[i]] = 1;
		tlt_pages_free(&got);
	}
	for (uint64_t p = 0; p < NPAGES; p++)
		if (s.bit[p] && !harvested[p] && lost++ < 8)
			tlt_diag("page %" PRIu64 " written but never reported to keeper", p);
	tlt_result(!atomic_load(&refresher_errors) && !add_fail,
		   "%u cycles of removing/adding consumers while keeper refreshed: no error",
		   cycles);
	tlt_result(lost == 0, "keeper harvested every written page (%" PRIu64 " of %" PRIu64
		   " missing)", lost, tlt_set_count(&s));
	tlt_result(!atomic_load(&victim_bad),
		   "%ld queries of a consumer being removed: each 0 or ENOENT (%ld other)",
		   atomic_load(&victim_calls), atomic_load(&victim_bad));
	free(harvested);
	tlt_set_free(&s);
}

int main(void)
{
	uint64_t feat = tlt_require_tracking();
	struct tloop_track_status st;
	int64_t id;

	tlt_plan(43);
	tlt_seed(0x49c0ffeeULL);
	d = tlt_tdev_open("backing.img", DEV_SIZE, 0);
	tlt_result(feat & TLOOP_FEAT_CONSUMERS, "TLOOP_FEAT_CONSUMERS is reported");
	tlt_expect_errno(tlt_consumer_add(d->fd, "early", 0) < 0 ? -1 : 0, ENODATA,
			 "ADD while tracking is off is ENODATA");
	tlt_result(tlt_consumer_list(d->fd, NULL, 0, NULL) == 0,
		   "LIST while tracking is off: no consumer");
	if (tlt_enable(d->fd, 0))
		tlt_bail("TRACK_ENABLE");

	names_and_limit();
	independence();
	mem_limit();
	churn();

	id = tlt_consumer_add(d->fd, "survivor", 0);
	tlt_disable(d->fd);
	tlt_result(tlt_consumer_list(d->fd, NULL, 0, NULL) == 0,
		   "TRACK_DISABLE removes every named consumer");
	tlt_enable(d->fd, 0);
	tlt_result(tlt_consumer_list(d->fd, NULL, 0, NULL) == 1 &&
		   tlt_cstatus(d->fd, (uint32_t)id, &st) == -ENOENT,
		   "after TRACK_ENABLE again: only the default consumer; the old id is ENOENT");
	/* Removing the device with consumers in place (KASAN/kmemleak watch the frees). */
	tlt_consumer_add(d->fd, "left-behind", 0);
	tlt_result(tlt_tdev_close(d) == 0, "the device is removed with a named consumer in place");
	tlt_exit();
}
