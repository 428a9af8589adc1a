// SPDX-License-Identifier: GPL-2.0
/*
 * 52-tool-scenario: the seed's scenario end to end with the real tool.
 * area1 is a tloop device (attached with --track) over a file holding a
 * known pattern; area2 starts as a full copy (tloop sync --create).  The
 * test maps the device, stores a new pattern into chosen pages, and checks
 * that `tloop written` reports exactly those pages, that `tloop sync` copies
 * exactly them (pages, bytes, runs) and that area2 then equals both the
 * device and the content the test computed itself, byte for byte.
 * tloop-timeout: 120
 */
#include "tlt.h"

#define NR_PAGES 4096UL		/* 16 MiB */
#define NR_RANDOM 40

static uint64_t chosen[NR_RANDOM + 8];
static size_t nr_chosen;

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* pick() - fixed edge pages plus seeded random ones, sorted, unique. */
static void pick(unsigned int seed)
{
	static const uint64_t fixed[] = { 0, 1, 2, 100, 1000, 1001, NR_PAGES - 1 };
	size_t i, n = 0;

	for (i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		chosen[n++] = fixed[i];
	srand(seed);
	for (i = 0; i < NR_RANDOM; i++)
		chosen[n++] = (uint64_t)rand() % NR_PAGES;
	qsort(chosen, n, sizeof(chosen[0]), cmp_u64);
	for (i = 0; i < n; i++)
		if (!nr_chosen || chosen[nr_chosen - 1] != chosen[i])
			chosen[nr_chosen++] = chosen[i];
}

static uint64_t nr_runs(void)
{
	uint64_t runs = 0;

	for (size_t i = 0; i < nr_chosen; i++)
		if (!i || chosen[i] != chosen[i - 1] + 1)
			runs++;
	return runs;
}

/* expect_area2() - compare area2 with what the test wrote: 0 if equal. */
static int expect_area2(const char *area2)
{
	uint8_t want[TLT_PAGE], got[TLT_PAGE];
	int fd = open(area2, O_RDONLY | O_CLOEXEC);
	size_t k = 0;

	if (fd < 0)
		tlt_bail("open %s", area2);
	for (uint64_t p = 0; p < NR_PAGES; p++) {
		bool new = k < nr_chosen && chosen[k] == p;

		if (new)
			k++;
		tlt_page_pattern(want, p, new ? 1 : 0);
		if (pread(fd, got, TLT_PAGE, (off_t)(p * TLT_PAGE)) != (ssize_t)TLT_PAGE)
			tlt_bail("read %s", area2);
		if (memcmp(want, got, TLT_PAGE)) {
			tlt_diag("area2 page %" PRIu64 " holds the %s pattern", p,
				 new ? "old (or another)" : "new (or another)");
			close(fd);
			return 1;
		}
	}
	close(fd);
	return 0;
}

int main(void)
{
	unsigned int seed = 5252;
	uint8_t page[TLT_PAGE];
	struct tlt_json *j, *arr, *m;
	struct tlt_tool_run r;
	char node[64];
	uint8_t *map;
	bool same;
	size_t k;
	int fd;

	tlt_plan(11);
	pick(seed);
	tlt_diag("seed %u: %zu pages chosen in %" PRIu64 " runs", seed, nr_chosen, nr_runs());

	/* area1's backing file holds the version-0 pattern. */
	fd = open("area1.img", O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		tlt_bail("create area1.img");
	for (uint64_t p = 0; p < NR_PAGES; p++) {
		tlt_page_pattern(page, p, 0);
		if (pwrite(fd, page, TLT_PAGE, (off_t)(p * TLT_PAGE)) != (ssize_t)TLT_PAGE)
			tlt_bail("write area1.img");
	}
	close(fd);
	tlt_tool_attach("area1.img", 0, "--track", node, sizeof(node));

	j = tlt_sync_json(node, "area2.img", "--create");
	tlt_result(j && !strcmp(tlt_jstr(j, "mode"), "full") &&
		   !strcmp(tlt_jstr(j, "reason"), "new-area2") &&
		   tlt_ju64(j, "pages", 0) == NR_PAGES &&
		   tlt_ju64(j, "bytes", 0) == NR_PAGES * TLT_PAGE &&
		   tlt_file_size("area2.img") == (int64_t)(NR_PAGES * TLT_PAGE),
		   "first sync --create makes area2 with a full copy");
	tlt_jfree(j);
	tlt_result(tlt_cmp_files(node, "area2.img", NR_PAGES * TLT_PAGE) < 0,
		   "area2 equals area1 after the full copy");

	tlt_tool(&r, "written %s", node);
	tlt_result(r.status == 0 && r.out[0] == '\0', "nothing written yet: tloop written is empty");
	if (r.status || r.out[0])
		tlt_tool_show("tloop written", &r);

	/* The application: map area1 and store the new pattern into the chosen pages. */
	fd = open(node, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		tlt_bail("open %s", node);
	map = mmap(NULL, NR_PAGES * TLT_PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED)
		tlt_bail("mmap %s", node);
	for (k = 0; k < nr_chosen; k++)
		tlt_page_pattern(map + chosen[k] * TLT_PAGE, chosen[k], 1);

	/* tloop written --json: exactly the chosen pages, in order. */
	tlt_tool(&r, "written --json %s", node);
	j = r.status == 0 ? tlt_jparse(r.out) : NULL;
	arr = tlt_jget(j, "pages");
	same = arr && tlt_jlen(arr) == nr_chosen && tlt_ju64(j, "count", 0) == nr_chosen;
	for (k = 0, m = arr ? arr->child : NULL; same && m; m = m->next, k++)
		if (m->type != TLT_JNUM || m->u != chosen[k]) {
			tlt_diag("entry %zu: page %" PRIu64 ", expected %" PRIu64, k, m->u, chosen[k]);
			same = false;
		}
	if (!same)
		tlt_tool_show("tloop written --json", &r);
	tlt_result(same, "tloop written reports exactly the %zu stored pages", nr_chosen);
	tlt_jfree(j);

	/* Human output: one page per line, the same set. */
	tlt_tool(&r, "written %s", node);
	{
		char *line, *save;
		bool ok = r.status == 0;

		k = 0;
		for (line = strtok_r(r.out, "\n", &save); ok && line;
		     line = strtok_r(NULL, "\n", &save), k++)
			ok = k < nr_chosen && strtoull(line, NULL, 10) == chosen[k];
		tlt_result(ok && k == nr_chosen, "tloop written (text) lists the same pages");
	}

	/* The refresh copies only them (--max-gap 0: runs of consecutive pages only). */
	j = tlt_sync_json(node, "area2.img", "--max-gap 0");
	tlt_result(j && !strcmp(tlt_jstr(j, "mode"), "incremental") &&
		   tlt_ju64(j, "pages", 0) == nr_chosen &&
		   tlt_ju64(j, "bytes", 0) == nr_chosen * TLT_PAGE &&
		   tlt_ju64(j, "runs", 0) == nr_runs(),
		   "tloop sync copies exactly the stored pages (%zu pages, %" PRIu64 " runs)",
		   nr_chosen, nr_runs());
	if (j)
		tlt_diag("sync: %" PRIu64 " pages, %" PRIu64 " bytes, %" PRIu64
			 " runs; a full copy is %" PRIu64 " bytes", tlt_ju64(j, "pages", 0),
			 tlt_ju64(j, "bytes", 0), tlt_ju64(j, "runs", 0),
			 tlt_ju64(j, "device_size", 0));
	tlt_jfree(j);
	tlt_result(tlt_cmp_files(node, "area2.img", NR_PAGES * TLT_PAGE) < 0,
		   "area2 equals area1 byte for byte");
	tlt_result(expect_area2("area2.img") == 0,
		   "area2 holds the new pattern in exactly the stored pages");

	tlt_tool(&r, "written %s", node);
	tlt_result(r.status == 0 && r.out[0] == '\0', "the sync cleared what it copied");

	j = tlt_sync_json(node, "area2.img", "");
	tlt_result(j && !strcmp(tlt_jstr(j, "mode"), "incremental") &&
		   tlt_ju64(j, "pages", 1) == 0, "a second sync copies nothing");
	tlt_jfree(j);

	munmap(map, NR_PAGES * TLT_PAGE);
	close(fd);
	tlt_tool(&r, "detach %s", node);
	if (r.status)
		tlt_tool_show("tloop detach", &r);
	else
		tlt_tool_forget(atoi(node + strlen(TLOOP_DEVICE_PREFIX)));
	{
		char sys[96];

		snprintf(sys, sizeof(sys), "/sys/block/%s", node + strlen("/dev/"));
		tlt_result(r.status == 0 && access(sys, F_OK) < 0, "tloop detach removes the device");
	}
	tlt_exit();
}
