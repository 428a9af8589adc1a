// SPDX-License-Identifier: GPL-2.0
/*
 * nbdapi.c - libnbd loaded with dlopen() when an NBD URI is first used
 * (nbdapi.h says why).  RTLD_NOW: a library that lacks a function fails
 * here, never in the middle of a refresh; RTLD_LOCAL: its symbols stay
 * out of the program's namespace.  The library stays loaded until exit.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>

#include "nbdapi.h"

struct tloop_libnbd tloop_libnbd;

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static int load_ret;
static char load_msg[512];

/* failed() - record why libnbd cannot be used: @why, dlerror()'s text. */
static void failed(const char *why)
{
	snprintf(load_msg, sizeof(load_msg), "NBD area2 needs libnbd (Debian package libnbd0): %s",
		 why ? why : "cannot load " TLOOP_LIBNBD_SONAME);
	load_ret = -ENOPKG;
}

static void load(void)
{
	struct tloop_libnbd t;
	const char *missing = NULL;
	void *h;

	h = dlopen(TLOOP_LIBNBD_SONAME, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		failed(dlerror());
		return;
	}
	dlerror();	/* cleared: the text of a dlsym() that fails is its own */
	/* POSIX: the address dlsym() gives for a function converts to its pointer. */
#define RESOLVE(fn) do { \
	if (!missing && !(t.fn = (__typeof__(t.fn))dlsym(h, #fn))) \
		missing = #fn; \
} while (0)
	RESOLVE(nbd_aio_command_completed);
	RESOLVE(nbd_aio_connect_uri);
	RESOLVE(nbd_aio_flush);
	RESOLVE(nbd_aio_is_closed);
	RESOLVE(nbd_aio_is_connecting);
	RESOLVE(nbd_aio_is_dead);
	RESOLVE(nbd_aio_is_ready);
	RESOLVE(nbd_aio_pread);
	RESOLVE(nbd_aio_pwrite);
	RESOLVE(nbd_can_flush);
	RESOLVE(nbd_close);
	RESOLVE(nbd_create);
	RESOLVE(nbd_get_block_size);
	RESOLVE(nbd_get_errno);
	RESOLVE(nbd_get_error);
	RESOLVE(nbd_get_size);
	RESOLVE(nbd_is_read_only);
	RESOLVE(nbd_poll);
	RESOLVE(nbd_shutdown);
#undef RESOLVE
	if (missing) {
		const char *why = dlerror();
		char buf[sizeof(load_msg) - 64];

		snprintf(buf, sizeof(buf), "%s", why ? why : missing);
		dlclose(h);
		failed(buf);
		return;
	}
	tloop_libnbd = t;
}

int tloop_libnbd_load(char *msg, size_t len)
{
	pthread_once(&load_once, load);
	if (load_ret)
		snprintf(msg, len, "%s", load_msg);
	return load_ret;
}
