// SPDX-License-Identifier: GPL-2.0
/*
 * 18-dev-many: device lifecycle under load.
 *  - 64 devices added (lowest free index, then explicit indices 127..64),
 *    each readable with its own data, all removed, several rounds;
 *  - an index removed and added again with another backing file shows the
 *    new file's data, not the old device's page cache;
 *  - add/remove racing with another process that opens, reads, maps and
 *    closes the same device nodes: remove only ever fails with EBUSY, the
 *    opener only sees "no such device" errors, nothing is left behind;
 *  - the module's reference count returns to its starting value (the
 *    runner's final rmmod then proves the module unloads).
 *
 * tloop-timeout: 120
 */
#include "tlt.h"

#include <time.h>

#define NDEV	64
#define NRACE	8
/* The race uses indices RACE0.. so devices left at low indices cannot collide. */
#define RACE0	100

static int ctl;
/* Devices and the lowest free index before the test (normally 0 and 0). */
static int present0, free0;

static int add_at(const char *file, int index)
{
	struct tloop_add add = { .size = sizeof(add), .index = index };
	int fd = open(file, O_RDWR | O_CLOEXEC), ret, err;

	if (fd < 0)
		tlt_bail("open %s", file);
	add.backing_fd = fd;
	ret = ioctl(ctl, TLOOP_CTL_ADD, &add);
	err = errno;
	close(fd);
	return ret < 0 ? -err : add.index;
}

static int read_matches(int index, uint32_t seed)
{
	unsigned char got[4096], want[4096];
	char path[32];
	int fd, ok;

	fd = open(tlt_dev_path(path, sizeof(path), index), O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		tlt_diag("open %s: %s", path, strerror(errno));
		return 0;
	}
	tlt_pattern(want, sizeof(want), 8192, seed);
	ok = !tlt_pread_full(fd, got, sizeof(got), 8192) &&
	     tlt_compare(path, want, got, sizeof(got), 8192);
	close(fd);
	return ok;
}

static int count_present(void)
{
	char path[64];
	int i, n = 0;

	for (i = 0; i < 1024; i++) {
		snprintf(path, sizeof(path), "/sys/block/tloop%d", i);
		n += access(path, F_OK) == 0;
	}
	return n;
}

static long module_refcnt(void)
{
	char buf[32];

	if (tlt_sysfs_read("/sys/module/tloop/refcnt", buf, sizeof(buf)))
		return -1;
	return strtol(buf, NULL, 10);
}

static void many_rounds(int rounds)
{
	int idx[NDEV], r, i, ok_add = 1, ok_read = 1, ok_rm = 1, ok_gone = 1, ok_free = 1;
	char file[32];

	for (i = 0; i < NDEV; i++) {
		snprintf(file, sizeof(file), "b%d.img", i);
		if (tlt_make_file(file, 64 << 10, (uint32_t)i + 1))
			tlt_bail("create %s", file);
	}
	for (r = 0; r < rounds; r++) {
		for (i = 0; i < NDEV; i++) {
			snprintf(file, sizeof(file), "b%d.img", i);
			/* Even rounds take the lowest free index, odd ones count down from 127. */
			idx[i] = add_at(file, r % 2 ? 2 * NDEV - 1 - i : -1);
			if (idx[i] < 0) {
				if (ok_add)
					tlt_diag("round %d: add %s: %s", r, file,
						 tlt_errname(-idx[i]));
				ok_add = 0;
			}
		}
		for (i = 0; i < NDEV; i++) {
			if (idx[i] >= 0 && !read_matches(idx[i], (uint32_t)i + 1)) {
				if (ok_read)
					tlt_diag("round %d: tloop%d does not show b%d.img", r, idx[i], i);
				ok_read = 0;
			}
		}
		for (i = 0; i < NDEV; i++) {
			int ret = idx[i] >= 0 ? tlt_remove(ctl, idx[i]) : 0;

			if (ret) {
				if (ok_rm)
					tlt_diag("round %d: remove tloop%d: %s", r, idx[i],
						 tlt_errname(-ret));
				ok_rm = 0;
			}
		}
		if (count_present() != present0) {
			if (ok_gone)
				tlt_diag("round %d: %d devices left", r, count_present() - present0);
			ok_gone = 0;
		}
		{
			int free_idx = ioctl(ctl, TLOOP_CTL_GET_FREE);

			if (free_idx != free0) {
				if (ok_free)
					tlt_diag("round %d: GET_FREE returned %d", r, free_idx);
				ok_free = 0;
			}
		}
	}
	tlt_result(ok_add, "%d rounds: add %d devices", rounds, NDEV);
	tlt_result(ok_read, "%d rounds: every device reads its own backing file", rounds);
	tlt_result(ok_rm, "%d rounds: remove every device", rounds);
	tlt_result(ok_gone, "%d rounds: no device left in /sys/block", rounds);
	tlt_result(ok_free, "%d rounds: GET_FREE is back to its first value after the removals", rounds);
	for (i = 0; i < NDEV; i++) {
		snprintf(file, sizeof(file), "b%d.img", i);
		unlink(file);
	}
}

static void reuse_index(void)
{
	int a, b, fd;
	char path[32];
	unsigned char buf[4096];

	if (tlt_make_file("old.img", 1 << 20, 11) || tlt_make_file("new.img", 1 << 20, 22))
		tlt_bail("create old/new.img");
	a = add_at("old.img", 5);
	if (a != 5)
		tlt_bail("add old.img at 5: %s", tlt_errname(-a));
	/* Fill the old device's page cache, and leave a dirty page behind too. */
	fd = open(tlt_dev_path(path, sizeof(path), a), O_RDWR | O_CLOEXEC);
	if (fd < 0 || tlt_pread_full(fd, buf, sizeof(buf), 8192))
		tlt_bail("read %s", path);
	memset(buf, 0x77, sizeof(buf));
	if (tlt_pwrite_full(fd, buf, sizeof(buf), 65536))
		tlt_bail("write %s", path);
	close(fd);
	if (tlt_remove(ctl, a))
		tlt_bail("remove tloop5");
	b = add_at("new.img", 5);
	if (!tlt_result(b == 5 && read_matches(5, 22),
			"an index re-used with another file shows the new file's data"))
		tlt_diag("add new.img at 5: %d", b);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	{
		unsigned char want[4096];

		tlt_pattern(want, sizeof(want), 65536, 22);
		tlt_result(fd >= 0 && !tlt_pread_full(fd, buf, sizeof(buf), 65536) &&
			   tlt_compare("re-used index at 65536", want, buf, sizeof(buf), 65536),
			   "the old device's dirty page did not leak into the new one");
	}
	if (fd >= 0)
		close(fd);
	if (b >= 0)
		tlt_remove(ctl, b);
	fd = open("old.img", O_RDONLY | O_CLOEXEC);
	{
		unsigned char want[4096];

		memset(want, 0x77, sizeof(want));
		tlt_result(fd >= 0 && !tlt_pread_full(fd, buf, sizeof(buf), 65536) &&
			   tlt_compare("old.img at 65536", want, buf, sizeof(buf), 65536),
			   "the old device's write reached its own backing file at removal");
	}
	if (fd >= 0)
		close(fd);
}

/* The racing opener: counts successes and unexpected errors until killed. */
static void opener(int wfd, int seconds)
{
	unsigned long opened = 0, bad = 0, last_bad = 0;
	time_t end = time(NULL) + seconds;
	unsigned int n = 0;
	char path[32], buf[512];

	while (time(NULL) < end) {
		int fd = open(tlt_dev_path(path, sizeof(path), RACE0 + (int)(n++ % NRACE)),
			      O_RDONLY | O_CLOEXEC);

		if (fd < 0) {
			if (errno != ENOENT && errno != ENXIO && errno != ENODEV) {
				bad++;
				last_bad = (unsigned long)errno;
			}
			continue;
		}
		opened++;
		if (pread(fd, buf, sizeof(buf), 0) < 0 && errno != EIO && errno != ENXIO) {
			bad++;
			last_bad = (unsigned long)errno;
		}
		if (n % 4 == 0) {
			void *m = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);

			if (m != MAP_FAILED) {
				(void)*(volatile char *)m;
				munmap(m, 4096);
			}
		}
		close(fd);
	}
	dprintf(wfd, "%lu %lu %lu\n", opened, bad, last_bad);
	_exit(0);
}

static void race(int seconds)
{
	unsigned long opened = 0, bad = 0, last_bad = 0, adds = 0, busy = 0, other = 0;
	int idx[NRACE], p[2], i, last_other = 0, status;
	time_t end;
	char file[32], line[128];
	pid_t pid;
	FILE *f;

	for (i = 0; i < NRACE; i++) {
		snprintf(file, sizeof(file), "r%d.img", i);
		if (tlt_make_file(file, 1 << 20, (uint32_t)i + 1))
			tlt_bail("create %s", file);
		idx[i] = -1;
	}
	if (pipe(p))
		tlt_bail("pipe");
	pid = fork();
	if (pid == 0) {
		close(p[0]);
		opener(p[1], seconds);
	}
	close(p[1]);
	end = time(NULL) + seconds;
	while (time(NULL) < end) {
		for (i = 0; i < NRACE; i++) {
			if (idx[i] < 0) {
				snprintf(file, sizeof(file), "r%d.img", i);
				idx[i] = add_at(file, RACE0 + i);
				if (idx[i] >= 0) {
					adds++;
				} else {
					other++;
					last_other = -idx[i];
				}
			} else {
				int ret = tlt_remove(ctl, idx[i]);

				if (!ret) {
					idx[i] = -1;
				} else if (ret == -EBUSY) {
					busy++;
				} else {
					other++;
					last_other = -ret;
				}
			}
		}
	}
	f = fdopen(p[0], "r");
	if (!f || !fgets(line, sizeof(line), f) ||
	    sscanf(line, "%lu %lu %lu", &opened, &bad, &last_bad) != 3)
		tlt_diag("the opener reported nothing");
	if (f)
		fclose(f);
	waitpid(pid, &status, 0);
	/* Nobody holds the devices now: every remaining one must go. */
	for (i = 0; i < NRACE; i++) {
		if (idx[i] >= 0) {
			int ret = tlt_remove(ctl, idx[i]);

			if (ret) {
				other++;
				last_other = -ret;
			}
		}
	}
	tlt_diag("race: %lu adds, %lu EBUSY removes, %lu opens", adds, busy, opened);
	if (!tlt_result(!other && adds > NRACE, "race: add/remove fail only with EBUSY"))
		tlt_diag("%lu other errors, last %s", other, tlt_errname(last_other));
	if (!tlt_result(!bad && opened > 0, "race: the opener sees only no-such-device errors"))
		tlt_diag("%lu bad errors, last %s; %lu opens", bad, tlt_errname((int)last_bad),
			 opened);
	tlt_result(count_present() == present0, "race: no device left behind");
	for (i = 0; i < NRACE; i++) {
		snprintf(file, sizeof(file), "r%d.img", i);
		unlink(file);
	}
}

int main(void)
{
	long ref0, ref1;
	int scale = tlt_scale();

	if (access(TLOOP_CONTROL_NODE, F_OK))
		tlt_bail(TLOOP_CONTROL_NODE " missing");
	ctl = tlt_ctl_open();
	present0 = count_present();
	if (present0)
		tlt_diag("%d tloop devices exist before the test (left by an earlier test)",
			 present0);
	free0 = ioctl(ctl, TLOOP_CTL_GET_FREE);
	ref0 = module_refcnt();
	tlt_plan(5 + 3 + 3 + 1);
	many_rounds(2 * scale);
	reuse_index();
	race(10 * scale);
	ref1 = module_refcnt();
	if (!tlt_result(ref0 >= 0 && ref1 == ref0, "module reference count is back to %ld", ref0))
		tlt_diag("refcnt %ld before, %ld after", ref0, ref1);
	close(ctl);
	tlt_exit();
}
