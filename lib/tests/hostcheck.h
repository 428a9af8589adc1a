/* SPDX-License-Identifier: GPL-2.0 */
/*
 * hostcheck.h - the one check macro of the host tests (lib/tests, tools/tests):
 * count a failure and say where and why, then go on.
 */
#ifndef TLOOP_HOSTCHECK_H
#define TLOOP_HOSTCHECK_H

#include <stdio.h>

static int failures;

#define CHECK(cond, ...) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);	\
		fprintf(stderr, __VA_ARGS__);				\
		fputc('\n', stderr);					\
		failures++;						\
	}								\
} while (0)

#endif /* TLOOP_HOSTCHECK_H */
