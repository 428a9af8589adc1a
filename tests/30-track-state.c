// SPDX-License-Identifier: GPL-2.0
/*
 * 30-track-state: turning tracking on and off.  Off records nothing, on starts
 * empty, on/off/on starts empty again, enabling twice is -EBUSY, GET/CLEAR
 * while off are -ENODATA, the generation changes on every clear and switch,
 * status fields are sane, TLOOP_FLAG_TRACK at attach turns tracking on, and
 * only a writer or CAP_SYS_ADMIN may switch tracking (-EPERM).
 */
#include "tlt.h"

#include <linux/capability.h>
#include <sys/syscall.h>

#define DEV_SIZE (16UL << 20)

/* Drop CAP_SYS_ADMIN from this process (effective and permitted). */
static int drop_sys_admin(void)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2];

	if (syscall(SYS_capget, &hdr, data) < 0)
		return -1;
	data[CAP_SYS_ADMIN / 32].effective &= ~(1U << (CAP_SYS_ADMIN % 32));
	data[CAP_SYS_ADMIN / 32].permitted &= ~(1U << (CAP_SYS_ADMIN % 32));
	data[CAP_SYS_ADMIN / 32].inheritable &= ~(1U << (CAP_SYS_ADMIN % 32));
	return syscall(SYS_capset, &hdr, data) < 0 ? -1 : 0;
}

/*
 * In a child without CAP_SYS_ADMIN: the read-only fd may not switch
 * tracking, the read-write fd may.  Exit code: bit per failed check.
 */
static int unprivileged_child(const char *node)
{
	int ro = open(node, O_RDONLY), rw = open(node, O_RDWR), bad = 0;
	struct tloop_track_status st;
	struct tloop_track_enable en = { .size = sizeof(en) };

	if (ro < 0 || rw < 0 || drop_sys_admin() < 0)
		return 100;
	errno = 0;
	if (ioctl(ro, TLOOP_TRACK_ENABLE, &en) != -1 || errno != EPERM) {
		printf("# enable on O_RDONLY fd without CAP_SYS_ADMIN: errno %s\n",
		       tlt_errname(errno));
		bad |= 1;
	}
	if (tlt_status(ro, &st) != 0) {
		printf("# status on O_RDONLY fd failed\n");
		bad |= 2;
	}
	if (tlt_enable(rw, 0) != 0) {
		printf("# enable on O_RDWR fd without CAP_SYS_ADMIN failed\n");
		bad |= 4;
	}
	errno = 0;
	if (ioctl(ro, TLOOP_TRACK_DISABLE) != -1 || errno != EPERM) {
		printf("# disable on O_RDONLY fd without CAP_SYS_ADMIN: errno %s\n",
		       tlt_errname(errno));
		bad |= 8;
	}
	if (tlt_disable(rw) != 0) {
		printf("# disable on O_RDWR fd without CAP_SYS_ADMIN failed\n");
		bad |= 16;
	}
	fflush(stdout);
	return bad;
}

int main(void)
{
	struct tloop_track_status st, st2;
	struct tlt_set want;
	struct tlt_tdev *d, *d2;
	uint64_t gen, gen2;
	char *buf;
	uint8_t *map;
	int ret;

	tlt_require_tracking();
	tlt_plan(23);
	d = tlt_tdev_open("backing.img", DEV_SIZE, 0);
	tlt_set_init(&want, d->nr_pages);
	buf = malloc(TLT_PAGE);
	memset(buf, 0x5a, TLT_PAGE);

	ret = tlt_status(d->fd, &st);
	tlt_result(ret == 0 && !(st.flags & TLOOP_TRACK_ON) && st.written == 0,
		   "status after attach: off, nothing written");
	tlt_diag("status: flags %#x written %" PRIu64 " nr_pages %" PRIu64 " page_size %u",
		 st.flags, (uint64_t)st.written, (uint64_t)st.nr_pages, st.page_size);
	tlt_result(ret == 0 && st.page_size == TLT_PAGE && st.nr_pages == d->nr_pages,
		   "status reports page_size %zu and the device's page count", TLT_PAGE);

	tlt_expect_errno(tlt_get_one(d->fd, 0, 0, 0, (uint64_t *)buf, 8,
				     &(struct tloop_written){ 0 }) ? -1 : 0,
			 ENODATA, "GET_WRITTEN while off is ENODATA");
	errno = -tlt_clear(d->fd, TLOOP_CLEAR_ALL, 0, 0, NULL);
	tlt_expect_errno(errno ? -1 : 0, ENODATA, "CLEAR_WRITTEN while off is ENODATA");

	/* Writes while off, through write() and mmap, are not recorded. */
	tlt_pwrite_all(d->fd, buf, TLT_PAGE, 3 * TLT_PAGE);
	map = tlt_map(d->fd, DEV_SIZE, 0);
	tlt_touch(map + 7 * TLT_PAGE);
	fsync(d->fd);

	gen = st.generation;
	ret = tlt_enable(d->fd, 0);
	tlt_result(ret == 0, "TRACK_ENABLE");
	ret = tlt_status(d->fd, &st);
	tlt_result(ret == 0 && (st.flags & TLOOP_TRACK_ON) && st.written == 0 &&
		   !(st.flags & TLOOP_TRACK_OVERFLOW),
		   "status after enable: on, empty, no overflow");
	tlt_result(ret == 0 && st.generation != gen, "enable changes the generation");
	errno = -tlt_enable(d->fd, 0);
	tlt_expect_errno(errno ? -1 : 0, EBUSY, "enable while on is EBUSY");
	tlt_check_get(d->fd, 0, 64, &want, "writes made while off are not reported");

	/* Something written while on. */
	tlt_touch(map + 5 * TLT_PAGE);
	tlt_pwrite_all(d->fd, buf, TLT_PAGE, 9 * TLT_PAGE);
	want.bit[5] = want.bit[9] = 1;
	tlt_check_get(d->fd, 0, 64, &want, "writes while on are reported");
	ret = tlt_status(d->fd, &st2);
	tlt_result(ret == 0 && st2.written == 2, "status counts 2 written pages (got %" PRIu64 ")",
		   (uint64_t)st2.written);

	gen = st2.generation;
	ret = tlt_clear(d->fd, 0, 5, 6, &gen2);
	ret |= tlt_status(d->fd, &st2);
	tlt_result(ret == 0 && gen2 != gen && st2.generation == gen2 && st2.written == 1,
		   "range clear changes the generation and leaves 1 page");
	gen = gen2;
	ret = tlt_clear(d->fd, TLOOP_CLEAR_ALL, 0, 0, &gen2);
	tlt_result(ret == 0 && gen2 != gen, "clear all changes the generation");

	/* on/off/on starts empty. */
	tlt_touch(map + 11 * TLT_PAGE);
	tlt_pwrite_all(d->fd, buf, TLT_PAGE, 12 * TLT_PAGE);
	fsync(d->fd);
	gen = gen2;
	ret = tlt_disable(d->fd);
	ret |= tlt_status(d->fd, &st);
	tlt_result(ret == 0 && !(st.flags & TLOOP_TRACK_ON) && st.generation != gen,
		   "disable: off, generation changed");
	ret = tlt_disable(d->fd);
	tlt_result(ret == 0, "disable while off returns 0 (%s)", ret ? tlt_errname(-ret) : "0");
	tlt_touch(map + 13 * TLT_PAGE);
	tlt_pwrite_all(d->fd, buf, TLT_PAGE, 14 * TLT_PAGE);
	fsync(d->fd);
	gen = st.generation;
	ret = tlt_enable(d->fd, 0);
	ret |= tlt_status(d->fd, &st);
	tlt_result(ret == 0 && (st.flags & TLOOP_TRACK_ON) && st.written == 0 &&
		   st.generation != gen, "on/off/on: on again, empty, generation changed");
	tlt_set_reset(&want);
	tlt_check_get(d->fd, 0, 64, &want, "on/off/on: nothing from before or while off");

	/* Only the generation moves forward. */
	{
		uint64_t g[4];
		bool fwd = true;

		for (int i = 0; i < 4; i++) {
			if (tlt_clear(d->fd, TLOOP_CLEAR_ALL, 0, 0, &g[i]))
				fwd = false;
			if (i && g[i] == g[i - 1])
				fwd = false;
		}
		tlt_result(fwd, "every clear gives a new generation");
	}
	tlt_unmap(map, DEV_SIZE);

	/* Permissions. */
	tlt_disable(d->fd);
	{
		pid_t pid = fork();

		if (pid == 0)
			_exit(unprivileged_child(d->node));
		tlt_result(pid > 0 && tlt_wait_ok(pid),
			   "without CAP_SYS_ADMIN: O_RDONLY may not switch (EPERM), O_RDWR may");
	}

	/* TLOOP_FLAG_TRACK at attach time. */
	d2 = tlt_tdev_open("backing2.img", 1UL << 20, TLOOP_FLAG_TRACK);
	ret = tlt_status(d2->fd, &st);
	tlt_result(ret == 0 && (st.flags & TLOOP_TRACK_ON) && st.written == 0,
		   "attach with TLOOP_FLAG_TRACK: on and empty");
	{
		struct tloop_info info = { .size = sizeof(info) };

		ret = ioctl(d2->fd, TLOOP_GET_INFO, &info);
		tlt_result(ret == 0 && (info.flags & TLOOP_FLAG_TRACK),
			   "GET_INFO reports TLOOP_FLAG_TRACK while on");
	}
	{
		struct tlt_set w2;

		tlt_set_init(&w2, d2->nr_pages);
		tlt_pwrite_all(d2->fd, buf, 100, 255 * TLT_PAGE + 10);
		w2.bit[255] = 1;
		tlt_check_get(d2->fd, TLOOP_GET_CLEAR, 4, &w2,
			      "attached with TLOOP_FLAG_TRACK: the last page is reported");
		tlt_set_free(&w2);
	}
	ret = tlt_tdev_close(d2);
	tlt_result(ret == 0, "remove the tracked device");
	if (tlt_tdev_close(d))
		tlt_diag("removing the first device failed");
	tlt_set_free(&want);
	free(buf);
	tlt_exit();
}
