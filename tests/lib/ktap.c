// SPDX-License-Identifier: GPL-2.0
/*
 * ktap.c - KTAP output, checks that print expected vs actual, running shell
 * commands, TLOOP_SCALE and the clock.
 */
#include "tlt.h"

static int tlt_planned;
static int tlt_n;
static int tlt_failed;

void tlt_plan(int n)
{
	tlt_planned = n;
	printf("KTAP version 1\n1..%d\n", n);
	fflush(stdout);
}

void tlt_diag(const char *fmt, ...)
{
	va_list ap;

	fputs("# ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
	fflush(stdout);
}

int tlt_result(int ok, const char *fmt, ...)
{
	va_list ap;

	printf("%sok %d ", ok ? "" : "not ", ++tlt_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
	fflush(stdout);
	if (!ok)
		tlt_failed++;
	return ok;
}

int tlt_results(void)
{
	return tlt_n;
}

void tlt_skip(const char *name, const char *reason)
{
	printf("ok %d %s # SKIP %s\n", ++tlt_n, name, reason);
	fflush(stdout);
}

void tlt_skip_all(const char *reason)
{
	printf("KTAP version 1\n1..0 # SKIP %s\n", reason);
	fflush(stdout);
	exit(4);
}

void tlt_bail(const char *fmt, ...)
{
	va_list ap;

	printf("# setup failed: ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf(" (errno %d: %s)\n", errno, strerror(errno));
	fflush(stdout);
	exit(1);
}

void tlt_exit(void)
{
	if (tlt_n != tlt_planned) {
		tlt_diag("planned %d results, reported %d", tlt_planned, tlt_n);
		exit(1);
	}
	exit(tlt_failed ? 1 : 0);
}

const char *tlt_errname(int err)
{
	const char *s = strerrorname_np(err);

	return s ? s : "?";
}

int tlt_expect_errno(long ret, int want, const char *name)
{
	int err = errno;

	if (ret == -1 && err == want)
		return tlt_result(1, "%s", name);
	tlt_diag("%s: expected -1/%s, got %ld/%s", name, tlt_errname(want), ret,
		 ret == -1 ? tlt_errname(err) : "no error");
	return tlt_result(0, "%s", name);
}

int tlt_run(const char *fmt, ...)
{
	char cmd[1024], line[256], log[] = "/tmp/tlt-run-XXXXXX";
	int fd, status, ret;
	va_list ap;
	FILE *f;
	pid_t pid;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	fd = mkstemp(log);
	if (fd < 0)
		return -1;
	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		close(fd);
		unlink(log);
		return -1;
	}
	if (pid == 0) {
		dup2(fd, 1);
		dup2(fd, 2);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	close(fd);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	ret = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
	if (ret != 0) {
		tlt_diag("command failed (%d): %s", ret, cmd);
		f = fopen(log, "r");
		while (f && fgets(line, sizeof(line), f)) {
			line[strcspn(line, "\n")] = '\0';
			tlt_diag("  %s", line);
		}
		if (f)
			fclose(f);
	}
	unlink(log);
	return ret;
}

int tlt_modprobe(const char *name)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "modprobe %s >/dev/null 2>&1", name);
	return system(cmd) == 0 ? 0 : -1;
}



int tlt_scale(void)
{
	const char *s = getenv("TLOOP_SCALE");
	int v = s ? atoi(s) : 1;

	return v > 0 ? v : 1;
}

double tlt_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}
