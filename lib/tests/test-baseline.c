// SPDX-License-Identifier: GPL-2.0
/*
 * test-baseline.c - host test of the area2 sidecar: format/parse round
 * trips, rejection of every malformed variant (so a damaged sidecar means a
 * full copy, never a wrong incremental one), and atomic store/load/remove in
 * a temporary directory.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "libtloop.h"

#include "tests/hostcheck.h"

static const char good[] =
	"tloop-baseline 1\n"
	"attach_id 00c0ffee12345678\n"
	"generation 42\n"
	"dev_size 67108864\n"
	"page_size 4096\n";

static void check_roundtrip(void)
{
	struct tloop_baseline b = { .attach_id = 0xfedcba9876543210ull,
				    .generation = UINT64_MAX, .dev_size = 512,
				    .page_size = 65536 }, c;
	char buf[TLOOP_BASELINE_MAX];
	int n;

	n = tloop_baseline_format(&b, buf, sizeof(buf));
	CHECK(n > 0, "format returned %d", n);
	CHECK(tloop_baseline_parse(buf, (size_t)n, &c) == 0, "parse of own output failed:\n%s",
	      buf);
	CHECK(!memcmp(&b, &c, sizeof(b)) || (b.attach_id == c.attach_id &&
	      b.generation == c.generation && b.dev_size == c.dev_size &&
	      b.page_size == c.page_size), "round trip changed the baseline");
	CHECK(tloop_baseline_format(&b, buf, 10) == -ENOSPC, "short buffer not refused");

	CHECK(tloop_baseline_parse(good, strlen(good), &c) == 0, "reference text refused");
	CHECK(c.attach_id == 0x00c0ffee12345678ull && c.generation == 42 &&
	      c.dev_size == 67108864 && c.page_size == 4096, "reference text misread");
}

static void check_rejects(void)
{
	static const char *const bad[] = {
		"",
		"tloop-baseline 2\nattach_id 00c0ffee12345678\ngeneration 42\ndev_size 1\npage_size 4096\n",
		"tloop-baseline 1\nattach_id 00C0FFEE12345678\ngeneration 42\ndev_size 1\npage_size 4096\n",
		"tloop-baseline 1\nattach_id c0ffee12345678\ngeneration 42\ndev_size 1\npage_size 4096\n",
		"tloop-baseline 1\nattach_id 00c0ffee12345678\ngeneration -1\ndev_size 1\npage_size 4096\n",
		"tloop-baseline 1\nattach_id 00c0ffee12345678\ngeneration 042\ndev_size 1\npage_size 4096\n",
		"tloop-baseline 1\nattach_id 00c0ffee12345678\ngeneration 18446744073709551616\ndev_size 1\npage_size 4096\n",
		"tloop-baseline 1\nattach_id 00c0ffee12345678\ngeneration  42\ndev_size 1\npage_size 4096\n",
		"tloop-baseline 1\ngeneration 42\nattach_id 00c0ffee12345678\ndev_size 1\npage_size 4096\n",
		"tloop-baseline 1\nattach_id 00c0ffee12345678\ngeneration 42\ndev_size 0\npage_size 4096\n",
		"tloop-baseline 1\nattach_id 00c0ffee12345678\ngeneration 42\ndev_size 1\npage_size 0\n",
		"tloop-baseline 1\nattach_id 00c0ffee12345678\ngeneration 42\ndev_size 1\npage_size 4294967296\n",
		"tloop-baseline 1\nattach_id 00c0ffee12345678\ngeneration 42\ndev_size 1\n",
		"tloop-baseline 1\nattach_id 00c0ffee12345678\ngeneration 42\ndev_size 1\npage_size 4096\nextra 1\n",
		"tloop-baseline 1\nattach_id 00c0ffee12345678\ngeneration 42\ndev_size 1\npage_size 4096\n\n",
		"tloop-baseline 1\r\nattach_id 00c0ffee12345678\ngeneration 42\ndev_size 1\npage_size 4096\n",
		"tloop-baseline 1\nattach_id 00c0ffee12345678\ngeneration 4x\ndev_size 1\npage_size 4096\n",
	};
	struct tloop_baseline c;
	char nul[sizeof(good)];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(tloop_baseline_parse(bad[i], strlen(bad[i]), &c) == -EINVAL,
		      "malformed sidecar %zu accepted:\n%s", i, bad[i]);

	/* A NUL byte inside a line. */
	memcpy(nul, good, sizeof(good));
	nul[30] = '\0';
	CHECK(tloop_baseline_parse(nul, sizeof(good) - 1, &c) == -EINVAL, "NUL byte accepted");

	/* Every truncation of the reference text (the final newline is required). */
	for (i = 0; i < strlen(good); i++)
		CHECK(tloop_baseline_parse(good, i, &c) == -EINVAL,
		      "truncation at %zu accepted", i);
}

/* A named consumer's sidecar: two more lines; the default consumer's has none. */
static void check_consumer(void)
{
	static const char *const bad[] = {
		"tloop-baseline 1\nattach_id 00c0ffee12345678\ngeneration 42\ndev_size 1\npage_size 4096\nconsumer a\n",
		"tloop-baseline 1\nattach_id 00c0ffee12345678\ngeneration 42\ndev_size 1\npage_size 4096\nconsumer a\nconsumer_id 0\n",
		"tloop-baseline 1\nattach_id 00c0ffee12345678\ngeneration 42\ndev_size 1\npage_size 4096\nconsumer default\nconsumer_id 3\n",
		"tloop-baseline 1\nattach_id 00c0ffee12345678\ngeneration 42\ndev_size 1\npage_size 4096\nconsumer .a\nconsumer_id 3\n",
		"tloop-baseline 1\nattach_id 00c0ffee12345678\ngeneration 42\ndev_size 1\npage_size 4096\nconsumer a b\nconsumer_id 3\n",
		"tloop-baseline 1\nattach_id 00c0ffee12345678\ngeneration 42\ndev_size 1\npage_size 4096\nconsumer_id 3\nconsumer a\n",
		"tloop-baseline 1\nattach_id 00c0ffee12345678\ngeneration 42\ndev_size 1\npage_size 4096\nconsumer a\nconsumer_id 4294967296\n",
		"tloop-baseline 1\nattach_id 00c0ffee12345678\ngeneration 42\ndev_size 1\npage_size 4096\nconsumer abcdefghijklmnopqrstuvwxyz0123456\nconsumer_id 3\n",
		"tloop-baseline 1\nattach_id 00c0ffee12345678\ngeneration 42\ndev_size 1\npage_size 4096\nconsumer a\nconsumer_id 3\nx\n",
	};
	struct tloop_baseline b = { .attach_id = 7, .generation = 9, .dev_size = 8192,
				    .page_size = 4096, .consumer_id = 12, .consumer = "back-up.2" }, c;
	char buf[TLOOP_BASELINE_MAX];
	size_t i;
	int n;

	n = tloop_baseline_format(&b, buf, sizeof(buf));
	CHECK(n > 0 && strstr(buf, "consumer back-up.2\nconsumer_id 12\n"),
	      "a named consumer's sidecar:\n%s", n > 0 ? buf : "");
	CHECK(n > 0 && tloop_baseline_parse(buf, (size_t)n, &c) == 0 && c.consumer_id == 12 &&
	      !strcmp(c.consumer, "back-up.2") && c.generation == 9,
	      "a named consumer's sidecar does not round-trip");
	CHECK(tloop_baseline_parse(good, strlen(good), &c) == 0 && !c.consumer_id && !c.consumer[0],
	      "a sidecar without consumer lines is not the default consumer's");
	b.consumer_id = 0;
	CHECK(tloop_baseline_format(&b, buf, sizeof(buf)) == -EINVAL, "a name without an id formatted");
	b.consumer_id = 3;
	strcpy(b.consumer, "default");
	CHECK(tloop_baseline_format(&b, buf, sizeof(buf)) == -EINVAL, "\"default\" with an id formatted");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(tloop_baseline_parse(bad[i], strlen(bad[i]), &c) == -EINVAL,
		      "malformed consumer sidecar %zu accepted:\n%s", i, bad[i]);
}

static void check_files(void)
{
	char dir[] = "/tmp/tloop-test-XXXXXX", area2[64], side[80], text[TLOOP_BASELINE_MAX];
	struct tloop_baseline b = { .attach_id = 1, .generation = 2, .dev_size = 4096,
				    .page_size = 4096 }, c;
	int fd;

	CHECK(mkdtemp(dir) != NULL, "mkdtemp: %s", strerror(errno));
	snprintf(area2, sizeof(area2), "%s/area2.img", dir);
	CHECK(tloop_baseline_path(area2, side, sizeof(side)) == 0, "path");
	CHECK(!strcmp(side + strlen(side) - 6, ".tloop"), "sidecar name %s", side);
	CHECK(tloop_baseline_path(area2, text, 5) == -ENAMETOOLONG, "short path buffer");

	CHECK(tloop_baseline_load(area2, &c) == -ENOENT, "load without sidecar");
	CHECK(tloop_baseline_remove(area2) == 0, "remove without sidecar");
	CHECK(tloop_baseline_store(area2, &b) == 0, "store");
	CHECK(tloop_baseline_load(area2, &c) == 0 && c.generation == 2 && c.attach_id == 1,
	      "load after store");
	b.generation = 3;
	CHECK(tloop_baseline_store(area2, &b) == 0, "store over an old one");
	CHECK(tloop_baseline_load(area2, &c) == 0 && c.generation == 3, "load the new one");

	/* A damaged sidecar reads as malformed, not as a baseline. */
	fd = open(side, O_WRONLY | O_TRUNC);
	CHECK(fd >= 0 && write(fd, "garbage\n", 8) == 8, "damage the sidecar");
	close(fd);
	CHECK(tloop_baseline_load(area2, &c) == -EINVAL, "damaged sidecar accepted");

	/* An oversized one too. */
	memset(text, 'x', sizeof(text));
	fd = open(side, O_WRONLY | O_TRUNC);
	CHECK(fd >= 0 && write(fd, text, sizeof(text)) == (ssize_t)sizeof(text), "fill");
	CHECK(write(fd, "\n", 1) == 1, "fill");
	close(fd);
	CHECK(tloop_baseline_load(area2, &c) == -EINVAL, "oversized sidecar accepted");

	CHECK(tloop_baseline_remove(area2) == 0, "remove");
	CHECK(access(side, F_OK) < 0 && errno == ENOENT, "sidecar still there after remove");
	CHECK(rmdir(dir) == 0, "rmdir %s: %s (stray temporary file?)", dir, strerror(errno));
}

int main(void)
{
	check_roundtrip();
	check_rejects();
	check_consumer();
	check_files();
	if (failures) {
		printf("test-baseline: %d failures\n", failures);
		return 1;
	}
	printf("test-baseline: ok\n");
	return 0;
}
