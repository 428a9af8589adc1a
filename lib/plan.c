// SPDX-License-Identifier: GPL-2.0
/*
 * plan.c - the copy planner: coalesce page indices into runs for large I/O.
 */
#include "libtloop.h"

size_t tloop_plan_runs(const uint64_t *pages, size_t n, uint64_t max_pages,
		       struct tloop_run *runs)
{
	size_t nr = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		uint64_t p = pages[i];
		struct tloop_run *r = nr ? &runs[nr - 1] : NULL;

		/* A repeat of the page just added: already covered. */
		if (r && p == r->start + r->count - 1)
			continue;
		if (r && p == r->start + r->count && (!max_pages || r->count < max_pages)) {
			r->count++;
			continue;
		}
		runs[nr].start = p;
		runs[nr].count = 1;
		nr++;
	}
	return nr;
}
