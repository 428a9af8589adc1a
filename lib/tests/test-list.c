// SPDX-License-Identifier: GPL-2.0
/*
 * test-list.c - host test of tloop_list() and tloop_list_all() on more
 * devices than the tool once stopped at (4,096): built with
 * TLOOP_SYSFS_BLOCK pointing at a directory of its own, filled with 5,000
 * tloopN entries in a shuffled order among names that are not tloop disks;
 * the lists must hold exactly those N, ascending.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "libtloop.h"

#include "tests/hostcheck.h"

#define DIR	"tests/sys-block.tmp"
#define NDEV	5000U

static void touch(const char *name)
{
	char path[256];
	int fd;

	snprintf(path, sizeof(path), DIR "/%s", name);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
	if (fd < 0) {
		perror(path);
		exit(1);
	}
	close(fd);
}

static void empty_dir(void)
{
	char cmd[64];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", DIR);
	if (system(cmd) != 0 || mkdir(DIR, 0755) < 0) {
		perror(DIR);
		exit(1);
	}
}

/* ascending() - @idx holds 0..@n-1 in order (what the directory holds). */
static int ascending(const unsigned int *idx, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (idx[i] != i)
			return 0;
	return 1;
}

int main(void)
{
	static const char *const decoys[] = { "tloop", "tloop01", "tloopx", "tloop7p1",
					      "loop0", "tloop-control", "xtloop3", "sda" };
	unsigned int *order, *idx = NULL, cap[4096];
	size_t n = 0, i;
	char name[32];
	int ret;

	empty_dir();
	ret = tloop_list_all(&idx, &n);
	CHECK(ret == 0 && n == 0 && idx, "empty: ret %d, %zu devices", ret, n);
	free(idx);

	/* The entries in a shuffled order, so that readdir's order is not sorted. */
	order = malloc(NDEV * sizeof(*order));
	if (!order)
		return 1;
	for (i = 0; i < NDEV; i++)
		order[i] = (unsigned int)i;
	srand(20261129);
	for (i = NDEV - 1; i > 0; i--) {
		size_t j = (size_t)rand() % (i + 1);
		unsigned int t = order[i];

		order[i] = order[j];
		order[j] = t;
	}
	for (i = 0; i < NDEV; i++) {
		snprintf(name, sizeof(name), "tloop%u", order[i]);
		touch(name);
	}
	for (i = 0; i < sizeof(decoys) / sizeof(decoys[0]); i++)
		touch(decoys[i]);
	free(order);

	idx = NULL;
	ret = tloop_list_all(&idx, &n);
	CHECK(ret == 0 && n == NDEV, "list_all: ret %d, %zu devices, expected %u", ret, n, NDEV);
	CHECK(ret == 0 && n == NDEV && ascending(idx, n), "list_all: not exactly 0..%u ascending",
	      NDEV - 1);
	free(idx);

	/* A fixed array of 4,096: -ENOSPC, the full count, the first 4,096 stored. */
	ret = tloop_list(cap, 4096, &n);
	CHECK(ret == -ENOSPC && n == NDEV, "list into 4096: ret %d, count %zu", ret, n);

	empty_dir();
	rmdir(DIR);
	if (failures) {
		printf("test-list: %d failures\n", failures);
		return 1;
	}
	printf("test-list: ok\n");
	return 0;
}
