/* SPDX-License-Identifier: GPL-2.0 */
/*
 * internal.h - helpers shared by libtloop's source files (not installed).
 */
#ifndef TLOOP_INTERNAL_H
#define TLOOP_INTERNAL_H

#include "libtloop.h"

/* tloop_log() - pass a formatted message to the installed log callback. */
__attribute__((visibility("hidden")))
void tloop_log(enum tloop_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* tloop_ioctl() - ioctl(2) returning its result or -errno. */
__attribute__((visibility("hidden")))
int tloop_ioctl(int fd, unsigned long cmd, void *arg);

/*
 * tloop_continue_flags() - extra TLOOP_GET_WRITTEN flags for the calls that
 * continue a walk: TLOOP_GET_NOSYNC when the module writes back the whole
 * device on every call (no TLOOP_FEAT_WALK_SYNC), 0 otherwise or when the
 * module cannot be asked (then every call writes back what it examines or
 * more, which is never less than the walk needs).
 */
__attribute__((visibility("hidden")))
unsigned int tloop_continue_flags(void);

#endif /* TLOOP_INTERNAL_H */
