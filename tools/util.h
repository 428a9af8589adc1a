/* SPDX-License-Identifier: GPL-2.0 */
/*
 * util.h - small helpers of the tloop CLI that run on any host (sizes,
 * device names) and a minimal JSON writer.
 */
#ifndef TLOOP_TOOLS_UTIL_H
#define TLOOP_TOOLS_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/*
 * parse_size() - "4096", "4K"/"4KiB" (1024), "4KB" (1000), also M, G, T, P:
 * returns 0, or -EINVAL (not a size) / -ERANGE (does not fit 64 bits).
 */
int parse_size(const char *s, uint64_t *out);

/* format_size() - "64M", "1.5G", "512B": a size for people, into @buf. */
const char *format_size(uint64_t v, char *buf, size_t len);

/*
 * dev_path() - the node for a device argument: "tloopN" means
 * "/dev/tloopN"; anything else is a path used as given.  Returns 0, or
 * -ENAMETOOLONG.
 */
int dev_path(const char *arg, char *buf, size_t len);

/* JSON writer: pretty-printed, two spaces per level, keys in call order. */
#define JSON_MAX_DEPTH 8

struct json {
	FILE *f;
	int depth;
	int count[JSON_MAX_DEPTH];	/* members written at each level */
	int flat[JSON_MAX_DEPTH];	/* array printed on one line */
};

void json_init(struct json *j, FILE *f);
/* @key is NULL inside arrays and for the top-level value. */
void json_obj_begin(struct json *j, const char *key);
void json_obj_end(struct json *j);
/* @flat: print the members on one line (for arrays of numbers). */
void json_arr_begin(struct json *j, const char *key, int flat);
void json_arr_end(struct json *j);
void json_str(struct json *j, const char *key, const char *s);
void json_u64(struct json *j, const char *key, uint64_t v);
void json_bool(struct json *j, const char *key, int v);
void json_double(struct json *j, const char *key, double v);
/* json_escape() - write @s as a JSON string; invalid UTF-8 becomes U+FFFD. */
void json_escape(FILE *f, const char *s);

#endif /* TLOOP_TOOLS_UTIL_H */
