// SPDX-License-Identifier: GPL-2.0
/*
 * Persistence of the written sets (uapi DOC: persistence).
 *
 * The sidecar, all fields little-endian:
 *   struct tloop_ph            the header, at offset 0; @hcrc covers it
 *                              (with @hcrc 0), @bcrc covers the body
 *   the body, from block @body (of TLOOP_PBLOCK bytes) to @length; per
 *   set (@nr_sets):
 *     struct tloop_prec        id, flags, generation, memory limit, name
 *     struct tloop_pext ...    its pages as sorted, disjoint extents,
 *                              ended by one with @count 0
 * A set's pages are written only by a clean save; the copy written at add
 * time (marked in use) lists the consumers without pages, since a sidecar
 * still marked in use is never trusted.
 *
 * A write never touches the valid body: the new one goes in front of it if
 * it fits, else after it, and is made durable before the header that names
 * it is written (then fsynced).  A crash or an error in the middle of a
 * write leaves the previous header and body, both valid.  Version 1 (body
 * right after the header, the file exactly @length long) is still read.
 *
 * A save runs when nothing can write to the device any more (no opener,
 * opens refused), so the sets do not change while they are written.  Pages
 * are enumerated with tloop_written_collect() and restored with
 * tloop_written_record() only.
 */
#include <linux/bits.h>
#include <linux/crc32.h>
#include <linux/ctype.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/kdev_t.h>
#include <linux/random.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/stat.h>
#include <linux/string.h>

#include "tloop_internal.h"

/* "TLOOPSET" read as a little-endian u64. */
#define TLOOP_PH_MAGIC		0x544553504f4f4c54ULL
#define TLOOP_PH_VERSION	2
#define TLOOP_PH_VERSION_1	1
/* The body starts on a block of this size (the header has the first). */
#define TLOOP_PBLOCK		4096
/* struct tloop_ph.flags: the device is (or was, at a crash) in use. */
#define TLOOP_PH_IN_USE		BIT(0)
/* struct tloop_prec.flags: the set was overflowed. */
#define TLOOP_PREC_OVERFLOW	BIT(0)

/* Bytes buffered per read or write of the sidecar. */
#define TLOOP_PIO_BUF		(64 * 1024)
/* Pages per tloop_written_collect() call of a save. */
#define TLOOP_PCOLLECT		512

struct tloop_ph {
	__le64 magic;
	__le32 version;
	__le32 flags;
	__le64 length;		/* of the whole sidecar */
	__le32 hcrc;		/* crc32 of this header with hcrc 0 */
	__le32 bcrc;		/* crc32 of the bytes after this header */
	__le64 dev;		/* backing file: st_dev (new encoding) */
	__le64 ino;
	__le64 size;
	__le64 mtime_sec;
	__le64 ctime_sec;
	__le32 mtime_nsec;
	__le32 ctime_nsec;
	__le64 dev_size;	/* the device */
	__le32 block_size;
	__le32 nr_sets;
	__le64 attach_id;
	__le32 next_id;
	__le32 body;		/* version 2: the body's block; version 1: 0 */
};

struct tloop_prec {
	__le32 id;
	__le32 flags;
	__le64 generation;
	__le64 mem_limit;
	char name[TLOOP_CONSUMER_NAME_MAX];
};

struct tloop_pext {
	__le64 start;
	__le64 count;
};

/* The backing file's identity as a save records it. */
struct tloop_pid {
	u64 dev, ino, size;
	struct timespec64 mtime, ctime;
};

static const char * const tloop_persist_names[] = {
	[TLOOP_PERSIST_NONE] = "off",
	[TLOOP_PERSIST_NEW] = "new",
	[TLOOP_PERSIST_TRUSTED] = "trusted",
	[TLOOP_PERSIST_UNCLEAN] = "unclean",
	[TLOOP_PERSIST_CHANGED] = "changed",
	[TLOOP_PERSIST_CORRUPT] = "corrupt",
};

/**
 * tloop_persist_status_name() - the sysfs word of a TLOOP_PERSIST_* value.
 * @status: the value.
 *
 * Return: a static string.
 */
const char *tloop_persist_status_name(u32 status)
{
	if (status >= ARRAY_SIZE(tloop_persist_names))
		return "unknown";
	return tloop_persist_names[status];
}

static int tloop_persist_identity(struct file *backing, struct tloop_pid *id)
{
	struct kstat st;
	int ret;

	ret = vfs_getattr(&backing->f_path, &st, STATX_BASIC_STATS,
			  AT_STATX_SYNC_AS_STAT);
	if (ret)
		return ret;
	id->dev = new_encode_dev(st.dev);
	id->ino = st.ino;
	id->size = st.size;
	id->mtime = st.mtime;
	id->ctime = st.ctime;
	return 0;
}

/*
 * Wait until the file system's clock has moved past @id's timestamps, so a
 * change made after the save cannot get the same mtime and ctime (coarse
 * timestamps tick once per jiffy).  Bounded: a clock behind the file's
 * timestamps (set by a person) is not waited for.
 */
static void tloop_persist_tick(struct file *backing, const struct tloop_pid *id)
{
	struct inode *inode = file_inode(backing);
	int i;

	for (i = 0; i < 20; i++) {
		struct timespec64 now = current_time(inode);

		if (timespec64_compare(&now, &id->ctime) > 0 &&
		    timespec64_compare(&now, &id->mtime) > 0)
			return;
		schedule_timeout_uninterruptible(1);
	}
}

/* Buffered, checksummed I/O on the sidecar. */
struct tloop_pio {
	struct file *file;
	loff_t pos;
	loff_t end;		/* reading: the body's end; writing: never past it */
	u8 *buf;
	size_t fill;
	size_t off;
	u32 crc;
	int err;
	bool over;		/* writing: stopped at @end */
};

static int tloop_pio_flush(struct tloop_pio *w)
{
	size_t done = 0;

	/* Never past @end, where the valid body starts. */
	if (!w->err && w->pos + w->fill > w->end) {
		w->over = true;
		w->err = -EFBIG;
	}
	while (!w->err && done < w->fill) {
		ssize_t n = kernel_write(w->file, w->buf + done, w->fill - done, &w->pos);

		if (n < 0)
			w->err = n;
		else if (!n)
			w->err = -EIO;
		else
			done += n;
	}
	w->fill = 0;
	return w->err;
}

static void tloop_pio_put(struct tloop_pio *w, const void *data, size_t len)
{
	w->crc = crc32_le(w->crc, (const u8 *)data, len);
	while (len && !w->err) {
		size_t n = min(len, TLOOP_PIO_BUF - w->fill);

		memcpy(w->buf + w->fill, data, n);
		w->fill += n;
		data += n;
		len -= n;
		if (w->fill == TLOOP_PIO_BUF)
			tloop_pio_flush(w);
	}
}

/* Read exactly @len bytes; -EBADMSG past the sidecar's recorded length. */
static int tloop_pio_get(struct tloop_pio *r, void *data, size_t len)
{
	void *start = data;
	size_t want = len;

	while (len) {
		size_t n;

		if (r->off == r->fill) {
			size_t ask = min_t(loff_t, TLOOP_PIO_BUF, r->end - r->pos);
			ssize_t got;

			if (!ask)
				return -EBADMSG;
			got = kernel_read(r->file, r->buf, ask, &r->pos);
			if (got < 0)
				return got;
			if (!got)
				return -EBADMSG;
			r->fill = got;
			r->off = 0;
		}
		n = min(len, r->fill - r->off);
		memcpy(data, r->buf + r->off, n);
		r->off += n;
		data += n;
		len -= n;
	}
	r->crc = crc32_le(r->crc, (const u8 *)start, want);
	return 0;
}

static u32 tloop_ph_crc(struct tloop_ph *h)
{
	__le32 saved = h->hcrc;
	u32 crc;

	h->hcrc = 0;
	crc = crc32_le(~0U, (const u8 *)h, sizeof(*h));
	h->hcrc = saved;
	return crc;
}

/* A set to write: id, name, set. */
struct tloop_psrc {
	u32 id;
	const char *name;
	struct tloop_written_set *set;
};

/* Write @set's pages as extents, then the end marker. */
static void tloop_persist_put_pages(struct tloop_pio *w, struct tloop_written_set *set,
				    u64 *buf)
{
	struct tloop_pext e;
	u64 cursor = 0, start = 0, count = 0, epoch;
	unsigned int n, i;
	bool overflow;

	while (cursor != U64_MAX && !w->err) {
		u64 next;

		if (tloop_written_collect(set, cursor, set->nr_pages, buf, TLOOP_PCOLLECT,
					  &n, &next, &epoch, &overflow) || overflow)
			break;
		for (i = 0; i < n; i++) {
			if (count && buf[i] == start + count) {
				count++;
				continue;
			}
			if (count) {
				e.start = cpu_to_le64(start);
				e.count = cpu_to_le64(count);
				tloop_pio_put(w, &e, sizeof(e));
			}
			start = buf[i];
			count = 1;
		}
		cursor = next;
	}
	if (count) {
		e.start = cpu_to_le64(start);
		e.count = cpu_to_le64(count);
		tloop_pio_put(w, &e, sizeof(e));
	}
	e.start = 0;
	e.count = 0;
	tloop_pio_put(w, &e, sizeof(e));
}

/* The body: the sets of @src, their pages if @pages (@buf for collecting). */
static void tloop_persist_body(struct tloop_pio *w, const struct tloop_psrc *src,
			       unsigned int nr, bool pages, u64 *buf)
{
	unsigned int i;

	for (i = 0; i < nr; i++) {
		struct tloop_written_status st;
		struct tloop_prec r = { };

		tloop_written_status(src[i].set, &st);
		r.id = cpu_to_le32(src[i].id);
		r.flags = cpu_to_le32(st.overflow ? TLOOP_PREC_OVERFLOW : 0);
		r.generation = cpu_to_le64(st.generation);
		r.mem_limit = cpu_to_le64(st.mem_limit);
		strscpy(r.name, src[i].name, sizeof(r.name));
		tloop_pio_put(w, &r, sizeof(r));
		if (pages && !st.overflow) {
			tloop_persist_put_pages(w, src[i].set, buf);
		} else {
			struct tloop_pext e = { };

			tloop_pio_put(w, &e, sizeof(e));
		}
	}
}

/*
 * Write the sidecar: @h (identity, geometry, ids) with @flags, the sets of
 * @src, their pages if @pages (the sets do not change meanwhile: nothing
 * can write to the device), never over the valid body *@cur.  The body goes
 * in front of *@cur when there is room between the header's block and it,
 * else after it: tried in front first, and written again after it if it
 * did not fit.  It is fsynced, then the header naming it is written and
 * fsynced, and *@cur becomes the new body: until that header is on disk the
 * old header and body stay whole.  Last, the file is cut after the new body
 * (not needed for correctness: a longer file is read the same).
 */
static int tloop_persist_write(struct file *file, struct tloop_ph *h, u32 flags,
			       const struct tloop_psrc *src, unsigned int nr, bool pages,
			       struct tloop_pbody *cur)
{
	bool front = cur->end && cur->off >= 2 * TLOOP_PBLOCK;
	struct tloop_pio w = { };
	u64 *buf = NULL;
	u8 *wbuf;
	loff_t pos, off;
	ssize_t n;
	int ret;

	wbuf = kvmalloc(TLOOP_PIO_BUF, GFP_KERNEL);
	if (pages)
		buf = kvmalloc_array(TLOOP_PCOLLECT, sizeof(*buf), GFP_KERNEL);
	if (!wbuf || (pages && !buf)) {
		ret = -ENOMEM;
		goto out;
	}
	for (;;) {
		off = front || !cur->end ? TLOOP_PBLOCK : round_up(cur->end, TLOOP_PBLOCK);
		if (off / TLOOP_PBLOCK > U32_MAX) {
			ret = -EFBIG;
			goto out;
		}
		w = (struct tloop_pio){ .file = file, .pos = off, .buf = wbuf, .crc = ~0U,
					.end = front ? cur->off : LLONG_MAX };
		tloop_persist_body(&w, src, nr, pages, buf);
		ret = tloop_pio_flush(&w);
		if (!w.over || !front)
			break;
		front = false;	/* no room in front: after the valid body */
	}
	if (!ret)
		ret = vfs_fsync(file, 0);
	if (ret)
		goto out;

	h->magic = cpu_to_le64(TLOOP_PH_MAGIC);
	h->version = cpu_to_le32(TLOOP_PH_VERSION);
	h->flags = cpu_to_le32(flags);
	h->length = cpu_to_le64(w.pos);
	h->bcrc = cpu_to_le32(w.crc);
	h->nr_sets = cpu_to_le32(nr);
	h->body = cpu_to_le32(off / TLOOP_PBLOCK);
	h->hcrc = cpu_to_le32(tloop_ph_crc(h));
	pos = 0;
	n = kernel_write(file, h, sizeof(*h), &pos);
	if (n != sizeof(*h)) {
		ret = n < 0 ? n : -EIO;
		goto out;
	}
	ret = vfs_fsync(file, 0);
	if (ret)
		goto out;
	cur->off = off;
	cur->end = w.pos;
	if (i_size_read(file_inode(file)) > cur->end)
		vfs_truncate(&file->f_path, cur->end);
out:
	kvfree(buf);
	kvfree(wbuf);
	return ret;
}

static void tloop_ph_identity(struct tloop_ph *h, const struct tloop_pid *id)
{
	h->dev = cpu_to_le64(id->dev);
	h->ino = cpu_to_le64(id->ino);
	h->size = cpu_to_le64(id->size);
	h->mtime_sec = cpu_to_le64(id->mtime.tv_sec);
	h->mtime_nsec = cpu_to_le32(id->mtime.tv_nsec);
	h->ctime_sec = cpu_to_le64(id->ctime.tv_sec);
	h->ctime_nsec = cpu_to_le32(id->ctime.tv_nsec);
}

/**
 * tloop_persist_free() - drop what tloop_persist_load() returned.
 * @l: the load, or %NULL.
 */
void tloop_persist_free(struct tloop_persist_load *l)
{
	unsigned int i;

	if (!l)
		return;
	tloop_consumer_put(l->dflt);
	for (i = 0; i < l->nr; i++)
		tloop_consumer_put(l->named[i]);
	if (l->file)
		fput(l->file);
	kfree(l);
}

static void tloop_persist_drop_sets(struct tloop_persist_load *l)
{
	unsigned int i;

	tloop_consumer_put(l->dflt);
	l->dflt = NULL;
	for (i = 0; i < l->nr; i++)
		tloop_consumer_put(l->named[i]);
	l->nr = 0;
}

/*
 * Why the header of a sidecar of @len bytes is not usable, or NULL; the
 * body it names into *@body.  Version 1: right after the header, to the
 * end of the file.  Version 2: from its block to @length, which a longer
 * file may pass (a failed write, or a crash before the cut after a save).
 */
static const char *tloop_ph_check(struct tloop_ph *h, loff_t len, struct tloop_pbody *body)
{
	u64 length = le64_to_cpu(h->length);
	u32 blk = le32_to_cpu(h->body);

	if (le64_to_cpu(h->magic) != TLOOP_PH_MAGIC)
		return "bad magic";
	if (le32_to_cpu(h->hcrc) != tloop_ph_crc(h))
		return "header checksum mismatch";
	if (le32_to_cpu(h->version) == TLOOP_PH_VERSION_1) {
		if (blk)
			return "bad body offset";
		if (length != len)
			return "length mismatch (truncated or extended)";
		body->off = sizeof(*h);
	} else if (le32_to_cpu(h->version) == TLOOP_PH_VERSION) {
		if (!blk || (u64)blk * TLOOP_PBLOCK > length)
			return "bad body offset";
		if (length > len)
			return "length mismatch (truncated)";
		body->off = (loff_t)blk * TLOOP_PBLOCK;
	} else {
		return "unknown version";
	}
	body->end = length;
	if (le32_to_cpu(h->nr_sets) > TLOOP_MAX_CONSUMERS + 1)
		return "too many sets";
	return NULL;
}

/* Read one set and its extents; records the pages if @restore. */
static const char *tloop_persist_get_set(struct tloop_pio *r, struct tloop_persist_load *l,
					 u64 nr_pages, bool restore)
{
	struct tloop_consumer *c;
	struct tloop_prec rec;
	struct tloop_pext e;
	u64 prev_end = 0;
	size_t len;
	u32 id;
	int i;

	if (tloop_pio_get(r, &rec, sizeof(rec)))
		return "truncated set record";
	id = le32_to_cpu(rec.id);
	len = strnlen(rec.name, sizeof(rec.name));
	if (!len || len == sizeof(rec.name) || (le32_to_cpu(rec.flags) & ~TLOOP_PREC_OVERFLOW))
		return "bad set record";
	/* The characters of a consumer name (uapi DOC: consumers), nothing else. */
	for (i = 0; i < len; i++)
		if (!isalnum(rec.name[i]) && (!i || !strchr("._-", rec.name[i])))
			return "bad consumer name";
	if (id ? !strcmp(rec.name, TLOOP_CONSUMER_DEFAULT) || l->nr == TLOOP_MAX_CONSUMERS :
	    strcmp(rec.name, TLOOP_CONSUMER_DEFAULT) || l->dflt)
		return "bad set record";
	for (i = 0; i < l->nr; i++)
		if (l->named[i]->id == id || !strcmp(l->named[i]->name, rec.name))
			return "duplicate set";

	c = kzalloc(sizeof(*c), GFP_KERNEL);
	if (!c)
		return "out of memory";
	kref_init(&c->ref);
	c->id = id;
	memcpy(c->name, rec.name, sizeof(c->name));
	tloop_written_init(&c->set, nr_pages);
	if (tloop_written_enable(&c->set, le64_to_cpu(rec.mem_limit))) {
		kfree(c);
		return "cannot enable a set";
	}
	if (id)
		l->named[l->nr++] = c;
	else
		l->dflt = c;
	/*
	 * The generation: as saved when trusted, one more otherwise (a
	 * baseline naming the old one then mismatches too).  Set directly:
	 * tloop_written.h has no setter, and the set is not published yet.
	 */
	atomic64_set(&c->set.generation, le64_to_cpu(rec.generation) + !restore);
	if (!restore || (le32_to_cpu(rec.flags) & TLOOP_PREC_OVERFLOW))
		tloop_written_set_overflow(&c->set);

	for (;;) {
		u64 start, count;

		if (tloop_pio_get(r, &e, sizeof(e)))
			return "truncated extent list";
		start = le64_to_cpu(e.start);
		count = le64_to_cpu(e.count);
		if (!count)
			return start ? "bad extent end" : NULL;
		if (!restore)
			continue;	/* overflowed anyway; only the checksum matters */
		if (start < prev_end || start >= nr_pages || count > nr_pages - start)
			return "extent out of order or out of the device";
		prev_end = start + count;
		tloop_written_record(&c->set, start, start + count - 1);
		cond_resched();
	}
}

/* Read the sidecar into @l; sets @l->status and, if untrusted, why. */
static void tloop_persist_read(struct tloop_persist_load *l, struct file *backing,
			       u64 dev_size, unsigned int block_size)
{
	u64 nr_pages = DIV_ROUND_UP_ULL(dev_size, PAGE_SIZE);
	struct tloop_pio r = { .file = l->file, .crc = ~0U };
	loff_t len = i_size_read(file_inode(l->file));
	const char *why = NULL;
	struct tloop_pbody body;
	struct tloop_pid id;
	struct tloop_ph h;
	bool restore;
	unsigned int i;
	loff_t pos = 0;
	ssize_t n;

	l->attach_id = get_random_u64();
	l->next_id = 1;
	if (!len) {
		l->status = TLOOP_PERSIST_NEW;
		return;
	}
	if (len < sizeof(h)) {
		why = "shorter than its header";
		goto corrupt;
	}
	n = kernel_read(l->file, &h, sizeof(h), &pos);
	if (n != sizeof(h)) {
		why = "header unreadable";
		goto corrupt;
	}
	why = tloop_ph_check(&h, len, &body);
	if (why)
		goto corrupt;

	if (le32_to_cpu(h.flags) & TLOOP_PH_IN_USE) {
		l->status = TLOOP_PERSIST_UNCLEAN;
		why = "the last save was not clean (crash, power cut or busy at reboot)";
	} else if (le64_to_cpu(h.dev_size) != dev_size ||
		   le32_to_cpu(h.block_size) != block_size) {
		l->status = TLOOP_PERSIST_CHANGED;
		why = "the device's size or block size differs";
	} else if (tloop_persist_identity(backing, &id)) {
		l->status = TLOOP_PERSIST_CHANGED;
		why = "the backing file's attributes are unreadable";
	} else if (le64_to_cpu(h.dev) != id.dev || le64_to_cpu(h.ino) != id.ino) {
		l->status = TLOOP_PERSIST_CHANGED;
		why = "another backing file (device or inode differs)";
	} else if (le64_to_cpu(h.size) != id.size) {
		l->status = TLOOP_PERSIST_CHANGED;
		why = "the backing file's size changed";
	} else if (le64_to_cpu(h.mtime_sec) != id.mtime.tv_sec ||
		   le32_to_cpu(h.mtime_nsec) != id.mtime.tv_nsec ||
		   le64_to_cpu(h.ctime_sec) != id.ctime.tv_sec ||
		   le32_to_cpu(h.ctime_nsec) != id.ctime.tv_nsec) {
		l->status = TLOOP_PERSIST_CHANGED;
		why = "the backing file was changed (mtime or ctime differs)";
	} else {
		l->status = TLOOP_PERSIST_TRUSTED;
	}
	restore = l->status == TLOOP_PERSIST_TRUSTED;

	r.pos = body.off;
	r.end = body.end;
	r.buf = kvmalloc(TLOOP_PIO_BUF, GFP_KERNEL);
	if (!r.buf) {
		why = "out of memory";
		goto corrupt;
	}
	for (i = 0; i < le32_to_cpu(h.nr_sets); i++) {
		const char *bad = tloop_persist_get_set(&r, l, nr_pages, restore);

		if (bad) {
			why = bad;
			break;
		}
	}
	kvfree(r.buf);
	if (i < le32_to_cpu(h.nr_sets))
		goto corrupt;
	if (r.pos - r.fill + r.off != body.end) {
		why = "trailing bytes";
		goto corrupt;
	}
	if (r.crc != le32_to_cpu(h.bcrc)) {
		why = "checksum mismatch";
		goto corrupt;
	}
	l->next_id = le32_to_cpu(h.next_id) ? le32_to_cpu(h.next_id) : 1;
	/*
	 * Saved with tracking off: no set to vouch for, and the default set
	 * starts afresh, so the old attach id must not come back with it.
	 */
	if (restore && !l->dflt) {
		l->status = TLOOP_PERSIST_NEW;
		restore = false;
	}
	if (restore)
		l->attach_id = le64_to_cpu(h.attach_id);
	/* Valid, trusted or not: no write may go over it until one replaces it. */
	l->body = body;
	l->why = why;
	return;

corrupt:
	tloop_persist_drop_sets(l);
	l->status = TLOOP_PERSIST_CORRUPT;
	l->why = why;
}

/**
 * tloop_persist_load() - open and read the sidecar of an add.
 * @fd: the caller's descriptor of the sidecar.
 * @backing: the caller's file on the backing file.
 * @dev_size: the size the device will have.
 * @block_size: its block size.
 * @out: the result, for tloop_persist_mark(), tloop_persist_install() and
 *	tloop_persist_free().
 *
 * Nothing is written.  An invalid sidecar is not an error (the status says
 * so); an unusable descriptor is.
 *
 * Return: 0, -EBADF (not open, or not for reading and writing), -EINVAL
 * (not a regular file, or the backing file itself), -ENOMEM.
 */
int tloop_persist_load(int fd, struct file *backing, u64 dev_size,
		       unsigned int block_size, struct tloop_persist_load **out)
{
	struct tloop_persist_load *l;
	struct file *user;
	int ret = 0;

	user = fget(fd);
	if (!user)
		return -EBADF;
	if (!S_ISREG(file_inode(user)->i_mode) ||
	    file_inode(user) == file_inode(backing)) {
		ret = -EINVAL;
		goto out_put;
	}
	if ((user->f_mode & (FMODE_READ | FMODE_WRITE)) != (FMODE_READ | FMODE_WRITE)) {
		ret = -EBADF;
		goto out_put;
	}
	l = kzalloc(sizeof(*l), GFP_KERNEL);
	if (!l) {
		ret = -ENOMEM;
		goto out_put;
	}
	/* The device's own file: no O_APPEND or other flags of the caller's. */
	l->file = dentry_open(&user->f_path, O_RDWR | O_LARGEFILE, user->f_cred);
	if (IS_ERR(l->file)) {
		ret = PTR_ERR(l->file);
		l->file = NULL;
		kfree(l);
		goto out_put;
	}
	tloop_persist_read(l, backing, dev_size, block_size);
	*out = l;
out_put:
	fput(user);
	return ret;
}

/**
 * tloop_persist_mark() - rewrite the sidecar marked in use (without pages),
 * before the device appears.
 * @l: the load.
 * @dev_size: the device's size.
 * @block_size: its block size.
 *
 * Return: 0 or the error of the write or fsync.
 */
int tloop_persist_mark(struct tloop_persist_load *l, u64 dev_size, unsigned int block_size)
{
	struct tloop_psrc src[TLOOP_MAX_CONSUMERS + 1];
	struct tloop_ph h = { };
	unsigned int n = 0, i;

	if (l->dflt)
		src[n++] = (struct tloop_psrc){ 0, TLOOP_CONSUMER_DEFAULT, &l->dflt->set };
	for (i = 0; i < l->nr; i++)
		src[n++] = (struct tloop_psrc){ l->named[i]->id, l->named[i]->name,
						&l->named[i]->set };
	h.dev_size = cpu_to_le64(dev_size);
	h.block_size = cpu_to_le32(block_size);
	h.attach_id = cpu_to_le64(l->attach_id);
	h.next_id = cpu_to_le32(l->next_id);
	return tloop_persist_write(l->file, &h, TLOOP_PH_IN_USE, src, n, false, &l->body);
}

/**
 * tloop_persist_mem_limit() - the default consumer's restored memory limit.
 * @l: the load, or %NULL.
 *
 * Return: bytes, 0 for none.
 */
u64 tloop_persist_mem_limit(const struct tloop_persist_load *l)
{
	return l && l->dflt ? l->dflt->set.mem_limit : 0;
}

/**
 * tloop_persist_install() - give a device being created what was restored.
 * @dev: the device, tracking on, not visible yet.
 * @l: the load; consumed (freed).
 */
void tloop_persist_install(struct tloop_device *dev, struct tloop_persist_load *l)
{
	struct tloop_consumers *cs = &dev->consumers;
	unsigned int i;
	u64 pg, g;

	/* Said now, when a device gets them (not for an add that failed). */
	if (l->status == TLOOP_PERSIST_TRUSTED)
		pr_info("tloop%d: %pD: written sets restored: %u\n", dev->index, l->file,
			l->nr + !!l->dflt);
	else if (l->status == TLOOP_PERSIST_CORRUPT)
		pr_warn("tloop%d: %pD: not a valid tloop sidecar (%s): ignored, nothing restored\n",
			dev->index, l->file, l->why);
	else if (l->status != TLOOP_PERSIST_NEW)
		pr_warn("tloop%d: %pD: written sets not trusted: %s; every consumer starts overflowed\n",
			dev->index, l->file, l->why);
	dev->persist.file = l->file;
	dev->persist.status = l->status;
	dev->persist.body = l->body;
	l->file = NULL;
	dev->attach_id = l->attach_id;
	if (l->dflt) {
		g = atomic64_read(&l->dflt->set.generation);
		if (!tloop_written_move(&l->dflt->set, &dev->written, true, &pg, &pg))
			atomic64_set(&dev->written.generation, g);
	}
	down_write(&cs->lock);
	for (i = 0; i < l->nr; i++)
		cs->slot[i] = l->named[i];
	cs->next_id = l->next_id;
	/* Pairs with the acquire in tloop_consumers_record(). */
	smp_store_release(&cs->nr, l->nr);
	up_write(&cs->lock);
	l->nr = 0;
	tloop_persist_free(l);
}

/*
 * The sets of @dev to write into @src: the default one if tracking is on,
 * then every named consumer's, each referenced in @held (*@nh of them) so
 * that no lock is held across the writes; @h gets the next consumer id.
 * Return: the number of sets.
 */
static unsigned int tloop_persist_sources(struct tloop_device *dev, struct tloop_psrc *src,
					  struct tloop_consumer **held, unsigned int *nh,
					  struct tloop_ph *h)
{
	struct tloop_consumers *cs = &dev->consumers;
	struct tloop_written_status st;
	unsigned int n = 0, i;

	tloop_written_status(&dev->written, &st);
	if (st.on)
		src[n++] = (struct tloop_psrc){ 0, TLOOP_CONSUMER_DEFAULT, &dev->written };
	*nh = 0;
	down_read(&cs->lock);
	for (i = 0; i < cs->nr; i++) {
		held[*nh] = cs->slot[i];
		kref_get(&held[*nh]->ref);
		src[n++] = (struct tloop_psrc){ held[*nh]->id, held[*nh]->name,
						&held[*nh]->set };
		(*nh)++;
	}
	h->next_id = cpu_to_le32(cs->next_id);
	up_read(&cs->lock);
	h->dev_size = cpu_to_le64(dev->size);
	h->block_size = cpu_to_le32(dev->block_size);
	h->attach_id = cpu_to_le64(dev->attach_id);
	return n;
}

/**
 * tloop_persist_save() - save the sets of a device nothing can write to.
 * @dev: a device tloop_dev_begin_remove() accepted.
 *
 * The backing file is written back and fsynced first, its identity taken
 * after that.  A failure leaves the sidecar marked in use (the next add
 * then restores nothing as trusted) and is reported in the kernel log.
 *
 * Context: tloop_ctl_mutex held.
 */
void tloop_persist_save(struct tloop_device *dev)
{
	struct tloop_consumer *held[TLOOP_MAX_CONSUMERS];
	struct tloop_psrc src[TLOOP_MAX_CONSUMERS + 1];
	struct tloop_ph h = { };
	unsigned int n, nh, i;
	struct tloop_pid id;
	int ret;

	if (!dev->persist.file)
		return;
	mutex_lock(&dev->persist.lock);
	if (dev->persist.saved)
		goto unlock;
	ret = vfs_fsync(dev->backing, 0);
	if (!ret)
		ret = tloop_persist_identity(dev->backing, &id);
	if (ret)
		goto out;
	tloop_persist_tick(dev->backing, &id);

	n = tloop_persist_sources(dev, src, held, &nh, &h);
	tloop_ph_identity(&h, &id);
	ret = tloop_persist_write(dev->persist.file, &h, 0, src, n, true, &dev->persist.body);
	for (i = 0; i < nh; i++)
		tloop_consumer_put(held[i]);
out:
	if (ret)
		pr_warn("tloop%d: saving the sets to %pD failed (%d): the next attach will not trust them\n",
			dev->index, dev->persist.file, ret);
	else
		dev->persist.saved = true;
unlock:
	mutex_unlock(&dev->persist.lock);
}

/**
 * tloop_persist_remark() - rewrite the sidecar marked in use after the
 * device's consumers changed, so that a crash (an unclean restore) brings
 * back the consumers of that moment, not those of the add.
 * @dev: the device.
 *
 * A failure leaves the previous copy, whole (see tloop_persist_write()),
 * and is reported in the kernel log; the consumer change stands.
 */
void tloop_persist_remark(struct tloop_device *dev)
{
	struct tloop_consumer *held[TLOOP_MAX_CONSUMERS];
	struct tloop_psrc src[TLOOP_MAX_CONSUMERS + 1];
	struct tloop_ph h = { };
	unsigned int n, nh, i;
	int ret;

	if (!dev->persist.file)
		return;
	mutex_lock(&dev->persist.lock);
	if (!dev->persist.saved) {
		n = tloop_persist_sources(dev, src, held, &nh, &h);
		ret = tloop_persist_write(dev->persist.file, &h, TLOOP_PH_IN_USE, src, n, false,
					  &dev->persist.body);
		for (i = 0; i < nh; i++)
			tloop_consumer_put(held[i]);
		if (ret)
			pr_warn("tloop%d: recording the consumers in %pD failed (%d): a crash would restore the previous list\n",
				dev->index, dev->persist.file, ret);
	}
	mutex_unlock(&dev->persist.lock);
}
