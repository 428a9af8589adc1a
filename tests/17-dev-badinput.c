// SPDX-License-Identifier: GPL-2.0
/*
 * 17-dev-badinput: every bad input to the control and device nodes fails
 * with its exact errno and leaves no device behind; boundary inputs that are
 * valid succeed (so the errors are not an artefact of a broken setup).
 * Covers TLOOP_CTL_ADD (fd, file type and size, block size, flags, reserved
 * fields, struct size, argument pointer, index), TLOOP_CTL_REMOVE (open,
 * mapped, open in another process, unknown, twice), unknown ioctl numbers on
 * both nodes, and an unprivileged caller (uid/gid 65534) getting EPERM.
 *
 * tloop-timeout: 180
 */
#include "tlt.h"

#include <grp.h>
#include <stddef.h>
#include <sys/socket.h>

static int ctl;
static unsigned int max_devices;

/* One ADD argument inside a buffer large enough for oversized struct sizes. */
static union {
	struct tloop_add add;
	unsigned char raw[8192];
} arg;

static void arg_reset(int fd, unsigned int flags)
{
	memset(&arg, 0, sizeof(arg));
	arg.add.size = sizeof(arg.add);
	arg.add.flags = flags;
	arg.add.backing_fd = fd;
	arg.add.index = -1;
}

/* Remove a device that an ADD expected to fail created anyway. */
static void cleanup_index(long idx)
{
	int ret = tlt_remove(ctl, (int)idx);

	if (ret)
		tlt_diag("could not remove unexpected device %ld: %s", idx, tlt_errname(-ret));
}

/* ADD with @p as argument must fail with @want. */
static void add_fails(void *p, int want, const char *name)
{
	long ret = ioctl(ctl, TLOOP_CTL_ADD, p);
	int err = errno;

	if (ret >= 0)
		cleanup_index(ret);
	errno = err;
	tlt_expect_errno(ret, want, name);
}

/* ADD with the current argument must succeed; the device is removed again. */
static void add_works(const char *name)
{
	long ret = ioctl(ctl, TLOOP_CTL_ADD, &arg);
	int err = errno;

	if (!tlt_result(ret >= 0 && ret == arg.add.index, "%s", name))
		tlt_diag("%s: got %ld (%s), index %d", name, ret, ret < 0 ? tlt_errname(err) : "-",
			 arg.add.index);
	if (ret >= 0)
		cleanup_index(ret);
}

static void test_add(void)
{
	int good = tlt_open_file("good.img", 1 << 20, O_RDWR);
	int good_ro = tlt_open_file("good.img", 1 << 20, O_RDONLY);
	int good_wo = tlt_open_file("good.img", 1 << 20, O_WRONLY);
	int empty = tlt_open_file("empty.img", 0, O_RDWR);
	int tiny = tlt_open_file("tiny.img", 511, O_RDWR);
	int half = tlt_open_file("half.img", 2048, O_RDWR);
	int closed = dup2(good, 900), dir, null, fifo, sock, idx;
	long pagesz = sysconf(_SC_PAGESIZE);
	void *unmapped;
	unsigned int k;

	close(closed);	/* nothing below opens that many files: it stays closed */
	if (mkdir("dir", 0700) < 0 || mkfifo("fifo", 0600) < 0)
		tlt_bail("mkdir/mkfifo");
	dir = open("dir", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	null = open("/dev/null", O_RDWR | O_CLOEXEC);
	fifo = open("fifo", O_RDWR | O_CLOEXEC);
	sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (dir < 0 || null < 0 || fifo < 0 || sock < 0)
		tlt_bail("open dir/null/fifo/socket");

	arg_reset(good, 0);
	add_works("add: a 1 MiB read-write file works (control)");
	arg_reset(good_ro, TLOOP_FLAG_READ_ONLY);
	add_works("add: a read-only fd with TLOOP_FLAG_READ_ONLY works (control)");
	arg_reset(half, 0);
	add_works("add: a 2048-byte file with block size 512 works (control)");

	arg_reset(closed, 0);
	add_fails(&arg, EBADF, "add: a closed fd -> EBADF");
	arg_reset(-1, 0);
	add_fails(&arg, EBADF, "add: fd -1 -> EBADF");
	arg_reset(good_ro, 0);
	add_fails(&arg, EBADF, "add: a read-only fd without TLOOP_FLAG_READ_ONLY -> EBADF");
	arg_reset(good_wo, 0);
	add_fails(&arg, EBADF, "add: a write-only fd -> EBADF");
	arg_reset(dir, TLOOP_FLAG_READ_ONLY);
	add_fails(&arg, EINVAL, "add: a directory -> EINVAL");
	arg_reset(null, 0);
	add_fails(&arg, EINVAL, "add: a character device (/dev/null) -> EINVAL");
	arg_reset(fifo, 0);
	add_fails(&arg, EINVAL, "add: a fifo -> EINVAL");
	arg_reset(sock, 0);
	add_fails(&arg, EINVAL, "add: a socket -> EINVAL");
	arg_reset(empty, 0);
	add_fails(&arg, EINVAL, "add: a zero-length file -> EINVAL");
	arg_reset(tiny, 0);
	add_fails(&arg, EINVAL, "add: a 511-byte file -> EINVAL");
	arg_reset(half, 0);
	arg.add.block_size = 4096;
	add_fails(&arg, EINVAL, "add: a 2048-byte file with block size 4096 -> EINVAL");
	arg_reset(good, 0);
	arg.add.size_limit = 511;
	add_fails(&arg, EINVAL, "add: size_limit 511 -> EINVAL");
	arg_reset(good, 0);
	arg.add.size_limit = 4095;
	arg.add.block_size = 4096;
	add_fails(&arg, EINVAL, "add: size_limit 4095 with block size 4096 -> EINVAL");

	{
		static const unsigned int bad_bs[] = { 1, 256, 513, 1024, 2048, 8192, 65536, ~0u };

		for (k = 0; k < sizeof(bad_bs) / sizeof(bad_bs[0]); k++) {
			char name[64];

			arg_reset(good, 0);
			arg.add.block_size = bad_bs[k];
			snprintf(name, sizeof(name), "add: block size %u -> EINVAL", bad_bs[k]);
			add_fails(&arg, EINVAL, name);
		}
		arg_reset(good, 0);
		arg.add.block_size = 4096;
		add_works("add: block size 4096 works (control)");
	}

	arg_reset(good, 1U << 5);
	add_fails(&arg, EINVAL, "add: undefined flag bit 5 -> EINVAL");
	arg_reset(good, 0);
	arg.add.persist_fd = 1;
	add_fails(&arg, EINVAL, "add: persist_fd != 0 without TLOOP_FLAG_PERSIST -> EINVAL");
	arg_reset(good, 0);
	arg.add.persist_status = 1;
	add_fails(&arg, EINVAL, "add: persist_status != 0 on input -> EINVAL");
	arg_reset(good, 1U << 31);
	add_fails(&arg, EINVAL, "add: undefined flag bit 31 -> EINVAL");
	arg_reset(good, 0);
	arg.add.reserved0 = 1;
	add_fails(&arg, EINVAL, "add: reserved0 != 0 -> EINVAL");
	for (k = 0; k < 3; k++) {
		char name[64];

		arg_reset(good, 0);
		arg.add.reserved[k] = 1ULL << 63;
		snprintf(name, sizeof(name), "add: reserved[%u] != 0 -> EINVAL", k);
		add_fails(&arg, EINVAL, name);
	}

	arg_reset(good, 0);
	arg.add.size = 0;
	add_fails(&arg, EINVAL, "add: struct size 0 -> EINVAL");
	arg_reset(good, 0);
	arg.add.size = 4;
	add_fails(&arg, EINVAL, "add: struct size 4 -> EINVAL");
	arg_reset(good, 0);
	arg.add.size = sizeof(arg.add) - 8;
	add_fails(&arg, EINVAL, "add: struct size below version 1's (sizeof-8) -> EINVAL");
	arg_reset(good, 0);
	arg.add.size = sizeof(arg.add) + 8;
	add_works("add: struct size sizeof+8 with a zero tail works");
	arg_reset(good, 0);
	arg.add.size = 4096;
	add_works("add: struct size 4096 with a zero tail works");
	arg_reset(good, 0);
	arg.add.size = 4097;
	add_fails(&arg, E2BIG, "add: struct size 4097 -> E2BIG");
	arg_reset(good, 0);
	arg.add.size = sizeof(arg.add) + 8;
	arg.raw[sizeof(arg.add) + 3] = 1;
	add_fails(&arg, E2BIG, "add: struct size sizeof+8 with a non-zero tail -> E2BIG");
	arg_reset(good, 0);
	arg.add.size = 8192;
	add_fails(&arg, E2BIG, "add: struct size 8192 -> E2BIG");

	add_fails(NULL, EFAULT, "add: NULL argument -> EFAULT");
	unmapped = mmap(NULL, (size_t)pagesz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			-1, 0);
	if (unmapped == MAP_FAILED)
		tlt_bail("mmap");
	munmap(unmapped, (size_t)pagesz);
	add_fails(unmapped, EFAULT, "add: unmapped argument -> EFAULT");
	{
		/* The struct starts 8 bytes before the end of a readable page. */
		unsigned char *two = mmap(NULL, 2 * (size_t)pagesz, PROT_READ | PROT_WRITE,
					  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		struct tloop_add *edge;

		if (two == MAP_FAILED)
			tlt_bail("mmap");
		munmap(two + pagesz, (size_t)pagesz);
		edge = (struct tloop_add *)(two + pagesz - 8);
		edge->size = sizeof(*edge);
		edge->flags = 0;
		add_fails(edge, EFAULT, "add: argument crossing into an unmapped page -> EFAULT");
		munmap(two, (size_t)pagesz);
	}

	/* Indices. */
	arg_reset(good, 0);
	idx = (int)ioctl(ctl, TLOOP_CTL_ADD, &arg);
	if (!tlt_result(idx >= 0, "add: a device to collide with")) {
		tlt_diag("add: %s", tlt_errname(errno));
		tlt_result(0, "add: an index in use -> EEXIST (not reached)");
	} else {
		arg_reset(good, 0);
		arg.add.index = idx;
		add_fails(&arg, EEXIST, "add: an index in use -> EEXIST");
		cleanup_index(idx);
	}
	arg_reset(good, 0);
	arg.add.index = (int)max_devices;
	add_fails(&arg, EINVAL, "add: index max_devices -> EINVAL");
	arg_reset(good, 0);
	arg.add.index = -2;
	add_fails(&arg, EINVAL, "add: index -2 -> EINVAL");
	arg_reset(good, 0);
	arg.add.index = (int)max_devices - 1;
	add_works("add: index max_devices - 1 works");

	close(good);
	close(good_ro);
	close(good_wo);
	close(empty);
	close(tiny);
	close(half);
	close(dir);
	close(null);
	close(fifo);
	close(sock);
}

static void remove_fails(struct tloop_remove *rm, int want, const char *name)
{
	tlt_expect_errno(ioctl(ctl, TLOOP_CTL_REMOVE, rm), want, name);
}

static void test_remove(void)
{
	struct tloop_remove rm = { .size = sizeof(rm) };
	char path[32];
	int idx, fd, p[2], ret;
	pid_t pid;
	void *map;
	char c;

	idx = tlt_add(ctl, "rm.img", 1 << 20, 0, 0);
	if (idx < 0)
		tlt_bail("add rm.img: %s", tlt_errname(-idx));
	tlt_dev_path(path, sizeof(path), idx);
	rm.index = (__u32)idx;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		tlt_bail("open %s", path);
	remove_fails(&rm, EBUSY, "remove: a device open in this process -> EBUSY");
	{
		char buf[512];

		tlt_result(pread(fd, buf, sizeof(buf), 0) == (ssize_t)sizeof(buf),
			   "remove: the device still serves reads after EBUSY");
	}
	map = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED)
		tlt_bail("mmap %s", path);
	close(fd);
	remove_fails(&rm, EBUSY, "remove: a device mapped (fd closed) -> EBUSY");
	munmap(map, 4096);

	if (pipe(p) < 0)
		tlt_bail("pipe");
	pid = fork();
	if (pid == 0) {
		int cfd = open(path, O_RDONLY);

		c = cfd < 0 ? 'E' : 'o';
		if (write(p[1], &c, 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	close(p[1]);
	if (read(p[0], &c, 1) != 1 || c != 'o')
		tlt_bail("child open %s", path);
	remove_fails(&rm, EBUSY, "remove: a device open in another process -> EBUSY");
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	close(p[0]);

	rm.flags = 1;
	remove_fails(&rm, EINVAL, "remove: flags != 0 -> EINVAL");
	rm.flags = 0;
	rm.reserved = 1;
	remove_fails(&rm, EINVAL, "remove: reserved != 0 -> EINVAL");
	rm.reserved = 0;
	rm.size = 0;
	remove_fails(&rm, EINVAL, "remove: struct size 0 -> EINVAL");
	rm.size = sizeof(rm);
	remove_fails(NULL, EFAULT, "remove: NULL argument -> EFAULT");

	ret = ioctl(ctl, TLOOP_CTL_REMOVE, &rm);
	if (!tlt_result(ret == 0, "remove: works once the device is closed and unmapped"))
		tlt_diag("remove: %s", tlt_errname(errno));
	remove_fails(&rm, ENXIO, "remove: the same index twice -> ENXIO");
	rm.index = max_devices - 1;
	remove_fails(&rm, ENXIO, "remove: an index with no device -> ENXIO");
	rm.index = max_devices;
	ret = ioctl(ctl, TLOOP_CTL_REMOVE, &rm);
	if (!tlt_result(ret == -1 && (errno == ENXIO || errno == EINVAL),
			"remove: index max_devices -> ENXIO or EINVAL"))
		tlt_diag("got %d/%s", ret, ret < 0 ? tlt_errname(errno) : "no error");
	rm.index = ~0u;
	ret = ioctl(ctl, TLOOP_CTL_REMOVE, &rm);
	if (!tlt_result(ret == -1 && (errno == ENXIO || errno == EINVAL),
			"remove: index 0xffffffff -> ENXIO or EINVAL"))
		tlt_diag("got %d/%s", ret, ret < 0 ? tlt_errname(errno) : "no error");
}

static void test_enotty(void)
{
	char path[32];
	int idx, fd;

	tlt_expect_errno(ioctl(ctl, _IO(TLOOP_IOC_MAGIC, 0x7f)), ENOTTY,
			 "control: unknown command 0xBC/0x7f -> ENOTTY");
	tlt_expect_errno(ioctl(ctl, _IOWR(TLOOP_IOC_MAGIC, 0x04, struct tloop_add), &arg),
			 ENOTTY, "control: unknown command 0xBC/0x04 -> ENOTTY");
	tlt_expect_errno(ioctl(ctl, TLOOP_GET_INFO, &arg), ENOTTY,
			 "control: a device command (GET_INFO) -> ENOTTY");
	tlt_expect_errno(ioctl(ctl, LOOP_CTL_ADD, 0), ENOTTY,
			 "control: the loop driver's LOOP_CTL_ADD -> ENOTTY");
	tlt_expect_errno(ioctl(ctl, _IO('x', 0x01)), ENOTTY,
			 "control: another magic -> ENOTTY");

	idx = tlt_add(ctl, "tty.img", 1 << 20, 0, 0);
	if (idx < 0)
		tlt_bail("add tty.img: %s", tlt_errname(-idx));
	fd = open(tlt_dev_path(path, sizeof(path), idx), O_RDWR | O_CLOEXEC);
	if (fd < 0)
		tlt_bail("open %s", path);
	tlt_expect_errno(ioctl(fd, _IO(TLOOP_IOC_MAGIC, 0x7f)), ENOTTY,
			 "device: unknown command 0xBC/0x7f -> ENOTTY");
	tlt_expect_errno(ioctl(fd, _IOWR(TLOOP_IOC_MAGIC, 0x1f, struct tloop_info), &arg),
			 ENOTTY, "device: unknown command 0xBC/0x1f -> ENOTTY");
	arg_reset(-1, 0);
	tlt_expect_errno(ioctl(fd, TLOOP_CTL_ADD, &arg), ENOTTY,
			 "device: a control command (CTL_ADD) -> ENOTTY");
	tlt_expect_errno(ioctl(fd, LOOP_GET_STATUS64, &arg), ENOTTY,
			 "device: the loop driver's LOOP_GET_STATUS64 -> ENOTTY");
	close(fd);
	if (tlt_remove(ctl, idx))
		tlt_bail("remove %s", path);
}

/* Child of test_eperm: runs unprivileged, reports each errno as one byte. */
static void eperm_child(int wfd, int pre_ctl, int backing, int victim)
{
	struct tloop_add add = { .size = sizeof(add), .backing_fd = backing, .index = -1 };
	struct tloop_remove rm = { .size = sizeof(rm), .index = (__u32)victim };
	unsigned char res[5];
	int fd;

	if (setgroups(0, NULL) < 0 || setresgid(65534, 65534, 65534) < 0 ||
	    setresuid(65534, 65534, 65534) < 0)
		_exit(2);
	res[0] = ioctl(pre_ctl, TLOOP_CTL_ADD, &add) < 0 ? (unsigned char)errno : 0;
	res[1] = ioctl(pre_ctl, TLOOP_CTL_REMOVE, &rm) < 0 ? (unsigned char)errno : 0;
	fd = open(TLOOP_CONTROL_NODE, O_RDWR | O_CLOEXEC);
	res[2] = fd < 0 ? (unsigned char)errno : 0;
	res[3] = res[4] = 0xff;
	if (fd >= 0) {
		res[3] = ioctl(fd, TLOOP_CTL_ADD, &add) < 0 ? (unsigned char)errno : 0;
		res[4] = ioctl(fd, TLOOP_CTL_REMOVE, &rm) < 0 ? (unsigned char)errno : 0;
		close(fd);
	}
	if (write(wfd, res, sizeof(res)) != (ssize_t)sizeof(res))
		_exit(3);
	_exit(0);
}

static void test_eperm(void)
{
	unsigned char res[5] = { 0 };
	int victim, backing, p[2], status;
	char path[32];
	pid_t pid;

	victim = tlt_add(ctl, "victim.img", 1 << 20, 0, 0);
	if (victim < 0)
		tlt_bail("add victim.img: %s", tlt_errname(-victim));
	backing = tlt_open_file("priv.img", 1 << 20, O_RDWR);
	if (pipe(p) < 0)
		tlt_bail("pipe");
	pid = fork();
	if (pid == 0)
		eperm_child(p[1], ctl, backing, victim);
	close(p[1]);
	if (read(p[0], res, sizeof(res)) != (ssize_t)sizeof(res))
		tlt_diag("unprivileged child reported nothing");
	waitpid(pid, &status, 0);
	close(p[0]);
	close(backing);
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		tlt_diag("unprivileged child exit status %d", status);

	tlt_result(res[0] == EPERM, "unprivileged: add through a control fd opened as root -> EPERM");
	if (res[0] != EPERM)
		tlt_diag("got %s", res[0] ? tlt_errname(res[0]) : "success");
	tlt_result(res[1] == EPERM,
		   "unprivileged: remove through a control fd opened as root -> EPERM");
	if (res[1] != EPERM)
		tlt_diag("got %s", res[1] ? tlt_errname(res[1]) : "success");
	if (res[2]) {
		tlt_diag("unprivileged open of %s: %s", TLOOP_CONTROL_NODE, tlt_errname(res[2]));
		tlt_result(res[2] == EACCES, "unprivileged: re-opened control node refuses (EACCES at open)");
		tlt_result(res[2] == EACCES, "unprivileged: re-opened control node refuses remove");
	} else {
		tlt_result(res[3] == EPERM, "unprivileged: add through its own control fd -> EPERM");
		if (res[3] != EPERM)
			tlt_diag("got %s", res[3] ? tlt_errname(res[3]) : "success");
		tlt_result(res[4] == EPERM, "unprivileged: remove through its own control fd -> EPERM");
		if (res[4] != EPERM)
			tlt_diag("got %s", res[4] ? tlt_errname(res[4]) : "success");
	}
	tlt_result(access(tlt_dev_path(path, sizeof(path), victim), F_OK) == 0,
		   "unprivileged: the device survives the attempts");
	if (tlt_remove(ctl, victim) && access(path, F_OK) == 0)
		tlt_bail("remove %s", path);
	/* Whatever the child might have added is removed by the leak check below. */
}

/* Indices of tloop devices present in /sys/block. */
static int count_devices(void)
{
	char path[64];
	unsigned int i;
	int n = 0;

	for (i = 0; i < max_devices && i < 4096; i++) {
		snprintf(path, sizeof(path), "/sys/block/tloop%u", i);
		if (access(path, F_OK) == 0)
			n++;
	}
	return n;
}

int main(void)
{
	struct tloop_version v = { .size = sizeof(v) };
	int before, after, ret;

	if (access(TLOOP_CONTROL_NODE, F_OK))
		tlt_bail(TLOOP_CONTROL_NODE " missing");
	ctl = tlt_ctl_open();
	ret = ioctl(ctl, TLOOP_CTL_VERSION, &v);
	if (ret < 0 || !v.max_devices)
		tlt_bail("TLOOP_CTL_VERSION (max_devices %u)", v.max_devices);
	max_devices = v.max_devices;
	tlt_loop_control();	/* for LOOP_* command numbers only; errors are fine */
	before = count_devices();

	tlt_plan(80);
	tlt_result(v.abi_version == TLOOP_ABI_VERSION && !v.reserved[0] && !v.reserved[4],
		   "version: abi %u, max_devices %u, features 0x%llx", v.abi_version,
		   v.max_devices, (unsigned long long)v.features);
	v.reserved[2] = 1;
	tlt_expect_errno(ioctl(ctl, TLOOP_CTL_VERSION, &v), EINVAL,
			 "version: reserved != 0 -> EINVAL");
	tlt_expect_errno(ioctl(ctl, TLOOP_CTL_VERSION, NULL), EFAULT,
			 "version: NULL argument -> EFAULT");

	test_add();
	test_remove();
	test_enotty();
	test_eperm();

	after = count_devices();
	if (!tlt_result(after == before, "no device left behind (%d before, %d after)", before,
			after)) {
		unsigned int i;

		for (i = 0; i < max_devices && i < 4096; i++)
			tlt_remove(ctl, (int)i);
	}
	close(ctl);
	tlt_exit();
}
