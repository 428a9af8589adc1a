// SPDX-License-Identifier: GPL-2.0
/*
 * 16-dev-backing-errors: failures of the backing file reach the writer.
 *
 * 1. dm-flakey: ext4 (without a journal, so that it keeps serving reads after
 *    write errors) on a device-mapper target over a brd ramdisk holds the
 *    backing file; the target is switched to flakey with error_writes.  A
 *    buffered device write then fails at fsync of the device, an O_DIRECT
 *    write with direct I/O to the backing file fails at the write, and the
 *    device keeps serving reads of data that is on disk.
 * 2. A backing file on a 2 MiB tmpfs that runs out of space: buffered and
 *    O_DIRECT writes get ENOSPC or EIO, in bounded time, and reads still work.
 * Both run on the stock loop driver first, as a reference.
 *
 * tloop-timeout: 120
 */
#include "tlt.h"

#define DM_NAME		"tlt-flakey"
#define DM_DEV		"/dev/mapper/" DM_NAME
#define DMSETUP		"dmsetup --noudevsync --noudevrules"
#define RAM_SECTORS	131072
#define MNT		"mnt"
#define BACKING		MNT "/back.img"
#define BACKING_SIZE	(8 << 20)

static int is_io_error(int err)
{
	return err == EIO || err == ENOSPC;
}

static const char *err_or_ok(int ret, int err)
{
	return ret < 0 ? tlt_errname(err) : "success";
}

static void on_alarm(int sig)
{
	(void)sig;
	printf("# a write or fsync did not return within 60 s\n");
	fflush(stdout);
	_exit(1);
}

static void flakey_teardown(void)
{
	umount(MNT);
	tlt_run(DMSETUP " remove " DM_NAME " 2>/dev/null || true");
}

/* ext4 on a linear target over ram0 with a backing file of pattern 1. */
static int flakey_setup(void)
{
	if (tlt_run(DMSETUP " create " DM_NAME " --table '0 %d linear /dev/ram0 0' && "
		    "dmsetup mknodes " DM_NAME, RAM_SECTORS))
		return -1;
	/*
	 * No journal: a failed journal write would shut the filesystem down
	 * and fail every later read, which is ext4's choice, not the driver's.
	 */
	if (tlt_run(TLT_MKE2FS " -q -F -t ext4 -O ^has_journal -b 4096 " DM_DEV) ||
	    mount(DM_DEV, MNT, "ext4", 0, "errors=continue")) {
		tlt_diag("mkfs/mount " DM_DEV ": %s", strerror(errno));
		flakey_teardown();
		return -1;
	}
	if (tlt_make_file(BACKING, BACKING_SIZE, 1)) {
		flakey_teardown();
		return -1;
	}
	return 0;
}

static int flakey_break(void)
{
	return tlt_run(DMSETUP " suspend " DM_NAME " && " DMSETUP " load " DM_NAME
		       " --table '0 %d flakey /dev/ram0 0 0 3600 1 error_writes' && "
		       DMSETUP " resume " DM_NAME, RAM_SECTORS);
}

#define FLAKEY_RESULTS 6

static void flakey_case(enum tlt_kind kind)
{
	const char *k = tlt_kind_name(kind);
	unsigned char *buf = tlt_alloc(1 << 20), *want = tlt_alloc(1 << 20);
	struct tlt_dev d, dd;
	int fd, ret, err;

	if (flakey_setup()) {
		tlt_result(0, "%s: dm-flakey setup", k);
		goto out;
	}
	ret = tlt_attach(&d, kind, BACKING, 0, 0, 0);
	if (!tlt_result(!ret, "%s: attach (buffered) on ext4 over dm", k)) {
		tlt_diag("attach: %s", tlt_errname(-ret));
		flakey_teardown();
		goto out;
	}
	ret = tlt_attach(&dd, kind, BACKING, TLOOP_FLAG_DIRECT_IO, 0, 0);
	if (!tlt_result(!ret, "%s: attach (direct I/O) of the same file", k)) {
		tlt_diag("attach: %s", tlt_errname(-ret));
		dd.index = -1;
	}
	tlt_drop_caches();
	if (flakey_break()) {
		tlt_result(0, "%s: switch the target to flakey error_writes", k);
		goto detach;
	}
	tlt_result(1, "%s: switch the target to flakey error_writes", k);

	alarm(60);
	fd = open(d.path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		tlt_bail("open %s", d.path);
	tlt_pattern(buf, 256 << 10, 1 << 20, 99);
	ret = tlt_pwrite_full(fd, buf, 256 << 10, 1 << 20);
	if (ret) {
		/* A write error this early is acceptable too, but say so. */
		tlt_diag("%s: buffered write: %s", k, tlt_errname(-ret));
		tlt_result(is_io_error(-ret), "%s: buffered write + fsync reports EIO", k);
	} else {
		ret = fsync(fd);
		err = errno;
		if (!tlt_result(ret < 0 && is_io_error(err),
				"%s: buffered write + fsync reports EIO", k))
			tlt_diag("fsync: %s", err_or_ok(ret, err));
	}
	close(fd);

	if (dd.index >= 0) {
		fd = open(dd.path, O_RDWR | O_DIRECT | O_CLOEXEC);
		if (fd < 0)
			tlt_bail("open %s", dd.path);
		tlt_pattern(buf, 64 << 10, 3 << 20, 98);
		ret = (int)pwrite(fd, buf, 64 << 10, 3 << 20);
		err = errno;
		if (!tlt_result(ret < 0 && err == EIO,
				"%s: O_DIRECT write with direct I/O reports EIO", k))
			tlt_diag("pwrite: %s", err_or_ok(ret, err));
		close(fd);
	} else {
		tlt_result(0, "%s: O_DIRECT write with direct I/O (no device)", k);
	}
	alarm(0);

	/* Reads are served from the disk (the target only fails writes). */
	fd = open(d.path, O_RDONLY | O_DIRECT | O_CLOEXEC);
	tlt_pattern(want, 1 << 20, 4 << 20, 1);
	ret = fd < 0 ? -errno : tlt_pread_full(fd, buf, 1 << 20, 4 << 20);
	if (!tlt_result(!ret && tlt_compare("read after errors", want, buf, 1 << 20, 4 << 20),
			"%s: the device still serves reads", k) && ret)
		tlt_diag("read: %s", tlt_errname(-ret));
	if (fd >= 0)
		close(fd);

detach:
	if (dd.index >= 0 && (ret = tlt_detach(&dd)))
		tlt_diag("detach %s: %s", dd.path, tlt_errname(-ret));
	if ((ret = tlt_detach(&d)))
		tlt_diag("detach %s: %s", d.path, tlt_errname(-ret));
	flakey_teardown();
out:
	free(buf);
	free(want);
}

#define ENOSPC_RESULTS 5

static void enospc_case(enum tlt_kind kind)
{
	const char *k = tlt_kind_name(kind);
	size_t len = 4 << 20;
	unsigned char *buf = tlt_alloc(len);
	struct tlt_dev d;
	int fd, ret, err;

	if (mount("tmpfs", "tiny", "tmpfs", 0, "size=2m"))
		tlt_bail("mount tiny tmpfs");
	if (tlt_make_file("tiny/back.img", 16 << 20, 0))
		tlt_bail("create tiny/back.img");
	ret = tlt_attach(&d, kind, "tiny/back.img", 0, 0, 0);
	if (!tlt_result(!ret, "%s: attach a 16 MiB file on a 2 MiB tmpfs", k)) {
		tlt_diag("attach: %s", tlt_errname(-ret));
		goto out;
	}
	alarm(60);
	fd = open(d.path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		tlt_bail("open %s", d.path);
	tlt_pattern(buf, len, 0, 7);
	ret = tlt_pwrite_full(fd, buf, len, 0);
	if (ret) {
		tlt_diag("%s: buffered write: %s", k, tlt_errname(-ret));
		tlt_result(is_io_error(-ret), "%s: buffered 4 MiB write + fsync reports ENOSPC or EIO",
			   k);
	} else {
		ret = fsync(fd);
		err = errno;
		tlt_diag("%s: fsync after a buffered 4 MiB write: %s", k, err_or_ok(ret, err));
		tlt_result(ret < 0 && is_io_error(err),
			   "%s: buffered 4 MiB write + fsync reports ENOSPC or EIO", k);
	}
	close(fd);

	fd = open(d.path, O_RDWR | O_DIRECT | O_CLOEXEC);
	if (fd < 0)
		tlt_bail("open %s O_DIRECT", d.path);
	ret = tlt_pwrite_full(fd, buf, len, 8 << 20);
	tlt_diag("%s: O_DIRECT 4 MiB write: %s", k, ret ? tlt_errname(-ret) : "success");
	tlt_result(ret && is_io_error(-ret), "%s: O_DIRECT 4 MiB write reports ENOSPC or EIO", k);
	ret = tlt_pread_full(fd, buf, 1 << 20, 0);
	if (!tlt_result(!ret, "%s: the device still serves reads", k))
		tlt_diag("read: %s", tlt_errname(-ret));
	close(fd);
	alarm(0);
	ret = tlt_detach(&d);
	if (!tlt_result(!ret, "%s: detach", k))
		tlt_diag("detach: %s", tlt_errname(-ret));
out:
	unlink("tiny/back.img");
	if (umount("tiny"))
		umount2("tiny", MNT_DETACH);
	free(buf);
}

int main(void)
{
	int have_flakey, k;

	signal(SIGALRM, on_alarm);
	if (mkdir(MNT, 0700) || mkdir("tiny", 0700))
		tlt_bail("mkdir");
	have_flakey = !tlt_modprobe("brd rd_nr=1 rd_size=65536") && !tlt_need_ext4() &&
		      !tlt_modprobe("dm_flakey") && !access("/dev/ram0", F_OK);

	tlt_plan(2 * (FLAKEY_RESULTS + ENOSPC_RESULTS));
	for (k = TLT_LOOP; k >= TLT_TLOOP; k--) {
		int before = tlt_results();

		if (have_flakey)
			flakey_case((enum tlt_kind)k);
		while (tlt_results() < before + FLAKEY_RESULTS) {
			if (have_flakey)
				tlt_result(0, "%s: dm-flakey (not reached)", tlt_kind_name(k));
			else
				tlt_skip("dm-flakey", "brd, ext4 or dm-flakey module missing");
		}
		before = tlt_results();
		enospc_case((enum tlt_kind)k);
		while (tlt_results() < before + ENOSPC_RESULTS)
			tlt_result(0, "%s: ENOSPC (not reached)", tlt_kind_name(k));
	}
	tlt_run("rmmod dm_flakey brd 2>/dev/null || true");
	tlt_exit();
}
