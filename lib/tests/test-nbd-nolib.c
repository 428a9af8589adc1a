// SPDX-License-Identifier: GPL-2.0
/*
 * test-nbd-nolib.c - host test of an NBD URI where libnbd cannot be loaded:
 * built with TLOOP_LIBNBD_SONAME naming a library that does not exist (the
 * case of a host without libnbd0), tloop_verify() and tloop_sync() fail
 * with -ENOPKG and a message that names the package, before anything
 * changes; a local verify still works.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "libtloop.h"

static int failed;

#define CHECK(cond, ...) do { \
	if (!(cond)) { \
		failed = 1; \
		fprintf(stderr, "test-nbd-nolib: FAIL %s:%d: ", __FILE__, __LINE__); \
		fprintf(stderr, __VA_ARGS__); \
		fputc('\n', stderr); \
	} \
} while (0)

/* msg_ok() - the message says what is missing, which package, and why. */
static int msg_ok(const char *msg)
{
	return strstr(msg, "NBD area2 needs libnbd (Debian package libnbd0): ") == msg &&
	       strstr(msg, "libnbd-absent-tloop-test.so.0");
}

int main(void)
{
	char dir[] = "/tmp/test-nbd-nolib.XXXXXX", a[PATH_MAX], state[PATH_MAX];
	struct tloop_verify_opts vo = { .sz = sizeof(vo), .page_size = 4096 };
	struct tloop_sync_opts so = { .sz = sizeof(so) };
	struct tloop_verify_result vr;
	struct tloop_sync_result sr;
	struct stat st;
	char page[4096];
	FILE *f;
	int i, ret;

	CHECK(mkdtemp(dir), "mkdtemp");
	snprintf(a, sizeof(a), "%s/a", dir);
	snprintf(state, sizeof(state), "%s/state", dir);
	memset(page, 0x5a, sizeof(page));
	f = fopen(a, "w");
	CHECK(f && fwrite(page, 1, sizeof(page), f) == sizeof(page) && !fclose(f), "write %s", a);

	/* Twice: the second answer is the first one's (loaded once). */
	for (i = 0; i < 2; i++) {
		ret = tloop_verify(a, "nbd://localhost/export", &vo, NULL, NULL, &vr);
		CHECK(ret == -ENOPKG && msg_ok(vr.msg), "verify #%d: %d '%s'", i, ret, vr.msg);
	}
	/* The device is not even opened, the state directory not created. */
	so.state_dir = state;
	ret = tloop_sync("/nonexistent/tloop-dev", "nbd://localhost/export", &so, &sr);
	CHECK(ret == -ENOPKG && msg_ok(sr.msg), "sync: %d '%s'", ret, sr.msg);
	CHECK(stat(state, &st) < 0 && errno == ENOENT, "%s created", state);

	/* A local area2 needs no libnbd. */
	ret = tloop_verify(a, a, &vo, NULL, NULL, &vr);
	CHECK(!ret && vr.pages == 1 && !vr.differing, "local verify: %d '%s'", ret, vr.msg);

	unlink(a);
	rmdir(dir);
	printf("test-nbd-nolib: %s\n", failed ? "FAILED" : "ok");
	return failed;
}
