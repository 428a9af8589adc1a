// SPDX-License-Identifier: GPL-2.0
/*
 * test-nbd.c - host test of the NBD helpers that need no server: which
 * arguments are URIs, the state file's name, and tloop_verify() on two
 * local files with known differences; libnbd loaded only once an NBD URI
 * is used (nbdapi.c).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "libtloop.h"

static int failed;

#define CHECK(cond, ...) do { \
	if (!(cond)) { \
		failed = 1; \
		fprintf(stderr, "test-nbd: FAIL %s:%d: ", __FILE__, __LINE__); \
		fprintf(stderr, __VA_ARGS__); \
		fputc('\n', stderr); \
	} \
} while (0)

struct runs {
	uint64_t start[8], count[8];
	int n;
};

static int diff_cb(uint64_t start, uint64_t count, void *arg)
{
	struct runs *r = arg;

	if (r->n < 8) {
		r->start[r->n] = start;
		r->count[r->n] = count;
	}
	r->n++;
	return 0;
}

int main(void)
{
	static const struct { const char *s; int uri; } cases[] = {
		{ "nbd://host/export", 1 }, { "nbd://10.0.0.1:10809/", 1 },
		{ "nbds://h/e", 1 }, { "nbd+unix:///e?socket=/run/s", 1 },
		{ "nbds+unix:///?socket=x", 1 }, { "nbd+vsock:///", 1 },
		{ "area2.img", 0 }, { "nbd", 0 }, { "nbd:/x", 0 }, { "nbdx.img", 0 },
		{ "./nbd://x", 0 }, { "nbd-1://x", 0 }, { "NBD://x", 0 }, { "", 0 },
	};
	char buf[PATH_MAX], a[] = "/tmp/test-nbd-a.XXXXXX", b[] = "/tmp/test-nbd-b.XXXXXX";
	struct tloop_verify_opts o = { .sz = sizeof(o), .page_size = 4096, .chunk = 8192 };
	struct tloop_verify_result res;
	struct runs r = { .n = 0 };
	char *big, page[4096];
	void *lib;
	size_t i;
	int fa, fb, ret;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		CHECK(tloop_is_nbd_uri(cases[i].s) == cases[i].uri, "'%s': %d", cases[i].s,
		      !cases[i].uri);
	CHECK(!tloop_is_nbd_uri(NULL), "NULL");

	ret = tloop_nbd_state_path("/st", "nbd://h:1/a b", buf, sizeof(buf));
	CHECK(!ret && !strcmp(buf, "/st/nbd%3a%2f%2fh%3a1%2fa%20b"), "%d '%s'", ret, buf);
	ret = tloop_nbd_state_path("/st", "nbd://h/", buf, 10);
	CHECK(ret == -ENAMETOOLONG, "short buffer: %d", ret);
	big = malloc(300);
	memset(big, 'x', 299);
	big[299] = '\0';
	ret = tloop_nbd_state_path("/st", big, buf, sizeof(buf));
	CHECK(ret == -ENAMETOOLONG, "a name over NAME_MAX: %d", ret);
	free(big);
	setenv("TLOOP_STATE_DIR", "/env", 1);
	CHECK(!strcmp(tloop_state_dir(NULL), "/env"), "%s", tloop_state_dir(NULL));
	CHECK(!strcmp(tloop_state_dir("/opt"), "/opt"), "%s", tloop_state_dir("/opt"));
	unsetenv("TLOOP_STATE_DIR");
	CHECK(!strcmp(tloop_state_dir(NULL), TLOOP_STATE_DIR_DEFAULT), "%s",
	      tloop_state_dir(NULL));

	/* 10 pages and a partial one; b differs in pages 1, 2 (one run), 5 and the tail. */
	fa = mkstemp(a);
	fb = mkstemp(b);
	CHECK(fa >= 0 && fb >= 0, "mkstemp");
	memset(page, 0x5a, sizeof(page));
	for (i = 0; i < 10; i++) {
		CHECK(pwrite(fa, page, sizeof(page), (off_t)(i * 4096)) == 4096, "write a");
		CHECK(pwrite(fb, page, sizeof(page), (off_t)(i * 4096)) == 4096, "write b");
	}
	CHECK(pwrite(fa, "tail", 4, 40960) == 4 && pwrite(fb, "tale", 4, 40960) == 4, "tail");
	CHECK(pwrite(fb, "x", 1, 4096 + 4095) == 1 && pwrite(fb, "y", 1, 2 * 4096) == 1 &&
	      pwrite(fb, "z", 1, 5 * 4096 + 17) == 1, "differences");
	ret = tloop_verify(a, b, &o, diff_cb, &r, &res);
	CHECK(!ret, "verify: %d %s", ret, res.msg);
	CHECK(res.pages == 11 && res.differing == 4 && res.size == 40964, "pages %llu differing "
	      "%llu size %llu", (unsigned long long)res.pages,
	      (unsigned long long)res.differing, (unsigned long long)res.size);
	CHECK(r.n == 3 && r.start[0] == 1 && r.count[0] == 2 && r.start[1] == 5 &&
	      r.count[1] == 1 && r.start[2] == 10 && r.count[2] == 1, "runs: %d", r.n);
	/* area2 smaller than the device: a failure. */
	CHECK(!ftruncate(fb, 4096), "truncate");
	ret = tloop_verify(a, b, &o, NULL, NULL, &res);
	CHECK(ret == -EINVAL && strstr(res.msg, "4096 bytes"), "short area2: %d %s", ret,
	      res.msg);
	/* Not linked: nothing above loaded libnbd; the first NBD URI does. */
	lib = dlopen("libnbd.so.0", RTLD_NOW | RTLD_NOLOAD);
	CHECK(!lib, "libnbd.so.0 loaded before any NBD URI was used");
	ret = tloop_verify(a, "nbd+unix:///?socket=/nonexistent/sock", &o, NULL, NULL, &res);
	CHECK(ret < 0 && ret != -ENOPKG && strstr(res.msg, "connect to"), "no server: %d %s",
	      ret, res.msg);
	lib = dlopen("libnbd.so.0", RTLD_NOW | RTLD_NOLOAD);
	CHECK(lib, "libnbd.so.0 not loaded by an NBD verify");
	if (lib)
		dlclose(lib);
	close(fa);
	close(fb);
	unlink(a);
	unlink(b);
	printf("test-nbd: %s\n", failed ? "FAILED" : "ok");
	return failed;
}
