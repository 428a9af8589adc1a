// SPDX-License-Identifier: GPL-2.0
/*
 * 36-track-mappings: stores through every kind of MAP_SHARED mapping are
 * reported exactly: several processes with their own mappings; a child
 * storing through a mapping inherited at fork; munmap then a new mmap;
 * mprotect read-only then read-write; a mapping created before tracking was
 * turned on; and the page the 2007 patch lost: dirtied and mapped writable
 * before a clear, stored again after it (with GET+CLEAR, with CLEAR_WRITTEN
 * and with a NOSYNC GET+CLEAR that cleared before the write-back).
 */
#include "tlt.h"

#define DEV_SIZE (16UL << 20)
#define NPROC 4

static struct tlt_tdev *d;
static struct tlt_set want;

static void check(const char *name)
{
	tlt_check_get(d->fd, TLOOP_GET_CLEAR, 16, &want, name);
	tlt_set_reset(&want);
}

/* Child of "several processes": own open + mmap, stores to pages i, i+NPROC, ... */
static int store_child(int i, uint64_t nr_pages)
{
	int fd;
	uint8_t *m = tlt_map_node(d->node, DEV_SIZE, &fd);

	if (!m)
		return 2;
	for (uint64_t p = (uint64_t)i; p < nr_pages; p += 7 * NPROC)
		tlt_touch(m + p * TLT_PAGE + 8 * (uint64_t)i);
	munmap(m, DEV_SIZE);
	close(fd);
	return 0;
}

int main(void)
{
	uint8_t *map, *m2;
	pid_t pid;
	bool ok;

	tlt_require_tracking();
	tlt_plan(12);
	d = tlt_tdev_open("backing.img", DEV_SIZE, 0);
	tlt_set_init(&want, d->nr_pages);

	/* A mapping created (and stored through, then written back) before tracking. */
	map = tlt_map(d->fd, DEV_SIZE, 0);
	for (uint64_t p = 0; p < 64; p++)
		tlt_touch(map + p * TLT_PAGE);
	if (msync(map, DEV_SIZE, MS_SYNC))
		tlt_bail("msync");
	if (tlt_enable(d->fd, 0))
		tlt_bail("TRACK_ENABLE");
	for (uint64_t p = 10; p < 20; p++)
		tlt_touch(map + p * TLT_PAGE + 100);
	tlt_touch(map + 1000 * TLT_PAGE);
	tlt_set_bytes(&want, 10 * TLT_PAGE, 10 * TLT_PAGE);
	want.bit[1000] = 1;
	check("mapping made before tracking was on: stores after enable are reported");

	/* Several processes with their own mappings. */
	{
		pid_t pids[NPROC];

		ok = true;
		for (int i = 0; i < NPROC; i++) {
			pids[i] = fork();
			if (pids[i] == 0)
				_exit(store_child(i, d->nr_pages));
			for (uint64_t p = (uint64_t)i; p < d->nr_pages; p += 7 * NPROC)
				want.bit[p] = 1;
		}
		for (int i = 0; i < NPROC; i++)
			ok = pids[i] > 0 && tlt_wait_ok(pids[i]) && ok;
		tlt_result(ok, "%d processes stored through their own mappings", NPROC);
		check("several processes: union of their stores");
	}

	/* fork: the child stores through the inherited mapping, the parent too. */
	pid = fork();
	if (pid == 0) {
		for (uint64_t p = 2000; p < 2010; p++)
			tlt_touch(map + p * TLT_PAGE + 4095);
		_exit(0);
	}
	ok = pid > 0 && tlt_wait_ok(pid);
	tlt_touch(map + 3000 * TLT_PAGE);
	tlt_set_bytes(&want, 2000 * TLT_PAGE, 10 * TLT_PAGE);
	want.bit[3000] = 1;
	tlt_result(ok, "forked child stored");
	check("fork: the child's stores through the inherited mapping are reported");

	/* munmap without msync, then a new mapping at another offset. */
	tlt_touch(map + 5 * TLT_PAGE);
	tlt_touch(map + 6 * TLT_PAGE);
	tlt_unmap(map, DEV_SIZE);
	want.bit[5] = want.bit[6] = 1;
	m2 = tlt_map(d->fd, 1UL << 20, 2UL << 20);
	tlt_touch(m2 + 3 * TLT_PAGE);
	want.bit[512 + 3] = 1;
	check("munmap (dirty pages) then a new mmap: both reported");
	tlt_unmap(m2, 1UL << 20);

	/* mprotect read-only then read-write. */
	map = tlt_map(d->fd, DEV_SIZE, 0);
	tlt_touch(map + 77 * TLT_PAGE);
	if (mprotect(map, DEV_SIZE, PROT_READ))
		tlt_bail("mprotect RO");
	want.bit[77] = 1;
	check("stores before mprotect(PROT_READ) are reported");
	if (mprotect(map, DEV_SIZE, PROT_READ | PROT_WRITE))
		tlt_bail("mprotect RW");
	tlt_touch(map + 77 * TLT_PAGE);
	tlt_touch(map + 78 * TLT_PAGE);
	want.bit[77] = want.bit[78] = 1;
	check("after mprotect back to read-write, stores are reported again");

	/*
	 * The 2007 loss: a page dirty and mapped writable when the set is cleared,
	 * stored again after the clear, without any new fault in between if the
	 * clear does not write the page back.
	 */
	tlt_touch(map + 90 * TLT_PAGE);
	want.bit[90] = 1;
	check("dirty page reported by GET+CLEAR");
	tlt_touch(map + 90 * TLT_PAGE + 1);
	want.bit[90] = 1;
	check("the same page stored again after GET+CLEAR is reported");

	tlt_touch(map + 91 * TLT_PAGE);
	tlt_clear_all(d->fd);	/* no write-back: the page is still dirty and writable */
	tlt_touch(map + 91 * TLT_PAGE + 1);
	want.bit[91] = 1;
	check("dirty page stored again after CLEAR_WRITTEN is reported");

	tlt_touch(map + 92 * TLT_PAGE);
	{
		struct tlt_pages got = { 0 };

		/* NOSYNC GET+CLEAR: the store is not written back yet, so it stays pending. */
		tlt_get_all_or_bail(d->fd, TLOOP_GET_CLEAR | TLOOP_GET_NOSYNC, 16, d->nr_pages, &got);
		tlt_pages_free(&got);
	}
	tlt_touch(map + 92 * TLT_PAGE + 1);
	want.bit[92] = 1;
	check("dirty page stored again after a NOSYNC GET+CLEAR is reported");
	tlt_unmap(map, DEV_SIZE);

	if (tlt_tdev_close(d))
		tlt_diag("removing the device failed");
	tlt_set_free(&want);
	tlt_exit();
}
