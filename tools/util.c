// SPDX-License-Identifier: GPL-2.0
/*
 * util.c - size parsing and formatting, device names, the JSON writer.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "util.h"

int parse_size(const char *s, uint64_t *out)
{
	static const char units[] = "KMGTPE";
	uint64_t v = 0, mult = 1, base = 1024;
	const char *p = s, *u;
	int shift;

	if (!isdigit((unsigned char)*p))
		return -EINVAL;
	for (; isdigit((unsigned char)*p); p++) {
		unsigned int d = (unsigned int)(*p - '0');

		if (v > (UINT64_MAX - d) / 10)
			return -ERANGE;
		v = v * 10 + d;
	}
	if (*p) {
		u = strchr(units, toupper((unsigned char)*p));
		if (!u)
			return -EINVAL;
		p++;
		if (!strcmp(p, "B"))
			base = 1000;
		else if (*p && strcmp(p, "iB"))
			return -EINVAL;
		for (shift = 0; shift <= (int)(u - units); shift++) {
			if (mult > UINT64_MAX / base)
				return -ERANGE;
			mult *= base;
		}
	}
	if (v && mult > UINT64_MAX / v)
		return -ERANGE;
	*out = v * mult;
	return 0;
}

const char *format_size(uint64_t v, char *buf, size_t len)
{
	static const char units[] = "BKMGTPE";
	int u = 0;
	double d = (double)v;

	while (d >= 1024 && u < 6) {
		d /= 1024;
		u++;
	}
	if (!u)
		snprintf(buf, len, "%" PRIu64 "B", v);
	else if (d < 10 && (uint64_t)(d * 10 + 0.5) % 10)
		snprintf(buf, len, "%.1f%c", d, units[u]);
	else
		snprintf(buf, len, "%.0f%c", d, units[u]);
	return buf;
}

int dev_path(const char *arg, char *buf, size_t len)
{
	int n;

	if (!strchr(arg, '/') && !strncmp(arg, "tloop", 5) && arg[5] &&
	    strspn(arg + 5, "0123456789") == strlen(arg + 5))
		n = snprintf(buf, len, "/dev/%s", arg);
	else
		n = snprintf(buf, len, "%s", arg);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

void json_init(struct json *j, FILE *f)
{
	memset(j, 0, sizeof(*j));
	j->f = f;
}

static void indent(struct json *j)
{
	int i;

	fputc('\n', j->f);
	for (i = 0; i < j->depth; i++)
		fputs("  ", j->f);
}

/* member() - separator, newline/indent and key before a member. */
static void member(struct json *j, const char *key)
{
	if (j->depth) {
		int flat = j->flat[j->depth - 1];

		if (j->count[j->depth - 1]++)
			fputs(flat ? ", " : ",", j->f);
		if (!flat)
			indent(j);
	}
	if (key) {
		json_escape(j->f, key);
		fputs(": ", j->f);
	}
}

static void open_container(struct json *j, const char *key, char c, int flat)
{
	member(j, key);
	fputc(c, j->f);
	if (j->depth < JSON_MAX_DEPTH) {
		j->count[j->depth] = 0;
		j->flat[j->depth] = flat;
	}
	j->depth++;
}

static void close_container(struct json *j, char c)
{
	int had = j->count[j->depth - 1], flat = j->flat[j->depth - 1];

	j->depth--;
	if (had && !flat)
		indent(j);
	fputc(c, j->f);
	if (!j->depth)
		fputc('\n', j->f);
}

void json_obj_begin(struct json *j, const char *key)
{
	open_container(j, key, '{', 0);
}

void json_obj_end(struct json *j)
{
	close_container(j, '}');
}

void json_arr_begin(struct json *j, const char *key, int flat)
{
	open_container(j, key, '[', flat);
}

void json_arr_end(struct json *j)
{
	close_container(j, ']');
}

void json_str(struct json *j, const char *key, const char *s)
{
	member(j, key);
	json_escape(j->f, s);
}

void json_u64(struct json *j, const char *key, uint64_t v)
{
	member(j, key);
	fprintf(j->f, "%" PRIu64, v);
}

void json_bool(struct json *j, const char *key, int v)
{
	member(j, key);
	fputs(v ? "true" : "false", j->f);
}

void json_double(struct json *j, const char *key, double v)
{
	member(j, key);
	fprintf(j->f, "%.6f", v);
}

/* utf8_len() - length of the valid UTF-8 sequence at @s, or 0. */
static int utf8_len(const unsigned char *s)
{
	int n, i;
	uint32_t cp;

	if (s[0] < 0x80)
		return 1;
	if ((s[0] & 0xe0) == 0xc0) {
		n = 2;
		cp = s[0] & 0x1f;
	} else if ((s[0] & 0xf0) == 0xe0) {
		n = 3;
		cp = s[0] & 0x0f;
	} else if ((s[0] & 0xf8) == 0xf0) {
		n = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

void json_escape(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	fputc('"', f);
	while (*p) {
		int n;

		if (*p == '"' || *p == '\\') {
			fputc('\\', f);
			fputc(*p++, f);
			continue;
		}
		if (*p < 0x20) {
			fprintf(f, "\\u%04x", *p++);
			continue;
		}
		n = utf8_len(p);
		if (!n) {
			fputs("\\ufffd", f);
			p++;
			continue;
		}
		fwrite(p, 1, (size_t)n, f);
		p += n;
	}
	fputc('"', f);
}
