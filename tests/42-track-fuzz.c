// SPDX-License-Identifier: GPL-2.0
/*
 * 42-track-fuzz: a seeded, bounded ioctl fuzzer with a contract oracle.
 *
 * 100,000 ioctl calls (times TLOOP_SCALE) on /dev/tloop-control, on tracked
 * devices and on non-tloop descriptors, each built from a seeded generator:
 *  - commands: every tloop command, with random size bits, and random command
 *    words of magic 0xBC (random number, direction and size);
 *  - structs: sizes 0-8192 (biased to the edges: 0, 3, 4, the struct's size
 *    +-1, 4096, 4097, 8192), random flags, non-zero reserved fields, random
 *    cursors, ends, capacities, indices, limits, non-zero bytes past the struct;
 *  - pointers (the argument itself, GET_WRITTEN's pages, GET_INFO's path):
 *    valid, misaligned, NULL, kernel, non-canonical, PROT_NONE, read-only,
 *    straddling the end of a mapping, beyond the end of a mapped file, memory
 *    another thread munmaps/mprotects/replaces concurrently, and a shared
 *    mapping of the tloop device under test itself;
 *  - TLOOP_CTL_ADD backing descriptors: tmpfs file, ext4 file, memfd, O_RDONLY
 *    file (with and without READ_ONLY), a file smaller than a block, directory,
 *    pipe, socket, eventfd, O_PATH, /dev/null, the tloop block device, the
 *    control node, /proc file, closed and negative descriptors;
 * while background threads store through mmap, write with O_DIRECT and through
 * the page cache (device A), toggle tracking and query device B, and add, open,
 * query and remove devices C (the fuzzer also queries C through a duplicate
 * descriptor, which races their removal).
 *
 * The oracle checks every result against uapi/linux/tloop.h and tloop(4):
 *  - an argument whose size field cannot be read is EFAULT; a size below the
 *    struct is EINVAL, above 4096 E2BIG; unknown non-zero bytes past the struct
 *    E2BIG; unreadable bytes EFAULT; non-zero reserved fields or unknown flags
 *    EINVAL; a bad pointer never succeeds where the kernel had to use it;
 *  - otherwise the errno is one of the problems the arguments really have
 *    (and success when they have none), e.g. EBADF/EINVAL for each kind of
 *    backing descriptor, EEXIST/ENXIO/EBUSY from a model of the live indices,
 *    ENODATA/EBUSY from the model of device A's tracking state;
 *  - replies: VERSION fields, GET_FREE = lowest free index, GET_INFO fields and
 *    path, STATUS against the model, GET_WRITTEN count/order/range/cursor;
 *    A's generation grows by exactly one per clearing call (CLEAR_WRITTEN,
 *    GET+CLEAR not answered with overflow) and per switch on or off, and never
 *    goes back;
 *  - no lost writes: a ground-truth model of device A records, for each page,
 *    when its last write began and ended (by the writer threads); every
 *    successful GET_WRITTEN (sync'd: every write; NOSYNC: O_DIRECT writes) must
 *    report every page of the range it covered that was written since it was
 *    last returned by a GET_WRITTEN+CLEAR or cleared (a failed GET+CLEAR
 *    consumes nothing), unless the set overflowed; a full audit walk checks the
 *    same every 500 calls and at the end;
 *  - no device is left behind by a failed TLOOP_CTL_ADD.
 * The kernel must not crash or WARN (the runner checks the console and taint).
 *
 * Environment: TLOOP_FUZZ_SEED (default: random, printed first) reproduces a
 * run's call sequence; TLOOP_FUZZ_CALLS overrides the number of calls;
 * TLOOP_FUZZ_SELFTEST=1 injects a phantom write into the ground truth and a
 * wrong errno expectation, so the oracle must report violations (the harness
 * self-test uses it to prove the oracle can fail).
 *
 * tloop-timeout: 2400
 */
#include "tlt.h"

#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/eventfd.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/uio.h>

#define PG		TLT_PAGE
#define A_PAGES		2048UL	/* device A: 8 MiB */
#define A_WPAGES	1024UL	/* pages the writer threads write */
#define A_ARGPG		1536UL	/* arguments placed in A's own mapping start here */
#define B_PAGES		1024UL
#define C_PAGES		256UL
#define IMG		8200
#define MAXREG		64

/* ---------- errno sets ---------- */
struct eset { uint64_t m[3]; };
#define E_OK 0	/* bit 0: success */

static inline void es_add(struct eset *s, int e) { s->m[e / 64] |= 1ULL << (e % 64); }
static inline bool es_has(const struct eset *s, int e) { return e < 192 && (s->m[e / 64] >> (e % 64)) & 1; }
static inline bool es_empty(const struct eset *s) { return !(s->m[0] | s->m[1] | s->m[2]); }

static void es_str(const struct eset *s, char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = 0;
	for (int e = 0; e < 192; e++)
		if (es_has(s, e))
			n += snprintf(buf + n, n < len ? len - n : 0, "%s%s", n ? "|" : "",
				      e ? tlt_errname(e) : "0");
}

/* ---------- state ---------- */
static uint64_t seed;
static bool selftest;
static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_ulong violations, lost_writes;
static atomic_bool stop;
static unsigned long ncalls, cur_call;

/* The last calls on A, printed with a lost write. */
#define HIST 6
static char hist[HIST][700];
static unsigned long hist_n;

/* violation() - report a contract violation (first 40 printed). */
static __attribute__((format(printf, 1, 2))) void violation(const char *fmt, ...)
{
	unsigned long n = atomic_fetch_add(&violations, 1);
	va_list ap;

	if (n >= 40)
		return;
	pthread_mutex_lock(&out_lock);
	printf("# VIOLATION (call %lu, seed %#" PRIx64 "): ", cur_call, seed);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
	pthread_mutex_unlock(&out_lock);
}

/* Device A: the ground truth. */
static int a_idx, a_fd, a_rofd, a_dfd;
static uint8_t *a_map;		/* whole device, MAP_SHARED */
static char a_backing[PATH_MAX];
static uint64_t a_attach;
static atomic_uint wseq;	/* write sequence (begin and end stamps) */
static _Atomic uint64_t pk_any[A_PAGES];	/* (begin << 32) | end of the last write */
static _Atomic uint64_t pk_dio[A_PAGES];	/* same, O_DIRECT writes only */
static uint32_t covered[A_PAGES];	/* demand writes beginning after this */
static uint32_t base_seq;		/* ... and after this (enable, clear all) */
static bool a_on;
static uint64_t a_gen, a_limit;
static bool a_gen_exact;	/* a_gen is A's generation now (else a lower bound) */
static atomic_ulong n_mmap, n_dio, n_buf;

/* Device B: tracking toggled by a thread. */
static int b_idx, b_fd;
static atomic_ulong n_toggle;

/* The registry of live indices (all adds/removes happen under reg_lock). */
static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct { int idx; int owner; int fd; uint64_t pages; } reg[MAXREG];	/* owner 1 main, 2 C */
static unsigned int max_devices;
static atomic_ulong n_cadd, n_cdup;

static int ctl;

/* Memory for arguments. */
static uint8_t *arena;		/* 3 RW pages + PROT_NONE guard */
static uint8_t *ro;		/* 3 read-only pages */
static uint8_t *none;		/* PROT_NONE page */
static uint8_t *eofm, *eofi;	/* 2 pages of a 1-page memfd (argument, inner) */
static uint8_t *racy;		/* 3 pages another thread remaps */
static uint8_t *ibuf;		/* inner buffers: 6 RW pages + guard */
static uint8_t *iro;		/* inner read-only page */

/* Backing descriptors for ADD. */
enum { BK_TMPFS, BK_EXT4, BK_MEMFD, BK_RDONLY, BK_RDONLY_RO, BK_TINY, BK_DIR, BK_PIPE, BK_SOCK,
       BK_EVENTFD, BK_OPATH, BK_NULL, BK_BLK, BK_CTL, BK_PROC, BK_CLOSED, BK_NEG, BK_HUGE,
       BK_ABACK, NBK };
static const char *const bk_name[NBK] = {
	"tmpfs", "ext4", "memfd", "rdonly", "rdonly+RO", "tiny", "dir", "pipe", "socket",
	"eventfd", "O_PATH", "/dev/null", "blockdev", "control", "proc", "closed", "-1", "huge",
	"A's backing" };
static int bk_fd[NBK];
static bool have_ext4;

static uint64_t rnd(void) { return tlt_rand(); }
static uint64_t below(uint64_t n) { return tlt_rand_below(n); }
static bool chance(unsigned int pct) { return below(100) < pct; }

static uint32_t seq_now(void) { return atomic_load(&wseq); }

/* ---------- writer threads (device A) ---------- */
struct wctx { int kind; uint64_t state; };

static void publish(_Atomic uint64_t *slot, uint32_t b, uint32_t e)
{
	atomic_store(slot, (uint64_t)b << 32 | e);
}

static void *writer(void *arg)
{
	struct wctx *w = arg;
	uint8_t *buf = tlt_alloc(PG);

	while (!atomic_load(&stop)) {
		uint64_t p = tlt_rand_r(&w->state) % (A_WPAGES / 3) * 3 + w->kind;
		uint32_t b = atomic_fetch_add(&wseq, 1) + 1, e;

		memset(buf, (int)(b & 0xff), PG);
		if (w->kind == 0) {
			tlt_touch(a_map + p * PG + b % PG);
			e = atomic_fetch_add(&wseq, 1) + 1;
			publish(&pk_any[p], b, e);
			atomic_fetch_add(&n_mmap, 1);
		} else if (w->kind == 1) {
			if (pwrite(a_dfd, buf, PG, (off_t)(p * PG)) != (ssize_t)PG) {
				violation("O_DIRECT write of page %" PRIu64 " of A: %s", p,
					  strerror(errno));
				continue;
			}
			e = atomic_fetch_add(&wseq, 1) + 1;
			publish(&pk_any[p], b, e);
			publish(&pk_dio[p], b, e);
			atomic_fetch_add(&n_dio, 1);
		} else {
			if (pwrite(a_fd, buf, 1 + b % 64, (off_t)(p * PG + b % 64)) <= 0) {
				violation("write to page %" PRIu64 " of A: %s", p, strerror(errno));
				continue;
			}
			e = atomic_fetch_add(&wseq, 1) + 1;
			publish(&pk_any[p], b, e);
			atomic_fetch_add(&n_buf, 1);
		}
		usleep(2000 + tlt_rand_r(&w->state) % 3000);
	}
	free(buf);
	return NULL;
}

/* ---------- B: tracking toggler ---------- */
static void *toggler(void *arg)
{
	uint64_t st = (uint64_t)(uintptr_t)arg;
	uint64_t pages[256];
	char *buf = tlt_alloc(PG);

	while (!atomic_load(&stop)) {
		struct tloop_written w;
		struct tloop_track_status ts;
		int r, op = (int)(tlt_rand_r(&st) % 6);
		uint64_t c;

		switch (op) {
		case 0:
			r = tlt_enable(b_fd, tlt_rand_r(&st) % 4 ? 0 : tlt_rand_r(&st) % 20000);
			if (r && r != -EBUSY)
				violation("B: TRACK_ENABLE: %s", tlt_errname(-r));
			break;
		case 1:
			r = tlt_disable(b_fd);
			if (r)
				violation("B: TRACK_DISABLE: %s", tlt_errname(-r));
			break;
		case 2:
			r = tlt_clear(b_fd, TLOOP_CLEAR_ALL, 0, 0, NULL);
			if (r && r != -ENODATA)
				violation("B: CLEAR_ALL: %s", tlt_errname(-r));
			break;
		case 3:
			c = tlt_rand_r(&st) % B_PAGES;
			r = tlt_get_one(b_fd, TLOOP_GET_CLEAR, c, 0, pages, 256, &w);
			if (r && r != -ENODATA)
				violation("B: GET+CLEAR: %s", tlt_errname(-r));
			if (!r && w.count > 256)
				violation("B: GET count %u > 256", w.count);
			break;
		case 4:
			r = tlt_status(b_fd, &ts);
			if (r || ts.nr_pages != B_PAGES)
				violation("B: STATUS: %s, nr_pages %" PRIu64, tlt_errname(-r),
					  (uint64_t)ts.nr_pages);
			break;
		default:
			c = tlt_rand_r(&st) % B_PAGES;
			if (pwrite(b_fd, buf, PG, (off_t)(c * PG)) != (ssize_t)PG)
				violation("B: write: %s", strerror(errno));
			break;
		}
		atomic_fetch_add(&n_toggle, 1);
		usleep(2000 + tlt_rand_r(&st) % 4000);
	}
	free(buf);
	return NULL;
}

/* ---------- registry ---------- */
static int reg_find(int idx)
{
	for (int i = 0; i < MAXREG; i++)
		if (reg[i].owner && reg[i].idx == idx)
			return i;
	return -1;
}

static int reg_put(int idx, int owner, int fd, uint64_t pages)
{
	for (int i = 0; i < MAXREG; i++)
		if (!reg[i].owner) {
			reg[i].idx = idx;
			reg[i].owner = owner;
			reg[i].fd = fd;
			reg[i].pages = pages;
			return i;
		}
	return -1;
}

static int reg_lowest_free(void)
{
	for (int i = 0; i < (int)max_devices; i++)
		if (reg_find(i) < 0)
			return i;
	return -1;
}

static int open_node(int idx, int flags)
{
	char node[64];
	int fd = -1;

	tlt_dev_path(node, sizeof(node), idx);
	for (int t = 0; t < 250; t++) {
		fd = open(node, flags | O_CLOEXEC);
		if (fd >= 0 || errno != ENOENT)
			break;
		usleep(20000);
	}
	return fd;
}

/* ---------- C: add, use and remove devices ---------- */
static void *adder(void *arg)
{
	uint64_t st = (uint64_t)(uintptr_t)arg;
	uint64_t pages[64];
	int fd, idx, slot, r, n = 0;

	while (!atomic_load(&stop)) {
		int kind = (int)(tlt_rand_r(&st) % 3);
		int bfd = kind == 0 ? bk_fd[BK_TMPFS] : kind == 1 ? bk_fd[BK_EXT4] : bk_fd[BK_MEMFD];
		struct tloop_add add = { .size = sizeof(add), .backing_fd = bfd, .index = -1,
					 .flags = (tlt_rand_r(&st) & 1) ? TLOOP_FLAG_TRACK : 0,
					 .size_limit = C_PAGES * PG };
		struct tloop_written w;

		pthread_mutex_lock(&reg_lock);
		idx = ioctl(ctl, TLOOP_CTL_ADD, &add);
		if (idx < 0) {
			violation("C: ADD of a %s file: %s", kind == 0 ? "tmpfs" : kind == 1 ?
				  "ext4" : "memfd", tlt_errname(errno));
			pthread_mutex_unlock(&reg_lock);
			usleep(100000);
			continue;
		}
		slot = reg_put(idx, 2, -1, C_PAGES);
		pthread_mutex_unlock(&reg_lock);
		atomic_fetch_add(&n_cadd, 1);
		fd = open_node(idx, O_RDWR);
		if (fd < 0) {
			violation("C: open /dev/tloop%d: %s", idx, strerror(errno));
		} else {
			pthread_mutex_lock(&reg_lock);
			reg[slot].fd = fd;
			pthread_mutex_unlock(&reg_lock);
			for (int i = 0; i < 4 && !atomic_load(&stop); i++) {
				uint64_t c = tlt_rand_r(&st) % C_PAGES;
				int op = (int)(tlt_rand_r(&st) % 3);

				if (op == 0)
					tlt_enable(fd, 0);
				else if (op == 1)
					(void)!pwrite(fd, pages, sizeof(pages), (off_t)(c * PG));
				else if ((r = tlt_get_one(fd, TLOOP_GET_CLEAR, c, 0, pages, 64, &w)) &&
					 r != -ENODATA)
					violation("C: GET+CLEAR on tloop%d: %s", idx, tlt_errname(-r));
				usleep(2000);
			}
			pthread_mutex_lock(&reg_lock);
			reg[slot].fd = -1;
			pthread_mutex_unlock(&reg_lock);
			close(fd);
		}
		/* The fuzzer may hold a duplicate: EBUSY until it closes it. */
		for (int t = 0;; t++) {
			pthread_mutex_lock(&reg_lock);
			r = tlt_remove(ctl, idx);
			if (!r)
				reg[slot].owner = 0;
			pthread_mutex_unlock(&reg_lock);
			if (!r)
				break;
			if (r != -EBUSY || t > 500) {
				violation("C: REMOVE tloop%d: %s (try %d)", idx, tlt_errname(-r), t);
				break;
			}
			usleep(10000);
		}
		n++;
		usleep(150000 + tlt_rand_r(&st) % 200000);
	}
	return NULL;
}

/* ---------- memory churn ---------- */
static void *churner(void *arg)
{
	uint64_t st = (uint64_t)(uintptr_t)arg;

	while (!atomic_load(&stop)) {
		size_t off = tlt_rand_r(&st) % 3 * PG;
		int op = (int)(tlt_rand_r(&st) % 5);

		switch (op) {
		case 0:
			mprotect(racy + off, PG, PROT_NONE);
			break;
		case 1:
			mprotect(racy + off, PG, PROT_READ);
			break;
		case 2:
			mprotect(racy + off, PG, PROT_READ | PROT_WRITE);
			break;
		case 3:
			madvise(racy + off, PG, MADV_DONTNEED);
			break;
		default:
			/* Replace (atomically) with fresh zero pages. */
			mmap(racy + off, PG, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
			break;
		}
		usleep(500 + tlt_rand_r(&st) % 2000);
	}
	return NULL;
}

/* ---------- argument placement ---------- */
enum { P_GOOD, P_MISAL, P_NULL, P_KERNEL, P_NONCANON, P_NONE, P_STRADDLE, P_RO, P_EOF,
       P_RACY, P_TLOOP, NP };
static const char *const p_name[NP] = { "good", "misaligned", "NULL", "kernel", "non-canonical",
	"PROT_NONE", "straddling", "read-only", "beyond-EOF", "racy", "tloop-mmap" };

struct place {
	int cls;
	uint64_t addr;
	uint8_t *loc;	/* where to read the reply back, if readable */
	size_t rd, wr;	/* readable / writable bytes from addr */
	bool racy;
};

static void racy_write(uint8_t *dst, const void *src, size_t len)
{
	struct iovec l = { (void *)src, len }, r = { dst, len };

	(void)!process_vm_writev(getpid(), &l, 1, &r, 1, 0);
}

static int pick_class(void)
{
	static const unsigned char w[NP] = { 55, 6, 4, 4, 3, 3, 8, 6, 4, 4, 3 };
	unsigned int x = (unsigned int)below(100), acc = 0;

	for (int i = 0; i < NP; i++) {
		acc += w[i];
		if (x < acc)
			return i;
	}
	return P_GOOD;
}

/* place() - put @len bytes of @img somewhere per @cls; @need: bytes the kernel may use. */
static void place(struct place *p, int cls, const uint8_t *img, size_t len)
{
	size_t k;

	memset(p, 0, sizeof(*p));
	p->cls = cls;
	switch (cls) {
	case P_GOOD:
	case P_MISAL:
		k = cls == P_GOOD ? (chance(50) ? 0 : 8 * below(8)) : 1 + below(7);
		p->loc = arena + k;
		p->rd = p->wr = 3 * PG - k;
		break;
	case P_NULL:
		p->addr = 0;
		return;
	case P_KERNEL: {
		static const uint64_t k_addrs[] = { 0xffff888000000000ULL, 0xffffffff81000000ULL,
						   0xfffffffffffff000ULL, 0xffffc90000000000ULL };

		p->addr = k_addrs[below(4)];
		return;
	}
	case P_NONCANON:
		p->addr = chance(50) ? 0x0000800000000000ULL + 8 * below(8) : 0x8000000000000000ULL;
		return;
	case P_NONE:
		p->addr = (uint64_t)(uintptr_t)(none + below(64));
		return;
	case P_STRADDLE:
	case P_EOF:
		/* Usually cut inside the struct, sometimes before the size field. */
		k = chance(15) ? below(4) : below(len + 1);
		if (k > (cls == P_STRADDLE ? 3 * PG : PG))
			k = cls == P_STRADDLE ? 3 * PG : PG;
		p->loc = (cls == P_STRADDLE ? arena + 3 * PG : eofm + PG) - k;
		p->rd = p->wr = k;
		memcpy(p->loc, img, k < len ? k : len);
		p->addr = (uint64_t)(uintptr_t)p->loc;
		return;
	case P_RO:
		p->loc = ro + 8 * below(8);
		mprotect(ro, 3 * PG, PROT_READ | PROT_WRITE);
		memcpy(p->loc, img, len);
		mprotect(ro, 3 * PG, PROT_READ);
		p->rd = 3 * PG - (size_t)(p->loc - ro);
		p->wr = 0;
		p->addr = (uint64_t)(uintptr_t)p->loc;
		return;
	case P_RACY:
		p->racy = true;
		k = below(2 * PG);
		racy_write(racy + k, img, len < 3 * PG - k ? len : 3 * PG - k);
		p->addr = (uint64_t)(uintptr_t)(racy + k);
		p->loc = NULL;
		return;
	case P_TLOOP:
		k = below(32) * PG + (chance(50) ? 0 : 8 * below(500));
		p->loc = a_map + A_ARGPG * PG + k;
		p->rd = p->wr = (A_PAGES - A_ARGPG) * PG - k;
		break;
	}
	memcpy(p->loc, img, len < p->rd ? len : p->rd);
	p->addr = (uint64_t)(uintptr_t)p->loc;
}

/* An inner buffer (GET_WRITTEN pages, GET_INFO path): address, writable bytes. */
struct ibuf { int cls; uint64_t addr; uint8_t *loc; size_t wr; bool racy; };

static void place_inner(struct ibuf *b, size_t want)
{
	int cls = pick_class();
	size_t k;

	memset(b, 0, sizeof(*b));
	b->cls = cls;
	switch (cls) {
	case P_GOOD:
	case P_MISAL:
		k = cls == P_GOOD ? 0 : 1 + below(7);
		b->loc = ibuf + k;
		b->wr = 6 * PG - k;
		break;
	case P_STRADDLE:
		k = below(want + 1);
		if (k > 6 * PG)
			k = 6 * PG;
		b->loc = ibuf + 6 * PG - k;
		b->wr = k;
		break;
	case P_EOF:
		k = below(PG);
		b->loc = eofi + PG - k;
		b->wr = k;
		break;
	case P_RO:
		b->addr = (uint64_t)(uintptr_t)iro;
		return;
	case P_RACY:
		b->racy = true;
		b->addr = (uint64_t)(uintptr_t)(racy + below(2 * PG));
		return;
	case P_TLOOP:
		b->loc = a_map + (A_ARGPG + 64 + below(64)) * PG;
		b->wr = (size_t)(a_map + A_PAGES * PG - b->loc);
		break;
	default: {
		struct place p;

		place(&p, cls, NULL, 0);
		b->addr = p.addr;
		return;
	}
	}
	b->addr = (uint64_t)(uintptr_t)b->loc;
}

/* ---------- commands ---------- */
enum { C_VERSION, C_ADD, C_REMOVE, C_GETFREE, C_INFO, C_ENABLE, C_DISABLE, C_STATUS, C_GET,
       C_CLEAR, NCMD };
static const struct { unsigned int cmd; size_t ksize; bool onctl; const char *name; } cmds[NCMD] = {
	{ TLOOP_CTL_VERSION, sizeof(struct tloop_version), true, "CTL_VERSION" },
	{ TLOOP_CTL_ADD, sizeof(struct tloop_add), true, "CTL_ADD" },
	{ TLOOP_CTL_REMOVE, sizeof(struct tloop_remove), true, "CTL_REMOVE" },
	{ TLOOP_CTL_GET_FREE, 0, true, "CTL_GET_FREE" },
	{ TLOOP_GET_INFO, sizeof(struct tloop_info), false, "GET_INFO" },
	{ TLOOP_TRACK_ENABLE, sizeof(struct tloop_track_enable), false, "TRACK_ENABLE" },
	{ TLOOP_TRACK_DISABLE, 0, false, "TRACK_DISABLE" },
	{ TLOOP_TRACK_STATUS, sizeof(struct tloop_track_status), false, "TRACK_STATUS" },
	{ TLOOP_GET_WRITTEN, sizeof(struct tloop_written), false, "GET_WRITTEN" },
	{ TLOOP_CLEAR_WRITTEN, sizeof(struct tloop_clear), false, "CLEAR_WRITTEN" },
};

/* cmd_lookup() - which command a word names (type, number, direction), or -1. */
static int cmd_lookup(unsigned int cmd)
{
	const unsigned int mask = ~(_IOC_SIZEMASK << _IOC_SIZESHIFT);

	for (int i = 0; i < NCMD; i++)
		if ((cmd & mask) == (cmds[i].cmd & mask))
			return i;
	return -1;
}

/* Targets. */
enum { T_CTL, T_A, T_ARO, T_B, T_C, T_OTHER, NT };
static const char *const t_name[NT] = { "control", "A", "A(O_RDONLY)", "B", "C", "other" };

/* ---------- struct images ---------- */
static uint32_t pick_size(size_t ks)
{
	switch (below(16)) {
	case 0: return 0;
	case 1: return (uint32_t)below(ks + 1);
	case 2: return (uint32_t)ks - 1;
	case 3: return (uint32_t)ks + 1 + (uint32_t)below(64);
	case 4: return 4096;
	case 5: return 4097 + (uint32_t)below(4096);
	case 6: return (uint32_t)below(8193);
	case 7: return chance(50) ? 8192 : (uint32_t)rnd();
	default: return (uint32_t)ks;
	}
}

static uint64_t rnd_u64(void)
{
	switch (below(6)) {
	case 0: return 0;
	case 1: return ~0ULL;
	case 2: return rnd();
	case 3: return 1ULL << below(64);
	default: return below(4096);
	}
}

/* ---------- one call ---------- */
struct call {
	int target, fd, k;	/* k: command index or -1 */
	unsigned int cmd;
	uint8_t img[IMG];
	size_t len;		/* bytes of img that matter */
	struct place p;
	struct ibuf in;		/* inner buffer */
	uint32_t usize;
	/* for the oracle */
	int bk;			/* ADD: backing kind */
	uint64_t dev_pages;	/* B/C: the device's pages */
};

#define ST(type) ((type *)c->img)

static void build(struct call *c)
{
	size_t ks = c->k >= 0 ? cmds[c->k].ksize : 0;
	uint64_t nr = c->target == T_A || c->target == T_ARO ? A_PAGES : c->dev_pages;

	memset(c->img, 0, sizeof(c->img));
	c->usize = pick_size(ks ? ks : 64);
	c->len = c->usize > ks ? c->usize : ks;
	if (c->len > IMG)
		c->len = IMG;
	if (!ks) {
		c->len = 64;
		for (size_t i = 0; i < 64; i++)
			c->img[i] = (uint8_t)rnd();
		return;
	}
	memcpy(c->img, &c->usize, 4);
	switch (c->k) {
	case C_VERSION:
		if (chance(10))
			ST(struct tloop_version)->abi_version = (uint32_t)rnd();
		if (chance(10))
			ST(struct tloop_version)->features = rnd();
		if (chance(10))
			ST(struct tloop_version)->max_devices = (uint32_t)rnd();
		break;
	case C_ADD: {
		struct tloop_add *a = ST(struct tloop_add);

		c->bk = chance(40) ? BK_TMPFS : (int)below(NBK);
		a->backing_fd = c->bk == BK_CLOSED ? 1000 : c->bk == BK_NEG ? -1 - (int)below(2) :
				c->bk == BK_HUGE ? 1 << 30 : bk_fd[c->bk];
		a->index = chance(60) ? -1 : chance(70) ? (int)below(24) : (int)rnd();
		a->flags = chance(60) ? 0 : (uint32_t)below(16);
		if (chance(8))
			a->flags |= 1U << below(32);
		if (c->bk == BK_RDONLY_RO)
			a->flags |= TLOOP_FLAG_READ_ONLY;
		if (c->bk == BK_TINY && chance(50))
			a->flags &= ~TLOOP_FLAG_READ_ONLY;
		a->block_size = chance(70) ? (chance(50) ? 512 : 0) : chance(50) ? 4096 : (uint32_t)rnd_u64();
		a->size_limit = chance(70) ? 0 : rnd_u64();
		if (chance(5))
			a->reserved0 = (uint32_t)rnd() | 1;
		/* A persistent add gets a descriptor that cannot be a sidecar. */
		if (a->flags & TLOOP_FLAG_PERSIST)
			a->persist_fd = chance(50) ? -1 : 1000;
		else if (chance(5))
			a->persist_fd = (int32_t)(rnd() | 1);
		if (chance(5))
			a->persist_status = (uint32_t)rnd() | 1;
		if (chance(5))
			a->reserved[below(3)] = rnd() | 1;
		break;
	}
	case C_REMOVE: {
		struct tloop_remove *r = ST(struct tloop_remove);

		r->index = chance(80) ? (uint32_t)below(24) : (uint32_t)rnd();
		if (reg_find((int)r->index) >= 0 && reg[reg_find((int)r->index)].owner == 2)
			r->index = max_devices + (uint32_t)below(8);	/* not the adder's */
		if (chance(5))
			r->flags = (uint32_t)rnd() | 1;
		if (chance(5))
			r->reserved = (uint32_t)rnd() | 1;
		break;
	}
	case C_INFO: {
		struct tloop_info *i = ST(struct tloop_info);

		if (chance(70)) {
			place_inner(&c->in, 4096);
			i->path = c->in.addr;
			i->path_size = chance(50) ? (uint32_t)below(200) :
				       chance(50) ? (uint32_t)below(8192) : (uint32_t)rnd();
		}
		if (chance(10))
			i->flags = (uint32_t)rnd();	/* output field: ignored */
		if (chance(5))
			i->reserved[below(4)] = rnd() | 1;
		break;
	}
	case C_ENABLE: {
		struct tloop_track_enable *e = ST(struct tloop_track_enable);

		e->mem_limit = chance(85) ? 0 : chance(50) ? below(65536) : rnd_u64();
		if (chance(5))
			e->flags = 1U << below(32);
		if (chance(5))
			e->reserved[below(2)] = rnd() | 1;
		break;
	}
	case C_STATUS: {
		struct tloop_track_status *s = ST(struct tloop_track_status);

		if (chance(10))
			s->generation = rnd();
		if (chance(5))
			s->consumer = (uint32_t)rnd() | 1;
		if (chance(5))
			s->reserved[below(2)] = rnd() | 1;
		break;
	}
	case C_GET: {
		struct tloop_written *w = ST(struct tloop_written);
		uint64_t cap;

		w->flags = chance(60) ? (uint32_t)below(4) : chance(90) ? TLOOP_GET_CLEAR :
			   1U << below(32);
		w->cursor = chance(50) ? 0 : chance(80) ? below(nr + 2) : rnd_u64();
		w->end = chance(60) ? 0 : chance(80) ? below(nr + 2) : rnd_u64();
		cap = chance(70) ? 1 + below(nr + 16) : chance(50) ? 0 : chance(50) ? 65536 + below(3) :
		      (uint32_t)rnd();
		w->capacity = (uint32_t)cap;
		place_inner(&c->in, (size_t)(cap < 8192 ? cap : 8192) * 8);
		w->pages = c->in.addr;
		if (chance(10))
			w->count = (uint32_t)rnd();
		if (chance(10))
			w->next_cursor = rnd();
		if (chance(4))
			w->consumer = (uint32_t)rnd() | 1;
		if (chance(4))
			w->reserved[below(2)] = rnd() | 1;
		break;
	}
	case C_CLEAR: {
		struct tloop_clear *cl = ST(struct tloop_clear);

		cl->flags = chance(40) ? TLOOP_CLEAR_ALL : chance(90) ? 0 : (uint32_t)rnd();
		if (!(cl->flags & TLOOP_CLEAR_ALL) || chance(10)) {
			cl->start = chance(80) ? below(nr + 1) : rnd_u64();
			cl->end = chance(80) ? cl->start + 1 + below(64) : rnd_u64();
		}
		if (chance(5))
			cl->reserved1 = rnd() | 1;
		if (chance(3))
			cl->reserved0 = (uint32_t)rnd() | 1;
		if (chance(3))
			cl->consumer = (uint32_t)rnd() | 1;
		break;
	}
	}
	/* Bytes past the struct: usually zero, sometimes not. */
	if (c->usize > ks && c->usize <= IMG && chance(30))
		c->img[ks + below(c->usize - ks)] = (uint8_t)(1 + below(255));
}

/* ---------- the oracle ---------- */

/*
 * The size-first prologue: certain results before the kernel looks at a field.
 * Returns true (with @allow filled) when the prologue decides the call.
 */
static bool prologue(const struct call *c, struct eset *allow)
{
	size_t ks = cmds[c->k].ksize, rd = c->p.rd;
	bool nz = false;

	if (rd < 4) {
		es_add(allow, EFAULT);
		return true;
	}
	if (c->usize < ks) {
		es_add(allow, EINVAL);
		return true;
	}
	if (c->usize > 4096) {
		es_add(allow, E2BIG);
		return true;
	}
	for (size_t i = ks; i < c->usize && i < rd; i++)
		nz |= c->img[i] != 0;
	if (nz)
		es_add(allow, E2BIG);
	if (rd < c->usize)
		es_add(allow, EFAULT);
	return !es_empty(allow);
}

static bool any_nz(const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		if (b[i])
			return true;
	return false;
}

/* Does the size bits rule apply strictly to commands without argument? */
/*
 * The contract of issue 11: size bits are ignored for every command, also
 * TRACK_DISABLE and CTL_GET_FREE (STRICT_NOARG), and CTL_VERSION requires only
 * @reserved to be zero (STRICT_VERSION).  0 accepts the older behaviour too,
 * for a header older than that contract (it has no TLOOP_FEAT_WALK_SYNC).
 */
#ifdef TLOOP_FEAT_WALK_SYNC
#define FUZZ_ISSUE11 1
#else
#define FUZZ_ISSUE11 0
#endif
#ifndef FUZZ_STRICT_NOARG
#define FUZZ_STRICT_NOARG FUZZ_ISSUE11
#endif
#ifndef FUZZ_STRICT_VERSION
#define FUZZ_STRICT_VERSION FUZZ_ISSUE11
#endif

static void demand_check(const struct call *c, const struct tloop_written *w, uint32_t s0,
			 const uint64_t *got, unsigned int count);

struct result {
	long ret;
	int err;
	uint32_t s0, s1;	/* write sequence before and after */
};

/* consume() - pages of A cleared by this call: writes beginning after s1 are demanded again. */
static void consume(uint64_t first, uint64_t end, uint32_t s1)
{
	for (uint64_t p = first; p < end && p < A_PAGES; p++)
		covered[p] = s1;
}

/* a_resync() - learn A's tracking state from a clean STATUS (after an unknown effect). */
static void a_resync(uint32_t s1)
{
	struct tloop_track_status ts;
	int r = tlt_status(a_fd, &ts);

	if (r) {
		violation("A: clean TRACK_STATUS failed: %s", tlt_errname(-r));
		return;
	}
	if ((ts.flags & TLOOP_TRACK_ON) != a_on)
		a_gen_exact = false;
	if ((ts.flags & TLOOP_TRACK_ON) && !a_on) {
		a_on = true;
		base_seq = s1;
		a_limit = ts.mem_limit;
	} else if (!(ts.flags & TLOOP_TRACK_ON)) {
		a_on = false;
	}
}

/*
 * check_gen() - A's generation @g after a call that should have added @delta:
 * one per clearing call and per switch on or off, nothing else.
 */
static void check_gen(uint64_t g, unsigned int delta, const char *what)
{
	if (g < a_gen)
		violation("A: %s: generation went back from %" PRIu64 " to %" PRIu64, what, a_gen, g);
	else if (a_gen_exact && g != a_gen + delta)
		violation("A: %s: generation %" PRIu64 ", expected %" PRIu64 " (one step per "
			  "clearing call and per switch)", what, g, a_gen + delta);
	a_gen = g;
	a_gen_exact = true;
}

static void call_str(const struct call *c, char *buf, size_t len)
{
	size_t n = snprintf(buf, len, "%s on %s, cmd %#x, size %u, arg %s %#" PRIx64,
			    c->k >= 0 ? cmds[c->k].name : "unknown", t_name[c->target], c->cmd,
			    c->usize, p_name[c->p.cls], c->p.addr);

	if (c->k == C_ADD)
		n += snprintf(buf + n, len - n, ", backing %s", bk_name[c->bk]);
	if (c->k == C_GET || (c->k == C_INFO && c->in.addr))
		n += snprintf(buf + n, len - n, ", inner %s (%zu writable)", p_name[c->in.cls],
			      c->in.wr);
	if (c->k >= 0 && cmds[c->k].ksize) {
		n += snprintf(buf + n, len - n, ", bytes");
		for (size_t i = 4; i < cmds[c->k].ksize && n < len - 4; i += 4) {
			uint32_t v;

			memcpy(&v, c->img + i, 4);
			n += snprintf(buf + n, len - n, " %x", v);
		}
	}
}

static void judge(const struct call *c, const struct result *r, const struct eset *allow,
		  const char *why)
{
	int got = r->ret >= 0 ? 0 : r->err;
	char a[256], d[600];

	if (es_has(allow, got))
		return;
	es_str(allow, a, sizeof(a));
	call_str(c, d, sizeof(d));
	violation("%s -> %s (%ld), allowed %s%s%s", d, got ? tlt_errname(got) : "0", r->ret, a,
		  why ? ": " : "", why ? why : "");
}

/*
 * The backing-descriptor problems of an ADD (with a readable, sane struct).
 * Returns true if the ADD may also succeed (only problems that depend on the
 * kernel, like O_DIRECT on tmpfs).
 */
static bool add_problems(const struct tloop_add *a, int bk, struct eset *allow)
{
	bool certain;

	bool ro = a->flags & TLOOP_FLAG_READ_ONLY;

	switch (bk) {
	case BK_TMPFS:
	case BK_EXT4:
	case BK_ABACK:
	case BK_MEMFD:
		break;
	case BK_RDONLY:
	case BK_RDONLY_RO:
		if (!ro)
			es_add(allow, EBADF);
		break;
	case BK_TINY:
	case BK_PROC:
		es_add(allow, EINVAL);
		if (!ro)
			es_add(allow, EBADF);
		break;
	case BK_CLOSED:
	case BK_NEG:
	case BK_HUGE:
	case BK_OPATH:
		es_add(allow, EBADF);
		break;
	default:	/* not a regular file, perhaps not open for writing */
		es_add(allow, EINVAL);
		es_add(allow, EBADF);
		break;
	}
	if (a->size_limit && a->size_limit < (a->block_size == 4096 ? 4096 : 512))
		es_add(allow, EINVAL);
	certain = !es_empty(allow);
	if (a->flags & TLOOP_FLAG_DIRECT_IO && (bk != BK_EXT4 || !have_ext4))
		es_add(allow, EINVAL);	/* tmpfs does O_DIRECT only from 6.6 on */
	return !certain;
}

static void do_add_result(struct call *c, struct result *r, bool know_reply)
{
	const struct tloop_add *a = ST(struct tloop_add);
	int slot;

	if (r->ret < 0)
		return;
	if (know_reply && c->p.loc) {
		struct tloop_add back;

		memcpy(&back, c->p.loc, sizeof(back));
		if (back.index != r->ret)
			violation("CTL_ADD returned %ld but stored index %d", r->ret, back.index);
	}
	if (a->index >= 0 && r->ret != a->index)
		violation("CTL_ADD asked for index %d, got %ld", a->index, r->ret);
	slot = reg_put((int)r->ret, 1, -1, 0);
	if (slot < 0)
		violation("registry full");
}

static void remove_own(bool all)
{
	for (int i = 0; i < MAXREG; i++)
		if (reg[i].owner == 1 && (all || chance(50))) {
			int r = tlt_remove(ctl, reg[i].idx);

			if (r)
				violation("removing own device tloop%d: %s", reg[i].idx,
					  tlt_errname(-r));
			reg[i].owner = 0;
		}
}

static int own_count(void)
{
	int n = 0;

	for (int i = 0; i < MAXREG; i++)
		n += reg[i].owner == 1;
	return n;
}

/* check_ctl() - oracle of a control-node command (reg_lock held). */
static void check_ctl(struct call *c, struct result *r)
{
	struct eset allow = { 0 };
	bool racy = c->p.racy;

	if (c->k == C_GETFREE) {
		int want = reg_lowest_free();

		es_add(&allow, r->ret >= 0 ? 0 : ENOSPC);
		if (!FUZZ_STRICT_NOARG && c->cmd != TLOOP_CTL_GET_FREE)
			es_add(&allow, ENOTTY);
		judge(c, r, &allow, NULL);
		if (r->ret >= 0 && r->ret != want)
			violation("CTL_GET_FREE returned %ld, lowest free index is %d", r->ret, want);
		return;
	}
	if (racy) {
		/* Content is ours or zeroes: any of the command's answers, or EFAULT. */
		es_add(&allow, E_OK);
		es_add(&allow, EFAULT);
		es_add(&allow, EINVAL);
		es_add(&allow, E2BIG);
		if (c->k == C_ADD) {
			es_add(&allow, EBADF);
			es_add(&allow, EEXIST);
		}
		if (c->k == C_REMOVE) {
			es_add(&allow, ENXIO);
			es_add(&allow, EBUSY);
		}
		judge(c, r, &allow, "racy argument");
		if (c->k == C_ADD && r->ret >= 0)
			do_add_result(c, r, false);
		if (c->k == C_REMOVE && r->ret == 0) {
			int s = reg_find((int)ST(struct tloop_remove)->index);

			if (s >= 0 && reg[s].owner == 1)
				reg[s].owner = 0;
			else
				violation("racy CTL_REMOVE removed a device that is not the fuzzer's");
		}
		return;
	}
	if (prologue(c, &allow)) {
		judge(c, r, &allow, "size prologue");
		if (c->k == C_ADD)
			do_add_result(c, r, false);
		return;
	}
	switch (c->k) {
	case C_VERSION: {
		const struct tloop_version *v = ST(struct tloop_version);

		if (any_nz(v->reserved, sizeof(v->reserved))) {
			es_add(&allow, EINVAL);
			break;
		}
		if (v->abi_version || v->features || v->max_devices) {
#if FUZZ_STRICT_VERSION
			es_add(&allow, E_OK);
#else
			es_add(&allow, EINVAL);
			es_add(&allow, E_OK);
#endif
		} else {
			es_add(&allow, selftest ? EINVAL : E_OK);
		}
		if (c->p.wr < sizeof(*v)) {
			es_add(&allow, EFAULT);
			break;
		}
		if (r->ret == 0) {
			struct tloop_version back;

			memcpy(&back, c->p.loc, sizeof(back));
			if (back.abi_version != TLOOP_ABI_VERSION ||
			    !(back.features & TLOOP_FEAT_TRACKING) || back.max_devices != max_devices ||
			    any_nz(back.reserved, sizeof(back.reserved)))
				violation("CTL_VERSION reply: abi %u features %#" PRIx64 " max %u",
					  back.abi_version, (uint64_t)back.features, back.max_devices);
		}
		break;
	}
	case C_ADD: {
		const struct tloop_add *a = ST(struct tloop_add);
		bool may_ok;

		if ((a->flags & ~TLOOP_ADD_FLAGS) || a->reserved0 ||
		    any_nz(a->reserved, sizeof(a->reserved)) || a->persist_status ||
		    ((a->flags & TLOOP_FLAG_PERSIST) ? !(a->flags & TLOOP_FLAG_TRACK) :
		     a->persist_fd != 0) ||
		    (a->block_size && a->block_size != 512 && a->block_size != 4096) ||
		    a->index < -1 || (a->index >= 0 && (unsigned int)a->index >= max_devices)) {
			es_add(&allow, EINVAL);
			judge(c, r, &allow, "invalid field");
			do_add_result(c, r, false);
			return;
		}
		may_ok = add_problems(a, c->bk, &allow);
		if (a->flags & TLOOP_FLAG_PERSIST) {
			es_add(&allow, EBADF);	/* the sidecar descriptor is bad */
			may_ok = false;
		}
		if (a->index >= 0 && reg_find(a->index) >= 0) {
			es_add(&allow, EEXIST);
			may_ok = false;
		}
		if (c->p.wr < sizeof(*a)) {
			es_add(&allow, EFAULT);
			may_ok = false;
		}
		if (may_ok)
			es_add(&allow, E_OK);
		judge(c, r, &allow, NULL);
		do_add_result(c, r, c->p.wr >= sizeof(*a));
		return;
	}
	case C_REMOVE: {
		const struct tloop_remove *rm = ST(struct tloop_remove);
		int s;

		if (rm->flags || rm->reserved) {
			es_add(&allow, EINVAL);
			break;
		}
		s = reg_find((int)rm->index);
		if (rm->index >= max_devices || s < 0)
			es_add(&allow, ENXIO);
		else if (reg[s].owner == 1)
			es_add(&allow, E_OK);
		else
			es_add(&allow, EBUSY);	/* A, B: open; C: never chosen */
		judge(c, r, &allow, NULL);
		if (r->ret == 0 && s >= 0)
			reg[s].owner = 0;
		return;
	}
	}
	judge(c, r, &allow, NULL);
}

/* check_dev() - oracle of a device command on A (exact model) or B/C (state unknown). */
static void check_dev(struct call *c, struct result *r)
{
	struct eset allow = { 0 };
	bool isa = c->target == T_A || c->target == T_ARO;
	uint64_t nr = isa ? A_PAGES : c->dev_pages;
	bool racy = c->p.racy;

	if (c->k == C_DISABLE) {
		es_add(&allow, E_OK);
		if (!FUZZ_STRICT_NOARG && c->cmd != TLOOP_TRACK_DISABLE)
			es_add(&allow, ENOTTY);
		judge(c, r, &allow, NULL);
		if (isa && r->ret == 0) {
			if (a_on)
				a_gen++;
			a_on = false;
		}
		return;
	}
	if (racy) {
		es_add(&allow, E_OK);
		es_add(&allow, EFAULT);
		es_add(&allow, EINVAL);
		es_add(&allow, E2BIG);
		es_add(&allow, ENODATA);
		es_add(&allow, EBUSY);
		es_add(&allow, ENOENT);	/* a consumer field flipped to an id nobody has */
		judge(c, r, &allow, "racy argument");
		if (isa)
			a_gen_exact = false;
		if (isa && r->ret == 0) {
			if (c->k == C_GET && (ST(struct tloop_written)->flags & TLOOP_GET_CLEAR))
				consume(0, A_PAGES, r->s1);
			if (c->k == C_CLEAR)
				consume(0, A_PAGES, r->s1);
			if (c->k == C_ENABLE)
				a_resync(r->s1);
		}
		return;
	}
	if (prologue(c, &allow)) {
		judge(c, r, &allow, "size prologue");
		return;
	}
	switch (c->k) {
	case C_INFO: {
		const struct tloop_info *i = ST(struct tloop_info);
		size_t plen = strlen(a_backing), need;

		if (any_nz(i->reserved, sizeof(i->reserved))) {
			es_add(&allow, EINVAL);
			break;
		}
		if (c->p.wr < sizeof(*i))
			es_add(&allow, EFAULT);
		if (i->path && i->path_size) {
			need = (plen < i->path_size - 1 ? plen : i->path_size - 1) + 1;
			if (c->in.racy || c->in.wr < need || !isa)
				es_add(&allow, EFAULT);	/* B/C: path length not modelled */
			if (c->in.racy && c->p.wr >= sizeof(*i))
				es_add(&allow, E_OK);	/* mapped at that moment */
		}
		if (es_empty(&allow) || !isa)
			es_add(&allow, E_OK);
		judge(c, r, &allow, NULL);
		if (r->ret == 0 && isa && c->p.loc) {
			struct tloop_info b;

			memcpy(&b, c->p.loc, sizeof(b));
			if ((int)b.index != a_idx || b.dev_size != A_PAGES * PG ||
			    b.path_len != plen || b.attach_id != a_attach ||
			    ((b.flags & TLOOP_FLAG_TRACK) != 0) != a_on)
				violation("GET_INFO reply: index %u size %" PRIu64 " path_len %u "
					  "attach %#" PRIx64 " flags %#x (tracking %d)", b.index,
					  (uint64_t)b.dev_size, b.path_len, (uint64_t)b.attach_id,
					  b.flags, a_on);
			if (i->path && i->path_size && c->in.loc) {
				size_t n = plen < i->path_size - 1 ? plen : i->path_size - 1;

				if (memcmp(c->in.loc, a_backing, n) || c->in.loc[n])
					violation("GET_INFO path: %.*s", (int)n, (char *)c->in.loc);
			}
		}
		return;
	}
	case C_ENABLE: {
		const struct tloop_track_enable *e = ST(struct tloop_track_enable);

		if (e->flags || any_nz(e->reserved, sizeof(e->reserved))) {
			es_add(&allow, EINVAL);
			break;
		}
		if (!isa) {
			es_add(&allow, E_OK);
			es_add(&allow, EBUSY);
		} else {
			es_add(&allow, a_on ? EBUSY : E_OK);
		}
		judge(c, r, &allow, NULL);
		if (isa && r->ret == 0) {
			a_on = true;
			a_gen++;
			a_limit = e->mem_limit;
			base_seq = r->s1;
		}
		return;
	}
	case C_STATUS: {
		const struct tloop_track_status *s = ST(struct tloop_track_status);

		if (any_nz(s->reserved, sizeof(s->reserved))) {
			es_add(&allow, EINVAL);
			break;
		}
		if (s->consumer) {
			/* No named consumer is ever added here: no such consumer. */
			es_add(&allow, ENOENT);
			es_add(&allow, EFAULT);
			break;
		}
		es_add(&allow, c->p.wr < sizeof(*s) ? EFAULT : E_OK);
		judge(c, r, &allow, NULL);
		if (r->ret == 0 && c->p.loc) {
			struct tloop_track_status b;

			memcpy(&b, c->p.loc, sizeof(b));
			if (b.nr_pages != nr || b.page_size != PG || b.written > nr ||
			    (isa && ((b.flags & TLOOP_TRACK_ON) != 0) != a_on) ||
			    (isa && a_on && b.mem_limit != a_limit) || b.consumer ||
			    any_nz(b.reserved, sizeof(b.reserved)) || (b.flags & ~3U))
				violation("TRACK_STATUS on %s: flags %#x nr_pages %" PRIu64
					  " page_size %u written %" PRIu64 " mem_limit %" PRIu64
					  " (model: on %d, limit %" PRIu64 ")", t_name[c->target],
					  b.flags, (uint64_t)b.nr_pages, b.page_size,
					  (uint64_t)b.written, (uint64_t)b.mem_limit, a_on, a_limit);
			if (isa)
				check_gen(b.generation, 0, "TRACK_STATUS");
		}
		return;
	}
	case C_GET: {
		const struct tloop_written *w = ST(struct tloop_written);
		uint64_t end = w->end ? w->end : nr, span, want_entries;
		bool clear = w->flags & TLOOP_GET_CLEAR, bad;

		if ((w->flags & ~TLOOP_GET_FLAGS) ||
		    any_nz(w->reserved, sizeof(w->reserved))) {
			es_add(&allow, EINVAL);
			break;
		}
		if (w->consumer) {
			/* Checked after the other fields and the reply. */
			es_add(&allow, ENOENT);
			es_add(&allow, EINVAL);
			es_add(&allow, EFAULT);
			es_add(&allow, EPERM);
			break;
		}
		bad = !w->capacity || end > nr || w->cursor > end;
		if (bad)
			es_add(&allow, EINVAL);
		if (!isa || !a_on)
			es_add(&allow, ENODATA);
		span = end > w->cursor ? end - w->cursor : 0;
		want_entries = w->capacity < span ? w->capacity : span;
		if (want_entries > TLOOP_GET_MAX_BATCH)
			want_entries = TLOOP_GET_MAX_BATCH;
		if (!w->pages || c->in.racy || c->in.wr < want_entries * 8)
			es_add(&allow, EFAULT);
		if (c->p.wr < sizeof(*w))
			es_add(&allow, EFAULT);
		/* Success, with a count that fits the buffer (checked below). */
		if (!bad && (!isa || a_on) && w->pages && c->p.wr >= sizeof(*w))
			es_add(&allow, E_OK);
		judge(c, r, &allow, NULL);
		if (isa && clear && r->ret < 0 && r->err == EFAULT)
			a_gen_exact = false;	/* it may have cleared, then failed */
		if (r->ret != 0 || !c->p.loc || c->p.wr < sizeof(*w))
			return;
		{
			struct tloop_written b;
			uint64_t lim, got[A_PAGES + 1];
			unsigned int n;
			bool exact = a_gen_exact;

			if (isa && clear)
				a_gen_exact = false;	/* unless checked below */

			memcpy(&b, c->p.loc, sizeof(b));
			n = b.count;
			if (n > w->capacity || n > TLOOP_GET_MAX_BATCH || n > span ||
			    (uint64_t)n * 8 > c->in.wr || c->in.racy) {
				if (!c->in.racy || n > span)
					violation("GET_WRITTEN on %s: count %u (capacity %u, span %"
						  PRIu64 ", %zu bytes writable)", t_name[c->target],
						  n, w->capacity, span, c->in.wr);
				if (isa && clear)
					consume(w->cursor, end, r->s1);
				return;
			}
			if (!c->in.loc) {
				if (n)
					violation("GET_WRITTEN stored %u entries at %s %#" PRIx64, n,
						  p_name[c->in.cls], c->in.addr);
				return;
			}
			memcpy(got, c->in.loc, (size_t)n * 8);
			for (unsigned int i = 0; i < n; i++)
				if (got[i] < w->cursor || got[i] >= end || (i && got[i] <= got[i - 1])) {
					violation("GET_WRITTEN on %s: entry %u = %" PRIu64 " (cursor %"
						  PRIu64 ", end %" PRIu64 ")", t_name[c->target], i,
						  got[i], (uint64_t)w->cursor, end);
					return;
				}
			lim = b.next_cursor == TLOOP_CURSOR_END ? end : b.next_cursor;
			if (lim > end || lim < w->cursor || (n && lim <= got[n - 1]) ||
			    (b.next_cursor != TLOOP_CURSOR_END && lim == w->cursor && !n) ||
			    !(b.status & TLOOP_TRACK_ON) ||
			    ((b.status & TLOOP_TRACK_OVERFLOW) && n)) {
				violation("GET_WRITTEN on %s: next_cursor %#" PRIx64 " status %#x count %u"
					  " (cursor %" PRIu64 ", end %" PRIu64 ")", t_name[c->target],
					  (uint64_t)b.next_cursor, b.status, n, (uint64_t)w->cursor, end);
				return;
			}
			if (!isa)
				return;
			a_gen_exact = exact;
			check_gen(b.generation, clear && !(b.status & TLOOP_TRACK_OVERFLOW), "GET_WRITTEN");
			if (!(b.status & TLOOP_TRACK_OVERFLOW)) {
				struct tloop_written rng = *w;

				rng.end = lim;
				demand_check(c, &rng, r->s0, got, n);
			}
			if (clear)
				for (unsigned int i = 0; i < n; i++)
					covered[got[i]] = r->s1;
		}
		return;
	}
	case C_CLEAR: {
		const struct tloop_clear *cl = ST(struct tloop_clear);
		bool all = cl->flags & TLOOP_CLEAR_ALL;

		if ((cl->flags & ~TLOOP_CLEAR_ALL) || cl->reserved0 || cl->reserved1) {
			es_add(&allow, EINVAL);
			break;
		}
		if (cl->consumer) {
			/* Checked after the other fields. */
			es_add(&allow, ENOENT);
			es_add(&allow, EINVAL);
			break;
		}
		if (all ? (cl->start || cl->end) : (cl->start >= cl->end || cl->end > nr))
			es_add(&allow, EINVAL);
		if (!isa || !a_on)
			es_add(&allow, ENODATA);
		if (c->p.wr < sizeof(*cl))
			es_add(&allow, EFAULT);
		if (es_empty(&allow) || (!isa && !es_has(&allow, EINVAL)))
			es_add(&allow, E_OK);
		judge(c, r, &allow, NULL);
		if (!isa)
			return;
		/* Success, or EFAULT after clearing: the pages may be gone. */
		if (r->ret == 0 || (r->err == EFAULT && !es_has(&allow, EINVAL) && a_on)) {
			if (r->ret)
				a_gen_exact = false;
			if (all)
				base_seq = r->s1;
			else
				consume(cl->start, cl->end, r->s1);
			if (r->ret == 0 && c->p.loc) {
				struct tloop_clear b;

				memcpy(&b, c->p.loc, sizeof(b));
				check_gen(b.generation, 1, "CLEAR_WRITTEN");
			}
		}
		return;
	}
	}
	judge(c, r, &allow, NULL);
}

/*
 * demand_check() - every page of [w->cursor, w->end) whose last write ended
 * before the call began (s0) and began after the page was last consumed must
 * be among the @count pages of @got.  NOSYNC: only O_DIRECT writes are certain.
 */
static void demand_check(const struct call *c, const struct tloop_written *w, uint32_t s0,
			 const uint64_t *got, unsigned int count)
{
	bool nosync = w->flags & TLOOP_GET_NOSYNC;
	unsigned int j = 0, hist_shown = 0;
	char d[600] = "audit walk";

	if (c)
		call_str(c, d, sizeof(d));
	for (uint64_t p = w->cursor; p < w->end && p < A_PAGES; p++) {
		uint64_t v = atomic_load(nosync ? &pk_dio[p] : &pk_any[p]);
		uint32_t b = (uint32_t)(v >> 32), e = (uint32_t)v;

		while (j < count && got[j] < p)
			j++;
		if (!v || e > s0 || b <= covered[p] || b <= base_seq)
			continue;
		if (j < count && got[j] == p)
			continue;
		if (!hist_shown++ && atomic_load(&violations) < 40)
			for (unsigned long h = hist_n > HIST ? hist_n - HIST : 0; h < hist_n; h++)
				tlt_diag("call on A before this lost write: %s", hist[h % HIST]);
		atomic_fetch_add(&lost_writes, 1);
		violation("lost write: page %" PRIu64 " of A written [%u, %u], before the GET "
			  "(from %u, flags %#x, cursor %" PRIu64 ", end %" PRIu64 ", %u returned) "
			  "and after it was last consumed (%u, base %u), not reported; %s", p, b, e,
			  s0, w->flags, (uint64_t)w->cursor, (uint64_t)w->end, count, covered[p],
			  base_seq, d);
	}
}

/* audit() - a clean full walk of A (sync'd, no clear): the demand check over every page. */
static void audit(const char *when)
{
	struct tlt_pages got = { 0 };
	struct tloop_written w = { .cursor = 0, .end = A_PAGES };
	uint32_t s0;
	int r;

	if (selftest) {
		/* A phantom write the kernel never saw: the oracle must call it lost. */
		uint32_t b = atomic_fetch_add(&wseq, 1) + 1, e = atomic_fetch_add(&wseq, 1) + 1;

		publish(&pk_any[A_PAGES - 1], b, e);
	}
	s0 = seq_now();

	if (!a_on) {
		r = tlt_enable(a_fd, 0);
		if (r)
			violation("A: audit (%s): TRACK_ENABLE: %s", when, tlt_errname(-r));
		a_on = true;
		a_limit = 0;
		a_gen_exact = false;
		base_seq = seq_now();
		return;
	}
	r = tlt_get_all(a_fd, 0, 512, A_PAGES, &got);
	if (r) {
		violation("A: audit (%s): GET_WRITTEN walk: %s", when, tlt_errname(-r));
	} else if (got.status & TLOOP_TRACK_OVERFLOW) {
		r = tlt_clear(a_fd, TLOOP_CLEAR_ALL, 0, 0, NULL);
		if (r)
			violation("A: audit (%s): CLEAR_ALL: %s", when, tlt_errname(-r));
		/* A memory limit overflows again at once: track without one. */
		if (a_limit && !tlt_disable(a_fd) && !tlt_enable(a_fd, 0))
			a_limit = 0;
		a_gen_exact = false;
		base_seq = seq_now();
	} else {
		check_gen(got.generation, 0, "audit");
		demand_check(NULL, &w, s0, got.v, (unsigned int)got.n);
	}
	tlt_pages_free(&got);
	snprintf(hist[hist_n++ % HIST], sizeof(hist[0]), "#%lu audit (%s) from %u: %s, base %u",
		 cur_call, when, s0, r ? tlt_errname(-r) : "0", base_seq);
}

/* leak_check() - the devices in /sys/block are exactly the registry's (reg_lock held). */
static void leak_check(const char *when)
{
	char path[64];
	struct dirent *de;
	DIR *d = opendir("/sys/block");
	int idx;

	while (d && (de = readdir(d)))
		if (sscanf(de->d_name, "tloop%d", &idx) == 1 && reg_find(idx) < 0) {
			violation("%s: tloop%d exists but no add returned it", when, idx);
			if (!tlt_remove(ctl, idx))
				tlt_diag("removed the leaked tloop%d", idx);
		}
	if (d)
		closedir(d);
	for (int i = 0; i < MAXREG; i++) {
		if (!reg[i].owner)
			continue;
		snprintf(path, sizeof(path), "/sys/block/tloop%d", reg[i].idx);
		if (access(path, F_OK))
			violation("%s: tloop%d was added but is gone", when, reg[i].idx);
	}
}

/* ---------- setup ---------- */
static uint8_t *map_anon(size_t len, int prot)
{
	uint8_t *p = mmap(NULL, len, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		tlt_bail("mmap %zu", len);
	return p;
}

static void setup_backings(void)
{
	int pfd[2], sv[2];
	char cwd[256];

	if (!getcwd(cwd, sizeof(cwd)))
		tlt_bail("getcwd");
	mkdir("ext4", 0700);
	have_ext4 = !tlt_need_ext4() && !tlt_modprobe("loop") &&
		    !tlt_run("dd if=/dev/zero of=ext4.img bs=1M count=0 seek=64 2>/dev/null && "
			     TLT_MKE2FS " -q -F -t ext4 ext4.img && mount -o loop ext4.img ext4");
	if (!have_ext4)
		tlt_diag("no ext4 (loop mount failed): ext4 backing files are on tmpfs");
	bk_fd[BK_TMPFS] = tlt_open_file("tmpfs.img", 1 << 20, O_RDWR);
	bk_fd[BK_EXT4] = tlt_open_file("ext4/file.img", 1 << 20, O_RDWR);
	bk_fd[BK_MEMFD] = memfd_create("tloop-fuzz", MFD_CLOEXEC);
	if (bk_fd[BK_MEMFD] < 0 || ftruncate(bk_fd[BK_MEMFD], 1 << 20))
		tlt_bail("memfd");
	bk_fd[BK_RDONLY] = tlt_open_file("ro.img", 1 << 20, O_RDONLY);
	bk_fd[BK_RDONLY_RO] = bk_fd[BK_RDONLY];
	bk_fd[BK_TINY] = tlt_open_file("tiny.img", 100, O_RDWR);
	bk_fd[BK_DIR] = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (pipe(pfd))
		tlt_bail("pipe");
	bk_fd[BK_PIPE] = chance(50) ? pfd[0] : pfd[1];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
		tlt_bail("socketpair");
	bk_fd[BK_SOCK] = sv[0];
	bk_fd[BK_EVENTFD] = eventfd(0, EFD_CLOEXEC);
	bk_fd[BK_OPATH] = open("tmpfs.img", O_PATH | O_CLOEXEC);
	bk_fd[BK_NULL] = open("/dev/null", O_RDWR | O_CLOEXEC);
	bk_fd[BK_CTL] = ctl;
	bk_fd[BK_PROC] = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
	for (int i = 0; i < NBK; i++)
		if (i != BK_CLOSED && i != BK_NEG && i != BK_HUGE && i != BK_BLK && i != BK_ABACK &&
		    bk_fd[i] < 0)
			tlt_bail("backing %s", bk_name[i]);
}

static int add_dev(const char *path, uint64_t pages, unsigned int flags)
{
	int fd = tlt_open_file(path, (off_t)(pages * PG), O_RDWR), idx;
	struct tloop_add add = { .size = sizeof(add), .backing_fd = fd, .index = -1,
				 .flags = flags };

	idx = ioctl(ctl, TLOOP_CTL_ADD, &add);
	if (idx < 0)
		tlt_bail("TLOOP_CTL_ADD %s", path);
	reg_put(idx, 3, -1, pages);	/* owner 3: A, B */
	close(fd);
	return idx;
}

/* ---------- main ---------- */
int main(void)
{
	const char *s = getenv("TLOOP_FUZZ_SEED"), *nc = getenv("TLOOP_FUZZ_CALLS");
	pthread_t th[6];
	struct wctx wc[3];
	uint64_t counts[NT] = { 0 }, okc = 0, efault = 0, percmd[NCMD + 1] = { 0 };
	struct tloop_version v = { .size = sizeof(v) };
	struct tloop_info info = { .size = sizeof(info) };
	unsigned long leaked_before;
	double t0, t1;
	int memfd, r, nth = 0;

	if (s) {
		seed = strtoull(s, NULL, 0);
	} else {
		int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);

		if (fd < 0 || read(fd, &seed, sizeof(seed)) != sizeof(seed))
			seed = (uint64_t)time(NULL);
		if (fd >= 0)
			close(fd);
	}
	selftest = getenv("TLOOP_FUZZ_SELFTEST") && atoi(getenv("TLOOP_FUZZ_SELFTEST"));
	ncalls = nc ? strtoul(nc, NULL, 0) : 100000UL * tlt_scale();
	tlt_require_tracking();
	tlt_plan(7);
	tlt_diag("seed %#" PRIx64 "; reproduce: make test KVER=<kernel> TESTS=42-track-fuzz "
		 "TLOOP_FUZZ_SEED=%#" PRIx64 " (same call sequence; threads race differently)",
		 seed, seed);
	tlt_diag("%lu calls%s", ncalls, selftest ? "; SELF-TEST: the oracle is broken on purpose" : "");
	tlt_rand_seed(seed);
	signal(SIGPIPE, SIG_IGN);

	ctl = tlt_ctl_open();
	if (ioctl(ctl, TLOOP_CTL_VERSION, &v))
		tlt_bail("TLOOP_CTL_VERSION");
	max_devices = v.max_devices;
	setup_backings();

	/* A: the model device; B: tracking toggled by a thread. */
	snprintf(a_backing, sizeof(a_backing), "%s", "a.img");
	a_idx = add_dev("a.img", A_PAGES, TLOOP_FLAG_TRACK);
	a_fd = open_node(a_idx, O_RDWR);
	a_rofd = open_node(a_idx, O_RDONLY);
	a_dfd = open_node(a_idx, O_RDWR | O_DIRECT);
	b_idx = add_dev(have_ext4 ? "ext4/b.img" : "b.img", B_PAGES, 0);
	b_fd = open_node(b_idx, O_RDWR);
	if (a_fd < 0 || a_rofd < 0 || a_dfd < 0 || b_fd < 0)
		tlt_bail("open the nodes");
	bk_fd[BK_BLK] = a_fd;
	bk_fd[BK_ABACK] = open("a.img", O_RDWR | O_CLOEXEC);
	info.path = (uint64_t)(uintptr_t)a_backing;	/* replaced below by the real path */
	{
		static char path[sizeof(a_backing)];

		info.path = (uint64_t)(uintptr_t)path;
		info.path_size = sizeof(path);
		if (ioctl(a_fd, TLOOP_GET_INFO, &info))
			tlt_bail("TLOOP_GET_INFO");
		memcpy(a_backing, path, sizeof(a_backing));
		a_attach = info.attach_id;
	}
	a_on = true;
	a_map = mmap(NULL, A_PAGES * PG, PROT_READ | PROT_WRITE, MAP_SHARED, a_fd, 0);
	if (a_map == MAP_FAILED)
		tlt_bail("mmap A");

	arena = map_anon(4 * PG, PROT_READ | PROT_WRITE);
	mprotect(arena + 3 * PG, PG, PROT_NONE);
	ro = map_anon(3 * PG, PROT_READ);
	none = map_anon(PG, PROT_NONE);
	racy = map_anon(3 * PG, PROT_READ | PROT_WRITE);
	ibuf = map_anon(7 * PG, PROT_READ | PROT_WRITE);
	mprotect(ibuf + 6 * PG, PG, PROT_NONE);
	iro = map_anon(PG, PROT_READ);
	memfd = memfd_create("tloop-fuzz-eof", MFD_CLOEXEC);
	if (memfd < 0 || ftruncate(memfd, PG))
		tlt_bail("memfd");
	eofm = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	/* The inner buffers' own file: never the same memory as an argument. */
	close(memfd);
	memfd = memfd_create("tloop-fuzz-eof-inner", MFD_CLOEXEC);
	if (memfd < 0 || ftruncate(memfd, PG))
		tlt_bail("memfd");
	eofi = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	if (eofm == MAP_FAILED || eofi == MAP_FAILED)
		tlt_bail("mmap memfd");

	for (int i = 0; i < 3; i++) {
		wc[i].kind = i;
		wc[i].state = seed ^ (0x1111ULL * (i + 1));
		pthread_create(&th[nth++], NULL, writer, &wc[i]);
	}
	pthread_create(&th[nth++], NULL, toggler, (void *)(uintptr_t)(seed ^ 0xb));
	pthread_create(&th[nth++], NULL, adder, (void *)(uintptr_t)(seed ^ 0xc));
	pthread_create(&th[nth++], NULL, churner, (void *)(uintptr_t)(seed ^ 0xd));

	t0 = tlt_now();
	for (cur_call = 0; cur_call < ncalls; cur_call++) {
		static struct call cs;
		struct call *c = &cs;
		struct result res;
		int roll = (int)below(100), dupfd = -1;

		memset(c, 0, sizeof(*c));
		c->target = roll < 22 ? T_CTL : roll < 62 ? T_A : roll < 72 ? T_ARO : roll < 84 ? T_B :
			    roll < 92 ? T_C : T_OTHER;
		switch (c->target) {
		case T_CTL:
			c->fd = ctl;
			break;
		case T_A:
			c->fd = a_fd;
			break;
		case T_ARO:
			c->fd = a_rofd;
			break;
		case T_B:
			c->fd = b_fd;
			c->dev_pages = B_PAGES;
			break;
		case T_C:
			pthread_mutex_lock(&reg_lock);
			for (int i = 0; i < MAXREG; i++)
				if (reg[i].owner == 2 && reg[i].fd >= 0) {
					dupfd = fcntl(reg[i].fd, F_DUPFD_CLOEXEC, 0);
					c->dev_pages = reg[i].pages;
					break;
				}
			pthread_mutex_unlock(&reg_lock);
			if (dupfd < 0) {
				c->target = T_B;
				c->fd = b_fd;
				c->dev_pages = B_PAGES;
			} else {
				c->fd = dupfd;
				atomic_fetch_add(&n_cdup, 1);
			}
			break;
		default:
			do
				r = (int)below(BK_CLOSED);
			while (r == BK_BLK || r == BK_CTL);
			c->fd = bk_fd[r];
			break;
		}
		/* The command word. */
		if (chance(15)) {
			static const unsigned int dirs[] = { _IOC_NONE, _IOC_READ, _IOC_WRITE,
							     _IOC_READ | _IOC_WRITE };

			unsigned int nr;

			/*
			 * Not the snapshot commands (0x20-0x2f, 47-track-snap): a
			 * snapshot would hold the device (removal is EBUSY) and
			 * outlive the call.
			 */
			do
				nr = chance(70) ? (unsigned int)below(0x18) : (unsigned int)below(256);
			while (nr >= 0x20 && nr <= 0x2f);

			/* 0x30-0x3f: the consumer commands (49-track-consumers tests them). */
			if (nr >= 0x30 && nr <= 0x3f)
				nr -= 0x30;
			c->cmd = _IOC(dirs[below(4)], TLOOP_IOC_MAGIC, nr,
				      (unsigned int)below(_IOC_SIZEMASK + 1));
			c->k = cmd_lookup(c->cmd);
		} else {
			if (c->target == T_CTL)
				c->k = (int)below(4);
			else if (c->target == T_OTHER)
				c->k = (int)below(NCMD);
			else
				c->k = chance(8) ? (int)below(4) : 4 + (int)below(NCMD - 4);
			/* Weights: fewer ADDs, more GETs. */
			if (c->k == C_ADD && chance(70))
				c->k = C_VERSION;
			if ((c->k == C_DISABLE || c->k == C_ENABLE) && chance(60))
				c->k = C_GET;
			c->cmd = cmds[c->k].cmd;
			if (chance(15))
				c->cmd = (c->cmd & ~(_IOC_SIZEMASK << _IOC_SIZESHIFT)) |
					 ((unsigned int)below(_IOC_SIZEMASK + 1) << _IOC_SIZESHIFT);
		}
		if (c->k >= 0 && cmds[c->k].onctl != (c->target == T_CTL))
			c->k = -2 - c->k;	/* a real command on the wrong node: ENOTTY */
		/* Control commands touch the registry: serialise with the adder. */
		if (c->target == T_CTL)
			pthread_mutex_lock(&reg_lock);
		{
			int kk = c->k >= 0 ? c->k : c->k <= -2 ? -2 - c->k : C_VERSION;
			int save = c->k;

			c->k = kk;
			build(c);
			c->k = save;
			place(&c->p, pick_class(), c->img, c->len);
		}
		percmd[c->k >= 0 ? c->k : NCMD]++;
		counts[c->target]++;

		res.s0 = seq_now();
		res.ret = ioctl(c->fd, c->cmd, (unsigned long)c->p.addr);
		res.err = res.ret < 0 ? errno : 0;
		res.s1 = seq_now();
		okc += res.ret >= 0;
		efault += res.err == EFAULT;

		if (c->target == T_OTHER) {
			/* Not tloop's: anything but a crash (and never a tloop device). */
		} else if (c->k < 0) {
			struct eset allow = { 0 };

			es_add(&allow, ENOTTY);
			judge(c, &res, &allow, "not this node's command");
		} else if (c->target == T_CTL) {
			check_ctl(c, &res);
		} else {
			check_dev(c, &res);
		}
		if (c->target == T_CTL) {
			if (own_count() > 3)
				remove_own(false);
			pthread_mutex_unlock(&reg_lock);
		}
		if (dupfd >= 0)
			close(dupfd);
		if (c->target == T_A || c->target == T_ARO) {
			char d[600];

			call_str(c, d, sizeof(d));
			snprintf(hist[hist_n++ % HIST], sizeof(hist[0]), "#%lu %s -> %s [%u, %u]",
				 cur_call, d, res.ret < 0 ? tlt_errname(res.err) : "0", res.s0, res.s1);
			if (c->k == C_ENABLE || c->k == C_DISABLE || c->p.racy)
				a_resync(seq_now());
		}
		if (cur_call % 500 == 499)
			audit("periodic");
		if (cur_call % 10000 == 9999) {
			t1 = tlt_now();
			tlt_diag("%lu calls, %.0f s, %.0f calls/s, %lu violations", cur_call + 1,
				 t1 - t0, (cur_call + 1) / (t1 - t0), atomic_load(&violations));
			pthread_mutex_lock(&reg_lock);
			leak_check("periodic");
			pthread_mutex_unlock(&reg_lock);
		}
	}
	t1 = tlt_now();
	atomic_store(&stop, true);
	for (int i = 0; i < nth; i++)
		pthread_join(th[i], NULL);

	/* Final audit: the writers are stopped. */
	if (!a_on) {
		audit("final: enable");
	}
	audit("final");

	tlt_diag("%lu calls in %.1f s: %.0f calls/s; targets: control %" PRIu64 ", A %" PRIu64
		 ", A(O_RDONLY) %" PRIu64 ", B %" PRIu64 ", C %" PRIu64 ", other fds %" PRIu64,
		 ncalls, t1 - t0, ncalls / (t1 - t0), counts[T_CTL], counts[T_A], counts[T_ARO],
		 counts[T_B], counts[T_C], counts[T_OTHER]);
	tlt_diag("succeeded %" PRIu64 ", EFAULT %" PRIu64 "; per command: VERSION %" PRIu64
		 " ADD %" PRIu64 " REMOVE %" PRIu64 " GET_FREE %" PRIu64 " INFO %" PRIu64
		 " ENABLE %" PRIu64 " DISABLE %" PRIu64 " STATUS %" PRIu64 " GET %" PRIu64
		 " CLEAR %" PRIu64 " wrong-node/unknown %" PRIu64, okc, efault, percmd[0],
		 percmd[1], percmd[2], percmd[3], percmd[4], percmd[5], percmd[6], percmd[7],
		 percmd[8], percmd[9], percmd[10]);
	tlt_diag("background: %lu mmap stores, %lu O_DIRECT writes, %lu buffered writes, %lu B "
		 "operations, %lu C devices added and removed, %lu C duplicates queried",
		 atomic_load(&n_mmap), atomic_load(&n_dio), atomic_load(&n_buf),
		 atomic_load(&n_toggle), atomic_load(&n_cadd), atomic_load(&n_cdup));

	leaked_before = atomic_load(&violations);
	pthread_mutex_lock(&reg_lock);
	remove_own(true);
	leak_check("end");
	pthread_mutex_unlock(&reg_lock);

	tlt_result(leaked_before == atomic_load(&lost_writes),
		   "%lu calls: every result within the contract (%lu violations)", ncalls,
		   leaked_before - atomic_load(&lost_writes));
	tlt_result(!atomic_load(&lost_writes), "no lost writes: every GET_WRITTEN reported every "
		   "page written before it since it was consumed (%lu missing)",
		   atomic_load(&lost_writes));
	tlt_result(atomic_load(&violations) == leaked_before, "no device leaked or lost");
	tlt_result(atomic_load(&n_mmap) && atomic_load(&n_dio) && atomic_load(&n_buf),
		   "writers ran (%lu mmap, %lu O_DIRECT, %lu buffered)", atomic_load(&n_mmap),
		   atomic_load(&n_dio), atomic_load(&n_buf));
	tlt_result(atomic_load(&n_toggle) && atomic_load(&n_cadd) && atomic_load(&n_cdup),
		   "tracking toggler and device adder ran, C devices were queried");

	munmap(a_map, A_PAGES * PG);
	close(a_fd);
	close(a_rofd);
	close(a_dfd);
	close(b_fd);
	close(bk_fd[BK_ABACK]);
	r = tlt_remove(ctl, a_idx);
	tlt_result(!r, "device A removed (%s)", r ? tlt_errname(-r) : "ok");
	r = tlt_remove(ctl, b_idx);
	tlt_result(!r, "device B removed (%s)", r ? tlt_errname(-r) : "ok");
	for (int i = 0; i < NBK; i++)
		if (i != BK_CTL && i != BK_BLK && i != BK_RDONLY_RO && i != BK_ABACK &&
		    bk_fd[i] > 2 && bk_fd[i] < 1000)
			close(bk_fd[i]);
	if (have_ext4 && umount("ext4"))
		tlt_diag("umount ext4: %s", strerror(errno));
	tlt_exit();
}
