// SPDX-License-Identifier: GPL-2.0
/*
 * tloop - attach, inspect and detach tloop devices, and refresh a copy
 * (area2) from the pages written to one.  See tloop(8).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "libtloop.h"
#include "util.h"


static const char *prog = "tloop";

static __attribute__((format(printf, 1, 2))) void errmsg(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/*
 * close_stdout() - the end of every command, as util-linux's close_stdout():
 * standard output is flushed and closed, and output lost on the way (a full
 * disk, a closed pipe's EIO, /dev/full) turns @status into a failure with a
 * message; EPIPE stays silent.  A failure to close standard error fails too.
 */
static int close_stdout(int status)
{
	int lost = ferror(stdout), err;

	errno = 0;
	if (fclose(stdout) && !lost)
		lost = 1;
	err = errno;
	if (lost && err != EPIPE) {
		if (err)
			errmsg("write error on standard output: %s", strerror(err));
		else
			errmsg("write error on standard output");
		status = EXIT_FAIL;
	}
	if (fclose(stderr))
		status = EXIT_FAIL;
	return status;
}

/* ctl_open() - the control node, with a hint when the module is missing. */
static int ctl_open(void)
{
	int fd = tloop_ctl_open();

	if (fd == -ENOENT)
		errmsg("%s: %s (is the tloop module loaded?)", TLOOP_CONTROL_NODE, strerror(-fd));
	else if (fd < 0)
		errmsg("%s: %s", TLOOP_CONTROL_NODE, strerror(-fd));
	return fd;
}

/* dev_arg() - the path of a device argument in @path; prints the error. */
static int dev_arg(const char *arg, char *path, size_t len)
{
	if (dev_path(arg, path, len)) {
		errmsg("%s: %s", arg, strerror(ENAMETOOLONG));
		return -ENAMETOOLONG;
	}
	return 0;
}

/* json_dev_area2() - start the JSON object of a device and its area2. */
static void json_dev_area2(struct json *j, const char *path, const char *area2)
{
	json_init(j, stdout);
	json_obj_begin(j, NULL);
	json_str(j, "device", path);
	json_str(j, "area2", area2);
}

/*
 * dev_open() - open a device argument, read-only or (@ctl) for changing its
 * tracking state; prints the error.
 */
static int dev_open(const char *arg, char *path, size_t len, int ctl)
{
	int fd;

	if (dev_arg(arg, path, len))
		return -ENAMETOOLONG;
	fd = ctl ? tloop_dev_open_ctl(path) : tloop_dev_open(path, O_RDONLY);
	if (fd == -ENOTTY)
		errmsg("%s: not a tloop device", path);
	else if (fd < 0)
		errmsg("%s: %s", path, strerror(-fd));
	return fd;
}

/*
 * consumer_id() - the id of consumer @name (NULL: the default consumer) of
 * the device open at @fd; prints the error.
 */
static int consumer_id(int fd, const char *path, const char *name, uint32_t *id)
{
	int ret = tloop_consumer_lookup(fd, name, id);

	if (ret == -EINVAL)
		errmsg("%s: '%s' is not a valid consumer name (1 to 31 of A-Z a-z 0-9 . _ -, "
		       "starting with a letter or digit)", path, name);
	else if (ret == -ENOENT)
		errmsg("%s: no consumer named '%s' (tloop consumer list %s)", path, name, path);
	else if (ret == -EOPNOTSUPP)
		errmsg("%s: the loaded tloop module has no named consumers", path);
	else if (ret)
		errmsg("%s: look up consumer '%s': %s", path, name, strerror(-ret));
	return ret;
}

static const char *consumer_str(const char *name)
{
	return name ? name : TLOOP_CONSUMER_DEFAULT;
}

static int cmd_attach(const struct cli *c)
{
	struct tloop_attach_opts o = {
		.sz = sizeof(o),
		.flags = c->add_flags,
		.block_size = c->block_size,
		.size_limit = c->size_limit,
	};
	unsigned int pst = TLOOP_PERSIST_NONE;
	int ctl, fd, pfd = -1, idx;
	char path[64];

	fd = open(c->file, ((c->add_flags & TLOOP_FLAG_READ_ONLY) ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (fd < 0) {
		errmsg("%s: %s", c->file, strerror(errno));
		return EXIT_FAIL;
	}
	if (c->persist) {
		/* Created if missing: an empty sidecar means "nothing saved yet". */
		pfd = open(c->persist, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		if (pfd < 0) {
			errmsg("%s: %s", c->persist, strerror(errno));
			close(fd);
			return EXIT_FAIL;
		}
	}
	ctl = ctl_open();
	if (ctl < 0) {
		close(fd);
		if (pfd >= 0)
			close(pfd);
		return EXIT_FAIL;
	}
	if (pfd >= 0) {
		idx = tloop_attach_persist(ctl, fd, pfd, &o, &pst);
		close(pfd);
	} else {
		idx = tloop_attach_fd(ctl, fd, &o);
	}
	close(fd);
	close(ctl);
	if (idx == -EOPNOTSUPP && c->persist) {
		errmsg("%s: attach failed: the loaded tloop module has no persistence", c->file);
		return EXIT_FAIL;
	}
	if (idx == -EINVAL && c->persist)
		errmsg("%s: attach failed: %s (a sidecar must be a regular file other than "
		       "the backing file)", c->file, strerror(-idx));
	else if (idx == -EBUSY && c->persist)
		errmsg("%s: attach failed: sidecar %s is in use by another device", c->file,
		       c->persist);
	else if (idx < 0)
		errmsg("%s: attach failed: %s", c->file, strerror(-idx));
	if (idx < 0)
		return EXIT_FAIL;
	tloop_dev_path((unsigned int)idx, path, sizeof(path));
	printf("%s\n", path);
	if (pst == TLOOP_PERSIST_UNCLEAN || pst == TLOOP_PERSIST_CHANGED)
		errmsg("%s: the saved written sets are not trusted (%s): every consumer starts "
		       "overflowed, the next sync of each is a full copy", path,
		       pst == TLOOP_PERSIST_UNCLEAN ?
		       "the last save was not clean: crash, power cut or busy at shutdown" :
		       "the backing file or the device geometry changed since the save");
	else if (pst == TLOOP_PERSIST_CORRUPT)
		errmsg("%s: sidecar %s is not a valid tloop sidecar (see the kernel log): "
		       "ignored, nothing restored, the next sync of each area2 is a full copy",
		       path, c->persist);
	return EXIT_OK;
}

/* detach_one() - detach the device at @path; prints the error. */
static int detach_one(int ctl, const char *arg)
{
	struct tloop_info info;
	char path[PATH_MAX];
	int fd, ret;

	fd = dev_open(arg, path, sizeof(path), 0);
	if (fd < 0)
		return -1;
	ret = tloop_get_info(fd, &info, NULL, 0);
	close(fd);
	if (!ret)
		ret = tloop_detach(ctl, info.index);
	if (ret) {
		errmsg("%s: detach failed: %s", path, strerror(-ret));
		return -1;
	}
	return 0;
}

static int cmd_detach(const struct cli *c)
{
	unsigned int *idx = NULL;
	int ctl, i, failed = 0;
	size_t n, k;

	ctl = ctl_open();
	if (ctl < 0)
		return EXIT_FAIL;
	if (c->all) {
		int ret = tloop_list_all(&idx, &n);

		if (ret) {
			errmsg("list devices: %s", strerror(-ret));
			free(idx);
			close(ctl);
			return EXIT_FAIL;
		}
		for (k = 0; k < n; k++) {
			char path[64];

			tloop_dev_path(idx[k], path, sizeof(path));
			ret = tloop_detach(ctl, idx[k]);
			if (ret) {
				errmsg("%s: detach failed: %s", path, strerror(-ret));
				failed = 1;
			}
		}
		free(idx);
	} else {
		for (i = 0; i < c->ndevs; i++)
			if (detach_one(ctl, c->devs[i]))
				failed = 1;
	}
	close(ctl);
	return failed ? EXIT_FAIL : EXIT_OK;
}

/* What list and status know about one device. */
struct devstate {
	char path[64];
	char backing[PATH_MAX];
	struct tloop_info info;
	struct tloop_track_status ts;
	int have_ts;
};

static int dev_state(int fd, struct devstate *d)
{
	int ret;

	ret = tloop_get_info(fd, &d->info, d->backing, sizeof(d->backing));
	if (ret)
		return ret;
	tloop_dev_path(d->info.index, d->path, sizeof(d->path));
	d->have_ts = !tloop_track_status(fd, &d->ts);
	return 0;
}

static const char *flags_str(unsigned int flags, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s%s", (flags & TLOOP_FLAG_READ_ONLY) ? "ro," : "",
		 (flags & TLOOP_FLAG_DIRECT_IO) ? "dio," : "",
		 (flags & TLOOP_FLAG_PARTSCAN) ? "part," : "");
	if (buf[0])
		buf[strlen(buf) - 1] = '\0';
	else
		snprintf(buf, len, "-");
	return buf;
}

static const char *track_str(const struct devstate *d)
{
	if (!d->have_ts)
		return "?";
	if (!(d->ts.flags & TLOOP_TRACK_ON))
		return "off";
	return (d->ts.flags & TLOOP_TRACK_OVERFLOW) ? "overflow" : "on";
}

static void json_dev(struct json *j, const struct devstate *d, int full)
{
	int on = d->have_ts && (d->ts.flags & TLOOP_TRACK_ON);
	char id[20];

	snprintf(id, sizeof(id), "%016" PRIx64, (uint64_t)d->info.attach_id);
	json_str(j, "device", d->path);
	json_u64(j, "index", d->info.index);
	json_str(j, "backing_file", d->backing);
	json_u64(j, "size", d->info.dev_size);
	json_u64(j, "block_size", d->info.block_size);
	json_u64(j, "size_limit", d->info.size_limit);
	json_bool(j, "read_only", d->info.flags & TLOOP_FLAG_READ_ONLY);
	json_bool(j, "direct_io", d->info.flags & TLOOP_FLAG_DIRECT_IO);
	json_bool(j, "partscan", d->info.flags & TLOOP_FLAG_PARTSCAN);
	json_str(j, "attach_id", id);
	json_bool(j, "tracking", on);
	json_bool(j, "overflow", d->have_ts && (d->ts.flags & TLOOP_TRACK_OVERFLOW));
	json_u64(j, "written_pages", on ? d->ts.written : 0);
	json_u64(j, "page_size", d->have_ts ? d->ts.page_size : 0);
	json_u64(j, "generation", d->have_ts ? d->ts.generation : 0);
	if (full) {
		char bdev[32];

		snprintf(bdev, sizeof(bdev), "%u:%u", major((dev_t)d->info.backing_dev),
			 minor((dev_t)d->info.backing_dev));
		json_str(j, "backing_dev", bdev);
		json_u64(j, "backing_ino", d->info.backing_ino);
		json_u64(j, "nr_pages", d->have_ts ? d->ts.nr_pages : 0);
		json_u64(j, "mem_used", d->have_ts ? d->ts.mem_used : 0);
		json_u64(j, "mem_limit", d->have_ts ? d->ts.mem_limit : 0);
	}
}

/* json_consumer() - the members of one consumer's object. */
static void json_consumer(struct json *j, const struct tloop_consumer_info *ci)
{
	char name[TLOOP_CONSUMER_NAME_MAX + 1];

	snprintf(name, sizeof(name), "%.*s", (int)sizeof(ci->name), ci->name);
	json_str(j, "name", name);
	json_u64(j, "id", ci->id);
	json_bool(j, "overflow", ci->status & TLOOP_TRACK_OVERFLOW);
	json_u64(j, "written_pages", ci->written);
	json_u64(j, "generation", ci->generation);
	json_u64(j, "mem_used", ci->mem_used);
	json_u64(j, "mem_limit", ci->mem_limit);
}

/* json_consumers() - the "consumers" array of @n consumers. */
static void json_consumers(struct json *j, const struct tloop_consumer_info *ci, size_t n)
{
	size_t k;

	json_arr_begin(j, "consumers", 0);
	for (k = 0; k < n; k++) {
		json_obj_begin(j, NULL);
		json_consumer(j, &ci[k]);
		json_obj_end(j);
	}
	json_arr_end(j);
}

static const char *size_col(uint64_t v, int bytes, char *buf, size_t len)
{
	if (bytes)
		snprintf(buf, len, "%" PRIu64, v);
	else
		format_size(v, buf, len);
	return buf;
}

/* list_row() - one device of tloop list, as a table row or a JSON object. */
static void list_row(const struct cli *c, struct json *j, const struct devstate *d)
{
	char sz[32], fl[32], wr[32];

	if (c->json) {
		json_obj_begin(j, NULL);
		json_dev(j, d, 0);
		json_obj_end(j);
		return;
	}
	if (d->have_ts && (d->ts.flags & TLOOP_TRACK_ON))
		snprintf(wr, sizeof(wr), "%" PRIu64, (uint64_t)d->ts.written);
	else
		snprintf(wr, sizeof(wr), "-");
	printf("%-12s %-10s %-8s %-6s %-7s %s\n", d->path,
	       size_col(d->info.dev_size, c->bytes, sz, sizeof(sz)),
	       flags_str(d->info.flags, fl, sizeof(fl)), track_str(d), wr, d->backing);
}

/* cmd_list() - every device, each printed as soon as it was queried. */
static int cmd_list(const struct cli *c)
{
	unsigned int *idx = NULL;
	struct devstate d;
	struct json j;
	size_t n, k;
	int ret, failed = 0;

	ret = tloop_list_all(&idx, &n);
	if (ret == -ENOENT) {
		n = 0;
	} else if (ret) {
		errmsg("list devices: %s", strerror(-ret));
		free(idx);
		return EXIT_FAIL;
	}
	if (c->json) {
		json_init(&j, stdout);
		json_obj_begin(&j, NULL);
		json_arr_begin(&j, "devices", 0);
	} else if (!c->noheadings) {
		printf("%-12s %-10s %-8s %-6s %-7s %s\n", "DEVICE", "SIZE", "FLAGS", "TRACK",
		       "WRITTEN", "BACK-FILE");
	}
	for (k = 0; k < n; k++) {
		char path[64];
		int fd;

		tloop_dev_path(idx[k], path, sizeof(path));
		fd = tloop_dev_open(path, O_RDONLY);
		ret = fd < 0 ? fd : dev_state(fd, &d);
		if (fd >= 0)
			close(fd);
		if (!ret) {
			list_row(c, &j, &d);
			continue;
		}
		/* Detached meanwhile: not an error of list. */
		if (ret != -ENOENT && ret != -ENXIO && ret != -ENODEV) {
			errmsg("%s: %s", path, strerror(-ret));
			failed = 1;
		}
	}
	if (c->json) {
		json_arr_end(&j);
		json_obj_end(&j);
	}
	free(idx);
	return failed ? EXIT_FAIL : EXIT_OK;
}

static int cmd_status(const struct cli *c)
{
	char path[PATH_MAX], sz[32], fl[32];
	struct devstate d;
	struct json j;
	int fd, ret;

	struct tloop_consumer_info ci[TLOOP_MAX_CONSUMERS + 1];
	char pst[32] = "", pfile[PATH_MAX] = "";
	size_t nci = 0, k;
	int have_persist;
	uint32_t id = 0;

	fd = dev_open(c->devs[0], path, sizeof(path), 0);
	if (fd < 0)
		return EXIT_FAIL;
	ret = dev_state(fd, &d);
	if (!ret && c->consumer) {
		ret = consumer_id(fd, path, c->consumer, &id);
		if (ret) {
			close(fd);
			return EXIT_FAIL;
		}
		d.have_ts = !tloop_consumer_status(fd, id, &d.ts);
	}
	/* A module without consumers lists none: that is not an error. */
	if (!ret && tloop_consumer_list(fd, ci, TLOOP_MAX_CONSUMERS + 1, &nci) < 0)
		nci = 0;
	/* Nor is a module without persistence. */
	have_persist = !ret && !tloop_persist_info(d.info.index, pst, sizeof(pst), pfile,
						    sizeof(pfile));
	close(fd);
	if (ret) {
		errmsg("%s: %s", path, strerror(-ret));
		return EXIT_FAIL;
	}
	if (c->json) {
		json_init(&j, stdout);
		json_obj_begin(&j, NULL);
		json_dev(&j, &d, 1);
		json_str(&j, "consumer", consumer_str(c->consumer));
		json_consumers(&j, ci, nci);
		/* restore: off, new, trusted, unclean, changed or corrupt. */
		json_obj_begin(&j, "persist");
		json_str(&j, "sidecar", have_persist ? pfile : "");
		json_str(&j, "restore", have_persist ? pst : "off");
		json_obj_end(&j);
		json_obj_end(&j);
		return EXIT_OK;
	}
	printf("%s\n", d.path);
	printf("  backing file:  %s (device %u:%u, inode %" PRIu64 ")\n", d.backing,
	       major((dev_t)d.info.backing_dev), minor((dev_t)d.info.backing_dev),
	       (uint64_t)d.info.backing_ino);
	printf("  size:          %s (%" PRIu64 " bytes", size_col(d.info.dev_size, c->bytes, sz,
	       sizeof(sz)), (uint64_t)d.info.dev_size);
	if (d.info.size_limit)
		printf(", limit %" PRIu64, (uint64_t)d.info.size_limit);
	printf(")\n  block size:    %u\n", d.info.block_size);
	printf("  flags:         %s\n", flags_str(d.info.flags, fl, sizeof(fl)));
	printf("  attach id:     %016" PRIx64 "\n", (uint64_t)d.info.attach_id);
	if (have_persist && strcmp(pst, "off"))
		printf("  persistence:   %s (restore at attach: %s)\n", pfile, pst);
	else
		printf("  persistence:   off\n");
	if (!d.have_ts) {
		printf("  tracking:      unknown\n");
		return EXIT_OK;
	}
	printf("  tracking:      %s (generation %" PRIu64 ")\n", track_str(&d),
	       (uint64_t)d.ts.generation);
	printf("  page size:     %u (%" PRIu64 " pages)\n", d.ts.page_size,
	       (uint64_t)d.ts.nr_pages);
	if (d.ts.flags & TLOOP_TRACK_ON) {
		printf("  written:       %" PRIu64 " pages%s\n", (uint64_t)d.ts.written,
		       (d.ts.flags & TLOOP_TRACK_OVERFLOW) ?
		       " (overflowed: every page counts as written)" : "");
		printf("  memory:        %" PRIu64 " bytes used, limit ", (uint64_t)d.ts.mem_used);
		if (d.ts.mem_limit)
			printf("%" PRIu64 " bytes\n", (uint64_t)d.ts.mem_limit);
		else
			printf("none\n");
	}
	if (c->consumer)
		printf("  (the tracking lines are consumer %s's)\n", c->consumer);
	if (nci > 1) {
		printf("  consumers:     %zu\n", nci);
		for (k = 0; k < nci; k++)
			printf("    %-31.31s written %" PRIu64 " pages%s, generation %" PRIu64 "\n",
			       ci[k].name, (uint64_t)ci[k].written,
			       (ci[k].status & TLOOP_TRACK_OVERFLOW) ? " (overflowed)" : "",
			       (uint64_t)ci[k].generation);
	}
	return EXIT_OK;
}

static int cmd_track(const struct cli *c)
{
	char path[PATH_MAX];
	int fd, ret;

	fd = dev_open(c->devs[0], path, sizeof(path), 1);
	if (fd < 0)
		return EXIT_FAIL;
	ret = c->track_on ? tloop_track_enable(fd, c->mem_limit) : tloop_track_disable(fd);
	close(fd);
	if (ret == -EBUSY && c->track_on) {
		errmsg("%s: tracking is already on", path);
		return EXIT_FAIL;
	}
	if (ret) {
		errmsg("%s: track %s: %s", path, c->track_on ? "on" : "off", strerror(-ret));
		return EXIT_FAIL;
	}
	return EXIT_OK;
}

/* Streaming output of tloop written. */
struct written_out {
	const struct cli *c;
	struct json j;
	uint64_t run_start;
	uint64_t run_count;
	uint64_t nr_runs;
	int out_lost;		/* standard output failed: the walk was stopped */
};

static void flush_run(struct written_out *o)
{
	if (!o->run_count)
		return;
	o->nr_runs++;
	if (o->c->json) {
		json_obj_begin(&o->j, NULL);
		json_u64(&o->j, "start", o->run_start);
		json_u64(&o->j, "count", o->run_count);
		json_obj_end(&o->j);
	} else if (o->run_count == 1) {
		printf("%" PRIu64 "\n", o->run_start);
	} else {
		printf("%" PRIu64 "-%" PRIu64 "\n", o->run_start, o->run_start + o->run_count - 1);
	}
	o->run_count = 0;
}

static int written_batch(const uint64_t *pages, size_t n, void *arg)
{
	struct written_out *o = arg;
	size_t i;

	for (i = 0; i < n; i++) {
		if (!o->c->ranges) {
			if (o->c->json)
				json_u64(&o->j, NULL, pages[i]);
			else
				printf("%" PRIu64 "\n", pages[i]);
			continue;
		}
		if (o->run_count && pages[i] == o->run_start + o->run_count) {
			o->run_count++;
			continue;
		}
		flush_run(o);
		o->run_start = pages[i];
		o->run_count = 1;
	}
	if (ferror(stdout)) {
		o->out_lost = 1;
		return -EIO;
	}
	return 0;
}

static int cmd_written(const struct cli *c)
{
	struct tloop_walk_opts wo = { .sz = sizeof(wo), .flags = c->clear ? TLOOP_GET_CLEAR : 0 };
	struct tloop_walk_result wr = { 0 };
	struct tloop_track_status ts;
	struct written_out o = { .c = c };
	char path[PATH_MAX];
	int fd, ret;

	fd = dev_open(c->devs[0], path, sizeof(path), c->clear);
	if (fd < 0)
		return EXIT_FAIL;
	if (consumer_id(fd, path, c->consumer, &wo.consumer)) {
		close(fd);
		return EXIT_FAIL;
	}
	ret = tloop_consumer_status(fd, wo.consumer, &ts);
	if (ret) {
		errmsg("%s: %s", path, strerror(-ret));
		close(fd);
		return EXIT_FAIL;
	}
	if (!(ts.flags & TLOOP_TRACK_ON)) {
		errmsg("%s: tracking is off (tloop track on %s)", path, path);
		close(fd);
		return EXIT_FAIL;
	}
	if (c->json) {
		json_init(&o.j, stdout);
		json_obj_begin(&o.j, NULL);
		json_str(&o.j, "device", path);
		json_str(&o.j, "consumer", consumer_str(c->consumer));
		json_u64(&o.j, "page_size", ts.page_size);
		json_bool(&o.j, "cleared", c->clear);
		if (c->ranges)
			json_arr_begin(&o.j, "ranges", 0);
		else
			json_arr_begin(&o.j, "pages", 1);
	}
	ret = tloop_walk_written(fd, &wo, written_batch, &o, &wr);
	close(fd);
	if (c->ranges)
		flush_run(&o);
	if (c->json) {
		json_arr_end(&o.j);
		json_u64(&o.j, "count", wr.pages);
		json_u64(&o.j, "generation", wr.generation);
		json_bool(&o.j, "overflow", ret == -EOVERFLOW);
		json_obj_end(&o.j);
	}
	if (fflush(stdout) == EOF || ferror(stdout))
		o.out_lost = 1;
	if (o.out_lost) {
		/* close_stdout() reports the write error itself. */
		if (c->clear)
			errmsg("%s: pages cleared by --clear may be missing from the output: "
			       "treat every page as written", path);
		return EXIT_FAIL;
	}
	if (ret == -EOVERFLOW) {
		errmsg("%s: the written set overflowed: every page counts as written "
		       "(tloop clear%s%s %s, then copy everything)", path,
		       c->consumer ? " --consumer " : "", c->consumer ? c->consumer : "", path);
		return EXIT_FAIL;
	}
	if (ret == -ENODATA) {
		errmsg("%s: tracking is off", path);
		return EXIT_FAIL;
	}
	if (ret) {
		errmsg("%s: read the written set: %s", path, strerror(-ret));
		return EXIT_FAIL;
	}
	return EXIT_OK;
}

static int cmd_clear(const struct cli *c)
{
	char path[PATH_MAX];
	uint64_t gen = 0;
	uint32_t id = 0;
	struct json j;
	int fd, ret;

	fd = dev_open(c->devs[0], path, sizeof(path), 1);
	if (fd < 0)
		return EXIT_FAIL;
	if (consumer_id(fd, path, c->consumer, &id)) {
		close(fd);
		return EXIT_FAIL;
	}
	ret = tloop_consumer_clear(fd, id, TLOOP_CLEAR_ALL, 0, 0, &gen);
	close(fd);
	if (!ret && c->json) {
		json_init(&j, stdout);
		json_obj_begin(&j, NULL);
		json_str(&j, "device", path);
		json_str(&j, "consumer", consumer_str(c->consumer));
		json_u64(&j, "generation", gen);
		json_obj_end(&j);
	}
	if (ret == -ENODATA) {
		errmsg("%s: tracking is off", path);
		return EXIT_FAIL;
	}
	if (ret) {
		errmsg("%s: clear: %s", path, strerror(-ret));
		return EXIT_FAIL;
	}
	return EXIT_OK;
}

/*
 * errstr_of() - ": <strerror>" unless @msg already ends with it (libnbd's
 * messages name the errno themselves).
 */
static const char *errstr_of(const char *msg, int err, char *buf, size_t len)
{
	const char *e = strerror(err);
	size_t m = strlen(msg), n = strlen(e);

	if (m >= n && !strcmp(msg + m - n, e))
		return "";
	snprintf(buf, len, ": %s", e);
	return buf;
}

/* Progress display: redrawn on a terminal, a line per second otherwise. */
struct progress {
	int tty;
	int drawn;
	double last;
};

static double mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void progress_cb(uint64_t done, uint64_t total, void *arg)
{
	struct progress *p = arg;
	double t = mono();
	char a[32], b[32];

	if (t - p->last < (p->tty ? 0.1 : 1.0) && done != total)
		return;
	p->last = t;
	if (p->tty) {
		fprintf(stderr, "\r%s: sync: %s / %s (%3.0f%%)  ", prog,
			format_size(done, a, sizeof(a)), format_size(total, b, sizeof(b)),
			total ? 100.0 * (double)done / (double)total : 100.0);
		p->drawn = 1;
	} else {
		fprintf(stderr, "%s: sync: progress %" PRIu64 "/%" PRIu64 " bytes\n", prog, done,
			total);
	}
}

/* sync_once() - one refresh of c->area2 from the device at @path, reported. */
static int sync_once(const struct cli *c, const char *path)
{
	struct tloop_sync_opts o = { .sz = sizeof(o), .flags = c->sync_flags,
				     .max_io = c->max_io, .depth = c->depth,
				     .max_gap = c->max_gap, .full_pct = c->full_pct,
				     .freeze = c->freeze, .snap_mem_limit = c->snap_mem_limit,
				     .state_dir = c->state_dir, .consumer = c->consumer,
				     .timeout_ms = c->timeout_ms,
				     .via = c->via };
	struct progress p = { .tty = isatty(STDERR_FILENO), .last = 0 };
	struct tloop_sync_result r;
	char a[32], b[32], errbuf[64];
	struct json j;
	int ret;

	if (c->progress) {
		o.progress = progress_cb;
		o.progress_arg = &p;
		p.last = mono();
	}
	ret = tloop_sync(path, c->area2, &o, &r);
	if (p.drawn)
		fputc('\n', stderr);
	if (ret == -ENOTTY) {
		errmsg("%s: not a tloop device", path);
		return EXIT_FAIL;
	}
	if (ret) {
		char st[PATH_MAX + 16];
		int kept = tloop_is_nbd_uri(c->area2) &&
			   !tloop_nbd_state_path(c->state_dir, c->area2, st, PATH_MAX) &&
			   !access(strcat(st, TLOOP_BASELINE_SUFFIX), F_OK);

		errmsg("%s: sync: %s%s", path, r.msg, errstr_of(r.msg, -ret, errbuf, sizeof(errbuf)));

		if ((r.pages || r.bytes) && kept)
			errmsg("%s: the refresh of %s stopped midway; the next sync resends "
			       "what it may have missed (incremental)", path, c->area2);
		else if (r.pages || r.bytes)
			errmsg("%s: the refresh of %s stopped midway; its baseline was removed, "
			       "so the next sync copies everything", path, c->area2);
		else if (tloop_is_nbd_uri(c->area2))
			errmsg("%s: nothing was sent to %s", path, c->area2);
		return EXIT_FAIL;
	}
	if (c->json) {
		json_dev_area2(&j, path, c->area2);
		json_str(&j, "consumer", r.consumer);
		json_str(&j, "mode", r.full ? "full" : "incremental");
		json_str(&j, "reason", tloop_sync_why_name(r.why));
		json_u64(&j, "pages", r.pages);
		json_u64(&j, "bytes", r.bytes);
		json_u64(&j, "runs", r.runs);
		json_u64(&j, "calls", r.calls);
		json_u64(&j, "device_size", r.dev_size);
		json_u64(&j, "page_size", r.page_size);
		json_u64(&j, "generation", r.generation);
		json_bool(&j, "baseline", r.baseline);
		json_bool(&j, "direct_io", r.direct);
		json_str(&j, "via", tloop_sync_via_name(r.via));
		json_u64(&j, "bytes_reflink", r.bytes_reflink);
		json_u64(&j, "bytes_copy_range", r.bytes_copy_range);
		json_u64(&j, "bytes_backing_read", r.bytes_backing_read);
		json_bool(&j, "fsync", !(c->sync_flags & TLOOP_SYNC_UNSAFE_NO_FSYNC));
		if (tloop_is_nbd_uri(c->area2)) {
			char st[PATH_MAX];

			if (!tloop_nbd_state_path(c->state_dir, c->area2, st, sizeof(st)))
				json_str(&j, "baseline_file", strcat(st, TLOOP_BASELINE_SUFFIX));
		}
		json_double(&j, "seconds", r.seconds);
		if (c->sync_flags & TLOOP_SYNC_CONSISTENT) {
			json_bool(&j, "consistent", r.consistent);
			json_u64(&j, "snapshot_generation", r.snap_generation);
			json_u64(&j, "pages_preserved", r.preserved);
			json_u64(&j, "preserved_peak_bytes", r.snap_mem_peak);
		}
		json_obj_end(&j);
	} else {
		printf("%s -> %s: %s copy, %" PRIu64 " page%s (%s) in %" PRIu64
		       " run%s, %.3f s; a full copy is %s\n", path, c->area2,
		       r.full ? "full" : "incremental", r.pages, r.pages == 1 ? "" : "s",
		       format_size(r.bytes, a, sizeof(a)), r.runs, r.runs == 1 ? "" : "s",
		       r.seconds, format_size(r.dev_size, b, sizeof(b)));
		if (r.full)
			printf("  (full because %s)\n", tloop_sync_why_str(r.why));
		if (r.consistent)
			printf("  point in time: generation %" PRIu64 ", %" PRIu64
			       " page%s preserved before writes\n", r.snap_generation, r.preserved,
			       r.preserved == 1 ? "" : "s");
	}
	if (r.why == TLOOP_SYNC_WHY_TRACK_OFF)
		errmsg("%s: tracking is off, so every refresh copies everything "
		       "(tloop track on %s)", path, path);
	return EXIT_OK;
}

/*
 * cmd_sync() - one refresh, or with --every one every so many seconds
 * (counted from the start of the last one; at once if it took longer) until
 * --count refreshes, a failed refresh, or SIGINT/SIGTERM.  Those two signals
 * are blocked for the whole run, so they never cut a refresh short (nor
 * reach the library's threads): the refresh under way ends as it would
 * have, then the wait for the next one sees the signal and the tool exits
 * with status 0.  Starting once and refreshing often saves the process
 * start of every run.
 */
static int cmd_sync(const struct cli *c)
{
	char path[PATH_MAX];
	unsigned int done = 0;
	sigset_t stop;
	int ret;

	if (dev_arg(c->devs[0], path, sizeof(path)))
		return EXIT_FAIL;
	if (!c->every_ms)
		return sync_once(c, path);
	sigemptyset(&stop);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	sigprocmask(SIG_BLOCK, &stop, NULL);
	for (;;) {
		double t0 = mono(), left;
		struct timespec ts;
		int sig;

		ret = sync_once(c, path);
		fflush(stdout);
		if (ret != EXIT_OK || (c->count && ++done >= c->count))
			break;
		left = t0 + c->every_ms / 1000.0 - mono();
		if (left < 0)
			left = 0;
		ts.tv_sec = (time_t)left;
		ts.tv_nsec = (long)((left - (double)ts.tv_sec) * 1e9);
		do
			sig = sigtimedwait(&stop, NULL, &ts);
		while (sig < 0 && errno == EINTR);
		if (sig > 0)
			break;	/* asked to stop: the last refresh was complete */
	}
	return ret;
}

static int cmd_consumer(const struct cli *c)
{
	struct tloop_consumer_info ci[TLOOP_MAX_CONSUMERS + 1];
	char path[PATH_MAX];
	size_t n = 0, k;
	struct json j;
	int fd, ret;

	fd = dev_open(c->devs[0], path, sizeof(path), c->consumer_op != CONSUMER_LIST);
	if (fd < 0)
		return EXIT_FAIL;
	switch (c->consumer_op) {
	case CONSUMER_LIST:
		ret = tloop_consumer_list(fd, ci, TLOOP_MAX_CONSUMERS + 1, &n);
		break;
	case CONSUMER_ADD:
		ret = tloop_consumer_add(fd, c->consumer_name, c->mem_limit);
		break;
	default:
		ret = tloop_consumer_remove(fd, c->consumer_name);
		break;
	}
	close(fd);
	if (ret == -EOPNOTSUPP) {
		errmsg("%s: the loaded tloop module has no named consumers", path);
		return EXIT_FAIL;
	}
	if (ret == -EINVAL && c->consumer_op != CONSUMER_LIST) {
		if (!strcmp(c->consumer_name, TLOOP_CONSUMER_DEFAULT))
			errmsg("%s: the default consumer cannot be removed "
			       "(tloop track off %s ends it)", path, path);
		else
			errmsg("%s: '%s' is not a valid consumer name (1 to 31 of A-Z a-z 0-9 . _ -,"
			       " starting with a letter or digit)", path, c->consumer_name);
		return EXIT_FAIL;
	}
	if (ret < 0) {
		static const char *const what[] = { "list consumers", "add consumer",
						    "remove consumer" };

		if (ret == -ENODATA)
			errmsg("%s: tracking is off (tloop track on %s)", path, path);
		else if (ret == -EEXIST)
			errmsg("%s: a consumer named '%s' exists", path, c->consumer_name);
		else if (ret == -ENOSPC)
			errmsg("%s: already %d named consumers, the most a device has", path,
			       TLOOP_MAX_CONSUMERS);
		else if (ret == -ENOENT)
			errmsg("%s: no consumer named '%s'", path, c->consumer_name);
		else
			errmsg("%s: %s%s%s: %s", path, what[c->consumer_op],
			       c->consumer_name ? " " : "",
			       c->consumer_name ? c->consumer_name : "", strerror(-ret));
		return EXIT_FAIL;
	}
	if (c->json) {
		json_init(&j, stdout);
		json_obj_begin(&j, NULL);
		json_str(&j, "device", path);
		if (c->consumer_op == CONSUMER_LIST) {
			json_consumers(&j, ci, n);
		} else {
			json_str(&j, "consumer", c->consumer_name);
			if (c->consumer_op == CONSUMER_ADD)
				json_u64(&j, "id", (uint64_t)ret);
			json_bool(&j, "removed", c->consumer_op == CONSUMER_REMOVE);
		}
		json_obj_end(&j);
		return EXIT_OK;
	}
	if (c->consumer_op == CONSUMER_LIST) {
		if (!n)
			printf("%s: tracking is off: no consumers\n", path);
		for (k = 0; k < n; k++)
			printf("%-31.31s id %-5u written %" PRIu64 " pages%s, generation %" PRIu64
			       "\n", ci[k].name, ci[k].id, (uint64_t)ci[k].written,
			       (ci[k].status & TLOOP_TRACK_OVERFLOW) ? " (overflowed)" : "",
			       (uint64_t)ci[k].generation);
	}
	return EXIT_OK;
}

struct diff_out {
	const struct cli *c;
	struct json *j;
	uint64_t shown;
};

/* At most this many runs are printed (all of them with --json). */
#define VERIFY_SHOW 64

static int diff_cb(uint64_t start, uint64_t count, void *arg)
{
	struct diff_out *d = arg;

	if (d->c->json) {
		json_arr_begin(d->j, NULL, 1);
		json_u64(d->j, NULL, start);
		json_u64(d->j, NULL, count);
		json_arr_end(d->j);
	} else if (d->shown++ < VERIFY_SHOW) {
		if (count == 1)
			printf("  page %" PRIu64 "\n", start);
		else
			printf("  pages %" PRIu64 "-%" PRIu64 " (%" PRIu64 ")\n", start,
			       start + count - 1, count);
	}
	return 0;
}

static int cmd_verify(const struct cli *c)
{
	struct tloop_verify_opts o = { .sz = sizeof(o), .timeout_ms = c->timeout_ms };
	struct tloop_verify_result r;
	struct diff_out d = { .c = c };
	char path[PATH_MAX], errbuf[64];
	struct json j;
	int ret;

	if (dev_arg(c->devs[0], path, sizeof(path)))
		return EXIT_FAIL;
	if (c->json) {
		d.j = &j;
		json_dev_area2(&j, path, c->area2);
		json_arr_begin(&j, "differing_runs", 0);
	} else {
		printf("%s vs %s:\n", path, c->area2);
	}
	ret = tloop_verify(path, c->area2, &o, diff_cb, &d, &r);
	if (c->json) {
		json_arr_end(&j);
		json_bool(&j, "ok", !ret);
		if (ret)
			json_str(&j, "error", r.msg);
		json_u64(&j, "size", r.size);
		json_u64(&j, "area2_size", r.area2_size);
		json_u64(&j, "page_size", r.page_size);
		json_u64(&j, "pages", r.pages);
		json_u64(&j, "differing_pages", r.differing);
		json_bool(&j, "identical", !ret && !r.differing);
		json_double(&j, "seconds", r.seconds);
		json_obj_end(&j);
	}
	if (ret) {
		errmsg("%s: verify: %s%s", path, r.msg, errstr_of(r.msg, -ret, errbuf, sizeof(errbuf)));
		return EXIT_FAIL;
	}
	if (!c->json) {
		if (d.shown > VERIFY_SHOW)
			printf("  ... %" PRIu64 " more runs\n", d.shown - VERIFY_SHOW);
		printf("%s: %" PRIu64 " of %" PRIu64 " pages differ (%u bytes each), %.3f s\n",
		       r.differing ? "different" : "identical", r.differing, r.pages,
		       r.page_size, r.seconds);
	}
	return r.differing ? EXIT_DIFFER : EXIT_OK;
}

static int run(const struct cli *c)
{
	switch (c->cmd) {
	case CMD_HELP:
		fputs(c->help_cmd ? "Usage:\n" : "", stdout);
		fputs(cli_usage(c->help_cmd), stdout);
		return EXIT_OK;
	case CMD_VERSION:
		printf("tloop %s (libtloop %s, ABI %d)\n", TLOOP_VERSION, TLOOP_LIB_VERSION,
		       TLOOP_ABI_VERSION);
		return EXIT_OK;
	case CMD_ATTACH:
		return cmd_attach(c);
	case CMD_DETACH:
		return cmd_detach(c);
	case CMD_LIST:
		return cmd_list(c);
	case CMD_STATUS:
		return cmd_status(c);
	case CMD_TRACK:
		return cmd_track(c);
	case CMD_WRITTEN:
		return cmd_written(c);
	case CMD_CLEAR:
		return cmd_clear(c);
	case CMD_SYNC:
		return cmd_sync(c);
	case CMD_CONSUMER:
		return cmd_consumer(c);
	case CMD_VERIFY:
		return cmd_verify(c);
	}
	return EXIT_FAIL;
}

int main(int argc, char **argv)
{
	char err[256];
	struct cli c;
	int ret;

	ret = cli_parse(argc, argv, &c, err, sizeof(err));
	if (ret) {
		errmsg("%s", err);
		fprintf(stderr, "Try '%s help' for more information.\n", prog);
		return close_stdout(EXIT_USAGE);
	}
	return close_stdout(run(&c));
}
