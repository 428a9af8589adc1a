/* SPDX-License-Identifier: GPL-2.0 */
/*
 * nbdapi.h - libnbd, loaded at run time (nbdapi.c; not installed).
 *
 * Only an NBD area2 needs libnbd, and libnbd brings some twenty shared
 * libraries (GnuTLS, libxml2, ...) whose loading costs every run of the
 * tool; so libtloop does not link it but dlopen()s it the first time an
 * NBD URI is used.  nbd.c and verify.c call libnbd through the table
 * tloop_libnbd, after tloop_libnbd_load() succeeded: tloop_libnbd.nbd_poll(h, ms)
 * is libnbd's nbd_poll(h, ms).  <libnbd.h> still gives the types, the
 * constants and, through __typeof__, each pointer's exact prototype.
 */
#ifndef TLOOP_NBDAPI_H
#define TLOOP_NBDAPI_H

#include <libnbd.h>
#include <stddef.h>

/* TLOOP_LIBNBD_SONAME - the library dlopen()ed (a test build names another). */
#ifndef TLOOP_LIBNBD_SONAME
#define TLOOP_LIBNBD_SONAME	"libnbd.so.0"
#endif

/* struct tloop_libnbd - the libnbd functions libtloop calls, by their own names. */
struct tloop_libnbd {
	__typeof__(nbd_aio_command_completed) *nbd_aio_command_completed;
	__typeof__(nbd_aio_connect_uri) *nbd_aio_connect_uri;
	__typeof__(nbd_aio_flush) *nbd_aio_flush;
	__typeof__(nbd_aio_is_closed) *nbd_aio_is_closed;
	__typeof__(nbd_aio_is_connecting) *nbd_aio_is_connecting;
	__typeof__(nbd_aio_is_dead) *nbd_aio_is_dead;
	__typeof__(nbd_aio_is_ready) *nbd_aio_is_ready;
	__typeof__(nbd_aio_pread) *nbd_aio_pread;
	__typeof__(nbd_aio_pwrite) *nbd_aio_pwrite;
	__typeof__(nbd_can_flush) *nbd_can_flush;
	__typeof__(nbd_close) *nbd_close;
	__typeof__(nbd_create) *nbd_create;
	__typeof__(nbd_get_block_size) *nbd_get_block_size;
	__typeof__(nbd_get_errno) *nbd_get_errno;
	__typeof__(nbd_get_error) *nbd_get_error;
	__typeof__(nbd_get_size) *nbd_get_size;
	__typeof__(nbd_is_read_only) *nbd_is_read_only;
	__typeof__(nbd_poll) *nbd_poll;
	__typeof__(nbd_shutdown) *nbd_shutdown;
};

/*
 * tloop_libnbd - filled once by tloop_libnbd_load(), all or nothing; use it
 * only after a call of it returned 0.
 */
__attribute__((visibility("hidden")))
extern struct tloop_libnbd tloop_libnbd;

/*
 * tloop_libnbd_load() - load libnbd (TLOOP_LIBNBD_SONAME) and resolve every
 * function of struct tloop_libnbd, once per process (thread-safe; later
 * calls return the first one's answer).  0, or -ENOPKG with "NBD area2
 * needs libnbd (Debian package libnbd0): <dlerror()>" in @msg (@len bytes).
 */
__attribute__((visibility("hidden")))
int tloop_libnbd_load(char *msg, size_t len);

#endif /* TLOOP_NBDAPI_H */
