// SPDX-License-Identifier: GPL-2.0
/*
 * baseline.c - the sidecar file "<area2>.tloop" that records which device
 * attachment and which generation of its written set area2 corresponds to.
 *
 * Format (version 1), ASCII, one "key value" per line, keys in this order:
 *
 *	tloop-baseline 1
 *	attach_id <16 lower-case hex digits>
 *	generation <decimal>
 *	dev_size <decimal bytes>
 *	page_size <decimal bytes>
 *	consumer <name>			(only for a named consumer)
 *	consumer_id <decimal, not 0>	(only for a named consumer)
 *
 * The two consumer lines are absent for the default consumer, so its
 * sidecar is the same as before consumers existed; a tool that predates
 * them rejects a named consumer's sidecar, which only costs a full copy.
 * Every line ends with '\n'.  Anything else (other keys, order, spacing,
 * signs, leading zeros, a missing final newline, trailing bytes) is rejected: an unreadable sidecar means "no baseline", so the next
 * refresh copies everything, which is always correct.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

#define BASELINE_MAGIC "tloop-baseline 1"

int tloop_baseline_format(const struct tloop_baseline *b, char *buf, size_t len)
{
	int n, m;

	n = snprintf(buf, len,
		     BASELINE_MAGIC "\n"
		     "attach_id %016" PRIx64 "\n"
		     "generation %" PRIu64 "\n"
		     "dev_size %" PRIu64 "\n"
		     "page_size %" PRIu32 "\n",
		     b->attach_id, b->generation, b->dev_size, b->page_size);
	if (n < 0 || (size_t)n >= len)
		return -ENOSPC;
	if (!b->consumer_id && !b->consumer[0])
		return n;
	if (!b->consumer_id || !tloop_consumer_name_valid(b->consumer) ||
	    !strncmp(b->consumer, TLOOP_CONSUMER_DEFAULT, sizeof(b->consumer)))
		return -EINVAL;
	m = snprintf(buf + n, len - (size_t)n, "consumer %.*s\nconsumer_id %" PRIu32 "\n",
		     (int)sizeof(b->consumer), b->consumer, b->consumer_id);
	if (m < 0 || (size_t)m >= len - (size_t)n)
		return -ENOSPC;
	return n + m;
}

/*
 * take_line() - the next line of [*p, end) without its '\n' into @line;
 * returns 0, or -EINVAL if there is none or it is too long.
 */
static int take_line(const char **p, const char *end, char *line, size_t len)
{
	const char *nl = memchr(*p, '\n', (size_t)(end - *p));
	size_t n;

	if (*p >= end)
		return -EINVAL;
	n = nl ? (size_t)(nl - *p) : (size_t)(end - *p);
	if (n >= len || memchr(*p, '\0', n))
		return -EINVAL;
	memcpy(line, *p, n);
	line[n] = '\0';
	*p += n + (nl ? 1 : 0);
	return 0;
}

/* parse_u64() - strict decimal (@base 10) or 16-digit hex (@base 16). */
static int parse_u64(const char *s, int base, uint64_t *out)
{
	uint64_t v = 0;
	const char *q;

	if (!*s)
		return -EINVAL;
	if (base == 16 && strlen(s) != 16)
		return -EINVAL;
	if (base == 10 && s[0] == '0' && s[1])
		return -EINVAL;
	for (q = s; *q; q++) {
		unsigned int d;

		if (*q >= '0' && *q <= '9')
			d = (unsigned int)(*q - '0');
		else if (base == 16 && *q >= 'a' && *q <= 'f')
			d = (unsigned int)(*q - 'a' + 10);
		else
			return -EINVAL;
		if (v > (UINT64_MAX - d) / (uint64_t)base)
			return -EINVAL;
		v = v * (uint64_t)base + d;
	}
	*out = v;
	return 0;
}

static int parse_field(const char **p, const char *end, const char *key, int base,
		       uint64_t *out)
{
	size_t klen = strlen(key);
	char line[80];
	int ret;

	ret = take_line(p, end, line, sizeof(line));
	if (ret)
		return ret;
	if (strncmp(line, key, klen) || line[klen] != ' ')
		return -EINVAL;
	return parse_u64(line + klen + 1, base, out);
}

int tloop_baseline_parse(const char *buf, size_t len, struct tloop_baseline *b)
{
	const char *p = buf, *end = buf + len;
	struct tloop_baseline nb;
	uint64_t page_size, cid;
	char line[80];

	if (!len || len > TLOOP_BASELINE_MAX || buf[len - 1] != '\n')
		return -EINVAL;
	if (take_line(&p, end, line, sizeof(line)) || strcmp(line, BASELINE_MAGIC))
		return -EINVAL;
	if (parse_field(&p, end, "attach_id", 16, &nb.attach_id) ||
	    parse_field(&p, end, "generation", 10, &nb.generation) ||
	    parse_field(&p, end, "dev_size", 10, &nb.dev_size) ||
	    parse_field(&p, end, "page_size", 10, &page_size))
		return -EINVAL;
	memset(nb.consumer, 0, sizeof(nb.consumer));
	nb.consumer_id = 0;
	if (p != end) {
		/* A named consumer's two lines. */
		if (take_line(&p, end, line, sizeof(line)) || strncmp(line, "consumer ", 9) ||
		    !tloop_consumer_name_valid(line + 9) ||
		    !strcmp(line + 9, TLOOP_CONSUMER_DEFAULT))
			return -EINVAL;
		memcpy(nb.consumer, line + 9, strlen(line + 9));
		if (parse_field(&p, end, "consumer_id", 10, &cid) || !cid || cid > UINT32_MAX)
			return -EINVAL;
		nb.consumer_id = (uint32_t)cid;
	}
	if (p != end || !page_size || page_size > UINT32_MAX || !nb.dev_size)
		return -EINVAL;
	nb.page_size = (uint32_t)page_size;
	*b = nb;
	return 0;
}

int tloop_baseline_path(const char *area2, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s" TLOOP_BASELINE_SUFFIX, area2);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int tloop_baseline_load(const char *area2, struct tloop_baseline *b)
{
	char path[PATH_MAX], buf[TLOOP_BASELINE_MAX + 1];
	size_t len = 0;
	int fd, ret;

	ret = tloop_baseline_path(area2, path, sizeof(path));
	if (ret)
		return ret;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	while (len < sizeof(buf)) {
		ssize_t n = read(fd, buf + len, sizeof(buf) - len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			ret = -errno;
			close(fd);
			return ret;
		}
		if (!n)
			break;
		len += (size_t)n;
	}
	close(fd);
	ret = tloop_baseline_parse(buf, len, b);
	if (ret)
		tloop_log(TLOOP_LOG_WARN, "%s: not a valid baseline; ignoring it", path);
	return ret;
}

/* tloop_fsync_dir_of() - make a rename in @path's directory durable. */
int tloop_fsync_dir_of(const char *path)
{
	char copy[PATH_MAX];
	int fd, ret = 0;

	if (strlen(path) >= sizeof(copy))
		return -ENAMETOOLONG;
	strcpy(copy, path);
	fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0 && errno != EINVAL)
		ret = -errno;
	close(fd);
	return ret;
}

int tloop_baseline_store(const char *area2, const struct tloop_baseline *b)
{
	char path[PATH_MAX], tmp[PATH_MAX + 16], text[TLOOP_BASELINE_MAX];
	ssize_t done = 0;
	int fd, len, ret;

	ret = tloop_baseline_path(area2, path, sizeof(path));
	if (ret)
		return ret;
	len = tloop_baseline_format(b, text, sizeof(text));
	if (len < 0)
		return len;
	snprintf(tmp, sizeof(tmp), "%s.%ld", path, (long)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return -errno;
	while (done < len) {
		ssize_t n = write(fd, text + done, (size_t)(len - done));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			ret = -errno;
			goto out_unlink;
		}
		done += n;
	}
	if (fsync(fd) < 0) {
		ret = -errno;
		goto out_unlink;
	}
	if (close(fd) < 0) {
		fd = -1;
		ret = -errno;
		goto out_unlink;
	}
	fd = -1;
	if (rename(tmp, path) < 0) {
		ret = -errno;
		goto out_unlink;
	}
	return tloop_fsync_dir_of(path);

out_unlink:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return ret;
}

int tloop_baseline_remove(const char *area2)
{
	char path[PATH_MAX];
	int ret;

	ret = tloop_baseline_path(area2, path, sizeof(path));
	if (ret)
		return ret;
	if (unlink(path) < 0 && errno != ENOENT)
		return -errno;
	/*
	 * Also when it was already absent: an unlink by someone else (or by a
	 * run that crashed) may not be durable yet, and a sidecar that comes
	 * back after a power cut would vouch for an area2 changed since.
	 */
	return tloop_fsync_dir_of(path);
}
