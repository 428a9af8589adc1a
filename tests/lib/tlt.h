/* SPDX-License-Identifier: GPL-2.0 */
/*
 * tlt.h - the helpers every in-VM C test of tloop links with (the .c files of
 * tests/lib, built once into libtlt.a): KTAP output, tloop and loop devices,
 * tracking ioctls and a page-set oracle, running the tloop tool, JSON.
 * Functions return 0 or -errno unless said otherwise; the ones that say "or
 * bail" end the test with a setup failure instead.
 */
#ifndef TLT_H
#define TLT_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <pthread.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <linux/fs.h>
#include <linux/loop.h>

/* The only place the tests include tloop's uapi from. */
#include <linux/tloop.h>

/* ---- KTAP output and checks (ktap.c) ------------------------------------ */

/* tlt_plan() - print the KTAP header and the plan. */
void tlt_plan(int n);
/* tlt_diag() - print one diagnostic line ("# ..."). */
__attribute__((format(printf, 1, 2))) void tlt_diag(const char *fmt, ...);
/* tlt_result() - report one result; returns ok. */
__attribute__((format(printf, 2, 3))) int tlt_result(int ok, const char *fmt, ...);
/* tlt_results() - the number of results reported so far. */
int tlt_results(void);
/* tlt_skip() - report one skipped result with its reason. */
void tlt_skip(const char *name, const char *reason);
/* tlt_skip_all() - the whole test cannot run: KTAP skip, exit 4. */
__attribute__((noreturn)) void tlt_skip_all(const char *reason);
/* tlt_bail() - a setup step failed: report it with errno and exit 1. */
__attribute__((noreturn, format(printf, 1, 2))) void tlt_bail(const char *fmt, ...);
/* tlt_exit() - finish: check the plan was met, exit 0 or 1. */
__attribute__((noreturn)) void tlt_exit(void);
/* tlt_errname() - "EINVAL" for EINVAL. */
const char *tlt_errname(int err);
/*
 * tlt_expect_errno() - one result: the call returned -1 with errno @want.
 * Use as: tlt_expect_errno(ioctl(...), EINVAL, "name").
 */
int tlt_expect_errno(long ret, int want, const char *name);
/*
 * tlt_run() - run @fmt (a shell command line) with /bin/sh; its output is
 * printed as diagnostics when it fails.  Returns the exit status (0-255), or
 * -1 if it could not run or was killed.
 */
__attribute__((format(printf, 1, 2))) int tlt_run(const char *fmt, ...);
/* tlt_modprobe() - load a Debian module quietly; returns 0 if it is there. */
int tlt_modprobe(const char *name);
/* tlt_scale() - TLOOP_SCALE from the environment (default 1, at least 1). */
int tlt_scale(void);
/* tlt_now() - monotonic seconds. */
double tlt_now(void);

/* ---- devices, patterns, files (dev.c) ----------------------------------- */

/* The page size (sysconf; tlt_tdev_open() checks TLOOP_TRACK_STATUS agrees). */
#define TLT_PAGE tlt_page_size()
size_t tlt_page_size(void);

/* The real e2fsprogs (busybox's mke2fs applet only makes ext2). */
#define TLT_MKE2FS	"/sbin/mke2fs"
#define TLT_E2FSCK	"/sbin/e2fsck"

/* tlt_ctl_open() - open the control node, or bail. */
int tlt_ctl_open(void);
/*
 * tlt_add() - attach @path (created/extended to @size bytes if @size != 0)
 * as a tloop device with @flags and @block_size; returns the index or -errno.
 */
int tlt_add(int ctl, const char *path, off_t size, unsigned int flags, unsigned int block_size);
/* tlt_remove() - detach device @index. */
int tlt_remove(int ctl, int index);
/* tlt_dev_path() - "/dev/tloopN" into @buf; returns @buf. */
const char *tlt_dev_path(char *buf, size_t len, int index);

/* enum tlt_kind - which driver a struct tlt_dev lives on. */
enum tlt_kind { TLT_TLOOP, TLT_LOOP };

/*
 * struct tlt_dev - an attached device: driver, index and node path.  The
 * device tests run every data check on tloop and on the stock loop driver.
 */
struct tlt_dev {
	enum tlt_kind kind;
	int index;
	char path[32];
};

/* tlt_kind_name() - "tloop" or "loop". */
const char *tlt_kind_name(enum tlt_kind kind);
/* tlt_loop_control() - open /dev/loop-control, loading the loop module; fd or -errno. */
int tlt_loop_control(void);
/*
 * tlt_attach_fd() - attach the open file @backing_fd to a new device of
 * driver @kind with TLOOP_FLAG_* @flags (READ_ONLY, DIRECT_IO, PARTSCAN map
 * to the loop driver's LO_FLAGS_*), @block_size (0: 512) and @size_limit
 * (0: none).  Fills @d.
 */
int tlt_attach_fd(struct tlt_dev *d, enum tlt_kind kind, int backing_fd, unsigned int flags,
		  unsigned int block_size, uint64_t size_limit);
/* tlt_attach() - open @path (read-only if @flags has READ_ONLY) and tlt_attach_fd() it. */
int tlt_attach(struct tlt_dev *d, enum tlt_kind kind, const char *path, unsigned int flags,
	       unsigned int block_size, uint64_t size_limit);
/* tlt_detach() - remove a device made by tlt_attach(). */
int tlt_detach(struct tlt_dev *d);
/* tlt_dev_size() - size in bytes of the block device open at @fd, or -1. */
int64_t tlt_dev_size(int fd);

/*
 * tlt_pattern() - fill @buf with the test pattern of generation @seed for
 * the device bytes [@off, @off + @len): every byte depends on its absolute
 * offset, so a misplaced block never matches.
 */
void tlt_pattern(void *buf, size_t len, uint64_t off, uint32_t seed);
/* tlt_page_pattern() - one page of bytes for page @page, version @ver: recognisable, distinct. */
void tlt_page_pattern(uint8_t *buf, uint64_t page, uint32_t ver);
/*
 * tlt_compare() - compare @got with @want (@len bytes at device offset
 * @off); prints the first difference as a diagnostic.  Returns 1 if equal.
 */
int tlt_compare(const char *what, const void *want, const void *got, size_t len, uint64_t off);
/* tlt_pread_full() - pread exactly @len bytes (-EIO if short). */
int tlt_pread_full(int fd, void *buf, size_t len, off_t off);
/* tlt_pwrite_full() - pwrite exactly @len bytes (-ENOSPC if short). */
int tlt_pwrite_full(int fd, const void *buf, size_t len, off_t off);
/* tlt_pread_all() - tlt_pread_full() or bail. */
void tlt_pread_all(int fd, void *buf, size_t len, off_t off);
/* tlt_pwrite_all() - tlt_pwrite_full() or bail. */
void tlt_pwrite_all(int fd, const void *buf, size_t len, off_t off);
/* tlt_alloc() - page-aligned zeroed buffer usable for O_DIRECT, or bail. */
void *tlt_alloc(size_t len);
/* tlt_make_file() - create @path with @size bytes of pattern @seed (0: a sparse file). */
int tlt_make_file(const char *path, off_t size, uint32_t seed);
/*
 * tlt_open_file() - create @path (or keep it) with @size bytes, then open it with @flags
 * (O_CLOEXEC added); returns the fd, or bails.
 */
int tlt_open_file(const char *path, off_t size, int flags);
/* tlt_drop_caches() - write back and drop clean page cache, dentries and inodes. */
void tlt_drop_caches(void);
/* tlt_sysfs_read() - read a sysfs attribute into @buf without its newline. */
int tlt_sysfs_read(const char *path, char *buf, size_t len);
/* tlt_slurp() - read a whole (small) file into @buf, NUL-terminated ("" if unreadable). */
void tlt_slurp(const char *path, char *buf, size_t len);
/* tlt_file_size() - st_size of @path, or -1. */
int64_t tlt_file_size(const char *path);
/*
 * tlt_cmp_files() - compare two files byte for byte over @size bytes.
 * Returns -1 if equal, else the first differing offset (and prints it).
 */
int64_t tlt_cmp_files(const char *a, const char *b, uint64_t size);
/*
 * tlt_need_ext4() - load ext4 and the crc32c it checksums with (the kernel
 * cannot load modules on demand in the test VM); returns 0 or -1.
 */
int tlt_need_ext4(void);

/* ---- page-write tracking (track.c) -------------------------------------- */

/* struct tlt_tdev - one device under test, removed at exit (also when a test bails). */
struct tlt_tdev {
	int ctl;
	int index;
	int fd;		/* O_RDWR, buffered */
	char node[64];
	char backing[96];
	uint64_t size;
	uint64_t nr_pages;
};

/*
 * tlt_tdev_open() - create a @size-byte (sparse) backing file @name in the
 * current directory, attach it with @flags, open the node read-write.
 * Bails on failure; the device is removed at exit if the test does not.
 */
struct tlt_tdev *tlt_tdev_open(const char *name, uint64_t size, unsigned int flags);
/*
 * tlt_tdev_adopt() - a struct tlt_tdev for device @index (made by the test
 * itself) of @size bytes over @backing, opened and removed at exit like
 * tlt_tdev_open()'s.
 */
struct tlt_tdev *tlt_tdev_adopt(int index, const char *backing, uint64_t size);
/* tlt_tdev_close() - close the node and remove the device. */
int tlt_tdev_close(struct tlt_tdev *d);
/* tlt_map() - MAP_SHARED read-write mapping of @len bytes of @fd at @off, or bail. */
void *tlt_map(int fd, size_t len, off_t off);
/*
 * tlt_map_node() - open @node read-write and map @len bytes of it MAP_SHARED
 * (for a child process: no bail, no unmapping at exit); the mapping and its
 * descriptor in @fd, or NULL (errno set) with nothing left open.
 */
uint8_t *tlt_map_node(const char *node, size_t len, int *fd);
/* tlt_unmap() - unmap a mapping made with tlt_map(). */
void tlt_unmap(void *addr, size_t len);
/* tlt_require_tracking() - skip the whole test if the module lacks tracking; the features. */
uint64_t tlt_require_tracking(void);
/* tlt_enable() - TLOOP_TRACK_ENABLE with @mem_limit. */
int tlt_enable(int fd, uint64_t mem_limit);
/* tlt_disable() - TLOOP_TRACK_DISABLE. */
int tlt_disable(int fd);
/* tlt_status() - TLOOP_TRACK_STATUS into @st. */
int tlt_status(int fd, struct tloop_track_status *st);
/* tlt_clear() - TLOOP_CLEAR_WRITTEN of [@start, @end), or all with @flags. */
int tlt_clear(int fd, unsigned int flags, uint64_t start, uint64_t end, uint64_t *generation);
/* tlt_clear_all() - clear the whole set, or bail. */
void tlt_clear_all(int fd);

/* struct tlt_pages - a list of page indices as the kernel returned them. */
struct tlt_pages {
	uint64_t *v;
	size_t n, cap;
	uint32_t status;	/* status of the last call */
	uint64_t generation;	/* generation of the last call */
	unsigned int calls;
};

void tlt_pages_free(struct tlt_pages *p);
void tlt_pages_push(struct tlt_pages *p, uint64_t page);
/*
 * tlt_get_one() - one TLOOP_GET_WRITTEN call from @cursor with @capacity
 * entries into @buf; fills @w.
 */
int tlt_get_one(int fd, unsigned int flags, uint64_t cursor, uint64_t end, uint64_t *buf,
		uint32_t capacity, struct tloop_written *w);
/*
 * tlt_get_all() - walk the written set from page 0 to the end with batches
 * of @capacity entries, appending to @out.  Checks the protocol as it goes
 * (count <= capacity, ascending, within the device, cursor progress) and
 * prints what was wrong.  Returns 0, -errno of a failing call, or -EPROTO
 * when the kernel broke the protocol.
 */
int tlt_get_all(int fd, unsigned int flags, uint32_t capacity, uint64_t nr_pages,
		struct tlt_pages *out);
/* tlt_get_all_or_bail() - tlt_get_all() that bails on error. */
void tlt_get_all_or_bail(int fd, unsigned int flags, uint32_t capacity, uint64_t nr_pages,
			 struct tlt_pages *out);

/* struct tlt_set - the ground truth: one byte per page, non-zero = written. */
struct tlt_set {
	uint8_t *bit;
	uint64_t nr;
};

void tlt_set_init(struct tlt_set *s, uint64_t nr_pages);
void tlt_set_reset(struct tlt_set *s);
void tlt_set_free(struct tlt_set *s);
/* tlt_set_bytes() - mark every page covered by the bytes [@off, @off + @len). */
void tlt_set_bytes(struct tlt_set *s, uint64_t off, uint64_t len);
uint64_t tlt_set_count(const struct tlt_set *s);
/*
 * tlt_set_diff() - compare the reported pages with the expected set: print up
 * to 8 missing and 8 extra pages.  @missing/@extra receive the counts (may be NULL).
 * Returns true when they are equal.
 */
bool tlt_set_diff(const struct tlt_set *want, const struct tlt_pages *got, const char *what,
		  uint64_t *missing, uint64_t *extra);
/*
 * tlt_check_get() - walk the set (capacity @capacity, @flags) and report one
 * KTAP result "name": reported == @want.  Returns ok.
 */
int tlt_check_get(int fd, unsigned int flags, uint32_t capacity, const struct tlt_set *want,
		  const char *name);

/* Seeded generator (splitmix64): fixed default seed, TLOOP_SEED overrides it. */
uint64_t tlt_seed(uint64_t dflt);
/* tlt_rand_seed() - restart tlt_rand() from @seed (no TLOOP_SEED, no diagnostic). */
void tlt_rand_seed(uint64_t seed);
uint64_t tlt_rand_r(uint64_t *state);
uint64_t tlt_rand(void);
/* tlt_rand_below() - uniform-enough value in [0, @n). */
uint64_t tlt_rand_below(uint64_t n);

/* tlt_touch() - store one byte (a changing value) into @p. */
void tlt_touch(volatile uint8_t *p);
/* tlt_wait_ok() - wait for @pid; true when it exited with status 0. */
bool tlt_wait_ok(pid_t pid);

/* ---- the zero-loss oracle (oracle.c) ------------------------------------ */

/*
 * The writers and the ground truth of the zero-loss oracles (40-track-oracle,
 * 49-track-consumers-oracle) on a TLT_ORACLE_SIZE tracked device:
 * TLT_ORACLE_THREADS threads sharing one mapping and TLT_ORACLE_PROCS
 * processes with their own mappings store (id << 56 | seq) into random pages
 * of the first half (TLT_ORACLE_MMAP_PAGES pages), each at least @quota
 * stores and until the test made @min_rounds rounds after it started; one process
 * writes runs of pages with O_DIRECT into the second half until they stop.
 * touched[] records every page any of them wrote.  One oracle at a time.
 */
#define TLT_ORACLE_SIZE (16UL << 20)
#define TLT_ORACLE_PAGES (TLT_ORACLE_SIZE / TLT_PAGE)
#define TLT_ORACLE_MMAP_PAGES (TLT_ORACLE_PAGES / 2)
#define TLT_ORACLE_THREADS 2
#define TLT_ORACLE_PROCS 2
#define TLT_ORACLE_WRITERS (TLT_ORACLE_THREADS + TLT_ORACLE_PROCS)
#define TLT_ORACLE_BATCH 4096	/* entries of the @pages of tlt_oracle_copy_round() */
#define TLT_ORACLE_COPY (256 * TLT_PAGE)	/* bytes of its @buf (from tlt_alloc()) */

/* struct tlt_oracle - shared (MAP_SHARED) with the writer processes. */
struct tlt_oracle {
	atomic_ulong stores;		/* mmap page stores so far */
	atomic_int done;		/* mmap writers that finished */
	atomic_ulong dio_stores;	/* O_DIRECT page writes, once that writer ended */
	atomic_ulong rounds;		/* the test's harvesting rounds, set by the test */
	uint64_t min_rounds;		/* the mmap writers go on until @rounds grew by it */
	uint64_t quota;			/* stores per mmap writer at least */
	double min_seconds;		/* and for at least this long after @t0 */
	uint64_t seed;
	int fd;				/* the device, buffered (the test's) */
	int ddev;			/* the device, O_RDONLY | O_DIRECT */
	char node[64];
	uint8_t *map;			/* the threads' mapping */
	pthread_t th[TLT_ORACLE_THREADS];
	pid_t pids[TLT_ORACLE_PROCS], dio_pid;
	double t0, t1;			/* the writers' start and end (tlt_now()) */
	uint8_t touched[];		/* TLT_ORACLE_PAGES: written by some writer */
};

/*
 * tlt_oracle_new() - the oracle of device @d (TLT_ORACLE_SIZE bytes) with
 * seed tlt_seed(@seed) and @total stores in all, writers not started; or bail.
 */
struct tlt_oracle *tlt_oracle_new(const struct tlt_tdev *d, uint64_t seed, uint64_t total);
/* tlt_oracle_start() - start the writers (threads and processes), or bail. */
void tlt_oracle_start(struct tlt_oracle *o);
/* tlt_oracle_wait() - wait for all the writers to end; true if every process exited 0. */
bool tlt_oracle_wait(struct tlt_oracle *o);
/*
 * tlt_oracle_copy_round() - one GET+CLEAR walk of consumer @id (0: the
 * default one, through the plain GET) from page 0 to the end, copying each
 * reported page from the device (O_DIRECT for the second half) into @area2;
 * @calls counts the GET calls.  Returns the pages reported, or -1 (with a
 * diagnostic) on an error or an overflowed set.
 */
long tlt_oracle_copy_round(struct tlt_oracle *o, uint32_t id, int area2, uint64_t *pages,
			   uint8_t *buf, uint64_t *calls);
/* struct tlt_oracle_cmp - what tlt_oracle_compare() found. */
struct tlt_oracle_cmp {
	uint64_t differ;		/* pages of area2 unlike the device's */
	uint64_t touched;		/* pages the writers touched */
	uint64_t zero_touched;		/* touched pages all zeroes on the device */
	uint64_t nonzero_untouched;	/* untouched pages with data on the device */
};
/* tlt_oracle_compare() - compare @area2 and the device with each other and with touched[]. */
void tlt_oracle_compare(const struct tlt_oracle *o, int area2, struct tlt_oracle_cmp *c);
/* tlt_oracle_free() - unmap and close what tlt_oracle_new() made. */
void tlt_oracle_free(struct tlt_oracle *o);

/* ---- the accounts of the consistent-point tests (accounts.c) ------------ */

/*
 * TLT_ACC_N counters, one at the start of each even page of [0,
 * TLT_ACC_PAGES) of a mapping, summing to TLT_ACC_TOTAL: a copy of the device
 * taken at a consistent point sums to it, a torn one (almost always) not.
 */
#define TLT_ACC_N 32
#define TLT_ACC_PAGES 64
#define TLT_ACC_TOTAL (1000000ULL * TLT_ACC_N)
/* tlt_acc() - account @i in the mapping (or copy) @base. */
uint64_t *tlt_acc(uint8_t *base, int i);
/* tlt_acc_sum() - the sum of the accounts of @base. */
uint64_t tlt_acc_sum(uint8_t *base);
/* tlt_acc_init() - every account of @base at TLT_ACC_TOTAL / TLT_ACC_N. */
void tlt_acc_init(uint8_t *base);
/*
 * tlt_acc_move() - one step of an accounts thread: under @lock, move a random
 * part of a random account of @map to another (random from @rs) and msync
 * both pages, so that holding @lock means being at a consistent point.
 */
void tlt_acc_move(uint8_t *map, pthread_mutex_t *lock, uint64_t *rs);

/*
 * struct tlt_crew - the writers of the consistent-point tests: one O_DIRECT,
 * one buffered and one mmap writer thread, each storing whole-page patterns
 * (tlt_page_pattern) into its own third of the pages past the accounts, and
 * an accounts thread (tlt_acc_move() under @acc_lock).  tlt_crew_pause()
 * holds them all at a consistent point (the mmap writer msync'ed, no account
 * move half done); tlt_crew_resume() lets them go on.
 */
#define TLT_CREW_WRITERS 3
struct tlt_crew {
	char node[64];			/* the device */
	uint8_t *map;			/* its shared mapping (@size bytes) */
	uint64_t size, nr;		/* bytes, pages */
	uint64_t seed;			/* the writers' and accounts' random seed */
	pthread_mutex_t acc_lock;
	int pause_req, paused[TLT_CREW_WRITERS], stop;
	uint64_t writes[TLT_CREW_WRITERS];	/* pages each writer wrote */
	pthread_t th[TLT_CREW_WRITERS], acc;
};
/*
 * tlt_crew_start() - initialise the accounts of @map (@size bytes of device
 * @node), write them back and start the threads; or bail.
 */
void tlt_crew_start(struct tlt_crew *c, const char *node, uint8_t *map, uint64_t size,
		    uint64_t seed);
/* tlt_crew_pause() - stop every thread at a consistent point (returns when they are). */
void tlt_crew_pause(struct tlt_crew *c);
/* tlt_crew_resume() - let the threads go on after tlt_crew_pause(). */
void tlt_crew_resume(struct tlt_crew *c);
/* tlt_crew_stop() - stop and join the threads. */
void tlt_crew_stop(struct tlt_crew *c);

/*
 * struct tlt_pit - a point-in-time round of `tloop sync` under a crew
 * (62-tool-consistent, 67-tool-nbd-consistent): the tool runs as
 * "tloop sync OPTS NODE TAIL..." with stdout and stderr in out.txt and
 * err.txt of the working directory; @area2 is the file that shows what it
 * copied (area2 itself, or the export's file on the server side).
 */
struct tlt_json;
struct tlt_pit {
	struct tlt_crew *crew;
	int dfd;			/* the device (TRACK_STATUS) */
	const char *node;		/* the device's path */
	const char *const *tail;	/* the arguments after it, NULL-terminated */
	const char *area2;		/* the file to read area2 back from */
	uint64_t size;			/* the device's size */
};
/* tlt_pit_generation() - the device's generation (TRACK_STATUS), or bail. */
uint64_t tlt_pit_generation(const struct tlt_pit *t);
/* tlt_pit_spawn() - start the tool with @opts (space-separated); its pid, or bail. */
pid_t tlt_pit_spawn(const struct tlt_pit *t, const char *opts);
/* tlt_pit_wait() - wait for @pid: its exit status, or 128 + the signal. */
int tlt_pit_wait(pid_t pid);
/* tlt_pit_show() - print out.txt and err.txt as diagnostics. */
void tlt_pit_show(void);
/*
 * tlt_pit_round() - one round: the crew paused at a consistent point P, the
 * device read into @expect, the tool started with @opts, the crew resumed as
 * soon as the generation moved (P passed) or the tool ended; then area2 read
 * into @area2.  Sets *@status to the tool's exit status and, if @json is not
 * NULL, *@json to its parsed stdout (NULL on failure).  Returns the number
 * of pages in which area2 differs from P.
 */
int tlt_pit_round(const struct tlt_pit *t, const char *opts, uint8_t *expect, uint8_t *area2,
		  int *status, struct tlt_json **json);

/* ---- the tloop tool (tool.c) -------------------------------------------- */

#define TLT_TOOL "/usr/bin/tloop"

/* struct tlt_tool_run - what one run of the tool produced. */
struct tlt_tool_run {
	int status;	/* exit status, or 128 + signal */
	char out[65536];
	char err[4096];
};

/*
 * tlt_tool() - run the tool with the arguments in @fmt, split on spaces
 * (printf-style; no argument may contain a space), stdout and stderr
 * captured.  Returns the exit status.
 */
__attribute__((format(printf, 2, 3))) int tlt_tool(struct tlt_tool_run *r, const char *fmt, ...);
/* tlt_tool_as() - tlt_tool() as user and group @uid (no supplementary groups, no capabilities). */
__attribute__((format(printf, 3, 4)))
int tlt_tool_as(uid_t uid, struct tlt_tool_run *r, const char *fmt, ...);
/* tlt_tool_show() - print a run's output as diagnostics (after a failure). */
void tlt_tool_show(const char *what, const struct tlt_tool_run *r);
/*
 * tlt_tool_attach() - create @path of @size bytes (unless @size is 0) and
 * attach it with "tloop attach @opts @path"; the device path goes to @node.
 * Returns the index, or bails.  The device is detached at exit.
 */
int tlt_tool_attach(const char *path, uint64_t size, const char *opts, char *node, size_t len);
/* tlt_tool_forget() - a device of tlt_tool_attach() that the test detached itself. */
void tlt_tool_forget(int index);
/*
 * tlt_store() - write version @ver of every @stride-th page of [@first, @first + @nr)
 * of @node with pwrite(), then fsync it.
 */
void tlt_store(const char *node, uint64_t first, uint64_t nr, uint64_t stride, uint32_t ver);

/* ---- JSON (json.c) ------------------------------------------------------ */

enum tlt_jtype { TLT_JNULL, TLT_JBOOL, TLT_JNUM, TLT_JSTR, TLT_JARR, TLT_JOBJ };

/* struct tlt_json - one JSON value; members of arrays and objects are a linked list. */
struct tlt_json {
	enum tlt_jtype type;
	bool b;
	bool integer;		/* a number without fraction or exponent */
	uint64_t u;		/* its value, if integer and >= 0 */
	double d;
	char *s;		/* string value */
	char *key;		/* member name inside an object */
	struct tlt_json *child;	/* first member */
	struct tlt_json *next;	/* next sibling */
};

/* tlt_jparse() - parse a whole document; NULL (and a diagnostic) if invalid. */
struct tlt_json *tlt_jparse(const char *text);
/* tlt_jget() - member @key of object @o, or NULL. */
struct tlt_json *tlt_jget(const struct tlt_json *o, const char *key);
/* tlt_jlen() - number of members of an array or object. */
size_t tlt_jlen(const struct tlt_json *a);
/* tlt_ju64() - integer member @key of @o, or @dflt (with a diagnostic). */
uint64_t tlt_ju64(const struct tlt_json *o, const char *key, uint64_t dflt);
/* tlt_jstr() - string member @key of @o, or "" (with a diagnostic). */
const char *tlt_jstr(const struct tlt_json *o, const char *key);
/* tlt_jbool() - boolean member @key of @o; -1 (with a diagnostic) if absent. */
int tlt_jbool(const struct tlt_json *o, const char *key);
/* tlt_jfree() - free a parsed document. */
void tlt_jfree(struct tlt_json *v);
/*
 * tlt_sync_json() - "tloop sync --json @opts @dev @area2", parsed; NULL (and
 * diagnostics) if it failed or printed no valid JSON.
 */
struct tlt_json *tlt_sync_json(const char *dev, const char *area2, const char *opts);

/* Named consumers (consumer.c). */
/* tlt_consumer_add() - TLOOP_CONSUMER_ADD of @name; its id, or -errno. */
int64_t tlt_consumer_add(int fd, const char *name, uint64_t mem_limit);
/* tlt_consumer_remove() - TLOOP_CONSUMER_REMOVE of @name; 0 or -errno. */
int tlt_consumer_remove(int fd, const char *name);
/* tlt_consumer_list() - TLOOP_CONSUMER_LIST into @ci (@cap entries); the total or -errno. */
int tlt_consumer_list(int fd, struct tloop_consumer_info *ci, uint32_t cap, uint32_t *count);
/* tlt_cget_one() - tlt_get_one() on consumer @id. */
int tlt_cget_one(int fd, uint32_t id, unsigned int flags, uint64_t cursor, uint64_t end,
		 uint64_t *buf, uint32_t capacity, struct tloop_written *w);
/* tlt_cstatus() - TLOOP_TRACK_STATUS of consumer @id. */
int tlt_cstatus(int fd, uint32_t id, struct tloop_track_status *st);
/* tlt_cclear() - TLOOP_CLEAR_WRITTEN on consumer @id. */
int tlt_cclear(int fd, uint32_t id, unsigned int flags, uint64_t start, uint64_t end,
	       uint64_t *generation);
/* tlt_cget_all() - tlt_get_all() on consumer @id (same checks). */
int tlt_cget_all(int fd, uint32_t id, unsigned int flags, uint32_t capacity, uint64_t nr_pages,
		 struct tlt_pages *out);

/* ---- the benchmarks of bench/ (bench.c) --------------------------------- */
/* tlt_env_ul() - the environment variable @name as a number, or @dflt if unset or empty. */
unsigned long tlt_env_ul(const char *name, unsigned long dflt);
/* tlt_sort_doubles() - sort @n values ascending. */
void tlt_sort_doubles(double *v, size_t n);
/* tlt_median() - sort @n values and return the middle one (0 if @n is 0). */
double tlt_median(double *v, size_t n);
/*
 * tlt_fio_write_kib() - run one fio job (@args) for @seconds on @node; its
 * write bandwidth in KiB/s, or -1 if fio failed.
 */
double tlt_fio_write_kib(const char *node, const char *args, unsigned long seconds);

#endif /* TLT_H */
