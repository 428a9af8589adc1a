// SPDX-License-Identifier: GPL-2.0
/*
 * accounts.c - the accounts of the consistent-point tests (47-track-snap-race,
 * 62-tool-consistent): counters whose sum only a consistent copy keeps.
 */
#include "tlt.h"

uint64_t *tlt_acc(uint8_t *base, int i)
{
	return (uint64_t *)(base + (uint64_t)i * 2 * TLT_PAGE);
}

uint64_t tlt_acc_sum(uint8_t *base)
{
	uint64_t s = 0;

	for (int i = 0; i < TLT_ACC_N; i++)
		s += *tlt_acc(base, i);
	return s;
}

void tlt_acc_init(uint8_t *base)
{
	for (int i = 0; i < TLT_ACC_N; i++)
		*tlt_acc(base, i) = TLT_ACC_TOTAL / TLT_ACC_N;
}

void tlt_acc_move(uint8_t *map, pthread_mutex_t *lock, uint64_t *rs)
{
	int a = (int)(tlt_rand_r(rs) % TLT_ACC_N), b = (int)(tlt_rand_r(rs) % TLT_ACC_N);
	uint64_t x;

	pthread_mutex_lock(lock);
	x = tlt_rand_r(rs) % (*tlt_acc(map, a) / 2 + 1);
	*tlt_acc(map, a) -= x;
	*tlt_acc(map, b) += x;
	/* The consistent point: both pages written back. */
	msync(tlt_acc(map, a), TLT_PAGE, MS_SYNC);
	msync(tlt_acc(map, b), TLT_PAGE, MS_SYNC);
	pthread_mutex_unlock(lock);
}
