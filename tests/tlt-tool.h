/* SPDX-License-Identifier: GPL-2.0 */
/*
 * tlt-tool.h - helpers for the tests of the tloop CLI (tests/5x-tool-*):
 * run /usr/bin/tloop and capture its stdout, stderr and exit status, a small
 * JSON parser to check --json output by program, devices attached through
 * the tool and detached at exit, file comparison and page patterns.
 */
#ifndef TLT_TOOL_H
#define TLT_TOOL_H

#include "tlt.h"

#include <stdbool.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>

#define TTL_PAGE 4096UL
#define TTL_TOOL "/usr/bin/tloop"

/* ---- running the tool ------------------------------------------------- */

/* What one run of the tool produced. */
struct ttl_run {
	int status;	/* exit status, or 128 + signal */
	char out[65536];
	char err[4096];
};

/* ttl_slurp() - read a whole (small) file into @buf, NUL-terminated. */
static inline void ttl_slurp(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t n = 0;
	ssize_t r;

	buf[0] = '\0';
	if (fd < 0)
		return;
	while (n + 1 < len && (r = read(fd, buf + n, len - 1 - n)) > 0)
		n += (size_t)r;
	buf[n] = '\0';
	close(fd);
}

/*
 * ttl_runv() - run the tool with @argv (argv[0] is ignored), stdout and
 * stderr captured through files in the cwd.  Returns the exit status.
 */
static inline int ttl_runv(struct ttl_run *r, char *const argv[])
{
	char *args[64], out[64], err[64];
	pid_t pid;
	int st, i;

	/* Per caller, so that concurrent runs (a test's children) do not mix. */
	snprintf(out, sizeof(out), "ttl.out.%d", (int)getpid());
	snprintf(err, sizeof(err), "ttl.err.%d", (int)getpid());

	args[0] = (char *)"tloop";
	for (i = 1; argv[i] && i < 63; i++)
		args[i] = argv[i];
	args[i] = NULL;
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		tlt_bail("fork");
	if (!pid) {
		int o = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		int e = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		if (o < 0 || e < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0)
			_exit(126);
		execv(TTL_TOOL, args);
		_exit(127);
	}
	if (waitpid(pid, &st, 0) < 0)
		tlt_bail("waitpid");
	r->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	ttl_slurp(out, r->out, sizeof(r->out));
	ttl_slurp(err, r->err, sizeof(r->err));
	return r->status;
}

/*
 * ttl_run() - run the tool with the arguments in @line, split on spaces
 * (printf-style; no argument may contain a space).
 */
/*
 * ttl_argv() - split @line (modified) at spaces into "tloop" and its words, in
 * @argv (64 entries at most, NULL-terminated).
 */
static inline void ttl_argv(char *line, char *argv[64])
{
	char *save, *tok;
	int n = 1;

	argv[0] = (char *)"tloop";
	for (tok = strtok_r(line, " ", &save); tok && n < 63; tok = strtok_r(NULL, " ", &save))
		argv[n++] = tok;
	argv[n] = NULL;
}

static inline __attribute__((format(printf, 2, 3)))
int ttl_run(struct ttl_run *r, const char *fmt, ...)
{
	char line[1024], *argv[64];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	ttl_argv(line, argv);
	return ttl_runv(r, argv);
}

/* ttl_show() - print a run's output as diagnostics (after a failure). */
static inline void ttl_show(const char *what, const struct ttl_run *r)
{
	const char *p, *nl;

	tlt_diag("%s: exit status %d", what, r->status);
	for (int k = 0; k < 2; k++) {
		p = k ? r->err : r->out;
		for (int lines = 0; *p && lines < 20; lines++, p = nl + 1) {
			nl = strchr(p, '\n');
			if (!nl)
				nl = p + strlen(p);
			tlt_diag("  %s| %.*s", k ? "stderr" : "stdout", (int)(nl - p), p);
			if (!*nl)
				break;
		}
	}
}

/* ---- devices through the tool ----------------------------------------- */

#define TTL_MAX_DEVS 8
static int ttl_devs[TTL_MAX_DEVS] = { -1, -1, -1, -1, -1, -1, -1, -1 };
static pid_t ttl_owner;

/* ttl_cleanup() - at exit: detach what ttl_attach() attached (by ioctl). */
static inline void ttl_cleanup(void)
{
	int ctl;

	if (getpid() != ttl_owner)
		return;
	ctl = open(TLOOP_CONTROL_NODE, O_RDWR | O_CLOEXEC);
	if (ctl < 0)
		return;
	for (int i = 0; i < TTL_MAX_DEVS; i++)
		if (ttl_devs[i] >= 0) {
			tlt_remove(ctl, ttl_devs[i]);
			ttl_devs[i] = -1;
		}
	close(ctl);
}

/* ttl_forget() - a device detached by the test itself. */
static inline void ttl_forget(int index)
{
	for (int i = 0; i < TTL_MAX_DEVS; i++)
		if (ttl_devs[i] == index)
			ttl_devs[i] = -1;
}

/*
 * ttl_attach() - create @path of @size bytes (unless @size is 0) and attach
 * it with "tloop attach @opts @path"; the device path goes to @node.
 * Returns the index, or bails.
 */
static inline int ttl_attach(const char *path, uint64_t size, const char *opts, char *node,
			     size_t len)
{
	struct ttl_run r;
	int idx, fd;

	if (!ttl_owner) {
		ttl_owner = getpid();
		atexit(ttl_cleanup);
	}
	if (size) {
		fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd < 0 || ftruncate(fd, (off_t)size) < 0)
			tlt_bail("create %s", path);
		close(fd);
	}
	if (ttl_run(&r, "attach %s %s", opts, path) != 0 ||
	    sscanf(r.out, TLOOP_DEVICE_PREFIX "%d", &idx) != 1) {
		ttl_show("tloop attach", &r);
		tlt_bail("tloop attach %s %s", opts, path);
	}
	for (int i = 0; i < TTL_MAX_DEVS; i++)
		if (ttl_devs[i] < 0) {
			ttl_devs[i] = idx;
			break;
		}
	tlt_dev_path(node, len, idx);
	return idx;
}

/* ---- files and patterns ----------------------------------------------- */

/* ttl_pattern() - the bytes of page @page, version @ver: recognisable, distinct. */
static inline void ttl_pattern(uint8_t *buf, uint64_t page, uint32_t ver)
{
	for (size_t i = 0; i < TTL_PAGE; i += 16) {
		uint64_t a = page ^ ((uint64_t)ver << 40), b = i ^ 0x746c6f6f70ULL;

		memcpy(buf + i, &a, 8);
		memcpy(buf + i + 8, &b, 8);
	}
}

/*
 * ttl_cmp_files() - compare two files byte for byte over @size bytes.
 * Returns -1 if equal, else the first differing offset (and prints it).
 */
/*
 * ttl_store() - write version @ver of every @stride-th page of [@first, @first + @nr)
 * of @node with pwrite(), then fsync it.
 */
static inline void ttl_store(const char *node, uint64_t first, uint64_t nr, uint64_t stride,
			     uint32_t ver)
{
	uint8_t buf[TTL_PAGE];
	int fd = open(node, O_RDWR | O_CLOEXEC);

	if (fd < 0)
		tlt_bail("open %s", node);
	for (uint64_t i = first; i < first + nr; i += stride) {
		ttl_pattern(buf, i, ver);
		if (pwrite(fd, buf, TTL_PAGE, (off_t)(i * TTL_PAGE)) != (ssize_t)TTL_PAGE)
			tlt_bail("pwrite %s", node);
	}
	if (fsync(fd))
		tlt_bail("fsync %s", node);
	close(fd);
}

static inline int64_t ttl_cmp_files(const char *a, const char *b, uint64_t size)
{
	static uint8_t ba[1 << 20], bb[1 << 20];
	int fa = open(a, O_RDONLY | O_CLOEXEC), fb = open(b, O_RDONLY | O_CLOEXEC);
	uint64_t off = 0;
	int64_t diff = -1;

	if (fa < 0 || fb < 0)
		tlt_bail("open %s or %s", a, b);
	while (off < size && diff < 0) {
		size_t n = size - off < sizeof(ba) ? (size_t)(size - off) : sizeof(ba);

		if (pread(fa, ba, n, (off_t)off) != (ssize_t)n ||
		    pread(fb, bb, n, (off_t)off) != (ssize_t)n)
			tlt_bail("read %zu bytes at %" PRIu64 " of %s / %s", n, off, a, b);
		if (memcmp(ba, bb, n))
			for (size_t i = 0; i < n; i++)
				if (ba[i] != bb[i]) {
					diff = (int64_t)(off + i);
					tlt_diag("%s and %s differ at byte %" PRId64
						 " (page %" PRId64 "): 0x%02x vs 0x%02x", a, b, diff,
						 diff / (int64_t)TTL_PAGE, ba[i], bb[i]);
					break;
				}
		off += n;
	}
	close(fa);
	close(fb);
	return diff;
}

/* ttl_file_size() - st_size of @path, or -1. */
static inline int64_t ttl_file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) < 0 ? -1 : (int64_t)st.st_size;
}

/* ---- JSON ------------------------------------------------------------- */

enum ttl_jtype { TJ_NULL, TJ_BOOL, TJ_NUM, TJ_STR, TJ_ARR, TJ_OBJ };

/* One JSON value; members of arrays and objects are a linked list. */
struct ttl_json {
	enum ttl_jtype type;
	bool b;
	bool integer;		/* a number without fraction or exponent */
	uint64_t u;		/* its value, if integer and >= 0 */
	double d;
	char *s;		/* string value */
	char *key;		/* member name inside an object */
	struct ttl_json *child;	/* first member */
	struct ttl_json *next;	/* next sibling */
};

struct ttl_jparser {
	const char *p;
	const char *err;
};

static inline void ttl_jws(struct ttl_jparser *jp)
{
	while (*jp->p == ' ' || *jp->p == '\n' || *jp->p == '\t' || *jp->p == '\r')
		jp->p++;
}

static inline char *ttl_jstring(struct ttl_jparser *jp)
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

static inline struct ttl_json *ttl_jvalue(struct ttl_jparser *jp, int depth);

static inline struct ttl_json *ttl_jnew(enum ttl_jtype t)
{
	struct ttl_json *v = calloc(1, sizeof(*v));

	if (!v)
		tlt_bail("calloc");
	v->type = t;
	return v;
}

static inline struct ttl_json *ttl_jcontainer(struct ttl_jparser *jp, int depth, bool obj)
{
	struct ttl_json *v = ttl_jnew(obj ? TJ_OBJ : TJ_ARR), **tail = &v->child;
	char close = obj ? '}' : ']';

	jp->p++;
	ttl_jws(jp);
	if (*jp->p == close) {
		jp->p++;
		return v;
	}
	for (;;) {
		char *key = NULL;
		struct ttl_json *m;

		ttl_jws(jp);
		if (obj) {
			key = ttl_jstring(jp);
			if (!key)
				return NULL;
			ttl_jws(jp);
			if (*jp->p++ != ':') {
				jp->err = "expected ':'";
				return NULL;
			}
		}
		m = ttl_jvalue(jp, depth + 1);
		if (!m)
			return NULL;
		m->key = key;
		*tail = m;
		tail = &m->next;
		ttl_jws(jp);
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

static inline struct ttl_json *ttl_jvalue(struct ttl_jparser *jp, int depth)
{
	struct ttl_json *v;

	if (depth > 32) {
		jp->err = "too deep";
		return NULL;
	}
	ttl_jws(jp);
	switch (*jp->p) {
	case '{':
		return ttl_jcontainer(jp, depth, true);
	case '[':
		return ttl_jcontainer(jp, depth, false);
	case '"':
		v = ttl_jnew(TJ_STR);
		v->s = ttl_jstring(jp);
		return v->s ? v : NULL;
	case 't':
	case 'f':
		v = ttl_jnew(TJ_BOOL);
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
		return ttl_jnew(TJ_NULL);
	default: {
		const char *start = jp->p;
		char *end;

		if (*jp->p != '-' && (*jp->p < '0' || *jp->p > '9')) {
			jp->err = "unexpected character";
			return NULL;
		}
		v = ttl_jnew(TJ_NUM);
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

/* ttl_jparse() - parse a whole document; NULL (and a diagnostic) if invalid. */
static inline struct ttl_json *ttl_jparse(const char *text)
{
	struct ttl_jparser jp = { .p = text };
	struct ttl_json *v = ttl_jvalue(&jp, 0);

	if (v) {
		ttl_jws(&jp);
		if (*jp.p) {
			jp.err = "trailing characters";
			v = NULL;
		}
	}
	if (!v)
		tlt_diag("invalid JSON (%s) at offset %td", jp.err ? jp.err : "?", jp.p - text);
	return v;
}

/* ttl_jget() - member @key of object @o, or NULL. */
static inline struct ttl_json *ttl_jget(const struct ttl_json *o, const char *key)
{
	if (!o || o->type != TJ_OBJ)
		return NULL;
	for (struct ttl_json *m = o->child; m; m = m->next)
		if (!strcmp(m->key, key))
			return m;
	return NULL;
}

/* ttl_jlen() - number of members of an array or object. */
static inline size_t ttl_jlen(const struct ttl_json *a)
{
	size_t n = 0;

	for (struct ttl_json *m = a ? a->child : NULL; m; m = m->next)
		n++;
	return n;
}

/* ttl_ju64() - integer member @key of @o, or @dflt (with a diagnostic). */
static inline uint64_t ttl_ju64(const struct ttl_json *o, const char *key, uint64_t dflt)
{
	struct ttl_json *m = ttl_jget(o, key);

	if (!m || m->type != TJ_NUM || !m->integer) {
		tlt_diag("JSON member '%s' missing or not a non-negative integer", key);
		return dflt;
	}
	return m->u;
}

/* ttl_jstr() - string member @key of @o, or "" (with a diagnostic). */
static inline const char *ttl_jstr(const struct ttl_json *o, const char *key)
{
	struct ttl_json *m = ttl_jget(o, key);

	if (!m || m->type != TJ_STR) {
		tlt_diag("JSON member '%s' missing or not a string", key);
		return "";
	}
	return m->s;
}

/* ttl_jbool() - boolean member @key of @o; -1 (with a diagnostic) if absent. */
static inline int ttl_jbool(const struct ttl_json *o, const char *key)
{
	struct ttl_json *m = ttl_jget(o, key);

	if (!m || m->type != TJ_BOOL) {
		tlt_diag("JSON member '%s' missing or not a boolean", key);
		return -1;
	}
	return m->b;
}

/* ttl_jfree() - free a parsed document. */
static inline void ttl_jfree(struct ttl_json *v)
{
	while (v) {
		struct ttl_json *next = v->next;

		ttl_jfree(v->child);
		free(v->s);
		free(v->key);
		free(v);
		v = next;
	}
}

/*
 * ttl_sync_json() - "tloop sync --json @opts @dev @area2", parsed; NULL (and
 * diagnostics) if it failed or printed no valid JSON.
 */
static inline struct ttl_json *ttl_sync_json(const char *dev, const char *area2, const char *opts)
{
	struct ttl_run r;
	struct ttl_json *j;

	if (ttl_run(&r, "sync --json %s %s %s", opts, dev, area2) != 0) {
		ttl_show("tloop sync", &r);
		return NULL;
	}
	j = ttl_jparse(r.out);
	if (!j)
		ttl_show("tloop sync", &r);
	return j;
}

/* ttl_now() - monotonic seconds. */
static inline double ttl_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#endif /* TLT_TOOL_H */
