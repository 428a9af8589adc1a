// SPDX-License-Identifier: GPL-2.0
/*
 * tool.c - running /usr/bin/tloop and capturing its output, devices attached
 * through the tool and detached at exit, and tloop sync --json.
 */
#include "tlt.h"

/*
 * tool_vrun() - run the tool with the arguments in @fmt split at spaces, as
 * @uid ((uid_t)-1: as the caller), stdout and stderr captured through files
 * in the cwd.  Returns the exit status.
 */
static int tool_vrun(uid_t uid, struct tlt_tool_run *r, const char *fmt, va_list ap)
{
	char line[1024], *argv[64], *save, *tok, out[64], err[64];
	pid_t pid;
	int st, n = 1;

	vsnprintf(line, sizeof(line), fmt, ap);
	argv[0] = (char *)"tloop";
	for (tok = strtok_r(line, " ", &save); tok && n < 63; tok = strtok_r(NULL, " ", &save))
		argv[n++] = tok;
	argv[n] = NULL;
	/* Per caller, so that concurrent runs (a test's children) do not mix. */
	snprintf(out, sizeof(out), "ttl.out.%d", (int)getpid());
	snprintf(err, sizeof(err), "ttl.err.%d", (int)getpid());
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		tlt_bail("fork");
	if (!pid) {
		int o = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		int e = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		if (o < 0 || e < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0)
			_exit(126);
		if (uid != (uid_t)-1 &&
		    (setgroups(0, NULL) || setresgid(uid, uid, uid) || setresuid(uid, uid, uid)))
			_exit(125);
		execv(TLT_TOOL, argv);
		_exit(127);
	}
	if (waitpid(pid, &st, 0) < 0)
		tlt_bail("waitpid");
	r->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	tlt_slurp(out, r->out, sizeof(r->out));
	tlt_slurp(err, r->err, sizeof(r->err));
	return r->status;
}

int tlt_tool(struct tlt_tool_run *r, const char *fmt, ...)
{
	va_list ap;
	int ret;

	va_start(ap, fmt);
	ret = tool_vrun((uid_t)-1, r, fmt, ap);
	va_end(ap);
	return ret;
}

int tlt_tool_as(uid_t uid, struct tlt_tool_run *r, const char *fmt, ...)
{
	va_list ap;
	int ret;

	va_start(ap, fmt);
	ret = tool_vrun(uid, r, fmt, ap);
	va_end(ap);
	return ret;
}

void tlt_tool_show(const char *what, const struct tlt_tool_run *r)
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

/* Devices of tlt_tool_attach(), detached at exit by the process that attached them. */
#define TOOL_MAX_DEVS 8
static int tool_devs[TOOL_MAX_DEVS] = { -1, -1, -1, -1, -1, -1, -1, -1 };
static pid_t tool_owner;

static void tool_cleanup(void)
{
	int ctl;

	if (getpid() != tool_owner)
		return;
	ctl = open(TLOOP_CONTROL_NODE, O_RDWR | O_CLOEXEC);
	if (ctl < 0)
		return;
	for (int i = 0; i < TOOL_MAX_DEVS; i++)
		if (tool_devs[i] >= 0) {
			tlt_remove(ctl, tool_devs[i]);
			tool_devs[i] = -1;
		}
	close(ctl);
}

void tlt_tool_forget(int index)
{
	for (int i = 0; i < TOOL_MAX_DEVS; i++)
		if (tool_devs[i] == index)
			tool_devs[i] = -1;
}

int tlt_tool_attach(const char *path, uint64_t size, const char *opts, char *node,
		    size_t len)
{
	struct tlt_tool_run r;
	int idx, fd;

	if (!tool_owner) {
		tool_owner = getpid();
		atexit(tool_cleanup);
	}
	if (size) {
		fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd < 0 || ftruncate(fd, (off_t)size) < 0)
			tlt_bail("create %s", path);
		close(fd);
	}
	if (tlt_tool(&r, "attach %s %s", opts, path) != 0 ||
	    sscanf(r.out, TLOOP_DEVICE_PREFIX "%d", &idx) != 1) {
		tlt_tool_show("tloop attach", &r);
		tlt_bail("tloop attach %s %s", opts, path);
	}
	for (int i = 0; i < TOOL_MAX_DEVS; i++)
		if (tool_devs[i] < 0) {
			tool_devs[i] = idx;
			break;
		}
	tlt_dev_path(node, len, idx);
	return idx;
}

void tlt_store(const char *node, uint64_t first, uint64_t nr, uint64_t stride, uint32_t ver)
{
	uint8_t buf[TLT_PAGE];
	int fd = open(node, O_RDWR | O_CLOEXEC);

	if (fd < 0)
		tlt_bail("open %s", node);
	for (uint64_t i = first; i < first + nr; i += stride) {
		tlt_page_pattern(buf, i, ver);
		if (pwrite(fd, buf, TLT_PAGE, (off_t)(i * TLT_PAGE)) != (ssize_t)TLT_PAGE)
			tlt_bail("pwrite %s", node);
	}
	if (fsync(fd))
		tlt_bail("fsync %s", node);
	close(fd);
}

struct tlt_json *tlt_sync_json(const char *dev, const char *area2, const char *opts)
{
	struct tlt_tool_run r;
	struct tlt_json *j;

	if (tlt_tool(&r, "sync --json %s %s %s", opts, dev, area2) != 0) {
		tlt_tool_show("tloop sync", &r);
		return NULL;
	}
	j = tlt_jparse(r.out);
	if (!j)
		tlt_tool_show("tloop sync", &r);
	return j;
}

