// SPDX-License-Identifier: GPL-2.0
/*
 * log.c - the optional log callback: the library never prints by itself.
 */
#include <stdarg.h>
#include <stdio.h>

#include "internal.h"

static tloop_log_fn log_fn;
static void *log_arg;

void tloop_set_log(tloop_log_fn fn, void *arg)
{
	log_fn = fn;
	log_arg = arg;
}

void tloop_log(enum tloop_log_level level, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (!log_fn)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_fn(level, msg, log_arg);
}
