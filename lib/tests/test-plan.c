// SPDX-License-Identifier: GPL-2.0
/*
 * test-plan.c - host test of the copy planner (tloop_plan_runs()): the runs
 * must cover exactly the given pages, in order, none longer than the limit,
 * and adjacent runs may only touch when the earlier one is full.
 * Randomised against a bitmap oracle with a fixed, printed seed.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libtloop.h"

#include "tests/hostcheck.h"

static void check_fixed(void)
{
	const uint64_t a[] = { 0, 1, 2, 5, 6, 9 };
	const uint64_t dup[] = { 3, 3, 4, 4, 4, 8 };
	const uint64_t back[] = { 7, 8, 2, 3 };
	struct tloop_run r[8];
	size_t n;

	n = tloop_plan_runs(a, 0, 0, r);
	CHECK(n == 0, "empty input gave %zu runs", n);

	n = tloop_plan_runs(a, 6, 0, r);
	CHECK(n == 3, "expected 3 runs, got %zu", n);
	CHECK(r[0].start == 0 && r[0].count == 3, "run 0 = %" PRIu64 "+%" PRIu64,
	      r[0].start, r[0].count);
	CHECK(r[1].start == 5 && r[1].count == 2, "run 1 = %" PRIu64 "+%" PRIu64,
	      r[1].start, r[1].count);
	CHECK(r[2].start == 9 && r[2].count == 1, "run 2 = %" PRIu64 "+%" PRIu64,
	      r[2].start, r[2].count);

	n = tloop_plan_runs(a, 6, 2, r);
	CHECK(n == 4 && r[0].count == 2 && r[1].start == 2 && r[1].count == 1,
	      "max 2: got %zu runs, first %" PRIu64 "+%" PRIu64, n, r[0].start, r[0].count);

	n = tloop_plan_runs(dup, 6, 0, r);
	CHECK(n == 2 && r[0].start == 3 && r[0].count == 2 && r[1].start == 8,
	      "duplicates: got %zu runs", n);

	n = tloop_plan_runs(back, 4, 0, r);
	CHECK(n == 2 && r[0].start == 7 && r[0].count == 2 && r[1].start == 2 &&
	      r[1].count == 2, "step back: got %zu runs", n);

	{
		const uint64_t big[] = { UINT64_MAX - 2, UINT64_MAX - 1 };

		n = tloop_plan_runs(big, 2, 0, r);
		CHECK(n == 1 && r[0].count == 2, "near UINT64_MAX: %zu runs", n);
	}
}

static void check_random(unsigned int seed, int rounds)
{
	enum { NPAGES = 4096 };
	static unsigned char set[NPAGES], seen[NPAGES];
	static uint64_t pages[NPAGES];
	static struct tloop_run runs[NPAGES];
	int round;

	srand(seed);
	for (round = 0; round < rounds; round++) {
		int density = rand() % 100 + 1;
		uint64_t max = (uint64_t)(rand() % 40);	/* 0: unlimited */
		size_t n = 0, nr, i, expect = 0;
		uint64_t p, in_run = 0;

		for (p = 0; p < NPAGES; p++) {
			set[p] = rand() % 100 < density;
			if (set[p])
				pages[n++] = p;
		}
		/* Oracle: count the runs a greedy split must produce. */
		for (p = 0; p < NPAGES; p++) {
			if (!set[p]) {
				in_run = 0;
				continue;
			}
			if (!in_run || (max && in_run == max)) {
				expect++;
				in_run = 0;
			}
			in_run++;
		}
		nr = tloop_plan_runs(pages, n, max, runs);
		CHECK(nr == expect, "seed %u round %d: %zu runs, oracle %zu", seed, round, nr,
		      expect);
		memset(seen, 0, sizeof(seen));
		for (i = 0; i < nr; i++) {
			CHECK(runs[i].count >= 1 && (!max || runs[i].count <= max),
			      "seed %u round %d: run %zu has %" PRIu64 " pages (max %" PRIu64 ")",
			      seed, round, i, runs[i].count, max);
			CHECK(i == 0 || runs[i].start >= runs[i - 1].start + runs[i - 1].count,
			      "seed %u round %d: run %zu overlaps or goes back", seed, round, i);
			for (p = runs[i].start; p < runs[i].start + runs[i].count && p < NPAGES; p++)
				seen[p]++;
		}
		for (p = 0; p < NPAGES; p++)
			CHECK(seen[p] == set[p], "seed %u round %d: page %" PRIu64
			      " covered %d times, written %d", seed, round, p, seen[p], set[p]);
		if (failures)
			return;
	}
}

int main(int argc, char **argv)
{
	unsigned int seed = argc > 1 ? (unsigned int)strtoul(argv[1], NULL, 0) : 20260126u;

	printf("test-plan: seed %u\n", seed);
	check_fixed();
	check_random(seed, 300);
	if (failures) {
		printf("test-plan: %d failures\n", failures);
		return 1;
	}
	printf("test-plan: ok\n");
	return 0;
}
