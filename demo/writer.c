// SPDX-License-Identifier: GPL-2.0
/*
 * tloop-demo-writer - the "application" of the tloop demo: map a device
 * (area1) shared and store a recognisable text into the given pages.
 *
 *   tloop-demo-writer DEV PAGE...
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/fs.h>

int main(int argc, char **argv)
{
	long psz = sysconf(_SC_PAGESIZE);
	unsigned long long size;
	char *map;
	int fd, i;

	if (argc < 3) {
		fprintf(stderr, "usage: %s DEV PAGE...\n", argv[0]);
		return 2;
	}
	fd = open(argv[1], O_RDWR | O_CLOEXEC);
	if (fd < 0 || ioctl(fd, BLKGETSIZE64, &size) < 0) {
		fprintf(stderr, "%s: %s: %s\n", argv[0], argv[1], strerror(errno));
		return 1;
	}
	map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED) {
		fprintf(stderr, "%s: mmap %s: %s\n", argv[0], argv[1], strerror(errno));
		return 1;
	}
	for (i = 2; i < argc; i++) {
		char *end, text[64];
		unsigned long long page = strtoull(argv[i], &end, 10);
		int n;

		if (*end || page >= size / (unsigned long long)psz) {
			fprintf(stderr, "%s: page '%s' is not on the device\n", argv[0], argv[i]);
			return 2;
		}
		n = snprintf(text, sizeof(text), "tloop demo wrote page %llu. ", page);
		for (long off = 0; off + n <= psz; off += n)
			memcpy(map + page * (unsigned long long)psz + off, text, (size_t)n);
	}
	/* No msync: tloop dirty/sync write the device's dirty pages back themselves. */
	munmap(map, size);
	close(fd);
	return 0;
}
