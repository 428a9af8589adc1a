/* SPDX-License-Identifier: GPL-2.0 */
/*
 * internal.h - helpers shared by libtloop's source files (not installed).
 */
#ifndef TLOOP_INTERNAL_H
#define TLOOP_INTERNAL_H

#include "tloop.h"

/* tloop_log() - pass a formatted message to the installed log callback. */
__attribute__((visibility("hidden")))
void tloop_log(enum tloop_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* tloop_ioctl() - ioctl(2) returning its result or -errno. */
__attribute__((visibility("hidden")))
int tloop_ioctl(int fd, unsigned long cmd, void *arg);

#endif /* TLOOP_INTERNAL_H */
