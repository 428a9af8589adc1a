// SPDX-License-Identifier: GPL-2.0
/*
 * tsc-khz - print the host's TSC frequency in kHz, measured against CLOCK_MONOTONIC_RAW.
 *
 * Under QEMU's TCG a guest's RDTSC reads the host's TSC, so this is the guest's TSC frequency
 * too. test-vm/run.sh passes it as tsc_early_khz= so that the guest never calibrates its TSC
 * itself: on a loaded host that calibration can come out ten times too low (the PIT loop is
 * slowed down), the guest's clocks then run ten times too fast and its soft-lockup watchdog
 * fires on a healthy kernel.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <x86intrin.h>

static int64_t ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC_RAW, &t);
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* One reading of the TSC, bracketed by the clock; the bracket is the reading's error. */
static void sample(int64_t *t, uint64_t *c, int64_t *err)
{
	int64_t best = INT64_MAX;

	for (int i = 0; i < 50; i++) {
		int64_t a = ns();
		uint64_t tsc = __rdtsc();
		int64_t b = ns();

		if (b - a < best) {
			best = b - a;
			*t = a + (b - a) / 2;
			*c = tsc;
		}
	}
	*err = best;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

int main(void)
{
	enum { TRIALS = 7 };
	double khz[TRIALS];
	const struct timespec gap = { 0, 50 * 1000 * 1000 };

	for (int i = 0; i < TRIALS; i++) {
		int64_t t0, t1, e0, e1;
		uint64_t c0, c1;

		sample(&t0, &c0, &e0);
		nanosleep(&gap, NULL);
		sample(&t1, &c1, &e1);
		if (t1 <= t0 || c1 <= c0)
			return 1;
		khz[i] = (double)(c1 - c0) * 1e6 / (double)(t1 - t0);
	}
	qsort(khz, TRIALS, sizeof(khz[0]), cmp);
	/* The median, and only if the trials agree within 0.5 %. */
	if (khz[TRIALS - 2] - khz[1] > khz[TRIALS / 2] / 200)
		return 1;
	printf("%.0f\n", khz[TRIALS / 2]);
	return 0;
}
