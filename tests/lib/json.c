// SPDX-License-Identifier: GPL-2.0
/*
 * json.c - a small JSON parser to check the tool's --json output by program.
 */
#include "tlt.h"

struct jparser {
	const char *p;
	const char *err;
};

static void jws(struct jparser *jp)
{
	while (*jp->p == ' ' || *jp->p == '\n' || *jp->p == '\t' || *jp->p == '\r')
		jp->p++;
}

static char *jstring(struct jparser *jp)
{
	size_t cap = 64, n = 0;
	char *s = malloc(cap);

	if (!s || *jp->p != '"')
		goto bad;
	jp->p++;
	while (*jp->p != '"') {
		unsigned int c = (unsigned char)*jp->p++;

		if (!c || c < 0x20)
			goto bad;
		if (c == '\\') {
			c = (unsigned char)*jp->p++;
			switch (c) {
			case '"': case '\\': case '/': break;
			case 'b': c = '\b'; break;
			case 'f': c = '\f'; break;
			case 'n': c = '\n'; break;
			case 'r': c = '\r'; break;
			case 't': c = '\t'; break;
			case 'u': {
				unsigned int v = 0;

				for (int i = 0; i < 4; i++) {
					char h = *jp->p++;

					v <<= 4;
					if (h >= '0' && h <= '9')
						v |= (unsigned int)(h - '0');
					else if (h >= 'a' && h <= 'f')
						v |= (unsigned int)(h - 'a' + 10);
					else if (h >= 'A' && h <= 'F')
						v |= (unsigned int)(h - 'A' + 10);
					else
						goto bad;
				}
				/* Tests only need ASCII; others become '?'. */
				c = v < 0x80 ? v : '?';
				break;
			}
			default:
				goto bad;
			}
		}
		if (n + 2 > cap) {
			char *t = realloc(s, cap *= 2);

			if (!t)
				goto bad;
			s = t;
		}
		s[n++] = (char)c;
	}
	jp->p++;
	s[n] = '\0';
	return s;
bad:
	free(s);
	jp->err = "bad string";
	return NULL;
}

static struct tlt_json *jvalue(struct jparser *jp, int depth);

static struct tlt_json *jnew(enum tlt_jtype t)
{
	struct tlt_json *v = calloc(1, sizeof(*v));

	if (!v)
		tlt_bail("calloc");
	v->type = t;
	return v;
}

static struct tlt_json *jcontainer(struct jparser *jp, int depth, bool obj)
{
	struct tlt_json *v = jnew(obj ? TLT_JOBJ : TLT_JARR), **tail = &v->child;
	char close = obj ? '}' : ']';

	jp->p++;
	jws(jp);
	if (*jp->p == close) {
		jp->p++;
		return v;
	}
	for (;;) {
		char *key = NULL;
		struct tlt_json *m;

		jws(jp);
		if (obj) {
			key = jstring(jp);
			if (!key)
				return NULL;
			jws(jp);
			if (*jp->p++ != ':') {
				jp->err = "expected ':'";
				return NULL;
			}
		}
		m = jvalue(jp, depth + 1);
		if (!m)
			return NULL;
		m->key = key;
		*tail = m;
		tail = &m->next;
		jws(jp);
		if (*jp->p == ',') {
			jp->p++;
			continue;
		}
		if (*jp->p++ == close)
			return v;
		jp->err = "expected ',' or end of container";
		return NULL;
	}
}

static struct tlt_json *jvalue(struct jparser *jp, int depth)
{
	struct tlt_json *v;

	if (depth > 32) {
		jp->err = "too deep";
		return NULL;
	}
	jws(jp);
	switch (*jp->p) {
	case '{':
		return jcontainer(jp, depth, true);
	case '[':
		return jcontainer(jp, depth, false);
	case '"':
		v = jnew(TLT_JSTR);
		v->s = jstring(jp);
		return v->s ? v : NULL;
	case 't':
	case 'f':
		v = jnew(TLT_JBOOL);
		v->b = *jp->p == 't';
		if (strncmp(jp->p, v->b ? "true" : "false", v->b ? 4 : 5)) {
			jp->err = "bad literal";
			return NULL;
		}
		jp->p += v->b ? 4 : 5;
		return v;
	case 'n':
		if (strncmp(jp->p, "null", 4)) {
			jp->err = "bad literal";
			return NULL;
		}
		jp->p += 4;
		return jnew(TLT_JNULL);
	default: {
		const char *start = jp->p;
		char *end;

		if (*jp->p != '-' && (*jp->p < '0' || *jp->p > '9')) {
			jp->err = "unexpected character";
			return NULL;
		}
		v = jnew(TLT_JNUM);
		v->d = strtod(start, &end);
		if (end == start) {
			jp->err = "bad number";
			return NULL;
		}
		v->integer = strspn(start, "0123456789") == (size_t)(end - start);
		if (v->integer)
			v->u = strtoull(start, NULL, 10);
		jp->p = end;
		return v;
	}
	}
}

struct tlt_json *tlt_jparse(const char *text)
{
	struct jparser jp = { .p = text };
	struct tlt_json *v = jvalue(&jp, 0);

	if (v) {
		jws(&jp);
		if (*jp.p) {
			jp.err = "trailing characters";
			v = NULL;
		}
	}
	if (!v)
		tlt_diag("invalid JSON (%s) at offset %td", jp.err ? jp.err : "?", jp.p - text);
	return v;
}

struct tlt_json *tlt_jget(const struct tlt_json *o, const char *key)
{
	if (!o || o->type != TLT_JOBJ)
		return NULL;
	for (struct tlt_json *m = o->child; m; m = m->next)
		if (!strcmp(m->key, key))
			return m;
	return NULL;
}

size_t tlt_jlen(const struct tlt_json *a)
{
	size_t n = 0;

	for (struct tlt_json *m = a ? a->child : NULL; m; m = m->next)
		n++;
	return n;
}

uint64_t tlt_ju64(const struct tlt_json *o, const char *key, uint64_t dflt)
{
	struct tlt_json *m = tlt_jget(o, key);

	if (!m || m->type != TLT_JNUM || !m->integer) {
		tlt_diag("JSON member '%s' missing or not a non-negative integer", key);
		return dflt;
	}
	return m->u;
}

const char *tlt_jstr(const struct tlt_json *o, const char *key)
{
	struct tlt_json *m = tlt_jget(o, key);

	if (!m || m->type != TLT_JSTR) {
		tlt_diag("JSON member '%s' missing or not a string", key);
		return "";
	}
	return m->s;
}

int tlt_jbool(const struct tlt_json *o, const char *key)
{
	struct tlt_json *m = tlt_jget(o, key);

	if (!m || m->type != TLT_JBOOL) {
		tlt_diag("JSON member '%s' missing or not a boolean", key);
		return -1;
	}
	return m->b;
}

void tlt_jfree(struct tlt_json *v)
{
	while (v) {
		struct tlt_json *next = v->next;

		tlt_jfree(v->child);
		free(v->s);
		free(v->key);
		free(v);
		v = next;
	}
}
