// SPDX-License-Identifier: GPL-2.0
/*
 * accounts.c - the accounts of the consistent-point tests (47-track-snap-race,
 * 62-tool-consistent, 67-tool-nbd-consistent): counters whose sum only a
 * consistent copy keeps, the writers around them, and a round of the tool.
 */
#include "tlt.h"

#include <spawn.h>

extern char **environ;

uint64_t *tlt_acc(uint8_t *base, int i)
{
	return (uint64_t *)(base + (uint64_t)i * 2 * TLT_PAGE);
}

uint64_t tlt_acc_sum(uint8_t *base)
{
	uint64_t s = 0;

	for (int i = 0; i < TLT_ACC_N; i++)
		s += *tlt_acc(base, i);
	return s;
}

void tlt_acc_init(uint8_t *base)
{
	for (int i = 0; i < TLT_ACC_N; i++)
		*tlt_acc(base, i) = TLT_ACC_TOTAL / TLT_ACC_N;
}

void tlt_acc_move(uint8_t *map, pthread_mutex_t *lock, uint64_t *rs)
{
	int a = (int)(tlt_rand_r(rs) % TLT_ACC_N), b = (int)(tlt_rand_r(rs) % TLT_ACC_N);
	uint64_t x;

	pthread_mutex_lock(lock);
	x = tlt_rand_r(rs) % (*tlt_acc(map, a) / 2 + 1);
	*tlt_acc(map, a) -= x;
	*tlt_acc(map, b) += x;
	/* The consistent point: both pages written back. */
	msync(tlt_acc(map, a), TLT_PAGE, MS_SYNC);
	msync(tlt_acc(map, b), TLT_PAGE, MS_SYNC);
	pthread_mutex_unlock(lock);
}

static void *crew_writer(struct tlt_crew *c, int id)
{
	uint64_t rs = c->seed + (uint64_t)id, ver = 1;
	uint8_t *buf = tlt_alloc(TLT_PAGE);
	int fd = -1;

	if (id == 0)
		fd = open(c->node, O_RDWR | O_DIRECT);
	else if (id == 1)
		fd = open(c->node, O_RDWR);
	if (id != 2 && fd < 0)
		tlt_bail("writer %d: open", id);
	while (!__atomic_load_n(&c->stop, __ATOMIC_ACQUIRE)) {
		uint64_t p;

		if (__atomic_load_n(&c->pause_req, __ATOMIC_ACQUIRE)) {
			if (id == 2 && msync(c->map, c->size, MS_SYNC))
				tlt_bail("msync");
			__atomic_store_n(&c->paused[id], 1, __ATOMIC_RELEASE);
			while (__atomic_load_n(&c->pause_req, __ATOMIC_ACQUIRE))
				usleep(50);
			__atomic_store_n(&c->paused[id], 0, __ATOMIC_RELEASE);
		}
		do {
			p = TLT_ACC_PAGES + tlt_rand_r(&rs) % (c->nr - TLT_ACC_PAGES);
		} while (p % TLT_CREW_WRITERS != (uint64_t)id);
		tlt_page_pattern(buf, p, (uint32_t)(ver++ * TLT_CREW_WRITERS + id));
		if (id == 2)
			memcpy(c->map + p * TLT_PAGE, buf, TLT_PAGE);
		else
			tlt_pwrite_all(fd, buf, TLT_PAGE, (off_t)(p * TLT_PAGE));
		__atomic_add_fetch(&c->writes[id], 1, __ATOMIC_RELAXED);
		if (!(ver % 8))
			usleep(1000);
	}
	if (fd >= 0)
		close(fd);
	free(buf);
	return NULL;
}

/* The writers' thread arguments: the crew and the writer's id. */
static struct crew_arg {
	struct tlt_crew *c;
	int id;
} crew_args[TLT_CREW_WRITERS];

static void *crew_writer_thread(void *arg)
{
	struct crew_arg *a = arg;

	return crew_writer(a->c, a->id);
}

static void *crew_accounts(void *arg)
{
	struct tlt_crew *c = arg;
	uint64_t rs = c->seed ^ 0xacULL;

	while (!__atomic_load_n(&c->stop, __ATOMIC_ACQUIRE)) {
		tlt_acc_move(c->map, &c->acc_lock, &rs);
		usleep(200);
	}
	return NULL;
}

void tlt_crew_start(struct tlt_crew *c, const char *node, uint8_t *map, uint64_t size,
		    uint64_t seed)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->node, sizeof(c->node), "%s", node);
	c->map = map;
	c->size = size;
	c->nr = size / TLT_PAGE;
	c->seed = seed;
	pthread_mutex_init(&c->acc_lock, NULL);
	tlt_acc_init(map);
	msync(map, size, MS_SYNC);
	for (int i = 0; i < TLT_CREW_WRITERS; i++) {
		crew_args[i] = (struct crew_arg){ c, i };
		if (pthread_create(&c->th[i], NULL, crew_writer_thread, &crew_args[i]))
			tlt_bail("pthread_create");
	}
	if (pthread_create(&c->acc, NULL, crew_accounts, c))
		tlt_bail("pthread_create");
}

void tlt_crew_pause(struct tlt_crew *c)
{
	pthread_mutex_lock(&c->acc_lock);
	__atomic_store_n(&c->pause_req, 1, __ATOMIC_RELEASE);
	for (int i = 0; i < TLT_CREW_WRITERS; i++)
		while (!__atomic_load_n(&c->paused[i], __ATOMIC_ACQUIRE))
			usleep(50);
}

void tlt_crew_resume(struct tlt_crew *c)
{
	__atomic_store_n(&c->pause_req, 0, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&c->acc_lock);
}

void tlt_crew_stop(struct tlt_crew *c)
{
	__atomic_store_n(&c->stop, 1, __ATOMIC_RELEASE);
	for (int i = 0; i < TLT_CREW_WRITERS; i++)
		pthread_join(c->th[i], NULL);
	pthread_join(c->acc, NULL);
}

uint64_t tlt_pit_generation(const struct tlt_pit *t)
{
	struct tloop_track_status st;

	if (tlt_status(t->dfd, &st))
		tlt_bail("TRACK_STATUS");
	return st.generation;
}

pid_t tlt_pit_spawn(const struct tlt_pit *t, const char *opts)
{
	char *argv[24], buf[256];
	posix_spawn_file_actions_t fa;
	int n = 0;
	pid_t pid;

	snprintf(buf, sizeof(buf), "%s", opts);
	argv[n++] = "tloop";
	argv[n++] = "sync";
	for (char *tok = strtok(buf, " "); tok && n < 12; tok = strtok(NULL, " "))
		argv[n++] = tok;
	argv[n++] = (char *)t->node;
	for (int i = 0; t->tail[i] && n < 23; i++)
		argv[n++] = (char *)t->tail[i];
	argv[n] = NULL;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "out.txt", O_WRONLY | O_CREAT | O_TRUNC, 0644);
	posix_spawn_file_actions_addopen(&fa, 2, "err.txt", O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (posix_spawn(&pid, TLT_TOOL, &fa, NULL, argv, environ))
		tlt_bail("posix_spawn tloop");
	posix_spawn_file_actions_destroy(&fa);
	return pid;
}

static int exit_status(int st)
{
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int tlt_pit_wait(pid_t pid)
{
	int st;

	if (waitpid(pid, &st, 0) < 0)
		tlt_bail("waitpid");
	return exit_status(st);
}

void tlt_pit_show(void)
{
	char b[4096];

	tlt_slurp("out.txt", b, sizeof(b));
	tlt_diag("stdout: %s", b);
	tlt_slurp("err.txt", b, sizeof(b));
	tlt_diag("stderr: %s", b);
}

/* Resume the crew once the generation leaves @gen0 (P passed) or the tool ended. */
static int resume_at_p(const struct tlt_pit *t, pid_t pid, uint64_t gen0)
{
	int st;

	for (;;) {
		if (tlt_pit_generation(t) != gen0)
			break;
		if (waitpid(pid, &st, WNOHANG) == pid) {
			tlt_crew_resume(t->crew);
			return exit_status(st);
		}
		usleep(100);
	}
	tlt_crew_resume(t->crew);
	return tlt_pit_wait(pid);
}

int tlt_pit_round(const struct tlt_pit *t, const char *opts, uint8_t *expect, uint8_t *area2,
		  int *status, struct tlt_json **json)
{
	uint64_t gen0, nr = t->size / TLT_PAGE, n = 0;
	char *out = malloc(65536);
	int afd;

	if (!out)
		tlt_bail("allocations");
	usleep(30000);
	tlt_crew_pause(t->crew);
	tlt_pread_all(t->dfd, expect, t->size, 0);
	gen0 = tlt_pit_generation(t);
	*status = resume_at_p(t, tlt_pit_spawn(t, opts), gen0);
	afd = open(t->area2, O_RDONLY);
	if (afd < 0)
		tlt_bail("open %s", t->area2);
	tlt_pread_all(afd, area2, t->size, 0);
	close(afd);
	if (json) {
		tlt_slurp("out.txt", out, 65536);
		*json = *status ? NULL : tlt_jparse(out);
	}
	free(out);
	for (uint64_t p = 0; p < nr; p++)
		n += !!memcmp(expect + p * TLT_PAGE, area2 + p * TLT_PAGE, TLT_PAGE);
	return (int)n;
}
